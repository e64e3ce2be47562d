"""The read model: lists and status tables straight from SQL, for the query service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, case, func, literal, or_, select

from docflow.domain.routing import FINISHED, CascadeEntry, RecallStatus, ReceiptStatus
from docflow.services.queries import (
    Dashboard,
    DocumentSummary,
    InboxEntry,
    IncomingEntry,
    OutgoingEntry,
    RecipientStatus,
    RegisterFilter,
)
from storage.db import tables as t
from storage.db.repositories import _utc, utc
from storage.db.repositories import keyset_before as _before


def encode_cursor(at: datetime, ident: str) -> str:
    return f"{_utc(at).isoformat()}|{ident}"


def _not_withdrawn() -> ColumnElement[bool]:
    """Entries the sender's recall has not taken back."""
    r = t.receipts.c
    return or_(r.recall.is_(None), r.recall != RecallStatus.AGREED.value)


class SqlReadModel:
    """Keyset-paginated, newest first."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def dashboard(self, unit_codes: list[str], today: date, zone: str) -> Dashboard:
        d, r = t.documents.c, t.receipts.c
        since = datetime.combine(today - timedelta(days=90), time(), ZoneInfo(zone))
        with self._engine.connect() as conn:
            documents: dict[Any, Any] = dict(conn.execute(
                select(d.status, func.count()).where(d.unit_code.in_(unit_codes))
                .group_by(d.status)).all())
            entries: dict[Any, Any] = dict(conn.execute(
                select(r.status, func.count()).where(r.unit_code.in_(unit_codes))
                .group_by(r.status)).all())
            overdue: dict[Any, Any] = dict(conn.execute(
                select(r.unit_code, func.count()).where(
                    r.unit_code.in_(unit_codes), r.deadline < today,
                    r.status.not_in(FINISHED), _not_withdrawn()).group_by(r.unit_code)).all())
            done = conn.execute(
                select(r.unit_code, r.delivered_at, r.completed_at).where(
                    r.unit_code.in_(unit_codes), r.status == ReceiptStatus.DONE.value,
                    r.completed_at >= since)).all()
        spans: dict[str, list[float]] = {}
        for row in done:
            took = _utc(row.completed_at) - _utc(row.delivered_at)
            spans.setdefault(row.unit_code, []).append(took.total_seconds() / 86400)
        return Dashboard(
            documents_by_status={str(k): int(v) for k, v in documents.items()},
            entries_by_status={str(k): int(v) for k, v in entries.items()},
            overdue_by_unit={str(k): int(v) for k, v in overdue.items()},
            days_to_handle={u: sum(v) / len(v) for u, v in spans.items()})

    def outbox(self, unit_codes: list[str], limit: int, before: str | None,
               statuses: Sequence[str] | None = None, ids: Sequence[str] | None = None
               ) -> list[DocumentSummary]:
        d = t.documents.c
        stmt = select(d.id, d.unit_code, d.doc_type, d.abstract, d.status, d.symbol, d.urgency,
                      d.updated_at).where(d.unit_code.in_(unit_codes))
        if statuses is not None:
            stmt = stmt.where(d.status.in_(list(statuses)))
        if ids is not None:
            stmt = stmt.where(d.id.in_(list(ids)))
        stmt = _before(stmt, (d.updated_at, d.id), before)
        stmt = stmt.order_by(d.updated_at.desc(), d.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [DocumentSummary(id=str(r.id), unit_code=r.unit_code, doc_type=r.doc_type,
                                    abstract=r.abstract, status=r.status, symbol=r.symbol,
                                    urgency=r.urgency, updated_at=_utc(r.updated_at))
                    for r in conn.execute(stmt)]

    def inbox(self, unit_codes: list[str], status: str | None, limit: int, before: str | None,
              overdue_on: date | None = None) -> list[InboxEntry]:
        r, d = t.receipts.c, t.documents.c
        stmt = (select(r.id, r.document_id, r.unit_code, r.status, r.arrival_number,
                       r.delivered_at, d.symbol, d.abstract, d.doc_type, d.urgency,
                       d.unit_code.label("issuer"), d.reply_due, r.deadline)
                .join_from(t.receipts, t.documents, r.document_id == d.id)
                .where(r.unit_code.in_(unit_codes)))
        if status:
            stmt = stmt.where(r.status == status)
        if overdue_on is not None:
            stmt = stmt.where(r.deadline < overdue_on, r.status.not_in(FINISHED),
                              _not_withdrawn())
        stmt = _before(stmt, (r.delivered_at, r.id), before)
        stmt = stmt.order_by(r.delivered_at.desc(), r.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [InboxEntry(receipt_id=str(x.id), document_id=str(x.document_id),
                               unit_code=x.unit_code, status=x.status,
                               arrival_number=x.arrival_number,
                               delivered_at=_utc(x.delivered_at), symbol=x.symbol,
                               abstract=x.abstract, doc_type=x.doc_type, urgency=x.urgency,
                               issuer_code=x.issuer, reply_due=x.reply_due,
                               deadline=x.deadline)
                    for x in conn.execute(stmt)]

    def outgoing_register(self, unit_codes: list[str], search: RegisterFilter, zone: str,
                          limit: int, before: str | None) -> list[OutgoingEntry]:
        d = t.documents.c
        stmt = select(d.id, d.unit_code, d.number, d.symbol, d.issued_at, d.doc_type,
                      d.abstract).where(d.unit_code.in_(unit_codes), d.number.is_not(None),
                                        # a number reserved before the seal is not issued yet
                                        d.status.in_(("issued", "dispatched")))
        stmt = stmt.where(*_words(d.search_text, search.terms))
        if search.number is not None:
            stmt = stmt.where(d.number == search.number)
        stmt = stmt.where(*_dates(d.issued_at, search, zone))
        stmt = _before(stmt, (d.issued_at, d.id), before)
        stmt = stmt.order_by(d.issued_at.desc(), d.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [OutgoingEntry(document_id=str(r.id), unit_code=r.unit_code, number=r.number,
                                  symbol=r.symbol, issued_at=_utc(r.issued_at),
                                  doc_type=r.doc_type, abstract=r.abstract)
                    for r in conn.execute(stmt).all()]

    def incoming_register(self, unit_codes: list[str], search: RegisterFilter, zone: str,
                          limit: int, before: str | None) -> list[IncomingEntry]:
        r, d, u = t.receipts.c, t.documents.c, t.units.c
        stmt = (select(r.id, r.document_id, r.unit_code, r.arrival_number, r.arrival_year,
                       r.registered_at, r.status, d.symbol, d.abstract, d.doc_type,
                       # an external document's issuer as typed, else the issuing unit
                       func.coalesce(d.issuer_code, case((d.issuer_name.is_(None), d.unit_code),
                                                         else_="")).label("issuer"),
                       func.coalesce(d.issuer_name, u.name).label("issuer_name"))
                .join_from(t.receipts, t.documents, r.document_id == d.id)
                .join(t.units, u.code == d.unit_code)
                .where(r.unit_code.in_(unit_codes), r.arrival_number.is_not(None)))
        # An external document's search text holds its issuer; the unit row is the receiver's.
        issuer_words = case((d.issuer_name.is_(None), u.search_name), else_="")
        stmt = stmt.where(*_words(d.search_text + " " + issuer_words, search.terms))
        if search.number is not None:
            stmt = stmt.where(r.arrival_number == search.number)
        stmt = stmt.where(*_dates(r.registered_at, search, zone))
        stmt = _before(stmt, (r.registered_at, r.id), before)
        stmt = stmt.order_by(r.registered_at.desc(), r.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [IncomingEntry(receipt_id=str(x.id), document_id=str(x.document_id),
                                  unit_code=x.unit_code, arrival_number=x.arrival_number,
                                  arrival_year=x.arrival_year,
                                  registered_at=_utc(x.registered_at), symbol=x.symbol,
                                  abstract=x.abstract, doc_type=x.doc_type,
                                  issuer_code=x.issuer, issuer_name=x.issuer_name,
                                  status=x.status)
                    for x in conn.execute(stmt).all()]

    def recipients(self, document_id: str, unit_codes: list[str] | None,
                   under_paths: list[str] | None) -> list[RecipientStatus]:
        r, u = t.receipts.c, t.units.c
        stmt = (select(r.id, r.unit_code, u.name, u.level, r.status, r.arrival_number,
                       r.updated_at, r.return_reason, r.recall, r.recall_reason)
                .join_from(t.receipts, t.units, r.unit_code == u.code)
                .where(r.document_id == document_id).order_by(u.path))
        if unit_codes is not None:
            conditions: list[ColumnElement[bool]] = [r.unit_code.in_(unit_codes)]
            conditions += [u.path.startswith(p, autoescape=True) for p in under_paths or ()]
            stmt = stmt.where(or_(*conditions))
        with self._engine.connect() as conn:
            return [RecipientStatus(receipt_id=str(x.id), unit_code=x.unit_code,
                                    unit_name=x.name, level=x.level, status=x.status,
                                    arrival_number=x.arrival_number,
                                    updated_at=utc(x.updated_at), return_reason=x.return_reason,
                                    recall=x.recall, recall_reason=x.recall_reason)
                    for x in conn.execute(stmt)]

    def cascade_children(self, document_id: str, sender_unit: str | None,
                         under: list[str] | None) -> list[CascadeEntry]:
        r, u, d = t.receipts.c, t.units.c, t.dispatches.c
        stmt = (select(r.id, r.unit_code, u.name, u.level, u.path, r.status, d.sender_unit,
                       r.delivered_at)
                .join_from(t.receipts, t.units, r.unit_code == u.code)
                .join(t.dispatches, d.id == r.dispatch_id)
                .where(r.document_id == document_id, d.sender_unit.is_(None)
                       if sender_unit is None else d.sender_unit == sender_unit,
                       *_under(u.path, under))
                .order_by(u.path))
        with self._engine.connect() as conn:
            return [CascadeEntry(receipt_id=str(x.id), unit_code=x.unit_code, unit_name=x.name,
                                 level=x.level, path=x.path, status=ReceiptStatus(x.status),
                                 via_unit=x.sender_unit, delivered_at=_utc(x.delivered_at))
                    for x in conn.execute(stmt).all()]

    def cascade_statuses(self, document_id: str, under: list[str] | None
                         ) -> list[tuple[str, str, str, bool]]:
        r, u = t.receipts.c, t.units.c
        stmt = (select(u.path, u.level, r.status, r.assigned_at.is_not(None))
                .join_from(t.receipts, t.units, r.unit_code == u.code)
                .where(r.document_id == document_id, *_under(u.path, under)))
        with self._engine.connect() as conn:
            return [(path, level, status, bool(assigned))
                    for path, level, status, assigned in conn.execute(stmt).all()]

    def status_counts(self, document_id: str) -> dict[str, int]:
        r = t.receipts.c
        stmt = (select(r.status, func.count()).where(r.document_id == document_id)
                .group_by(r.status))
        with self._engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(stmt)}


def _words(text: Any, words: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """Each folded word somewhere in the folded text (LIKE, its wildcards escaped)."""
    return [text.contains(w, autoescape=True) for w in words]


def _dates(column: Any, search: RegisterFilter, zone: str) -> list[ColumnElement[bool]]:
    """From the start of `from_date` to the end of `to_date`, as days in the civil time zone."""
    tz = ZoneInfo(zone)
    found = []
    if search.from_date is not None:
        found.append(column >= datetime.combine(search.from_date, time.min, tz))
    if search.to_date is not None:
        found.append(column < datetime.combine(search.to_date + timedelta(days=1), time.min,
                                               tz))
    return found


def _under(path: Any, prefixes: list[str] | None) -> list[ColumnElement[bool]]:
    """No condition for None (everything); else the path starts with one of the prefixes."""
    if prefixes is None:
        return []
    return [or_(*(path.startswith(p, autoescape=True) for p in prefixes))] if prefixes \
        else [literal(False)]
