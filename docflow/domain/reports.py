"""Report requests: an upper level asks units below it for a report by a deadline; each asked
unit submits its report (a document it issued) upward; the requester sees who has and has
not, and who was late."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from docflow.domain.documents import DocumentStatus

ANSWERS = (DocumentStatus.ISSUED.value, DocumentStatus.DISPATCHED.value)
"""The statuses of a document a unit may send as its report: one it issued."""


class RequestStatus(StrEnum):
    """Positions of the ``report-request`` workflow."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Submission:
    """One asked unit's answer: pending until it links its report."""

    unit_code: str
    document_id: str | None = None
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    late: bool = False


@dataclass(frozen=True)
class ReportRequest:
    id: str
    unit_code: str
    """The requesting unit."""
    title: str
    details: str
    deadline: date
    status: RequestStatus
    workflow_version: int
    created_by: str
    created_at: datetime
    submissions: tuple[Submission, ...] = ()
    closed_at: datetime | None = None
    close_reason: str | None = None

    def pending(self) -> list[str]:
        return [s.unit_code for s in self.submissions if s.document_id is None]

    def owed_by(self, unit_codes: Iterable[str]) -> list[str]:
        """Those of `unit_codes` that were asked and have not sent their report yet."""
        mine = set(unit_codes)
        return [code for code in self.pending() if code in mine]
