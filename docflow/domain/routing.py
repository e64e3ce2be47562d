"""Dispatch of an issued document to recipient units, and each recipient's incoming entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from docflow.domain.errors import Invalid


class ReceiptStatus(StrEnum):
    """Positions of the ``receipt`` workflow."""

    DELIVERED = "delivered"
    REGISTERED = "registered"
    DONE = "done"
    RETURNED = "returned"


# edXML status codes the sender is told (QCVN 102:2016); used when exchanging with other systems.
EDXML_STATUS = {
    ReceiptStatus.DELIVERED: "01",
    ReceiptStatus.RETURNED: "02",
    ReceiptStatus.REGISTERED: "03",
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


def arrival_year(on: date) -> int:
    """Arrival numbers restart on 1 January."""
    return on.year


@dataclass(frozen=True)
class CascadeEntry:
    """One unit's entry for a document, placed in the cascade: who passed it down to it."""

    receipt_id: str
    unit_code: str
    unit_name: str
    level: str
    path: str
    status: ReceiptStatus
    via_unit: str | None
    """The unit that forwarded it; None when it came from the issuer directly."""
    delivered_at: datetime


@dataclass(frozen=True)
class LevelCount:
    level: str
    arrived: int
    registered: int
    done: int
    returned: int
    overdue: int


def roll_up(entries: list[CascadeEntry], levels: list[str], reply_due: date | None,
            today: date) -> list[LevelCount]:
    """Per level (in the order given): how many entries arrived, were registered (and still
    are, or are done), are done, were returned, and are overdue (the reply date has passed and
    they are not done or returned)."""
    counts = []
    for level in levels:
        here = [e for e in entries if e.level == level]
        if not here:
            continue
        open_ = [e for e in here if e.status not in (ReceiptStatus.DONE, ReceiptStatus.RETURNED)]
        counts.append(LevelCount(
            level=level, arrived=len(here),
            registered=sum(e.status in (ReceiptStatus.REGISTERED, ReceiptStatus.DONE)
                           for e in here),
            done=sum(e.status is ReceiptStatus.DONE for e in here),
            returned=sum(e.status is ReceiptStatus.RETURNED for e in here),
            overdue=len(open_) if reply_due is not None and today > reply_due else 0))
    return counts
