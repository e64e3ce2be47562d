"""The composition root: the only place that builds engines, clients and services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from sqlalchemy import Engine, text

import workflows
from docflow.calendars import load_calendar
from docflow.compilation import PdfCompiler
from docflow.config import ConfigError, Settings
from docflow.domain.org import ROLES
from docflow.evidence import PdfStatements
from docflow.mail import MailConfigError, SmtpMailer
from docflow.passwords import Argon2Hasher
from docflow.pdf import PypdfInspector
from docflow.services.admin import AdminService
from docflow.services.audit import SEQUENCE_JOB, TREE_HEAD_JOB, AuditService
from docflow.services.batches import COMPLETE_ITEM_JOB, SEAL_ITEM_JOB, BatchSigningService
from docflow.services.consultations import ConsultationService
from docflow.services.delegations import DelegationService
from docflow.services.documents import (
    FAN_OUT_JOB,
    VALIDATE_JOB,
    WORKFLOWS,
    DocumentLimits,
    DocumentService,
    flows,
)
from docflow.services.evidence import EvidenceService
from docflow.services.handling import HandlingService
from docflow.services.identity import IdentityService
from docflow.services.intake import IntakeService
from docflow.services.maintenance import (
    MAIL_JOB,
    REMIND_JOB,
    REQUEUE_JOB,
    SWEEP_JOB,
    Maintenance,
)
from docflow.services.marks import MarkService
from docflow.services.notifications import NotificationService, ReminderPolicy
from docflow.services.org import MergeService, OrgService
from docflow.services.ports import (
    BlobStore,
    Clock,
    JobQueue,
    Mailer,
    PasswordHasher,
    RemoteSigning,
    SealKeys,
    SignatureValidator,
)
from docflow.services.queries import QueryService
from docflow.services.reports import ReportService
from docflow.services.signatures import SignatureService, SigningLimits
from docflow.services.witness import WITNESS_JOB, WitnessService
from docflow.signing.appearance import PngMarks
from docflow.signing.intake import AnchoredValidator
from docflow.signing.keys import RemotePades, signing_options
from docflow.signing.logkey import Ed25519Verifier, LogKey, LogKeyError, TsaTimestamper
from docflow.signing.seals import SealConfigError, SealKeyring
from docflow.witness import HttpWitness
from storage.blobs.fs import FilesystemBlobStore
from storage.blobs.s3 import S3BlobStore, make_client
from storage.db import migrate
from storage.db.engine import make_engine
from storage.db.reads import SqlReadModel
from storage.db.uow import SqlUnitOfWorkFactory
from storage.queue.inprocess import InProcessQueue
from storage.queue.rq import RqQueue


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Services:
    """Everything a process (web, worker, CLI) uses, built once per process."""

    settings: Settings
    engine: Engine
    blobs: BlobStore
    queue: JobQueue
    clock: Clock
    documents: DocumentService
    identity: IdentityService
    org: OrgService
    queries: QueryService
    signatures: SignatureService
    intake: IntakeService
    remote_signing: RemoteSigning
    batches: BatchSigningService
    seals: SealKeys
    consultations: ConsultationService
    handling: HandlingService
    delegations: DelegationService
    maintenance: Maintenance
    audit: AuditService
    witness: WitnessService
    evidence: EvidenceService
    reports: ReportService
    notifications: NotificationService
    mergers: MergeService
    marks: MarkService
    admin: AdminService

    def readiness(self) -> dict[str, str]:
        """``ok`` or the error, per dependency: database, blobs, queue."""
        checks: dict[str, str] = {}
        for name, probe in (("database", self._check_db), ("blobs", self.blobs.check),
                            ("queue", self.queue.check)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"{type(exc).__name__}: {exc}"[:200]
        return checks

    def _check_db(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("select 1"))
        pending = migrate.pending(self.engine)
        if pending:
            raise RuntimeError(f"migrations pending: {', '.join(pending)}")

    def close(self) -> None:
        if isinstance(self.queue, InProcessQueue):
            self.queue.stop()
        self.seals.close()
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    blobs: BlobStore | None = None,
    queue: JobQueue | None = None,
    hasher: PasswordHasher | None = None,
    validator: SignatureValidator | None = None,
    seals: SealKeys | None = None,
    mailer: Mailer | None = None,
    upgrade_embedded: bool = False,
) -> Services:
    """Build the services for `settings`; any collaborator can be passed in instead."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    if upgrade_embedded and settings.embedded_database:
        migrate.upgrade(engine)
    clock = clock or SystemClock()
    blobs = blobs or _blob_store(settings)
    queue = queue or _queue(settings)
    hasher = hasher or Argon2Hasher(fast=settings.fast_password_hashing)
    uow = SqlUnitOfWorkFactory(engine)
    registry = organisation_flows(settings)
    calendar = load_calendar(settings.calendar_dir)
    documents = DocumentService(
        uow, blobs, queue, PypdfInspector(), clock,
        DocumentLimits(max_upload_bytes=settings.max_upload_bytes, spool_dir=settings.spool_dir,
                       allow_classified=settings.allow_classified, timezone=settings.timezone,
                       party_numbers_per_type=settings.party_numbers_per_type),
        registry,
    )
    validator = validator or AnchoredValidator(settings.trust_anchors)
    intake = IntakeService(uow, blobs, validator, clock, documents)
    identity = IdentityService(uow, hasher, clock,
                               address_limit=settings.login_address_limit)
    org = OrgService(uow, clock)
    seals = seals or _seal_keys(settings)
    signatures = SignatureService(uow, blobs, clock,
                                  SigningLimits(max_bytes=settings.max_upload_bytes * 2,
                                                timezone=settings.timezone), seals,
                                  registry)
    remote = RemotePades(tsa_url=settings.tsa_url, level=settings.pades_level,
                         trust_paths=settings.trust_anchors)
    batches = BatchSigningService(uow, signatures, identity, remote, queue, clock)
    notifications = NotificationService(
        uow, clock, settings.timezone, calendar,
        ReminderPolicy(remind_before=settings.remind_before_days,
                       escalate_after=settings.escalate_after_days),
        mailer or _mailer(settings), site_url=settings.site_url or "")
    audit = AuditService(uow, clock, _log_key(settings),
                         TsaTimestamper(settings.tsa_url) if settings.tsa_url else None)
    witness = WitnessService(uow, clock, Ed25519Verifier(), audit,
                             HttpWitness(settings.audit_witness_url)
                             if settings.audit_witness_url else None)
    maintenance = Maintenance(documents, queue, clock, notifications, audit, witness)
    reads = SqlReadModel(engine)
    evidence = EvidenceService(uow, clock, settings.timezone, blobs, validator, seals,
                               PdfStatements(), audit, reads)
    if isinstance(queue, InProcessQueue):
        queue.bind({FAN_OUT_JOB: documents.fan_out, VALIDATE_JOB: intake.validate_dispatch,
                    COMPLETE_ITEM_JOB: batches.complete_item,
                    SEAL_ITEM_JOB: batches.seal_item, REQUEUE_JOB: maintenance.requeue_stalled,
                    SWEEP_JOB: maintenance.sweep_blobs,
                    REMIND_JOB: maintenance.send_reminders, MAIL_JOB: maintenance.send_mail,
                    SEQUENCE_JOB: maintenance.sequence_audit,
                    TREE_HEAD_JOB: maintenance.issue_tree_head,
                    WITNESS_JOB: maintenance.send_to_witness})
    return Services(
        settings=settings, engine=engine, blobs=blobs, queue=queue, clock=clock,
        documents=documents, identity=identity,
        org=org,
        queries=QueryService(uow, reads, clock, settings.timezone),
        signatures=signatures, intake=intake, remote_signing=remote, batches=batches,
        seals=seals, consultations=ConsultationService(uow, clock, settings.timezone),
        handling=HandlingService(uow, clock, settings.timezone, calendar, documents),
        delegations=DelegationService(uow, clock), maintenance=maintenance, audit=audit,
        witness=witness, evidence=evidence,
        reports=ReportService(uow, clock, settings.timezone, blobs, PdfCompiler()),
        notifications=notifications,
        mergers=MergeService(uow, clock),
        marks=MarkService(uow, blobs, PngMarks(), clock),
        admin=AdminService(uow, identity, org),
    )


def _log_key(settings: Settings) -> LogKey:
    try:
        return LogKey.at(settings.audit_log_key_path, create=settings.audit_log_key is None)
    except LogKeyError as exc:
        raise ConfigError(f"DOCFLOW_AUDIT_LOG_KEY: {exc}") from exc


def organisation_flows(settings: Settings) -> workflows.Registry:
    """The shipped workflow definitions and those in DOCFLOW_WORKFLOWS_DIR, all validated."""
    if settings.workflows_dir is None:
        return WORKFLOWS
    return flows(workflows.load_folder(settings.workflows_dir, ROLES))


def _mailer(settings: Settings) -> Mailer | None:
    if settings.smtp_url is None:
        return None
    try:
        return SmtpMailer.from_url(settings.smtp_url, settings.mail_from,
                                   settings.smtp_password_file)
    except MailConfigError as exc:
        raise ConfigError(str(exc)) from exc


def _blob_store(settings: Settings) -> BlobStore:
    if not settings.s3_endpoint:
        return FilesystemBlobStore(settings.blob_dir)
    assert settings.s3_access_key and settings.s3_secret_key
    client = make_client(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                         settings.s3_region)
    public = None
    if settings.s3_public_endpoint:
        # Presigning is local arithmetic once the region is known, so this client never
        # needs to reach the public host itself.
        public = make_client(settings.s3_public_endpoint, settings.s3_access_key,
                             settings.s3_secret_key, settings.s3_region or "us-east-1")
    return S3BlobStore(client, settings.s3_bucket, public)


def _seal_keys(settings: Settings) -> SealKeys:
    if settings.seal_keys is None:
        return SealKeyring({})
    options = signing_options(settings.pades_level, settings.tsa_url, settings.trust_anchors)
    try:
        return SealKeyring.load(settings.seal_keys, options)
    except SealConfigError as exc:
        raise ConfigError(f"DOCFLOW_SEAL_KEYS: {exc}") from exc


def _queue(settings: Settings) -> JobQueue:
    if settings.redis_url:
        return RqQueue(Redis.from_url(settings.redis_url), settings.queue_name)
    return InProcessQueue()
