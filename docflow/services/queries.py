"""Read models: lists and status tables, read straight from storage without loading aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from docflow.domain.errors import NotFound
from docflow.domain.org import Actor
from docflow.services.documents import audit_paths, load_visible
from docflow.services.ports import UnitOfWorkFactory


@dataclass(frozen=True)
class DocumentSummary:
    id: str
    unit_code: str
    doc_type: str
    abstract: str
    status: str
    symbol: str | None
    urgency: str
    updated_at: datetime


@dataclass(frozen=True)
class InboxEntry:
    receipt_id: str
    document_id: str
    unit_code: str
    status: str
    arrival_number: int | None
    delivered_at: datetime
    symbol: str | None
    abstract: str
    doc_type: str
    urgency: str
    issuer_code: str
    reply_due: date | None


@dataclass(frozen=True)
class RecipientStatus:
    receipt_id: str
    unit_code: str
    unit_name: str
    level: str
    status: str
    arrival_number: int | None
    updated_at: datetime | None
    return_reason: str | None


class ReadModel(Protocol):
    def outbox(self, unit_codes: list[str], limit: int, before: str | None
               ) -> list[DocumentSummary]: ...
    def inbox(self, unit_codes: list[str], status: str | None, limit: int, before: str | None
              ) -> list[InboxEntry]: ...
    def recipients(self, document_id: str, unit_codes: list[str] | None,
                   under_paths: list[str] | None) -> list[RecipientStatus]: ...
    def status_counts(self, document_id: str) -> dict[str, int]: ...


class QueryService:
    """Lists an actor may read; every list is limited to what the access rule lets them see."""

    def __init__(self, uow: UnitOfWorkFactory, reads: ReadModel) -> None:
        self._uow = uow
        self._reads = reads

    def outbox(self, actor: Actor, limit: int = 50, before: str | None = None
               ) -> list[DocumentSummary]:
        """Documents drafted by the actor's units, newest first."""
        return self._reads.outbox(sorted(actor.unit_codes), _limit(limit), before)

    def inbox(self, actor: Actor, status: str | None = None, limit: int = 50,
              before: str | None = None) -> list[InboxEntry]:
        """Incoming entries of the actor's units, newest first."""
        return self._reads.inbox(sorted(actor.unit_codes), status, _limit(limit), before)

    def recipients(self, actor: Actor, document_id: str) -> tuple[dict[str, int],
                                                                  list[RecipientStatus]]:
        """Per-recipient status. The sender and auditors above it see every recipient; anyone
        else sees only the entries of their own units or the subtrees they audit."""
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            drafting = uow.units.get(document.unit_code)
        if drafting is None:
            raise NotFound("no such document")
        if document.unit_code in actor.unit_codes or actor.audits(drafting.path):
            rows = self._reads.recipients(document_id, None, None)
            counts = self._reads.status_counts(document_id)
        else:
            rows = self._reads.recipients(document_id, sorted(actor.unit_codes),
                                          audit_paths(actor))
            counts = {}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts, rows


def _limit(limit: int) -> int:
    return max(1, min(limit, 500))
