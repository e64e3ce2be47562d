"""Read models: lists and status tables, read straight from storage without loading aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from docflow.domain.documents import DocumentStatus
from docflow.domain.errors import NotFound
from docflow.domain.org import Actor
from docflow.domain.routing import CascadeEntry, Counts, overdue, subtree_counts
from docflow.domain.search import terms
from docflow.services.documents import load_visible
from docflow.services.paging import page_size
from docflow.services.ports import Clock, UnitOfWorkFactory

AWAITING_LEADER = (DocumentStatus.REVIEW.value, DocumentStatus.SUBMITTED.value,
                   DocumentStatus.APPROVED.value)
"""Outgoing statuses in which the next step is a leader's: pass the review, approve, sign."""


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
    deadline: date | None = None
    """The handling deadline set when the entry was assigned."""

    def overdue(self, today: date) -> bool:
        return overdue(self.deadline, self.status, today)


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
    recall: str | None = None
    """Where the copy stands in a recall: asked (13), agreed (15), refused (16)."""
    recall_reason: str | None = None


@dataclass(frozen=True)
class RegisterFilter:
    """A register search: words (folded, each must appear in the type, number and symbol,
    abstract or issuer), a number, a date range (issue date for the outgoing register,
    arrival date for the incoming one)."""

    terms: tuple[str, ...] = ()
    number: int | None = None
    from_date: date | None = None
    to_date: date | None = None


@dataclass(frozen=True)
class OutgoingEntry:
    document_id: str
    unit_code: str
    number: int
    symbol: str
    issued_at: datetime
    doc_type: str
    abstract: str


@dataclass(frozen=True)
class IncomingEntry:
    receipt_id: str
    document_id: str
    unit_code: str
    arrival_number: int
    arrival_year: int
    registered_at: datetime
    symbol: str | None
    abstract: str
    doc_type: str
    issuer_code: str
    issuer_name: str
    status: str


@dataclass(frozen=True)
class Dashboard:
    """Counts for a unit's dashboard: what is where, and what is late."""

    documents_by_status: dict[str, int]
    entries_by_status: dict[str, int]
    overdue_by_unit: dict[str, int]
    days_to_handle: dict[str, float]
    """Per unit: mean days from arrival to done, of entries done in the last 90 days."""


class ReadModel(Protocol):
    def dashboard(self, unit_codes: list[str], today: date, zone: str) -> Dashboard: ...
    def outbox(self, unit_codes: list[str], limit: int, before: str | None,
               statuses: Sequence[str] | None = None, ids: Sequence[str] | None = None
               ) -> list[DocumentSummary]: ...
    def inbox(self, unit_codes: list[str], status: str | None, limit: int, before: str | None,
              overdue_on: date | None = None) -> list[InboxEntry]:
        """With `overdue_on`: only entries whose handling deadline is before that day and
        that are not done, returned or withdrawn."""
        ...

    def recipients(self, document_id: str, unit_codes: list[str] | None,
                   under_paths: list[str] | None) -> list[RecipientStatus]: ...
    def status_counts(self, document_id: str) -> dict[str, int]: ...
    def outgoing_register(self, unit_codes: list[str], search: RegisterFilter, zone: str,
                          limit: int, before: str | None) -> list[OutgoingEntry]: ...
    def incoming_register(self, unit_codes: list[str], search: RegisterFilter, zone: str,
                          limit: int, before: str | None) -> list[IncomingEntry]: ...
    def cascade_children(self, document_id: str, sender_unit: str | None,
                         under: list[str] | None) -> list[CascadeEntry]:
        """The entries `sender_unit` passed down (None: those the issuer sent)."""
        ...

    def cascade_statuses(self, document_id: str, under: list[str] | None
                         ) -> list[tuple[str, str, str, bool]]:
        """(unit path, level, status, was it assigned) of every entry (under these paths)."""
        ...


@dataclass(frozen=True)
class CascadeView:
    """The cascade of one document as the actor may see it: counts per level, and one node's
    children (the entries it passed down) with the counts of their subtrees."""

    levels: list[tuple[str, Counts]]
    parent: str | None
    """Whose children these are; None: the issuer's direct recipients."""
    children: list[CascadeEntry]


class QueryService:
    """Lists an actor may read; every list is limited to what the access rule lets them see."""

    def __init__(self, uow: UnitOfWorkFactory, reads: ReadModel, clock: Clock,
                 timezone: str) -> None:
        self._uow = uow
        self._reads = reads
        self._clock = clock
        self._zone = ZoneInfo(timezone)

    def dashboard(self, actor: Actor) -> Dashboard:
        """The counts of the actor's units: documents and incoming entries by status, entries
        past their deadline per unit, and how long handling took lately."""
        today = self._clock.now().astimezone(self._zone).date()
        return self._reads.dashboard(sorted(actor.unit_codes), today, self._zone.key)

    def outbox(self, actor: Actor, limit: int = 50, before: str | None = None, *,
               statuses: Sequence[str] | None = None) -> list[DocumentSummary]:
        """Documents drafted by the actor's units (in these statuses), newest first."""
        return self._reads.outbox(sorted(actor.unit_codes), page_size(limit), before,
                                  statuses=statuses)

    def approvals(self, actor: Actor, limit: int = 100) -> list[DocumentSummary]:
        """The leader's queue: documents of the units the actor leads that wait on a leader
        (a review round to pass, a submission to approve, an approval to sign), the most
        recently moved first."""
        led = actor.led_units()
        if not led:
            return []
        return self._reads.outbox(led, page_size(limit), None, statuses=AWAITING_LEADER)

    def summaries(self, actor: Actor, document_ids: Sequence[str]
                  ) -> dict[str, DocumentSummary]:
        """The named documents of the actor's units, by id (others are left out)."""
        if not document_ids:
            return {}
        found = self._reads.outbox(sorted(actor.unit_codes), len(document_ids), None,
                                   ids=document_ids)
        return {d.id: d for d in found}

    def inbox(self, actor: Actor, status: str | None = None, limit: int = 50,
              before: str | None = None, *, overdue: bool = False) -> list[InboxEntry]:
        """Incoming entries of the actor's units, newest first; `overdue`: only those past
        their handling deadline and not finished."""
        today = self._clock.now().astimezone(self._zone).date() if overdue else None
        return self._reads.inbox(sorted(actor.unit_codes), status, page_size(limit), before,
                                 today)

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
                                          actor.audited_paths())
            counts = {}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts, rows


    def outgoing_register(self, actor: Actor, query: str = "", *, number: int | None = None,
                          from_date: date | None = None, to_date: date | None = None,
                          limit: int = 50, before: str | None = None) -> list[OutgoingEntry]:
        """The outgoing register (sổ văn bản đi) of the actor's units, newest first; words
        match without diacritics."""
        search = RegisterFilter(tuple(terms(query)), number, from_date, to_date)
        return self._reads.outgoing_register(sorted(actor.unit_codes), search,
                                             self._zone.key, page_size(limit), before)

    def incoming_register(self, actor: Actor, query: str = "", *, number: int | None = None,
                          from_date: date | None = None, to_date: date | None = None,
                          limit: int = 50, before: str | None = None) -> list[IncomingEntry]:
        """The incoming register (sổ văn bản đến) of the actor's units: registered entries,
        newest first; `number` is the arrival number; words also match the issuer's name."""
        search = RegisterFilter(tuple(terms(query)), number, from_date, to_date)
        return self._reads.incoming_register(sorted(actor.unit_codes), search,
                                             self._zone.key, page_size(limit), before)

    def cascade(self, actor: Actor, document_id: str, unit: str | None = None
                ) -> CascadeView:
        """The roll-up tree, from the issuer down or from `unit` down (drilling in): per
        level, how many entries arrived, were registered, are done, returned or overdue; and
        the entries that node passed down, each with its subtree's counts. The issuer and
        auditors above it see it all; a recipient unit sees its own entry and its subtree."""
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id)
            drafting = uow.units.get(document.unit_code)
            order = {lv.code: lv.rank for lv in uow.units.levels()}
            own = uow.units.get_many(sorted(actor.unit_codes))
            drilled = uow.units.get(unit) if unit is not None else None
        if drafting is None:
            raise NotFound("no such document")
        if unit is not None and drilled is None:
            raise NotFound.fmt("no unit '%(unit)s'", {"unit": unit})
        under: list[str] | None = None
        if not (document.unit_code in actor.unit_codes or actor.audits(drafting.path)):
            under = [u.path for u in own.values()] + actor.audited_paths()
        # One pass over the entries in scope (a unit forwards only within its own subtree,
        # so a drilled unit's tree lies under its path): counts per level, then each child's
        # subtree by binary search in the sorted paths.
        scope: list[str] | None
        if drilled is not None:
            scope = [drilled.path] if under is None or any(
                drilled.path.startswith(p) for p in under) else []
        else:
            scope = under
        rows = sorted(self._reads.cascade_statuses(document_id, scope))
        today = self._clock.now().astimezone(self._zone).date()
        by_level: dict[str, list[tuple[str, bool]]] = {}
        for _path, level, status, assigned in rows:
            by_level.setdefault(level, []).append((status, assigned))
        levels = [(level, Counts.of(stages, document.reply_due, today))
                  for level, stages in sorted(by_level.items(),
                                              key=lambda kv: order.get(kv[0], 99))]
        children = self._reads.cascade_children(document_id, unit, under)
        if children:
            roots = [c.path for c in children]
            counts_by_root = subtree_counts([(p, s, a) for p, _level, s, a in rows], roots,
                                            document.reply_due, today)
            children = [replace(c, subtree=counts_by_root[c.path]) for c in children]
        return CascadeView(levels=levels, parent=unit, children=children)
