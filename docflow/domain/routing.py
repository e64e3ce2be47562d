"""Dispatch of an issued document to recipient units, and each recipient's incoming entry."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from docflow.domain.errors import Conflict, Invalid
from docflow.domain.org import Role
from docflow.domain.search import fold


class ReceiptStatus(StrEnum):
    """Positions of the ``incoming`` workflow."""

    DELIVERED = "delivered"
    REGISTERED = "registered"
    ASSIGNED = "assigned"  # the leader annotated it and named who handles it, by when
    PROCESSING = "processing"  # the lead has reported progress
    DONE = "done"
    RETURNED = "returned"


FINISHED = frozenset({ReceiptStatus.DONE.value, ReceiptStatus.RETURNED.value})
"""An entry in these states is no longer being handled: no deadline can pass for it."""


def overdue(deadline: date | None, status: str, today: date) -> bool:
    """Whether an entry's handling deadline has passed with the entry still open."""
    return deadline is not None and deadline < today and status not in FINISHED


class RecallStatus(StrEnum):
    """Where a recipient's copy stands in a recall by the sender (edXML 13, 15, 16)."""

    ASKED = "asked"  # 13: the sender asks for the document back; the copy is frozen
    AGREED = "agreed"  # 15: withdrawn at this recipient
    REFUSED = "refused"  # 16: the recipient keeps it, with its reason


RECALL_CODES = {RecallStatus.ASKED: "13", RecallStatus.AGREED: "15",
                RecallStatus.REFUSED: "16"}


RECALL_ROLES = frozenset({Role.CLERK.value, Role.LEADER.value})
"""Who asks a document back for the issuing unit, and who answers for a recipient unit."""


def may_recall(roles: Collection[str]) -> bool:
    """Whether someone with these roles in the unit makes or answers a recall."""
    return bool(RECALL_ROLES & set(roles))


def check_not_frozen(recall: RecallStatus | None) -> None:
    """An entry whose document is being recalled, or was withdrawn, takes no other step."""
    if recall is RecallStatus.ASKED:
        raise Conflict("the sender is recalling this document: answer the recall first")
    if recall is RecallStatus.AGREED:
        raise Conflict("this document was withdrawn (recalled by its sender)")


# edXML status codes the sender is told (QCVN 102:2016); used when exchanging with other systems.
EDXML_STATUS = {
    ReceiptStatus.DELIVERED: "01",
    ReceiptStatus.RETURNED: "02",
    ReceiptStatus.REGISTERED: "03",
    ReceiptStatus.ASSIGNED: "04",
    ReceiptStatus.PROCESSING: "05",
    ReceiptStatus.DONE: "06",
}


class DispatchStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True)
class DispatchTarget:
    """To whom: explicit units, or every active unit of a level under a unit."""

    unit_codes: tuple[str, ...] = ()
    level: str | None = None
    under: str | None = None

    def check(self) -> DispatchTarget:
        """Refuse an empty or half-given target."""
        if self.unit_codes and (self.level or self.under):
            raise Invalid("give either recipient units or a level under a unit, not both")
        if not self.unit_codes and not (self.level and self.under):
            raise Invalid("give recipient units, or both a level and the unit it is under")
        return DispatchTarget(tuple(dict.fromkeys(self.unit_codes)), self.level, self.under)


@dataclass(frozen=True)
class Dispatch:
    """One act of sending an issued document; fanned out to receipts by one background job."""

    id: str
    document_id: str
    created_by: str
    created_at: datetime
    target: DispatchTarget
    status: DispatchStatus
    recipient_count: int = 0
    revision_sha256: str | None = None
    """The main file as it was sent: what intake validates and registers."""
    sender_unit: str | None = None
    """None: the issuing unit sent it. Otherwise a recipient unit that forwarded it to its own
    sub-units (the cascade)."""
    deadline: date | None = None
    """The handling deadline the entries start with (sub-units named to coordinate)."""


@dataclass
class Receipt:
    """A recipient unit's incoming entry for one document (sổ văn bản đến)."""

    id: str
    dispatch_id: str
    document_id: str
    unit_code: str
    status: ReceiptStatus
    delivered_at: datetime
    arrival_number: int | None = None
    arrival_year: int | None = None
    registered_at: datetime | None = None
    registered_by: str | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    return_reason: str | None = None
    updated_at: datetime | None = None
    workflow_version: int = 1
    """The version of the ``incoming`` flow the entry started with."""
    deadline: date | None = None
    """Set when assigned; moved by an extension."""
    assigned_at: datetime | None = None
    result_document_id: str | None = None
    """The lead's result (e.g. the report sent back), linked when done."""
    recall: RecallStatus | None = None
    recall_reason: str | None = None
    """The recipient's reason when it refuses a recall."""


def arrival_year(on: date) -> int:
    """Arrival numbers restart on 1 January."""
    return on.year


@dataclass(frozen=True)
class Counts:
    """Entries counted by where they stand: arrived (all), registered (and still are, or are
    done), done, returned, and overdue (not done or returned once the reply date has passed)."""

    arrived: int = 0
    registered: int = 0
    assigned: int = 0
    done: int = 0
    returned: int = 0
    overdue: int = 0

    @classmethod
    def of(cls, stages: Iterable[tuple[str, bool]], reply_due: date | None,
           today: date) -> Counts:
        """Count (status, was it assigned) pairs. Registered and assigned count every entry
        that got that far, done ones included."""
        by_status: Counter[str] = Counter()
        assigned = 0
        for status, was_assigned in stages:
            by_status[status] += 1
            assigned += was_assigned
        done = by_status[ReceiptStatus.DONE.value]
        returned = by_status[ReceiptStatus.RETURNED.value]
        arrived = sum(by_status.values())
        late = reply_due is not None and today > reply_due
        return cls(arrived=arrived,
                   registered=arrived - by_status[ReceiptStatus.DELIVERED.value] - returned,
                   assigned=assigned, done=done, returned=returned,
                   overdue=arrived - done - returned if late else 0)


@dataclass(frozen=True)
class CascadeEntry:
    """One unit's entry for a document, placed in the cascade: who passed it down to it, and
    (`subtree`) how the entries it passed on, and theirs, stand."""

    receipt_id: str
    unit_code: str
    unit_name: str
    level: str
    path: str
    status: ReceiptStatus
    via_unit: str | None
    """The unit that forwarded it; None when it came from the issuer directly."""
    delivered_at: datetime
    subtree: Counts = Counts()
    """Its own entry and every entry below it."""


def subtree_counts(stages: Sequence[tuple[str, str, bool]], roots: Sequence[str],
                   reply_due: date | None, today: date) -> dict[str, Counts]:
    """For each root path, the entries whose unit path starts with it, counted. The (path,
    status, assigned) triples must be sorted by path: each root is then two binary searches
    and a slice."""
    paths = [p for p, _, _ in stages]
    counts = {}
    for root in roots:
        lo = bisect_left(paths, root)
        hi = bisect_left(paths, root + "\uffff", lo)
        counts[root] = Counts.of(((s, a) for _, s, a in stages[lo:hi]), reply_due, today)
    return counts


@dataclass(frozen=True)
class Assignment:
    """A leader's annotation (bút phê) on an incoming entry and who handles it: one lead
    (chủ trì), people coordinating (phối hợp), people informed (nhận để biết), a deadline."""

    id: str
    receipt_id: str
    annotation: str
    lead_id: str
    coordinators: tuple[str, ...]
    informed: tuple[str, ...]
    deadline: date
    assigned_by: str
    assigned_at: datetime
    units: tuple[tuple[str, str], ...] = ()
    """Sub-units named as well: (unit code, ``coordinator`` or ``informed``); each gets the
    document passed down, coordinators with the deadline."""


@dataclass(frozen=True)
class ProgressNote:
    id: str
    receipt_id: str
    author_id: str
    text: str
    at: datetime


@dataclass(frozen=True)
class LookAlike:
    """A registered entry that may be the same document as another one."""

    receipt_id: str
    document_id: str
    arrival_number: int | None
    arrival_year: int | None
    symbol: str | None
    abstract: str
    identifier: str | None
    issuer: str
    """As printed: the issuing unit's name, or an external issuer's."""
    issuer_key: str


@dataclass(frozen=True)
class Duplicate:
    """A warning, not a refusal: an entry already registered that looks like the same
    document (Decree 30: same identifier, or same number, symbol and issuer)."""

    entry: LookAlike
    why: str


def duplicates(identifier: str | None, symbol: str | None, issuer_key: str,
               issuer_name: str, candidates: Sequence[LookAlike]) -> list[Duplicate]:
    """Which candidates are the same document: the same cross-system identifier, or the same
    number and symbol (compared without diacritics, spaces or case) from the same issuer (by
    code, or by name as printed)."""
    found = []
    wanted = _symbol_key(symbol)
    for c in candidates:
        if identifier and c.identifier == identifier:
            found.append(Duplicate(c, "the same identifier"))
        elif wanted and _symbol_key(c.symbol) == wanted and (
                c.issuer_key == issuer_key or fold(c.issuer) == fold(issuer_name)):
            found.append(Duplicate(c, "the same number, symbol and issuer"))
    return found


def _symbol_key(symbol: str | None) -> str:
    return "".join(fold(symbol or "").split())
