"""Read models: lists and status tables, read straight from storage without loading aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from docflow.domain.errors import NotFound
from docflow.domain.org import Actor
from docflow.domain.routing import CascadeEntry, LevelCount, roll_up
from docflow.services.documents import audit_paths, load_visible
from docflow.services.ports import Clock, UnitOfWorkFactory


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
    def cascade(self, document_id: str) -> list[CascadeEntry]: ...


@dataclass(frozen=True)
class CascadeView:
    """The cascade of one document as the actor may see it: counts per level, and every
    unit's entry with the unit that passed the document down to it."""

    levels: list[LevelCount]
    entries: list[CascadeEntry]


class QueryService:
    """Lists an actor may read; every list is limited to what the access rule lets them see."""

    def __init__(self, uow: UnitOfWorkFactory, reads: ReadModel, clock: Clock,
                 timezone: str) -> None:
        self._uow = uow
        self._reads = reads
        self._clock = clock
        self._zone = ZoneInfo(timezone)

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


    def cascade(self, actor: Actor, document_id: str) -> CascadeView:
        """The roll-up tree: per level, how many entries arrived, were registered, are done,
        returned or overdue, and each unit's entry. The issuer and the auditors above it see
        it all; a recipient unit sees its own entry and the subtree it passed it down to."""
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            drafting = uow.units.get(document.unit_code)
            levels = [lv.code for lv in uow.units.levels()]
            own = uow.units.get_many(sorted(actor.unit_codes))
        if drafting is None:
            raise NotFound("no such document")
        entries = self._reads.cascade(document_id)
        if not (document.unit_code in actor.unit_codes or actor.audits(drafting.path)):
            roots = [u.path for u in own.values()] + audit_paths(actor)
            entries = [e for e in entries if any(e.path.startswith(p) for p in roots)]
        today = self._clock.now().astimezone(self._zone).date()
        return CascadeView(roll_up(entries, levels, document.reply_due, today), entries)


def _limit(limit: int) -> int:
    return max(1, min(limit, 500))
