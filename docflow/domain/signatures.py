"""Decree-30 signatures on a document: who signs what, in which order, as which authority."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from docflow.domain.documents import DocumentStatus
from docflow.domain.errors import Conflict, Forbidden, Invalid
from docflow.domain.org import Role


class SignatureKind(StrEnum):
    INITIAL = "initial"  # ký nháy, by a reviewer
    LEADER = "leader"  # the competent person
    SEAL = "seal"  # the organisation, applied by the clerk
    ATTACHMENT = "attachment"  # the organisation, on a separate attachment


class Authority(StrEnum):
    """Art. 13 signing authority; the prefix stands in the signature block."""

    ON_BEHALF = "TM."  # thay mặt a collective
    ACTING = "Q."  # acting head
    DEPUTY = "KT."  # deputy signs for the head
    BY_ORDER = "TL."  # thừa lệnh
    AUTHORISED = "TUQ."  # thừa ủy quyền


ROLE_FOR = {
    SignatureKind.INITIAL: frozenset({Role.LEADER, Role.OFFICER}),
    SignatureKind.LEADER: frozenset({Role.LEADER}),
    SignatureKind.SEAL: frozenset({Role.CLERK}),
    SignatureKind.ATTACHMENT: frozenset({Role.CLERK}),
}


@dataclass(frozen=True)
class SignatureRecord:
    """One signature as applied: the revision it turned into which, with whose certificate."""

    id: str
    document_id: str
    revision_id: str
    """The new revision the signature produced."""
    kind: SignatureKind
    field: str
    signed_sha256: str
    """The revision that was signed."""
    result_sha256: str
    signer_subject: str
    certificate_sha256: str
    certificate_der: bytes
    authority: Authority | None
    signed_at: datetime
    actor_id: str


def check_signing(
    kind: SignatureKind,
    roles: Collection[str],
    status: DocumentStatus,
    done: Collection[SignatureKind],
    authority: Authority | None,
) -> None:
    """Refuse a signature the role, the document's state or the order of Decree 30 forbids.

    `done`: the signatures already on the file being signed. Initials come during review,
    before the leader; the leader signs the approved document; the clerk numbers it and only
    then applies the organisation's seal, after the leader's signature (from outgoing v2 the
    seal is what issues it; in v1 the document was issued first); attachments get the
    organisation's signature once the number is given.
    """
    if not {r.value for r in ROLE_FOR[kind]} & set(roles):
        wanted = ", ".join(sorted(r.value for r in ROLE_FOR[kind]))
        raise Forbidden.fmt("a %(kind)s signature needs one of the roles [%(roles)s] in the "
                            "drafting unit", {"kind": kind.value, "roles": wanted})
    if authority is not None and kind is not SignatureKind.LEADER:
        raise Invalid("only the leader's signature carries an authority prefix")
    if kind is SignatureKind.INITIAL:
        if status not in (DocumentStatus.REVIEW, DocumentStatus.SUBMITTED) \
                or SignatureKind.LEADER in done:
            raise Conflict("initials go on a document under review, before the leader signs")
    elif kind is SignatureKind.LEADER:
        if status is not DocumentStatus.APPROVED:
            raise Conflict.fmt("the leader signs the approved document; this one is %(status)s",
                               {"status": str(status)})
        if SignatureKind.LEADER in done:
            raise Conflict("the leader has signed this document already")
    elif kind is SignatureKind.SEAL:
        if SignatureKind.LEADER not in done:
            raise Conflict("the organisation's seal comes after the leader's signature")
        if status not in NUMBERED:
            raise Conflict("the clerk numbers the document before sealing it")
        if SignatureKind.SEAL in done:
            raise Conflict("the organisation's seal is on this document already")
    elif status not in NUMBERED:
        raise Conflict("attachments are signed once the document has its number")


NUMBERED = frozenset({DocumentStatus.NUMBERED, DocumentStatus.ISSUED, DocumentStatus.DISPATCHED})
"""States in which the document has its number (v1 numbered at issue)."""


@dataclass(frozen=True)
class ValidationOutcome:
    """The signature validation report of one file, as intake keeps it with its entries."""

    sha256: str
    verdict: str
    """VALID, INVALID, INDETERMINATE or NO_SIGNATURE."""
    report: dict[str, object]
    """The full report (the JSON of `docflow verify --json`)."""
    validated_at: datetime

    @property
    def acceptable(self) -> bool:
        """Whether a clerk may register the file without a second look."""
        return self.verdict in ("VALID", "NO_SIGNATURE")

    def summary(self) -> str:
        """One line a sender can act on: the verdict and the first reasons."""
        listed = self.report.get("reasons")
        reasons = [str(r.get("code", "")) for r in listed if isinstance(r, dict)][:3] \
            if isinstance(listed, list) else []
        return f"signature check: {self.verdict}" + (f" ({', '.join(reasons)})" if reasons else "")


@dataclass(frozen=True)
class SigningSession:
    """A signature prepared here and signed elsewhere, waiting for its value."""

    id: str
    document_id: str
    actor_id: str
    kind: SignatureKind
    base_revision_id: str
    prepared_sha256: str
    state: dict[str, object]
    authority: Authority | None
    expires_at: datetime
    completed_at: datetime | None = None


class BatchItemStatus(StrEnum):
    PREPARED = "prepared"  # waiting for the device's signature value
    QUEUED = "queued"  # value received; its job will complete the signature
    SIGNED = "signed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Signed or failed: nothing more happens to the document in this batch."""
        return self in (BatchItemStatus.SIGNED, BatchItemStatus.FAILED)


@dataclass(frozen=True)
class BatchItem:
    """One document of a batch: its own session, status and error."""

    id: str
    batch_id: str
    document_id: str
    session_id: str | None
    status: BatchItemStatus
    error: str | None = None
    signature_value: bytes | None = None
    attempts: int = 0


@dataclass(frozen=True)
class SigningBatch:
    """A leader's queue of documents signed in one action and one token (PIN) session."""

    id: str
    actor_id: str
    kind: SignatureKind
    created_at: datetime
