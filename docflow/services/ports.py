"""The ports the services need; adapters in ``storage`` and ``docflow`` edge modules fill them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol, Self

from docflow.domain.audit import Action, AuditEvent, AuditFilter, TreeHead, Verdict
from docflow.domain.consultations import Consultation, Opinion
from docflow.domain.delegation import Delegation
from docflow.domain.documents import Document, DocumentUpdate, Revision
from docflow.domain.merkle import Node
from docflow.domain.notifications import Notice
from docflow.domain.org import CommitteeTerm, Level, Membership, Unit, User
from docflow.domain.reports import ReportRequest, Submission
from docflow.domain.routing import (
    Assignment,
    Dispatch,
    DispatchStatus,
    LookAlike,
    ProgressNote,
    Receipt,
)
from docflow.domain.signatures import (
    Authority,
    BatchItem,
    SignatureKind,
    SignatureRecord,
    SigningBatch,
    SigningSession,
    ValidationOutcome,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime in UTC."""
        ...


@dataclass(frozen=True)
class Credentials:
    """A stored user with the secret part that only identity handling reads."""

    user: User
    password_hash: str | None


class UnitRepository(Protocol):
    def get(self, code: str) -> Unit | None: ...
    def get_many(self, codes: Iterable[str]) -> dict[str, Unit]: ...
    def levels(self) -> list[Level]: ...
    def upsert_levels(self, levels: Sequence[Level]) -> None: ...
    def upsert(self, units: Sequence[Unit]) -> None: ...
    def active_codes_at_level(self, level: str, under_path: str, on: date) -> list[str]: ...
    def count(self) -> int: ...
    def terms(self, unit_code: str) -> list[CommitteeTerm]:
        """A Party committee's terms, oldest first."""
        ...

    def upsert_terms(self, terms: Sequence[CommitteeTerm]) -> None: ...
    def set_seal_image(self, code: str, sha256: str | None) -> None: ...
    def under(self, paths: Sequence[str], limit: int) -> list[Unit]:
        """Units whose path starts with one of `paths` (those subtrees), by path."""
        ...
    def merge(self, code: str, into: str, on: date) -> None:
        """Mark `code` merged into `into` from `on` (its successor)."""
        ...

    def move_children(self, code: str, to: Unit) -> list[str]:
        """Re-parent `code`'s children (and rewrite their subtrees' paths) under `to`;
        returns the children's codes."""
        ...


class UserRepository(Protocol):
    def set_locale(self, user_id: str, locale: str | None) -> None: ...
    def set_signature_image(self, user_id: str, sha256: str | None) -> None: ...
    def members(self, unit_codes: Sequence[str]) -> list[tuple[User, str, str]]:
        """(user, unit code, role) of everyone holding a role in these units."""
        ...
    def get(self, user_id: str) -> User | None: ...
    def by_username(self, username: str) -> Credentials | None: ...
    def by_usernames(self, usernames: Iterable[str]) -> dict[str, User]: ...
    def add(self, user: User, password_hash: str | None) -> None: ...
    def add_many(self, users: Sequence[User]) -> None: ...
    def set_password(self, user_id: str, password_hash: str) -> None: ...
    def set_email(self, user_id: str, email: str | None) -> None: ...
    def roles_in(self, unit_code: str) -> list[tuple[str, str]]:
        """(user id, role) of everyone holding a role in the unit."""
        ...

    def holding(self, unit_codes: Iterable[str], roles: Iterable[str]) -> dict[str, list[str]]:
        """Active people holding one of `roles` in each unit: {unit: [user ids]}."""
        ...
    def memberships(self, user_id: str) -> list[Membership]: ...
    def grant(self, user_id: str, unit_code: str, role: str) -> bool:
        """Add a role; False when the user held it already."""
        ...

    def grant_many(self, grants: Sequence[tuple[str, str, str]]) -> None: ...
    def add_token(
        self, token_id: str, user_id: str, name: str, digest: str, at: datetime
    ) -> None: ...
    def user_for_token(self, digest: str) -> User | None: ...
    def count(self) -> int: ...


class DocumentRepository(Protocol):
    def add(self, document: Document) -> None: ...
    def get(self, document_id: str, *, for_update: bool = False) -> Document | None: ...
    def save(self, document: Document) -> None: ...
    def add_revision(self, revision: Revision) -> None: ...
    def revision(self, document_id: str, revision_id: str) -> Revision | None: ...
    def referenced_blobs(self, digests: Iterable[str]) -> set[str]: ...
    def add_update(self, update: DocumentUpdate) -> None: ...
    def updates(self, document_id: str) -> list[DocumentUpdate]: ...
    def move_unit(self, from_unit: str, to_unit: str, statuses: Sequence[str]) -> list[str]:
        """Give documents of `from_unit` in these states to `to_unit`; their ids."""
        ...


@dataclass(frozen=True)
class Deadline:
    """An entry being handled, with its deadline and who leads and assigned it."""

    receipt_id: str
    document_id: str
    unit_code: str
    deadline: date
    lead_id: str
    assigned_by: str
    label: str
    """The document's symbol, or its abstract when it has none."""


@dataclass(frozen=True)
class Waiting:
    """An entry delivered and not registered yet."""

    receipt_id: str
    document_id: str
    unit_code: str
    delivered_at: datetime
    urgency: str
    label: str


class ReceiptRepository(Protocol):
    def get(self, receipt_id: str, *, for_update: bool = False) -> Receipt | None: ...
    def save(self, receipt: Receipt) -> None: ...
    def add_many(self, receipts: Sequence[Receipt]) -> None: ...
    def ask_recall(self, document_id: str, at: datetime) -> list[tuple[str, str]]:
        """Every copy not returned nor withdrawn is asked back: (receipt id, unit) of each."""
        ...

    def units_holding(self, document_id: str, unit_codes: Iterable[str]) -> set[str]: ...
    def staff_of(self, document_id: str, dispatch_id: str, roles: Sequence[str]
                 ) -> list[tuple[str, str]]:
        """(entry id, user id) for everyone holding one of `roles` in a unit the dispatch
        reached."""
        ...

    def holders(self, document_id: str) -> list[str]:
        """Units holding a live copy (not returned, not withdrawn)."""
        ...

    def deadlines(self, until: date) -> list[Deadline]:
        """Entries assigned or in progress (not withdrawn) whose deadline is `until` or
        earlier, with their current lead and assigning leader."""
        ...

    def waiting(self, delivered_before: datetime) -> list[Waiting]:
        """Entries delivered before then and neither registered nor returned."""
        ...

    def look_alikes(self, unit_code: str, identifier: str | None, number: int | None,
                    exclude: str) -> list[LookAlike]:
        """The unit's registered entries whose document has this identifier or this number
        (the caller compares symbols and issuers: `docflow.domain.routing.duplicates`)."""
        ...

    def relevant_paths(
        self, document_id: str, unit_codes: Iterable[str], audit_paths: Iterable[str]
    ) -> list[str]:
        """Paths of this document's recipient units that are the actor's own or under a path
        they audit; at most a few, enough for the access rule to decide."""
        ...


class DispatchRepository(Protocol):
    def add(self, dispatch: Dispatch) -> None: ...
    def get(self, dispatch_id: str, *, for_update: bool = False) -> Dispatch | None: ...
    def forwarded_by(self, document_id: str, unit_code: str) -> int:
        """How many times the unit has passed the document down to its sub-units."""
        ...

    def finish(self, dispatch_id: str, status: DispatchStatus, count: int) -> None: ...
    def pending_before(self, before: datetime) -> list[str]: ...


class SequenceRepository(Protocol):
    def next(self, unit_code: str, register: str, period: str) -> int:
        """The next number of a sequence, held locked until the transaction ends (gap-free);
        a number given back is taken first."""
        ...

    def give_back(self, unit_code: str, register: str, period: str, number: int,
                  document_id: str, at: datetime) -> None:
        """Return a reserved number that will not be issued; the next issue takes it."""
        ...


class SignatureRepository(Protocol):
    def add(self, record: SignatureRecord, revision: Revision) -> None:
        """Store a signature's record and the revision it made (the signed file): one
        statement where the database allows."""
        ...

    def for_document(self, document_id: str) -> list[SignatureRecord]: ...


class ValidationRepository(Protocol):
    def get(self, sha256: str) -> ValidationOutcome | None: ...
    def put(self, outcome: ValidationOutcome) -> None:
        """Store, or keep the one stored already (a file's report does not change)."""
        ...


class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> None:
        """Write the event linked to its chain's head (locking that head until commit)."""
        ...
    def append_many(self, events: Sequence[AuditEvent]) -> None: ...
    def of_document(self, document_id: str, actions: Sequence[Action]) -> list[AuditEvent]:
        """A document's events of these kinds, oldest first."""
        ...
    def records(self, query: AuditFilter, *, after: int | None, limit: int,
                with_leaves: bool = False) -> list[dict[str, Any]]:
        """Event records (`record_of` plus ``id``, ``hash``, and ``leaf`` when asked for),
        oldest first, those with ids above `after`."""
        ...
    def chain(self, chain: str) -> list[dict[str, Any]]:
        """Every record of one chain, in chain order (unscoped: the caller redacts)."""
        ...
    def recent(self, chain: str, action: Action, limit: int) -> list[datetime]:
        """When the chain's newest events of this kind happened, newest first."""
        ...
    def failed_logins_from(self, client_addr: str, limit: int) -> list[datetime]:
        """When the newest failed logins from this address happened (any account), newest
        first."""
        ...
    def chain_head(self, chain: str) -> tuple[int, bytes | None]:
        """The chain's length and last hash, as the writers left them."""
        ...
    def leaf_range(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """The records of leaves lo..hi-1, and for a leaf whose event is gone, only
        ``leaf`` and ``hash`` (its content hash as the tree holds it)."""
        ...


class AuditTree(Protocol):
    """The Merkle tree over the events, and its signed heads. Only the sequencer writes."""

    def lock(self) -> tuple[int, bytes]:
        """Lock the tree for extension; its size and root."""
        ...
    def size(self) -> tuple[int, bytes]: ...
    def pending(self, limit: int) -> list[tuple[int, bytes]]:
        """Committed events not yet leaves, (event id, record hash), oldest first."""
        ...
    def nodes(self, keys: Iterable[Node]) -> dict[Node, bytes]: ...
    def extend(self, size: int, event_ids: Sequence[int], nodes: Mapping[Node, bytes],
               root: bytes) -> None:
        """Add the leaves (event `event_ids[i]` at leaf `size + i`) and the new subtrees."""
        ...
    def leaf_of(self, event_id: int) -> int | None: ...
    def add_head(self, head: TreeHead) -> None: ...
    def latest_head(self) -> TreeHead | None: ...
    def heads(self, *, since_size: int = 0, limit: int = 100) -> list[TreeHead]:
        """Tree heads from the given size up, oldest first."""
        ...
    def recent_heads(self, below_size: int, limit: int) -> list[TreeHead]:
        """The newest head of each of the `limit` largest sizes below `below_size`."""
        ...


class NotificationRepository(Protocol):
    def add_many(self, notices: Sequence[Notice]) -> int:
        """Add; a notice whose (user, key) exists already is skipped. Returns how many were
        added."""
        ...

    def for_user(self, user_id: str, *, unread: bool, limit: int,
                 before: str | None) -> list[Notice]:
        """Newest first, after the `before` cursor (``time|id``) when given."""
        ...
    def unread_count(self, user_id: str) -> int: ...
    def mark_read(self, user_id: str, ids: Sequence[str] | None, at: datetime) -> int: ...
    def unmailed(self, limit: int) -> list[tuple[Notice, str]]:
        """Unread notices not mailed yet, of people with an address: (notice, address)."""
        ...

    def mark_mailed(self, notice_id: str, at: datetime) -> None: ...


@dataclass(frozen=True)
class SummaryRow:
    """One asked unit in a compiled report's summary table."""

    unit: str
    state: str
    symbol: str | None = None
    submitted_on: str | None = None
    abstract: str | None = None


@dataclass(frozen=True)
class CompiledPart:
    label: str
    pdf: bytes


class ReportCompiler(Protocol):
    def compile(self, title: str, heading: Sequence[str], rows: Sequence[SummaryRow],
                parts: Sequence[CompiledPart]) -> bytes:
        """One PDF: the summary table, then each part with a bookmark."""
        ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Send one plain-text message; raises OSError when the server refuses."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; nothing is written until `commit`."""

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

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class BlobStore(Protocol):
    """Immutable, content-addressed bytes: the key is the sha256 of the content."""

    def put_file(self, path: Path, sha256: str, size: int, media_type: str) -> None:
        """Store the file under its digest; a no-op when it is there already."""
        ...

    def put_bytes(self, data: bytes, sha256: str, media_type: str) -> None:
        """Store bytes already in memory (a file docflow made, e.g. a signed PDF) under their
        digest; a no-op when they are there already."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the content; the caller closes it."""
        ...

    def exists(self, sha256: str) -> bool: ...
    def url_for(self, sha256: str, filename: str, expires: timedelta) -> str | None:
        """A presigned download URL, or None when the store serves no URLs."""
        ...

    def delete(self, sha256: str) -> None: ...
    def inventory(self) -> Iterator[tuple[str, datetime]]:
        """Every stored digest with the time it was written."""
        ...

    def check(self) -> None:
        """Raise when the store cannot be reached."""
        ...


class JobQueue(Protocol):
    """Background work. Jobs are named, take ids only, and are safe to run twice."""

    def enqueue(self, job: str, *args: str, delay: timedelta | None = None,
                key: str | None = None) -> None:
        """Run `job` now or after `delay`. With a `key`, a job already waiting under the same
        key is not queued twice (several processes planning the same run)."""
        ...

    def check(self) -> None:
        """Raise when the queue cannot be reached."""
        ...


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    pdf_version: str


class PdfInspector(Protocol):
    def inspect(self, path: Path) -> PdfInfo:
        """Open the PDF under decode limits; raise BadFile when it is unacceptable."""
        ...


@dataclass(frozen=True)
class SignatureRequest:
    """What the signature must show; the key decides how (appearance, PAdES level)."""

    kind: SignatureKind
    signed_at: datetime
    full_name: str = ""
    position: str = ""
    authority: Authority | None = None
    number_symbol: str | None = None
    reviewer_index: int = 1
    image: bytes | None = None
    """What the signature shows, uploaded in docflow: the signer's handwritten signature
    (leader) or the unit's seal (seal); None: the key's own, if it has one."""


class MarkCheck(Protocol):
    def check(self, data: bytes) -> None:
        """Refuse (Invalid, saying why) what cannot stand in a signature block: anything
        but a transparent PNG of sensible size."""
        ...


@dataclass(frozen=True)
class SignedPdf:
    pdf: bytes
    field: str
    certificate_der: bytes
    subject: str


class SigningKey(Protocol):
    """A signing key wherever it lives (PKCS#12 file, token, HSM): bytes in, bytes out."""

    @property
    def calls_out(self) -> bool:
        """Whether a signature waits on another server (a timestamp authority, OCSP, CRL):
        the service then keeps no transaction open while it signs."""
        ...

    def sign(self, pdf: bytes, request: SignatureRequest) -> SignedPdf: ...


class SealKeys(Protocol):
    """The organisation seals the server holds (PKCS#12 files, HSM keys), by unit."""

    def open(self, unit_code: str) -> AbstractContextManager[SigningKey]:
        """The unit's seal for the block's duration; Conflict when the server holds none."""
        ...

    def units(self) -> list[str]: ...
    def close(self) -> None: ...


class SignatureValidator(Protocol):
    def validate(self, data: bytes) -> tuple[str, dict[str, object]]:
        """The verdict and the full report of a PDF's signatures, against the trust anchors."""
        ...


@dataclass(frozen=True)
class RemotePreparation:
    """Phase one of a signature made elsewhere (USB token agent, remote signing service)."""

    prepared_pdf: bytes
    """The PDF with the signature's place reserved; phase two fills it in."""
    state: dict[str, object]
    """What phase two needs besides the PDF, JSON-ready."""
    data_to_be_signed: bytes
    data_to_be_signed_digest: bytes
    """For devices that sign a hash (SHA-256 of `data_to_be_signed`)."""
    field: str


class RemoteSigning(Protocol):
    def prepare(self, pdf: bytes, request: SignatureRequest, certificate_der: bytes,
                chain_der: Sequence[bytes], expires_at: datetime) -> RemotePreparation: ...
    def complete(self, prepared_pdf: bytes, state: dict[str, object], signature_value: bytes,
                 now: datetime) -> SignedPdf:
        """Verify the value against the certificate, then embed it; Invalid on a mismatch."""
        ...


class SigningSessionRepository(Protocol):
    def add(self, session: SigningSession) -> None: ...
    def get(self, session_id: str, *, for_update: bool = False) -> SigningSession | None: ...
    def finish(self, session_id: str, at: datetime) -> None: ...


class BatchRepository(Protocol):
    def add(self, batch: SigningBatch, items: Sequence[BatchItem]) -> None: ...
    def get(self, batch_id: str) -> SigningBatch | None: ...
    def items(self, batch_id: str) -> list[BatchItem]: ...
    def item(self, item_id: str, *, for_update: bool = False) -> BatchItem | None: ...
    def save_item(self, item: BatchItem) -> None: ...


class ReportRequestRepository(Protocol):
    def add(self, request: ReportRequest) -> None: ...
    def get(self, request_id: str, *, for_update: bool = False) -> ReportRequest | None: ...
    def save(self, request: ReportRequest) -> None: ...
    def submit(self, request_id: str, submission: Submission) -> None: ...
    def involving(self, unit_codes: Sequence[str]) -> list[str]: ...
    def move_pending(self, from_unit: str, to_unit: str) -> int:
        """Submissions `from_unit` still owes become `to_unit`'s (dropped where `to_unit` is
        asked already); how many moved or were dropped."""
        ...

    def open_due(self, until: date) -> list[ReportRequest]:
        """Open requests whose deadline is `until` or earlier."""
        ...


class DelegationRepository(Protocol):
    def add(self, delegation: Delegation) -> None: ...
    def get(self, delegation_id: str) -> Delegation | None: ...
    def held(self, grantee_id: str, unit_code: str) -> list[Delegation]:
        """The person's unrevoked delegations in the unit (any window)."""
        ...

    def for_unit(self, unit_code: str) -> list[Delegation]: ...
    def revoke(self, delegation_id: str, at: datetime) -> None: ...


class AssignmentRepository(Protocol):
    def add(self, assignment: Assignment) -> None: ...
    def current(self, receipt_id: str) -> Assignment | None:
        """The assignment in force: the newest."""
        ...

    def add_note(self, note: ProgressNote) -> None: ...
    def notes(self, receipt_id: str) -> list[ProgressNote]: ...


class ConsultationRepository(Protocol):
    def add(self, consultation: Consultation) -> None: ...
    def get(self, consultation_id: str, *, for_update: bool = False) -> Consultation | None: ...
    def for_document(self, document_id: str) -> list[Consultation]: ...
    def asks(self, document_id: str, user_id: str) -> bool:
        """Whether the person is asked in any consultation on the document."""
        ...

    def add_opinion(self, consultation_id: str, opinion: Opinion) -> None: ...
    def save(self, consultation: Consultation) -> None: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...


class TreeHeadSigner(Protocol):
    """The audit log's own signing key (not the organisation's seal)."""

    @property
    def key_id(self) -> bytes:
        """SHA-256 of the public key's SubjectPublicKeyInfo."""
        ...
    def sign(self, data: bytes) -> bytes: ...
    def public_pem(self) -> bytes: ...


class Timestamper(Protocol):
    def stamp(self, data: bytes) -> bytes:
        """An RFC 3161 timestamp token (DER) over SHA-256 of `data`."""
        ...


class TreeHeadVerifier(Protocol):
    def key_id(self, public_pem: bytes) -> bytes:
        """SHA-256 of the key's SubjectPublicKeyInfo; ValueError if it is not a key."""
        ...
    def verify(self, public_pem: bytes, data: bytes, signature: bytes) -> bool: ...


class WitnessClient(Protocol):
    """The parent unit's docflow, which keeps this log's tree heads."""

    def latest(self, log_id: bytes) -> TreeHead | None:
        """The newest head of ours it holds as consistent."""
        ...
    def send(self, head: TreeHead, proof: Sequence[bytes]) -> Verdict:
        """Hand it a head with the proof that it extends what it holds."""
        ...


@dataclass(frozen=True)
class Witnessed:
    head: TreeHead
    verdict: Verdict
    received_at: datetime


class WitnessRepository(Protocol):
    def add_log(self, log_id: bytes, unit_code: str, public_pem: bytes, at: datetime) -> bool:
        """Register a child log; False if it was registered already."""
        ...
    def log(self, log_id: bytes, *, for_update: bool = False) -> tuple[str, bytes] | None:
        """(unit code, public key PEM) of a registered log; locked for a receipt."""
        ...
    def latest(self, log_id: bytes) -> TreeHead | None:
        """The newest head received as consistent."""
        ...
    def add(self, log_id: bytes, head: TreeHead, verdict: Verdict, at: datetime) -> None: ...
    def heads(self, log_id: bytes, limit: int) -> list[Witnessed]:
        """Every head received, newest first."""
        ...


@dataclass(frozen=True)
class EvidenceContent:
    """What an evidence pack shows, drawn as text: the service decides, the renderer draws."""

    title: str
    organisation: str
    generated_at: str
    generated_by: str
    particulars: list[tuple[str, str]]
    validation_verdict: str
    signatures: list[str]
    tree_head: list[tuple[str, str]]
    events: list[dict[str, str]]
    proofs: list[tuple[int, list[str]]]
    attachments: list[tuple[str, bytes]]
    """(file name, content) embedded in the PDF: the document's file, the audit bundle."""


@dataclass(frozen=True)
class RegisterContent:
    title: str
    organisation: str
    period: str
    summary: list[str]
    columns: list[str]
    widths: list[float]
    """Column widths in millimetres (landscape A4 holds about 265)."""
    rows: list[list[str]]
    generated_at: str
    generated_by: str


class StatementRenderer(Protocol):
    def evidence_pack(self, content: EvidenceContent) -> bytes: ...
    def register(self, content: RegisterContent) -> bytes: ...
