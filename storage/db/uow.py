"""The unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from docflow.services.ports import (
    AssignmentRepository,
    AuditLog,
    AuditTree,
    BatchRepository,
    ConsultationRepository,
    DelegationRepository,
    DispatchRepository,
    DocumentRepository,
    NotificationRepository,
    ReceiptRepository,
    ReportRequestRepository,
    SequenceRepository,
    SignatureRepository,
    SigningSessionRepository,
    UnitRepository,
    UserRepository,
    ValidationRepository,
    WitnessRepository,
)
from storage.db.repositories import (
    SqlAssignments,
    SqlAudit,
    SqlAuditTree,
    SqlBatches,
    SqlConsultations,
    SqlDelegations,
    SqlDispatches,
    SqlDocuments,
    SqlNotifications,
    SqlReceipts,
    SqlReportRequests,
    SqlSequences,
    SqlSignatures,
    SqlSigningSessions,
    SqlUnits,
    SqlUsers,
    SqlValidations,
    SqlWitness,
)


class SqlUnitOfWork:
    """Opens a transaction on enter; rolls back on exit unless `commit` was called."""

    units: UnitRepository
    users: UserRepository
    documents: DocumentRepository
    receipts: ReceiptRepository
    dispatches: DispatchRepository
    sequences: SequenceRepository
    notifications: NotificationRepository
    signatures: SignatureRepository
    validations: ValidationRepository
    signing_sessions: SigningSessionRepository
    batches: BatchRepository
    consultations: ConsultationRepository
    assignments: AssignmentRepository
    delegations: DelegationRepository
    report_requests: ReportRequestRepository
    audit: AuditLog
    audit_tree: AuditTree
    witness: WitnessRepository

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        conn.begin()
        self._conn = conn
        self.units = SqlUnits(conn)
        self.users = SqlUsers(conn)
        self.documents = SqlDocuments(conn)
        self.receipts = SqlReceipts(conn)
        self.dispatches = SqlDispatches(conn)
        self.sequences = SqlSequences(conn)
        self.notifications = SqlNotifications(conn)
        self.signatures = SqlSignatures(conn)
        self.validations = SqlValidations(conn)
        self.signing_sessions = SqlSigningSessions(conn)
        self.batches = SqlBatches(conn)
        self.consultations = SqlConsultations(conn)
        self.assignments = SqlAssignments(conn)
        self.delegations = SqlDelegations(conn)
        self.report_requests = SqlReportRequests(conn)
        self.audit = SqlAudit(conn)
        self.audit_tree = SqlAuditTree(conn)
        self.witness = SqlWitness(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None

    def commit(self) -> None:
        assert self._conn is not None
        self._conn.commit()


class SqlUnitOfWorkFactory:
    """What the services call to open a unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)
