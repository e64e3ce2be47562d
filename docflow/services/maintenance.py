"""Recurring upkeep: dispatches whose job was lost are queued again, blobs nothing points to
are swept. Each run plans the next one at the start of the next period, under a key for that
period, so however many processes plan it (every worker at start, every run) it runs once."""

from __future__ import annotations

from datetime import timedelta

from docflow.services.documents import DocumentService
from docflow.services.notifications import NotificationService
from docflow.services.ports import Clock, JobQueue

REQUEUE_JOB = "requeue_stalled"
SWEEP_JOB = "sweep_blobs"
REMIND_JOB = "send_reminders"
MAIL_JOB = "send_mail"
EVERY = {REQUEUE_JOB: timedelta(minutes=5), SWEEP_JOB: timedelta(hours=6),
         REMIND_JOB: timedelta(hours=1), MAIL_JOB: timedelta(minutes=1)}


class Maintenance:
    def __init__(self, documents: DocumentService, queue: JobQueue, clock: Clock,
                 notifications: NotificationService) -> None:
        self._documents = documents
        self._queue = queue
        self._clock = clock
        self._notifications = notifications

    def start(self) -> None:
        """Plan the next run of every recurring job (idempotent); mail only when SMTP is
        configured."""
        for job in EVERY:
            if job != MAIL_JOB or self._notifications.mails:
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
