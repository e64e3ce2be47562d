"""Recurring upkeep: dispatches whose job was lost are queued again, blobs nothing points to
are swept, the audit log is sequenced (every 2 s) and its head signed (every minute). Each run
plans the next one at the start of the next period, under a key for that period, so however
many processes plan it (every worker at start, every run) it runs once."""

from __future__ import annotations

from datetime import timedelta

from docflow.services.audit import SEQUENCE_JOB, TREE_HEAD_JOB, AuditService
from docflow.services.documents import DocumentService
from docflow.services.notifications import NotificationService
from docflow.services.ports import Clock, JobQueue
from docflow.services.witness import WITNESS_JOB, WitnessService

REQUEUE_JOB = "requeue_stalled"
SWEEP_JOB = "sweep_blobs"
REMIND_JOB = "send_reminders"
MAIL_JOB = "send_mail"
EVERY = {REQUEUE_JOB: timedelta(minutes=5), SWEEP_JOB: timedelta(hours=6),
         REMIND_JOB: timedelta(hours=1), MAIL_JOB: timedelta(minutes=1),
         # Committed events are leaves within 5 s (issue 5); heads are signed when the tree
         # grew, and hourly regardless.
         SEQUENCE_JOB: timedelta(seconds=2), TREE_HEAD_JOB: timedelta(minutes=1),
         # The parent unit's docflow gets our newest head (when one is configured).
         WITNESS_JOB: timedelta(minutes=1)}


class Maintenance:
    def __init__(self, documents: DocumentService, queue: JobQueue, clock: Clock,
                 notifications: NotificationService, audit: AuditService,
                 witness: WitnessService | None = None) -> None:
        self._documents = documents
        self._audit = audit
        self._witness = witness
        self._queue = queue
        self._clock = clock
        self._notifications = notifications

    def start(self) -> None:
        """Plan the next run of every recurring job (idempotent); mail only when SMTP is
        configured."""
        for job in EVERY:
            if job == MAIL_JOB and not self._notifications.mails:
                continue
            if job == WITNESS_JOB and not (self._witness and self._witness.sends):
                continue
            self.plan(job)

    def plan(self, job: str) -> None:
        every = EVERY[job].total_seconds()
        now = self._clock.now().timestamp()
        period = int(now // every) + 1
        self._queue.enqueue(job, delay=timedelta(seconds=period * every - now),
                            key=f"{job}:{period}")

    def requeue_stalled(self) -> int:
        """The job: dispatches pending for 5 minutes are queued again; then the next run."""
        try:
            return self._documents.requeue_stalled()
        finally:
            self.plan(REQUEUE_JOB)

    def sweep_blobs(self) -> int:
        """The job: blobs no revision points to, an hour old, are deleted; then the next."""
        try:
            return len(self._documents.sweep_orphan_blobs(timedelta(hours=1)))
        finally:
            self.plan(SWEEP_JOB)

    def send_reminders(self) -> int:
        """The job: deadline reminders, escalations, late registrations; then the next."""
        try:
            return self._notifications.remind()
        finally:
            self.plan(REMIND_JOB)

    def send_mail(self) -> int:
        """The job: mail the notifications not mailed yet; then the next run."""
        try:
            return self._notifications.send_mail()
        finally:
            self.plan(MAIL_JOB)

    def sequence_audit(self) -> int:
        """The job: committed events become leaves of the log's tree; then the next run."""
        try:
            return self._audit.sequence()
        finally:
            self.plan(SEQUENCE_JOB)

    def issue_tree_head(self) -> int:
        """The job: sign the tree's head if it grew (or hourly); then the next run."""
        try:
            return self._audit.issue_tree_head().tree_size
        finally:
            self.plan(TREE_HEAD_JOB)

    def send_to_witness(self) -> int:
        """The job: hand the parent's witness our newest head; then the next run."""
        try:
            assert self._witness is not None
            self._witness.send()
            return 1
        finally:
            self.plan(WITNESS_JOB)
