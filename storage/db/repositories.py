"""Repositories over one connection. They never commit: the unit of work does."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import chain
from operator import itemgetter
from typing import Any, TypeVar

from psycopg import sql as pgsql
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from docflow.domain.audit import (
    RECORD_VERSION,
    Action,
    AuditEvent,
    AuditFilter,
    Linked,
    Origin,
    TreeHead,
    Verdict,
    chain_of,
    link,
    timestamp,
)
from docflow.domain.consultations import Answer, Consultation, ConsultationStatus, Opinion
from docflow.domain.delegation import Delegation
from docflow.domain.documents import (
    CATALOGUE,
    Channel,
    Confidentiality,
    Document,
    DocumentStatus,
    DocumentUpdate,
    Revision,
    RevisionKind,
    Urgency,
)
from docflow.domain.merkle import Node
from docflow.domain.notifications import Notice, NoticeKind
from docflow.domain.org import CommitteeTerm, Level, Membership, Role, Unit, User
from docflow.domain.reports import ReportRequest, RequestStatus, Submission
from docflow.domain.routing import (
    Assignment,
    Dispatch,
    DispatchStatus,
    DispatchTarget,
    LookAlike,
    ProgressNote,
    RecallStatus,
    Receipt,
    ReceiptStatus,
)
from docflow.domain.search import fold
from docflow.domain.signatures import (
    Authority,
    BatchItem,
    BatchItemStatus,
    SignatureKind,
    SignatureRecord,
    SigningBatch,
    SigningSession,
    ValidationOutcome,
)
from docflow.services.ports import Credentials, Deadline, Waiting, Witnessed
from storage.db import tables as t

BATCH = 2000
T = TypeVar("T")


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    result = utc(value)
    assert result is not None
    return result


def _chunks(items: Sequence[T], size: int = BATCH) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


COPY_FROM = 8
"""Rows from which a bulk insert on PostgreSQL is a COPY."""
_SAVE_DOCUMENT = update(t.documents).where(t.documents.c.id == bindparam("_id"))
_INSERT_REVISION = insert(t.revisions)
# A document and its revisions in one round trip: a row per revision (one with no revision
# columns for a document without any), locking only the document's row.
_DOCUMENT = (select(t.documents, *(c.label(f"rev_{c.name}") for c in t.revisions.c))
             .join_from(t.documents, t.revisions,
                        t.revisions.c.document_id == t.documents.c.id, isouter=True)
             .where(t.documents.c.id == bindparam("id"))
             .order_by(t.revisions.c.kind, t.revisions.c.seq))
_DOCUMENT_LOCKED = _DOCUMENT.with_for_update(of=t.documents)
_SIGNATURES_OF = (select(t.signatures)
                  .where(t.signatures.c.document_id == bindparam("document_id"))
                  .order_by(t.signatures.c.signed_at, t.signatures.c.id))
_INSERT_SIGNATURE = insert(t.signatures)


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def _locked(self, stmt: Any, for_update: bool, locked: Any = None) -> Any:
        """`stmt`, or its FOR UPDATE form (`locked` when built in advance) on PostgreSQL."""
        # SQLite has no row locks; BEGIN IMMEDIATE already holds the database write lock.
        if not (for_update and self.dialect == "postgresql"):
            return stmt
        return locked if locked is not None else stmt.with_for_update()

    def _by_id(self, table: Any, ident: str, *, for_update: bool = False, **match: str
               ) -> Row[Any] | None:
        """The row with this id (and these other column values), or None; an id that is not a
        UUID finds nothing instead of raising."""
        stmt = select(table).where(table.c.id == ident,
                                   *(table.c[k] == v for k, v in match.items()))
        try:
            return self.conn.execute(self._locked(stmt, for_update)).first()
        except ValueError:
            return None

    def _insert(self, table: Any) -> Any:
        """This engine's INSERT, which knows ON CONFLICT (both dialects spell it alike)."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _upsert(self, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        if not rows:
            return
        stmt = self._insert(table)
        changed = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        self.conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=changed), rows)

    def _bulk_insert(self, table: Any, rows: Iterator[dict[str, Any]], count: int) -> None:
        """Insert many rows in this transaction: one COPY on PostgreSQL, batches elsewhere
        (and for a few rows, where COPY's two round trips cost more than an INSERT's one)."""
        if count == 0:
            return
        if self.conn.dialect.driver != "psycopg" or count <= COPY_FROM:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append({k: json.loads(v) if isinstance(v, RawJson) else v
                              for k, v in row.items()})
                if len(batch) == 5000:
                    self.conn.execute(insert(table), batch)
                    batch = []
            if batch:
                self.conn.execute(insert(table), batch)
            return
        # COPY is several times quicker than INSERTs for a dispatch to thousands of units; it
        # runs on the unit of work's own connection, so the job stays one transaction. It
        # bypasses SQLAlchemy's types: JSON columns are serialised here as SQLAlchemy does.
        first = next(rows)
        columns = list(first)
        json_columns = [c for c in columns if isinstance(table.c[c].type, JSON)]
        values = itemgetter(*columns)
        statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table.name), pgsql.SQL(", ").join(map(pgsql.Identifier, columns)))
        driver = self.conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in chain([first], rows):
                for c in json_columns:
                    if not isinstance(row[c], RawJson):
                        row[c] = json.dumps(row[c])
                copy.write_row(values(row))

    def _insert_ignore(self, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        if not rows:
            return
        self.conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=keys), rows)


def _unit(row: Row[Any]) -> Unit:
    return Unit(code=row.code, name=row.name, abbreviation=row.abbreviation, level=row.level,
                parent_code=row.parent_code, path=row.path, valid_from=row.valid_from,
                valid_to=row.valid_to, successor_code=row.successor_code, family=row.family,
                seal_image=row.seal_image)


class SqlUnits(_Repo):
    def under(self, paths: Sequence[str], limit: int) -> list[Unit]:
        u = t.units.c
        if not paths:
            return []
        rows = self.conn.execute(select(t.units).where(
            or_(*(u.path.startswith(p, autoescape=True) for p in paths)))
            .order_by(u.path).limit(limit))
        return [_unit(r) for r in rows]

    def set_seal_image(self, code: str, sha256: str | None) -> None:
        self.conn.execute(update(t.units).where(t.units.c.code == code)
                          .values(seal_image=sha256))

    def terms(self, unit_code: str) -> list[CommitteeTerm]:
        c = t.committee_terms.c
        rows = self.conn.execute(select(t.committee_terms).where(c.unit_code == unit_code)
                                 .order_by(c.starts_on))
        return [CommitteeTerm(unit_code=r.unit_code, code=r.code, starts_on=r.starts_on,
                              ends_on=r.ends_on) for r in rows]

    def upsert_terms(self, terms: Sequence[CommitteeTerm]) -> None:
        self._upsert(t.committee_terms, [
            {"unit_code": x.unit_code, "code": x.code, "starts_on": x.starts_on,
             "ends_on": x.ends_on} for x in terms], ["unit_code", "code"])

    def get(self, code: str) -> Unit | None:
        row = self.conn.execute(select(t.units).where(t.units.c.code == code)).first()
        return _unit(row) if row else None

    def get_many(self, codes: Iterable[str]) -> dict[str, Unit]:
        wanted = list(dict.fromkeys(codes))
        found: dict[str, Unit] = {}
        for chunk in _chunks(wanted, 900):
            for row in self.conn.execute(select(t.units).where(t.units.c.code.in_(chunk))):
                found[row.code] = _unit(row)
        return found

    def levels(self) -> list[Level]:
        rows = self.conn.execute(select(t.levels).order_by(t.levels.c.rank))
        return [Level(code=r.code, name=r.name, rank=r.rank) for r in rows]

    def upsert_levels(self, levels: Sequence[Level]) -> None:
        self._upsert(t.levels, [{"code": lv.code, "name": lv.name, "rank": lv.rank}
                                for lv in levels], ["code"])

    def upsert(self, units: Sequence[Unit]) -> None:
        # Parents may come later in the same batch (and successors anywhere), so rows go in
        # without those links first, then the links are set.
        rows = [{"code": u.code, "name": u.name, "abbreviation": u.abbreviation,
                 "level": u.level, "parent_code": None, "path": u.path,
                 "valid_from": u.valid_from, "valid_to": u.valid_to, "successor_code": None,
                 "search_name": fold(f"{u.name} {u.abbreviation} {u.code}"),
                 "family": u.family}
                for u in units]
        self._upsert(t.units, rows, ["code"])
        links = [{"c": u.code, "p": u.parent_code, "s": u.successor_code} for u in units]
        if links:
            self.conn.execute(
                update(t.units).where(t.units.c.code == bindparam("c"))
                .values(parent_code=bindparam("p"), successor_code=bindparam("s")),
                links,
            )

    def active_codes_at_level(self, level: str, under_path: str, on: date) -> list[str]:
        u = t.units.c
        stmt = select(u.code).where(
            u.level == level,
            u.path.startswith(under_path, autoescape=True),
            u.successor_code.is_(None),
            or_(u.valid_from.is_(None), u.valid_from <= on),
            or_(u.valid_to.is_(None), u.valid_to > on),
        ).order_by(u.path)
        return list(self.conn.execute(stmt).scalars())

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.units)).scalar_one())

    def merge(self, code: str, into: str, on: date) -> None:
        u = t.units.c
        self.conn.execute(update(t.units).where(u.code == code)
                          .values(successor_code=into, valid_to=on))

    def move_children(self, code: str, to: Unit) -> list[str]:
        u = t.units.c
        parent = self.get(code)
        assert parent is not None
        children = list(self.conn.execute(select(u.code).where(u.parent_code == code))
                        .scalars())
        self.conn.execute(update(t.units).where(u.parent_code == code)
                          .values(parent_code=to.code))
        # Every path below `code` changes its prefix: X/OLD/B/… becomes X/NEW/B/…
        rows = self.conn.execute(select(u.code, u.path).where(
            u.path.startswith(parent.path, autoescape=True), u.code != code)).all()
        if rows:
            self.conn.execute(update(t.units).where(u.code == bindparam("c"))
                              .values(path=bindparam("p")),
                              [{"c": r.code, "p": to.path + r.path[len(parent.path):]}
                               for r in rows])
        return children


def _user(row: Row[Any]) -> User:
    return User(id=str(row.id), username=row.username, full_name=row.full_name,
                active=bool(row.active), email=row.email, locale=row.locale,
                signature_image=row.signature_image)


_HOLDING = (  # built once: every notification looks its people up
    select(t.memberships.c.unit_code, t.memberships.c.user_id).distinct()
    .join_from(t.memberships, t.users, t.memberships.c.user_id == t.users.c.id)
    .where(t.memberships.c.unit_code.in_(bindparam("units", expanding=True)),
           t.memberships.c.role.in_(bindparam("roles", expanding=True)),
           t.users.c.active.is_(True)))


class SqlUsers(_Repo):
    def set_locale(self, user_id: str, locale: str | None) -> None:
        self.conn.execute(update(t.users).where(t.users.c.id == user_id)
                          .values(locale=locale))

    def set_signature_image(self, user_id: str, sha256: str | None) -> None:
        self.conn.execute(update(t.users).where(t.users.c.id == user_id)
                          .values(signature_image=sha256))

    def get(self, user_id: str) -> User | None:
        row = self.conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return _user(row) if row else None

    def by_username(self, username: str) -> Credentials | None:
        row = self.conn.execute(select(t.users).where(t.users.c.username == username)).first()
        return Credentials(_user(row), row.password_hash) if row else None

    def by_usernames(self, usernames: Iterable[str]) -> dict[str, User]:
        found: dict[str, User] = {}
        for chunk in _chunks(list(usernames), 900):
            for row in self.conn.execute(select(t.users).where(t.users.c.username.in_(chunk))):
                found[row.username] = _user(row)
        return found

    def add(self, user: User, password_hash: str | None) -> None:
        self.conn.execute(insert(t.users).values(
            id=user.id, username=user.username, full_name=user.full_name,
            password_hash=password_hash, active=user.active, email=user.email))

    def add_many(self, users: Sequence[User]) -> None:
        for chunk in _chunks(users):
            self.conn.execute(insert(t.users), [
                {"id": u.id, "username": u.username, "full_name": u.full_name,
                 "password_hash": None, "active": u.active, "email": u.email}
                for u in chunk])

    def roles_in(self, unit_code: str) -> list[tuple[str, str]]:
        m = t.memberships.c
        return [(str(r.user_id), r.role) for r in self.conn.execute(
            select(m.user_id, m.role).where(m.unit_code == unit_code))]

    def members(self, unit_codes: Sequence[str]) -> list[tuple[User, str, str]]:
        m, u = t.memberships.c, t.users.c
        found: list[tuple[User, str, str]] = []
        for chunk in _chunks(sorted(set(unit_codes))):
            rows = self.conn.execute(
                select(t.users, m.unit_code, m.role)
                .join_from(t.memberships, t.users, m.user_id == u.id)
                .where(m.unit_code.in_(chunk)))
            found += [(_user(r), r.unit_code, r.role) for r in rows]
        return sorted(found, key=lambda x: (x[1], x[0].username, x[2]))

    def set_email(self, user_id: str, email: str | None) -> None:
        self.conn.execute(update(t.users).where(t.users.c.id == user_id).values(email=email))

    def holding(self, unit_codes: Iterable[str], roles: Iterable[str]) -> dict[str, list[str]]:
        codes, wanted = sorted(set(unit_codes)), sorted(set(roles))
        found: dict[str, list[str]] = {}
        for chunk in _chunks(codes):
            rows = self.conn.execute(_HOLDING, {"units": chunk, "roles": wanted})
            for r in rows:
                found.setdefault(r.unit_code, []).append(str(r.user_id))
        return found

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.conn.execute(update(t.users).where(t.users.c.id == user_id)
                          .values(password_hash=password_hash))

    def memberships(self, user_id: str) -> list[Membership]:
        m, u = t.memberships.c, t.units.c
        rows = self.conn.execute(
            select(m.unit_code, m.role, u.path, u.successor_code)
            .join_from(t.memberships, t.units, m.unit_code == u.code)
            .where(m.user_id == user_id).order_by(u.path, m.role))
        held = [Membership(unit_code=r.unit_code, unit_path=r.path, role=Role(r.role),
                           merged=r.successor_code is not None) for r in rows]
        # A unit's roles reach the units merged into it, and theirs, down the chain.
        found = {(x.unit_code, x.role) for x in held}
        frontier = {x.unit_code: [x.role] for x in held if not x.merged}
        while frontier:
            merged = self.conn.execute(select(u.code, u.path, u.successor_code).where(
                u.successor_code.in_(list(frontier))).order_by(u.path)).all()
            following: dict[str, list[Role]] = {}
            for r in merged:
                for role in frontier[r.successor_code]:
                    if (r.code, role) not in found:
                        found.add((r.code, role))
                        held.append(Membership(unit_code=r.code, unit_path=r.path, role=role,
                                               through=r.successor_code, merged=True))
                        following.setdefault(r.code, []).append(role)
            frontier = following
        return held

    def grant(self, user_id: str, unit_code: str, role: str) -> bool:
        m = t.memberships.c
        exists = self.conn.execute(select(m.role).where(
            m.user_id == user_id, m.unit_code == unit_code, m.role == role)).first()
        if exists:
            return False
        self.conn.execute(insert(t.memberships).values(user_id=user_id, unit_code=unit_code,
                                                       role=role))
        return True

    def grant_many(self, grants: Sequence[tuple[str, str, str]]) -> None:
        rows = [{"user_id": u, "unit_code": c, "role": r} for u, c, r in dict.fromkeys(grants)]
        for chunk in _chunks(rows):
            self._insert_ignore(t.memberships, list(chunk), ["user_id", "unit_code", "role"])

    def add_token(self, token_id: str, user_id: str, name: str, digest: str, at: datetime
                  ) -> None:
        self.conn.execute(insert(t.api_tokens).values(id=token_id, user_id=user_id, name=name,
                                                      digest=digest, created_at=_utc(at)))

    def user_for_token(self, digest: str) -> User | None:
        k = t.api_tokens.c
        row = self.conn.execute(
            select(t.users).join_from(t.api_tokens, t.users, k.user_id == t.users.c.id)
            .where(k.digest == digest, k.revoked_at.is_(None))).first()
        return _user(row) if row else None

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.users)).scalar_one())


def _document_row(d: Document) -> dict[str, Any]:
    return {
        "id": d.id, "unit_code": d.unit_code, "created_by": d.created_by,
        "created_at": _utc(d.created_at), "updated_at": _utc(d.updated_at or d.created_at),
        "doc_type": d.doc_type, "abstract": d.abstract, "urgency": d.urgency.value,
        "confidentiality": d.confidentiality.value, "recipients": list(d.recipients),
        "reply_due": d.reply_due, "status": d.status.value,
        "workflow": d.workflow, "workflow_version": d.workflow_version,
        "number": d.number, "symbol": d.symbol,
        "issued_at": utc(d.issued_at), "issued_year": d.issued_year,
        "search_text": document_search_text(d.doc_type, d.symbol, d.abstract, d.issuer_name),
        "number_period": d.number_period, "number_register": d.number_register,
        "department": d.department,
        "recalled_at": utc(d.recalled_at), "recall_reason": d.recall_reason,
        "channel": d.channel.value, "issuer_name": d.issuer_name, "issuer_code": d.issuer_code,
        "issuer_key": d.issuer_key, "identifier": d.identifier,
        "replaces_id": d.replaces_id, "replaced_by_id": d.replaced_by_id,
        "replaced_at": utc(d.replaced_at),
    }


def document_search_text(doc_type: str, symbol: str | None, abstract: str,
                         issuer: str | None = None) -> str:
    """What a register search looks in: the type's name, the number and symbol, the abstract,
    folded (no diacritics, lower case)."""
    kind = CATALOGUE.get(doc_type)
    return fold(" ".join(filter(None, (kind.name if kind else doc_type, symbol, abstract,
                                       issuer))))


def _revision(row: Row[Any], prefix: str = "") -> Revision:
    """The revision in `row`, whose columns are named `prefix` + the revisions' own."""
    r = row._mapping
    parent = r[f"{prefix}parent_id"]
    return Revision(id=str(r[f"{prefix}id"]), document_id=str(r[f"{prefix}document_id"]),
                    kind=RevisionKind(r[f"{prefix}kind"]), seq=r[f"{prefix}seq"],
                    filename=r[f"{prefix}filename"], sha256=r[f"{prefix}sha256"],
                    size=r[f"{prefix}size"], media_type=r[f"{prefix}media_type"],
                    page_count=r[f"{prefix}page_count"],
                    created_at=_utc(r[f"{prefix}created_at"]),
                    created_by=str(r[f"{prefix}created_by"]),
                    parent_id=str(parent) if parent else None)


class SqlDocuments(_Repo):
    def add(self, document: Document) -> None:
        self.conn.execute(insert(t.documents).values(**_document_row(document)))

    def get(self, document_id: str, *, for_update: bool = False) -> Document | None:
        # Statements built once (every signature and every action loads its document).
        try:
            rows = self.conn.execute(self._locked(_DOCUMENT, for_update, _DOCUMENT_LOCKED),
                                     {"id": document_id}).all()
        except ValueError:  # not a UUID: nothing has that id
            return None
        if not rows:
            return None
        row = rows[0]
        return Document(
            id=str(row.id), unit_code=row.unit_code, created_by=str(row.created_by),
            created_at=_utc(row.created_at), doc_type=row.doc_type, abstract=row.abstract,
            urgency=Urgency(row.urgency), confidentiality=Confidentiality(row.confidentiality),
            recipients=tuple(row.recipients), reply_due=row.reply_due,
            status=DocumentStatus(row.status), workflow=row.workflow,
            workflow_version=row.workflow_version,
            number=row.number, symbol=row.symbol, issued_at=utc(row.issued_at),
            issued_year=row.issued_year, updated_at=utc(row.updated_at),
            number_period=row.number_period, number_register=row.number_register,
            department=row.department,
            recalled_at=utc(row.recalled_at), recall_reason=row.recall_reason,
            revisions=[_revision(r, "rev_") for r in rows if r.rev_id is not None],
            channel=Channel(row.channel),
            issuer_name=row.issuer_name, issuer_code=row.issuer_code,
            identifier=row.identifier,
            replaces_id=str(row.replaces_id) if row.replaces_id else None,
            replaced_by_id=str(row.replaced_by_id) if row.replaced_by_id else None,
            replaced_at=utc(row.replaced_at),
        )

    def save(self, document: Document) -> None:
        # Values as parameters, not `.values(...)`: the statement is then the same object every
        # time (compiled once, cached) and no value is coerced into a clause; a third of the
        # SQL layer's Python time on a signature.
        values = _document_row(document)
        values["_id"] = values.pop("id")
        self.conn.execute(_SAVE_DOCUMENT, values)

    def add_revision(self, revision: Revision) -> None:
        self.conn.execute(_INSERT_REVISION, _revision_row(revision))

    def revision(self, document_id: str, revision_id: str) -> Revision | None:
        row = self._by_id(t.revisions, revision_id, document_id=document_id)
        return _revision(row) if row else None

    def referenced_blobs(self, digests: Iterable[str]) -> set[str]:
        # Every column that names a blob: revisions, the signing sessions' prepared files,
        # people's signature images and units' seal images.
        columns = (t.revisions.c.sha256, t.signing_sessions.c.prepared_sha256,
                   t.users.c.signature_image, t.units.c.seal_image)
        found: set[str] = set()
        for chunk in _chunks(list(digests), 900):
            for column in columns:
                found.update(self.conn.execute(select(column).distinct()
                                               .where(column.in_(chunk))).scalars())
        return found

    def add_update(self, u: DocumentUpdate) -> None:
        self.conn.execute(insert(t.document_updates).values(
            id=u.id, document_id=u.document_id, at=_utc(u.at), by=u.by, reason=u.reason,
            changes=u.changes))

    def updates(self, document_id: str) -> list[DocumentUpdate]:
        c = t.document_updates.c
        return [DocumentUpdate(id=str(r.id), document_id=str(r.document_id), at=_utc(r.at),
                               by=str(r.by), reason=r.reason, changes=dict(r.changes))
                for r in self.conn.execute(select(t.document_updates)
                                           .where(c.document_id == document_id)
                                           .order_by(c.at))]

    def move_unit(self, from_unit: str, to_unit: str, statuses: Sequence[str]) -> list[str]:
        d = t.documents.c
        ids = [str(i) for i in self.conn.execute(select(d.id).where(
            d.unit_code == from_unit, d.status.in_(list(statuses)))).scalars()]
        for chunk in _chunks(ids, 900):
            self.conn.execute(update(t.documents).where(d.id.in_(chunk))
                              .values(unit_code=to_unit))
        return ids


def _receipt_row(r: Receipt) -> dict[str, Any]:
    return {
        "id": r.id, "dispatch_id": r.dispatch_id, "document_id": r.document_id,
        "unit_code": r.unit_code, "status": r.status.value, "delivered_at": _utc(r.delivered_at),
        "arrival_number": r.arrival_number, "arrival_year": r.arrival_year,
        "registered_at": utc(r.registered_at), "registered_by": r.registered_by,
        "completed_at": utc(r.completed_at), "completed_by": r.completed_by,
        "return_reason": r.return_reason, "updated_at": _utc(r.updated_at or r.delivered_at),
        "workflow_version": r.workflow_version, "deadline": r.deadline,
        "assigned_at": utc(r.assigned_at), "result_document_id": r.result_document_id,
        "recall": r.recall.value if r.recall else None, "recall_reason": r.recall_reason,
    }


class SqlReceipts(_Repo):
    def get(self, receipt_id: str, *, for_update: bool = False) -> Receipt | None:
        row = self._by_id(t.receipts, receipt_id, for_update=for_update)
        if row is None:
            return None
        return Receipt(
            id=str(row.id), dispatch_id=str(row.dispatch_id), document_id=str(row.document_id),
            unit_code=row.unit_code, status=ReceiptStatus(row.status),
            delivered_at=_utc(row.delivered_at), arrival_number=row.arrival_number,
            arrival_year=row.arrival_year, registered_at=utc(row.registered_at),
            registered_by=str(row.registered_by) if row.registered_by else None,
            completed_at=utc(row.completed_at),
            completed_by=str(row.completed_by) if row.completed_by else None,
            return_reason=row.return_reason, updated_at=utc(row.updated_at),
            workflow_version=row.workflow_version, deadline=row.deadline,
            assigned_at=utc(row.assigned_at),
            result_document_id=str(row.result_document_id) if row.result_document_id else None,
            recall=RecallStatus(row.recall) if row.recall else None,
            recall_reason=row.recall_reason)

    def save(self, receipt: Receipt) -> None:
        values = _receipt_row(receipt)
        del values["id"]
        self.conn.execute(update(t.receipts).where(t.receipts.c.id == receipt.id).values(**values))

    def add_many(self, receipts: Sequence[Receipt]) -> None:
        self._bulk_insert(t.receipts, (_receipt_row(r) for r in receipts), len(receipts))

    def ask_recall(self, document_id: str, at: datetime) -> list[tuple[str, str]]:
        """Mark every copy not returned nor already withdrawn as asked back; (id, unit) of
        each."""
        r = t.receipts.c
        rows = self.conn.execute(
            update(t.receipts).where(
                r.document_id == document_id, r.status != ReceiptStatus.RETURNED.value,
                or_(r.recall.is_(None), r.recall != RecallStatus.AGREED.value))
            .values(recall=RecallStatus.ASKED.value, recall_reason=None, updated_at=_utc(at))
            .returning(r.id, r.unit_code)).all()
        return [(str(i), u) for i, u in rows]

    def deadlines(self, until: date) -> list[Deadline]:
        r, a, d = t.receipts.c, t.assignments.c, t.documents.c
        newest = (select(a.receipt_id, func.max(a.assigned_at).label("at"))
                  .group_by(a.receipt_id).subquery())
        rows = self.conn.execute(
            select(r.id, r.document_id, r.unit_code, r.deadline, a.lead_id, a.assigned_by,
                   d.symbol, d.abstract)
            .join_from(t.receipts, newest, newest.c.receipt_id == r.id)
            .join(t.assignments, and_(a.receipt_id == r.id, a.assigned_at == newest.c.at))
            .join(t.documents, d.id == r.document_id)
            .where(r.status.in_([ReceiptStatus.ASSIGNED.value, ReceiptStatus.PROCESSING.value]),
                   r.deadline <= until, or_(r.recall.is_(None), r.recall != "agreed")))
        return [Deadline(receipt_id=str(x.id), document_id=str(x.document_id),
                         unit_code=x.unit_code, deadline=x.deadline, lead_id=str(x.lead_id),
                         assigned_by=str(x.assigned_by), label=x.symbol or x.abstract[:120])
                for x in rows]

    def waiting(self, delivered_before: datetime) -> list[Waiting]:
        r, d = t.receipts.c, t.documents.c
        rows = self.conn.execute(
            select(r.id, r.document_id, r.unit_code, r.delivered_at, d.urgency, d.symbol,
                   d.abstract)
            .join_from(t.receipts, t.documents, d.id == r.document_id)
            .where(r.status == ReceiptStatus.DELIVERED.value,
                   r.delivered_at < _utc(delivered_before),
                   or_(r.recall.is_(None), r.recall != "agreed")))
        return [Waiting(receipt_id=str(x.id), document_id=str(x.document_id),
                        unit_code=x.unit_code, delivered_at=_utc(x.delivered_at),
                        urgency=x.urgency, label=x.symbol or x.abstract[:120]) for x in rows]

    def staff_of(self, document_id: str, dispatch_id: str, roles: Sequence[str]
                 ) -> list[tuple[str, str]]:
        r, m, u = t.receipts.c, t.memberships.c, t.users.c
        # By the document first: (document_id, unit_code) is indexed, dispatch_id is not.
        rows = self.conn.execute(
            select(r.id, m.user_id).distinct()
            .join_from(t.receipts, t.memberships, m.unit_code == r.unit_code)
            .join(t.users, u.id == m.user_id)
            .where(r.document_id == document_id, r.dispatch_id == dispatch_id,
                   m.role.in_(list(roles)), u.active.is_(True)))
        return [(str(x.id), str(x.user_id)) for x in rows]

    def holders(self, document_id: str) -> list[str]:
        r = t.receipts.c
        return list(self.conn.execute(select(r.unit_code).where(
            r.document_id == document_id, r.status != ReceiptStatus.RETURNED.value,
            or_(r.recall.is_(None), r.recall != "agreed"))).scalars())

    def units_holding(self, document_id: str, unit_codes: Iterable[str]) -> set[str]:
        r = t.receipts.c
        # One indexed range scan of the document's entries beats thousands of IN parameters.
        held = set(self.conn.execute(select(r.unit_code).where(r.document_id == document_id))
                   .scalars())
        return held.intersection(unit_codes)

    def look_alikes(self, unit_code: str, identifier: str | None, number: int | None,
                    exclude: str) -> list[LookAlike]:
        r, d, u = t.receipts.c, t.documents.c, t.units.c
        same = []
        if identifier:
            same.append(d.identifier == identifier)
        if number is not None:
            same.append(d.number == number)
        if not same:
            return []
        rows = self.conn.execute(
            select(r.id, r.document_id, r.arrival_number, r.arrival_year, d.symbol, d.abstract,
                   d.identifier, d.issuer_key,
                   func.coalesce(d.issuer_name, u.name).label("issuer"))
            .join_from(t.receipts, t.documents, r.document_id == d.id)
            .join(t.units, u.code == d.unit_code)
            .where(r.unit_code == unit_code, r.arrival_number.is_not(None), r.id != exclude,
                   or_(*same))
            .order_by(r.registered_at).limit(200))
        return [LookAlike(receipt_id=str(x.id), document_id=str(x.document_id),
                          arrival_number=x.arrival_number, arrival_year=x.arrival_year,
                          symbol=x.symbol, abstract=x.abstract, identifier=x.identifier,
                          issuer=x.issuer, issuer_key=x.issuer_key or "") for x in rows]

    def relevant_paths(self, document_id: str, unit_codes: Iterable[str],
                       audit_paths: Iterable[str]) -> list[str]:
        r, u = t.receipts.c, t.units.c
        conditions: list[ColumnElement[bool]] = [u.code.in_(list(unit_codes))]
        conditions += [u.path.startswith(p, autoescape=True) for p in audit_paths]
        stmt = (select(u.path).join_from(t.receipts, t.units, r.unit_code == u.code)
                .where(r.document_id == document_id, or_(*conditions)).limit(3))
        return list(self.conn.execute(stmt).scalars())


def _target_json(target: DispatchTarget) -> dict[str, Any]:
    return {"units": list(target.unit_codes), "level": target.level, "under": target.under}


class SqlDispatches(_Repo):
    def add(self, dispatch: Dispatch) -> None:
        self.conn.execute(insert(t.dispatches).values(
            id=dispatch.id, document_id=dispatch.document_id, created_by=dispatch.created_by,
            created_at=_utc(dispatch.created_at), target=_target_json(dispatch.target),
            status=dispatch.status.value, recipient_count=dispatch.recipient_count,
            revision_sha256=dispatch.revision_sha256, sender_unit=dispatch.sender_unit,
            deadline=dispatch.deadline))

    def get(self, dispatch_id: str, *, for_update: bool = False) -> Dispatch | None:
        row = self._by_id(t.dispatches, dispatch_id, for_update=for_update)
        if row is None:
            return None
        target = row.target
        return Dispatch(
            id=str(row.id), document_id=str(row.document_id), created_by=str(row.created_by),
            created_at=_utc(row.created_at),
            target=DispatchTarget(tuple(target.get("units") or ()), target.get("level"),
                                  target.get("under")),
            status=DispatchStatus(row.status), recipient_count=row.recipient_count,
            revision_sha256=row.revision_sha256, sender_unit=row.sender_unit,
            deadline=row.deadline)

    def forwarded_by(self, document_id: str, unit_code: str) -> int:
        d = t.dispatches.c
        return int(self.conn.execute(select(func.count()).where(
            d.document_id == document_id, d.sender_unit == unit_code)).scalar_one())

    def finish(self, dispatch_id: str, status: DispatchStatus, count: int) -> None:
        self.conn.execute(update(t.dispatches).where(t.dispatches.c.id == dispatch_id)
                          .values(status=status.value, recipient_count=count))

    def pending_before(self, before: datetime) -> list[str]:
        d = t.dispatches.c
        rows = self.conn.execute(select(d.id).where(
            d.status == DispatchStatus.PENDING.value, d.created_at < _utc(before)))
        return [str(x) for x in rows.scalars()]


def _revision_row(revision: Revision) -> dict[str, Any]:
    return {"id": revision.id, "document_id": revision.document_id,
            "kind": revision.kind.value, "seq": revision.seq, "filename": revision.filename,
            "sha256": revision.sha256, "size": revision.size,
            "media_type": revision.media_type, "page_count": revision.page_count,
            "created_at": _utc(revision.created_at), "created_by": revision.created_by,
            "parent_id": revision.parent_id}


def _signature_row(record: SignatureRecord) -> dict[str, Any]:
    return {"id": record.id, "document_id": record.document_id,
            "revision_id": record.revision_id, "kind": record.kind.value,
            "field": record.field, "signed_sha256": record.signed_sha256,
            "result_sha256": record.result_sha256,
            "signer_subject": record.signer_subject[:400],
            "certificate_sha256": record.certificate_sha256,
            "certificate_der": record.certificate_der,
            "authority": record.authority.value if record.authority else None,
            "signed_at": _utc(record.signed_at), "actor_id": record.actor_id}


def _prefixed(table: Any, prefix: str) -> dict[str, Any]:
    """Every column of `table` as a parameter named `prefix` + its name: SQLAlchemy takes a
    parameter named like a column as a value for it, in a CTE's statement too."""
    return {c.name: bindparam(f"{prefix}{c.name}", type_=c.type) for c in table.c}


# The revision a signature made and its record, one statement (the revision's INSERT a CTE).
_INSERT_SIGNED = insert(t.signatures).values(_prefixed(t.signatures, "s_")).add_cte(
    insert(t.revisions).values(_prefixed(t.revisions, "r_")).cte("revision"))


class SqlSignatures(_Repo):
    def add(self, record: SignatureRecord, revision: Revision) -> None:
        if self.dialect != "postgresql":
            self.conn.execute(_INSERT_REVISION, _revision_row(revision))
            self.conn.execute(_INSERT_SIGNATURE, _signature_row(record))
            return
        self.conn.execute(_INSERT_SIGNED, {
            **{f"r_{k}": v for k, v in _revision_row(revision).items()},
            **{f"s_{k}": v for k, v in _signature_row(record).items()}})

    def for_document(self, document_id: str) -> list[SignatureRecord]:
        rows = self.conn.execute(_SIGNATURES_OF, {"document_id": document_id})
        return [SignatureRecord(
            id=str(r.id), document_id=str(r.document_id), revision_id=str(r.revision_id),
            kind=SignatureKind(r.kind), field=r.field, signed_sha256=r.signed_sha256,
            result_sha256=r.result_sha256, signer_subject=r.signer_subject,
            certificate_sha256=r.certificate_sha256, certificate_der=bytes(r.certificate_der),
            authority=Authority(r.authority) if r.authority else None,
            signed_at=_utc(r.signed_at), actor_id=str(r.actor_id)) for r in rows]


class SqlValidations(_Repo):
    def get(self, sha256: str) -> ValidationOutcome | None:
        row = self.conn.execute(select(t.validations)
                                .where(t.validations.c.sha256 == sha256)).first()
        if row is None:
            return None
        return ValidationOutcome(sha256=row.sha256, verdict=row.verdict, report=row.report,
                                 validated_at=_utc(row.validated_at))

    def put(self, outcome: ValidationOutcome) -> None:
        self._insert_ignore(t.validations, [{
            "sha256": outcome.sha256, "verdict": outcome.verdict, "report": outcome.report,
            "validated_at": _utc(outcome.validated_at)}], ["sha256"])


class SqlSigningSessions(_Repo):
    def add(self, session: SigningSession) -> None:
        self.conn.execute(insert(t.signing_sessions).values(
            id=session.id, document_id=session.document_id, actor_id=session.actor_id,
            kind=session.kind.value, base_revision_id=session.base_revision_id,
            prepared_sha256=session.prepared_sha256, state=session.state,
            authority=session.authority.value if session.authority else None,
            expires_at=_utc(session.expires_at), completed_at=utc(session.completed_at)))

    def get(self, session_id: str, *, for_update: bool = False) -> SigningSession | None:
        row = self._by_id(t.signing_sessions, session_id, for_update=for_update)
        if row is None:
            return None
        return SigningSession(
            id=str(row.id), document_id=str(row.document_id), actor_id=str(row.actor_id),
            kind=SignatureKind(row.kind), base_revision_id=str(row.base_revision_id),
            prepared_sha256=row.prepared_sha256, state=dict(row.state),
            authority=Authority(row.authority) if row.authority else None,
            expires_at=_utc(row.expires_at), completed_at=utc(row.completed_at))

    def finish(self, session_id: str, at: datetime) -> None:
        self.conn.execute(update(t.signing_sessions)
                          .where(t.signing_sessions.c.id == session_id)
                          .values(completed_at=_utc(at)))


def _item_row(i: BatchItem) -> dict[str, Any]:
    return {"id": i.id, "batch_id": i.batch_id, "document_id": i.document_id,
            "session_id": i.session_id, "status": i.status.value, "error": i.error,
            "signature_value": i.signature_value, "attempts": i.attempts}


def _item(row: Row[Any]) -> BatchItem:
    return BatchItem(id=str(row.id), batch_id=str(row.batch_id),
                     document_id=str(row.document_id),
                     session_id=str(row.session_id) if row.session_id else None,
                     status=BatchItemStatus(row.status), error=row.error,
                     signature_value=bytes(row.signature_value) if row.signature_value else None,
                     attempts=row.attempts)


class SqlBatches(_Repo):
    def add(self, batch: SigningBatch, items: Sequence[BatchItem]) -> None:
        self.conn.execute(insert(t.signing_batches).values(
            id=batch.id, actor_id=batch.actor_id, kind=batch.kind.value,
            created_at=_utc(batch.created_at)))
        if items:
            self.conn.execute(insert(t.signing_batch_items), [_item_row(i) for i in items])

    def get(self, batch_id: str) -> SigningBatch | None:
        row = self._by_id(t.signing_batches, batch_id)
        if row is None:
            return None
        return SigningBatch(id=str(row.id), actor_id=str(row.actor_id),
                            kind=SignatureKind(row.kind), created_at=_utc(row.created_at))

    def items(self, batch_id: str) -> list[BatchItem]:
        c = t.signing_batch_items.c
        rows = self.conn.execute(select(t.signing_batch_items).where(c.batch_id == batch_id)
                                 .order_by(c.id))
        return [_item(r) for r in rows]

    def item(self, item_id: str, *, for_update: bool = False) -> BatchItem | None:
        row = self._by_id(t.signing_batch_items, item_id, for_update=for_update)
        return _item(row) if row else None

    def save_item(self, item: BatchItem) -> None:
        values = _item_row(item)
        del values["id"]
        self.conn.execute(update(t.signing_batch_items)
                          .where(t.signing_batch_items.c.id == item.id).values(**values))


class SqlReportRequests(_Repo):
    def add(self, r: ReportRequest) -> None:
        self.conn.execute(insert(t.report_requests).values(
            id=r.id, unit_code=r.unit_code, title=r.title, details=r.details,
            deadline=r.deadline, status=r.status.value, workflow_version=r.workflow_version,
            created_by=r.created_by, created_at=_utc(r.created_at)))
        self.conn.execute(insert(t.report_submissions), [
            {"request_id": r.id, "unit_code": s.unit_code, "late": False}
            for s in r.submissions])

    def get(self, request_id: str, *, for_update: bool = False) -> ReportRequest | None:
        row = self._by_id(t.report_requests, request_id, for_update=for_update)
        if row is None:
            return None
        s = t.report_submissions.c
        subs = self.conn.execute(select(t.report_submissions).where(s.request_id == row.id)
                                 .order_by(s.unit_code))
        return ReportRequest(
            id=str(row.id), unit_code=row.unit_code, title=row.title, details=row.details,
            deadline=row.deadline, status=RequestStatus(row.status),
            workflow_version=row.workflow_version, created_by=str(row.created_by),
            created_at=_utc(row.created_at), closed_at=utc(row.closed_at),
            close_reason=row.close_reason,
            submissions=tuple(Submission(
                unit_code=x.unit_code,
                document_id=str(x.document_id) if x.document_id else None,
                submitted_by=str(x.submitted_by) if x.submitted_by else None,
                submitted_at=utc(x.submitted_at), late=bool(x.late)) for x in subs))

    def save(self, r: ReportRequest) -> None:
        self.conn.execute(update(t.report_requests).where(t.report_requests.c.id == r.id)
                          .values(status=r.status.value, deadline=r.deadline,
                                  closed_at=utc(r.closed_at), close_reason=r.close_reason))

    def submit(self, request_id: str, submission: Submission) -> None:
        s = t.report_submissions.c
        self.conn.execute(update(t.report_submissions).where(
            s.request_id == request_id, s.unit_code == submission.unit_code).values(
            document_id=submission.document_id, submitted_by=submission.submitted_by,
            submitted_at=utc(submission.submitted_at), late=submission.late))

    def involving(self, unit_codes: Sequence[str]) -> list[str]:
        """Ids of requests made by these units or asked of them, newest first."""
        r, s = t.report_requests.c, t.report_submissions.c
        asked = select(s.request_id).where(s.unit_code.in_(unit_codes))
        rows = self.conn.execute(select(r.id).where(
            or_(r.unit_code.in_(unit_codes), r.id.in_(asked))).order_by(r.created_at.desc())
            .limit(200))
        return [str(x) for x in rows.scalars()]

    def move_pending(self, from_unit: str, to_unit: str) -> int:
        s = t.report_submissions.c
        owed = select(s.request_id).where(s.unit_code == to_unit).scalar_subquery()
        dropped = self.conn.execute(delete(t.report_submissions).where(
            s.unit_code == from_unit, s.document_id.is_(None), s.request_id.in_(owed))).rowcount
        moved = self.conn.execute(update(t.report_submissions).where(
            s.unit_code == from_unit, s.document_id.is_(None)).values(unit_code=to_unit)).rowcount
        return int(dropped or 0) + int(moved or 0)

    def open_due(self, until: date) -> list[ReportRequest]:
        r = t.report_requests.c
        ids = self.conn.execute(select(r.id).where(r.status == RequestStatus.OPEN.value,
                                                   r.deadline <= until)).scalars()
        return [req for i in ids if (req := self.get(str(i))) is not None]


class SqlDelegations(_Repo):
    def add(self, d: Delegation) -> None:
        self.conn.execute(insert(t.delegations).values(
            id=d.id, unit_code=d.unit_code, grantor_id=d.grantor_id, grantee_id=d.grantee_id,
            authority=d.authority.value, doc_types=sorted(d.doc_types),
            valid_from=d.valid_from, valid_to=d.valid_to, reason=d.reason,
            created_at=_utc(d.created_at), revoked_at=utc(d.revoked_at)))

    def get(self, delegation_id: str) -> Delegation | None:
        row = self._by_id(t.delegations, delegation_id)
        return _delegation(row) if row else None

    def held(self, grantee_id: str, unit_code: str) -> list[Delegation]:
        c = t.delegations.c
        rows = self.conn.execute(select(t.delegations).where(
            c.grantee_id == grantee_id, c.unit_code == unit_code, c.revoked_at.is_(None)))
        return [_delegation(r) for r in rows]

    def for_unit(self, unit_code: str) -> list[Delegation]:
        c = t.delegations.c
        rows = self.conn.execute(select(t.delegations).where(c.unit_code == unit_code)
                                 .order_by(c.created_at))
        return [_delegation(r) for r in rows]

    def revoke(self, delegation_id: str, at: datetime) -> None:
        self.conn.execute(update(t.delegations).where(t.delegations.c.id == delegation_id)
                          .values(revoked_at=_utc(at)))


def _delegation(row: Any) -> Delegation:
    return Delegation(
        id=str(row.id), unit_code=row.unit_code, grantor_id=str(row.grantor_id),
        grantee_id=str(row.grantee_id), authority=Authority(row.authority),
        doc_types=frozenset(row.doc_types), valid_from=row.valid_from, valid_to=row.valid_to,
        reason=row.reason, created_at=_utc(row.created_at), revoked_at=utc(row.revoked_at))


class SqlAssignments(_Repo):
    def add(self, a: Assignment) -> None:
        self.conn.execute(insert(t.assignments).values(
            id=a.id, receipt_id=a.receipt_id, annotation=a.annotation, lead_id=a.lead_id,
            coordinators=list(a.coordinators), informed=list(a.informed), deadline=a.deadline,
            assigned_by=a.assigned_by, assigned_at=_utc(a.assigned_at),
            units=[{"unit": code, "as": role} for code, role in a.units]))

    def current(self, receipt_id: str) -> Assignment | None:
        a = t.assignments.c
        row = self.conn.execute(select(t.assignments).where(a.receipt_id == receipt_id)
                                .order_by(a.assigned_at.desc(), a.id.desc()).limit(1)).first()
        if row is None:
            return None
        return Assignment(
            id=str(row.id), receipt_id=str(row.receipt_id), annotation=row.annotation,
            lead_id=str(row.lead_id), coordinators=tuple(row.coordinators),
            informed=tuple(row.informed), deadline=row.deadline,
            assigned_by=str(row.assigned_by), assigned_at=_utc(row.assigned_at),
            units=tuple((str(u["unit"]), str(u["as"])) for u in row.units or ()))

    def add_note(self, note: ProgressNote) -> None:
        self.conn.execute(insert(t.progress_notes).values(
            id=note.id, receipt_id=note.receipt_id, author_id=note.author_id, text=note.text,
            at=_utc(note.at)))

    def notes(self, receipt_id: str) -> list[ProgressNote]:
        n = t.progress_notes.c
        rows = self.conn.execute(select(t.progress_notes).where(n.receipt_id == receipt_id)
                                 .order_by(n.at, n.id))
        return [ProgressNote(id=str(r.id), receipt_id=str(r.receipt_id),
                             author_id=str(r.author_id), text=r.text, at=_utc(r.at))
                for r in rows]


class SqlConsultations(_Repo):
    def add(self, consultation: Consultation) -> None:
        c = consultation
        self.conn.execute(insert(t.consultations).values(
            id=c.id, document_id=c.document_id, unit_code=c.unit_code, asked_by=c.asked_by,
            question=c.question, participants=list(c.participants), quorum=c.quorum,
            deadline=c.deadline,
            status=c.status.value, workflow_version=c.workflow_version,
            created_at=_utc(c.created_at)))

    def get(self, consultation_id: str, *, for_update: bool = False) -> Consultation | None:
        row = self._by_id(t.consultations, consultation_id, for_update=for_update)
        if row is None:
            return None
        o = t.consultation_opinions.c
        opinions = self.conn.execute(select(t.consultation_opinions)
                                     .where(o.consultation_id == row.id).order_by(o.at))
        return _consultation(row, [Opinion(user_id=str(r.user_id), answer=Answer(r.answer),
                                           comment=r.comment, at=_utc(r.at))
                                   for r in opinions])

    def for_document(self, document_id: str) -> list[Consultation]:
        c = t.consultations.c
        ids = self.conn.execute(select(c.id).where(c.document_id == document_id)
                                .order_by(c.created_at)).scalars()
        return [found for i in ids if (found := self.get(str(i))) is not None]

    def asks(self, document_id: str, user_id: str) -> bool:
        """Whether the person is asked in any consultation on the document."""
        c = t.consultations.c
        rows = self.conn.execute(select(c.participants).where(c.document_id == document_id))
        return any(user_id in (participants or []) for participants in rows.scalars())

    def add_opinion(self, consultation_id: str, opinion: Opinion) -> None:
        self.conn.execute(insert(t.consultation_opinions).values(
            consultation_id=consultation_id, user_id=opinion.user_id,
            answer=opinion.answer.value, comment=opinion.comment, at=_utc(opinion.at)))

    def save(self, consultation: Consultation) -> None:
        c = consultation
        self.conn.execute(update(t.consultations).where(t.consultations.c.id == c.id).values(
            status=c.status.value, conclusion=c.conclusion, concluded_by=c.concluded_by,
            concluded_at=utc(c.concluded_at)))


def _consultation(row: Any, opinions: list[Opinion]) -> Consultation:
    return Consultation(
        id=str(row.id), document_id=str(row.document_id), unit_code=row.unit_code,
        asked_by=str(row.asked_by), question=row.question,
        participants=tuple(str(p) for p in row.participants), deadline=row.deadline,
        status=ConsultationStatus(row.status), workflow_version=row.workflow_version,
        created_at=_utc(row.created_at), opinions=tuple(opinions), quorum=row.quorum,
        conclusion=row.conclusion,
        concluded_by=str(row.concluded_by) if row.concluded_by else None,
        concluded_at=utc(row.concluded_at))


class SqlSequences(_Repo):
    def next(self, unit_code: str, register: str, period: str) -> int:
        s = t.sequences.c
        key = and_(s.unit_code == unit_code, s.register == register, s.period == period)
        # UPDATE ... RETURNING takes the row lock and holds it until commit: concurrent issuers
        # queue here, and a rollback gives the number back, so numbers stay gap-free.
        bump = (update(t.sequences).where(key).values(last_value=s.last_value + 1)
                .returning(s.last_value, s.released))
        bumped = self.conn.execute(bump).first()
        if bumped is None:
            self._insert_ignore(t.sequences, [{"unit_code": unit_code, "register": register,
                                               "period": period, "last_value": 0,
                                               "released": 0}],
                                ["unit_code", "register", "period"])
            bumped = self.conn.execute(bump).one()
        if not bumped.released:
            return int(bumped.last_value)
        # A number was given back: it goes to this issue (the lowest first), and the bump,
        # made under the same row lock, is undone.
        r = t.released_numbers.c
        rkey = and_(r.unit_code == unit_code, r.register == register, r.period == period)
        lowest = self.conn.execute(select(func.min(r.number)).where(rkey)).scalar_one()
        self.conn.execute(delete(t.released_numbers).where(rkey, r.number == lowest))
        self.conn.execute(update(t.sequences).where(key).values(
            last_value=s.last_value - 1, released=s.released - 1))
        return int(lowest)

    def give_back(self, unit_code: str, register: str, period: str, number: int,
                  document_id: str, at: datetime) -> None:
        s = t.sequences.c
        key = and_(s.unit_code == unit_code, s.register == register, s.period == period)
        self.conn.execute(update(t.sequences).where(key).values(released=s.released + 1))
        self.conn.execute(insert(t.released_numbers).values(
            unit_code=unit_code, register=register, period=period, number=number,
            document_id=document_id, released_at=_utc(at)))


class RawJson(str):
    """JSON text for a JSON column, written as it is (see `_bulk_insert`)."""


def _event_row(event: AuditEvent, linked: Linked) -> dict[str, Any]:
    f = linked.fields
    return {
        "at": _utc(event.at), "action": f["action"], "object_type": f["object_type"],
        "object_id": f["object_id"], "actor_id": f["actor_id"], "authority": f["authority"],
        "unit_code": f["unit_code"], "document_id": f["document_id"], "via": f["via"],
        "client_addr": f["client_addr"], "user_agent": f["user_agent"],
        "details": RawJson(linked.details_json), "chain": f["chain"], "seq": f["seq"],
        "prev": bytes.fromhex(f["prev"]) if f["prev"] else None, "hash": linked.digest,
    }


def _record(r: Row[Any]) -> dict[str, Any]:
    """A stored event as the log hashes it, plus where it is kept (id, hash, leaf)."""
    return {
        "v": RECORD_VERSION, "at": timestamp(_utc(r.at)), "action": r.action,
        "object_type": r.object_type, "object_id": r.object_id,
        "actor_id": str(r.actor_id) if r.actor_id else None, "authority": r.authority,
        "unit_code": r.unit_code, "document_id": str(r.document_id) if r.document_id else None,
        "via": r.via, "client_addr": r.client_addr, "user_agent": r.user_agent,
        "details": r.details, "chain": r.chain, "seq": r.seq,
        "prev": r.prev.hex() if r.prev else None,
        "id": r.id, "hash": r.hash.hex(), "leaf": r.leaf_index,
    }


_chains = t.audit_chains.c
_ADVANCE_CHAIN = (
    postgresql.insert(t.audit_chains).values(chain=bindparam("chain"), seq=1, hash=None)
    .on_conflict_do_update(index_elements=["chain"], set_={"seq": _chains.seq + 1})
    .returning(_chains.seq, _chains.hash))
_EVENT_COLUMNS = ("at", "action", "object_type", "object_id", "actor_id", "authority",
                  "unit_code", "document_id", "via", "client_addr", "user_agent", "details",
                  "chain", "seq", "prev", "hash")
_APPEND_EVENT = insert(t.audit_events).values(
    {c: v for c, v in _prefixed(t.audit_events, "e_").items() if c in _EVENT_COLUMNS}
).add_cte(update(t.audit_chains).where(_chains.chain == bindparam("head_chain"))
          .values(hash=bindparam("head_hash")).cte("head"))


class SqlAudit(_Repo):
    def append(self, event: AuditEvent) -> None:
        if self.dialect != "postgresql":
            self.append_many([event])
            return
        # Most actions record one event: two statements instead of three (the chain's new
        # hash is written by the event's INSERT), built once (~0.5 ms of a signature).
        key = chain_of(event)
        seq, prev = self.conn.execute(_ADVANCE_CHAIN, {"chain": key}).one()
        linked = link(event, seq, prev)
        row = _event_row(event, linked)
        row["details"] = json.loads(row["details"])
        self.conn.execute(_APPEND_EVENT, {**{f"e_{c}": row[c] for c in _EVENT_COLUMNS},
                                          "head_chain": key, "head_hash": linked.digest})

    def append_many(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        counts = Counter(chain_of(e) for e in events)
        heads = self._advance(counts)
        rows = []
        for event in events:
            key = chain_of(event)
            seq, prev = heads[key]
            linked = link(event, seq, prev)
            heads[key] = (seq + 1, linked.digest)
            rows.append(_event_row(event, linked))
        c = t.audit_chains.c
        self.conn.execute(update(t.audit_chains).where(c.chain == bindparam("key"))
                          .values(hash=bindparam("last")),
                          [{"key": k, "last": h} for k, (_, h) in heads.items()])
        # Ids come from the column's sequence in the order of `events`.
        self._bulk_insert(t.audit_events, iter(rows), len(rows))

    def _advance(self, counts: Counter[str]) -> dict[str, tuple[int, bytes | None]]:
        """Move each chain's head on by its count, locking it until commit; the first seq
        this transaction writes and the hash before it, by chain. Keys go in sorted order so
        two writers always lock heads in the same order."""
        c = t.audit_chains.c
        heads: dict[str, tuple[int, bytes | None]] = {}
        keys = sorted(counts)
        for chunk in _chunks(keys, 1000):
            values = self._insert(t.audit_chains).values(
                [{"chain": k, "seq": counts[k], "hash": None} for k in chunk])
            stmt = values.on_conflict_do_update(
                index_elements=["chain"], set_={"seq": c.seq + values.excluded.seq}
            ).returning(c.chain, c.seq, c.hash)
            for row in self.conn.execute(stmt):
                heads[row.chain] = (row.seq - counts[row.chain] + 1, row.hash)
        return heads

    def of_document(self, document_id: str, actions: Sequence[Action]) -> list[AuditEvent]:
        a = t.audit_events.c
        rows = self.conn.execute(select(t.audit_events).where(
            a.document_id == document_id, a.action.in_([x.value for x in actions]))
            .order_by(a.id))
        return [AuditEvent(at=_utc(r.at), action=Action(r.action), object_type=r.object_type,
                           object_id=r.object_id,
                           actor_id=str(r.actor_id) if r.actor_id else None,
                           unit_code=r.unit_code,
                           document_id=str(r.document_id) if r.document_id else None,
                           origin=Origin(client_addr=r.client_addr, user_agent=r.user_agent,
                                         via=r.via),
                           details=dict(r.details), authority=r.authority) for r in rows]

    @staticmethod
    def _select() -> Any:
        a, lv = t.audit_events.c, t.audit_leaves.c
        return (select(t.audit_events, lv.leaf_index)
                .join_from(t.audit_events, t.audit_leaves, lv.event_id == a.id, isouter=True))

    def records(self, query: AuditFilter, *, after: int | None, limit: int,
                with_leaves: bool = False) -> list[dict[str, Any]]:
        a, u = t.audit_events.c, t.units.c
        # The leaf index costs an index probe per event: only exports need it.
        stmt: Any = self._select()
        if not with_leaves:
            stmt = select(t.audit_events, null().label("leaf_index"))

        def units_under(paths: Sequence[str]) -> Any:
            return a.unit_code.in_(select(u.code).where(
                or_(*(u.path.startswith(p, autoescape=True) for p in paths))))

        if query.scope is not None:
            if not query.scope:
                return []
            stmt = stmt.where(units_under(query.scope))
        if query.under is not None:
            stmt = stmt.where(units_under([query.under]))
        if query.document_id is not None:
            stmt = stmt.where(a.document_id == query.document_id)
        if query.actor_id is not None:
            stmt = stmt.where(a.actor_id == query.actor_id)
        if query.actions:
            stmt = stmt.where(a.action.in_(list(query.actions)))
        if query.since is not None:
            stmt = stmt.where(a.at >= _utc(query.since))
        if query.until is not None:
            stmt = stmt.where(a.at < _utc(query.until))
        if after is not None:
            stmt = stmt.where(a.id > after)
        return [_record(r) for r in
                self.conn.execute(stmt.order_by(a.id).limit(limit)).fetchall()]

    def chain(self, chain: str) -> list[dict[str, Any]]:
        a = t.audit_events.c
        return [_record(r) for r in self.conn.execute(
            self._select().where(a.chain == chain).order_by(a.seq))]

    def recent(self, chain: str, action: Action, limit: int) -> list[datetime]:
        a = t.audit_events.c
        rows = self.conn.execute(select(a.at).where(a.chain == chain, a.action == action.value)
                                 .order_by(a.seq.desc()).limit(limit))
        return [_utc(r.at) for r in rows]

    def failed_logins_from(self, client_addr: str, limit: int) -> list[datetime]:
        a = t.audit_events.c
        rows = self.conn.execute(
            select(a.at).where(a.action == Action.USER_LOGIN_FAILED.value,
                               a.client_addr == client_addr)
            .order_by(a.at.desc()).limit(limit))
        return [_utc(r.at) for r in rows]

    def chain_head(self, chain: str) -> tuple[int, bytes | None]:
        c = t.audit_chains.c
        row = self.conn.execute(select(c.seq, c.hash).where(c.chain == chain)).first()
        return (0, None) if row is None else (int(row.seq), row.hash)

    def leaf_range(self, lo: int, hi: int) -> list[dict[str, Any]]:
        a, lv = t.audit_events.c, t.audit_leaves.c
        rows = self.conn.execute(
            select(t.audit_events, lv.leaf_index, lv.hash.label("leaf_hash"))
            .join_from(t.audit_leaves, t.audit_events, lv.event_id == a.id, isouter=True)
            .where(lv.leaf_index >= lo, lv.leaf_index < hi).order_by(lv.leaf_index))
        return [_record(r) if r.id is not None else {"leaf": r.leaf_index, "hash": None,
                                                      "leaf_hash": r.leaf_hash.hex()}
                for r in rows]


NODES_SQL = text(
    "SELECT 0 AS level, leaf_index AS idx, hash FROM audit_leaves "
    "WHERE leaf_index = ANY(CAST(:leaves AS bigint[])) "
    "UNION ALL SELECT n.level, n.idx, n.hash FROM audit_nodes n "
    "JOIN unnest(CAST(:levels AS integer[]), CAST(:idxs AS bigint[])) AS w(level, idx) "
    "ON n.level = w.level AND n.idx = w.idx")


class SqlAuditTree(_Repo):
    def lock(self) -> tuple[int, bytes]:
        g = t.audit_log.c
        row = self.conn.execute(self._locked(select(g.tree_size, g.root).where(g.id == 1),
                                             True)).one()
        return int(row.tree_size), row.root

    def size(self) -> tuple[int, bytes]:
        g = t.audit_log.c
        row = self.conn.execute(select(g.tree_size, g.root).where(g.id == 1)).one()
        return int(row.tree_size), row.root

    def pending(self, limit: int) -> list[tuple[int, bytes]]:
        # The queue carries each event's hash: the sequencer never reads the event table.
        p = t.audit_pending.c
        rows = self.conn.execute(select(p.event_id, p.hash).order_by(p.event_id).limit(limit))
        return [(int(r.event_id), r.hash) for r in rows]

    def nodes(self, keys: Iterable[Node]) -> dict[Node, bytes]:
        wanted = sorted(set(keys))
        found: dict[Node, bytes] = {}
        lv, n = t.audit_leaves.c, t.audit_nodes.c
        if self.dialect == "postgresql" and wanted:
            # One fixed statement with array parameters: nothing to build per proof, and the
            # driver prepares it once per connection.
            rows = self.conn.execute(NODES_SQL, {
                "leaves": [i for level, i in wanted if level == 0],
                "levels": [level for level, _ in wanted if level > 0],
                "idxs": [i for level, i in wanted if level > 0]}).fetchall()
            return {(int(r.level), int(r.idx)): r.hash for r in rows}
        # One round trip for a proof (a few dozen nodes): leaves and inner nodes together.
        for chunk in _chunks(wanted, 500):
            leaves = [i for level, i in chunk if level == 0]
            inner = [(level, i) for level, i in chunk if level > 0]
            parts = []
            if leaves:
                parts.append(select(literal(0).label("level"), lv.leaf_index.label("idx"),
                                    lv.hash).where(lv.leaf_index.in_(leaves)))
            if inner:
                parts.append(select(n.level, n.idx, n.hash)
                             .where(tuple_(n.level, n.idx).in_(inner)))
            stmt = parts[0] if len(parts) == 1 else union_all(*parts)
            for row in self.conn.execute(stmt):
                found[(int(row.level), int(row.idx))] = row.hash
        return found

    def extend(self, size: int, event_ids: Sequence[int], nodes: Mapping[Node, bytes],
               root: bytes) -> None:
        self._bulk_insert(t.audit_leaves, ({
            "leaf_index": size + i, "event_id": e, "hash": nodes[(0, size + i)]}
            for i, e in enumerate(event_ids)), len(event_ids))
        inner = [(k, v) for k, v in nodes.items() if k[0] > 0]
        self._bulk_insert(t.audit_nodes, ({"level": lv, "idx": i, "hash": h}
                                          for (lv, i), h in inner), len(inner))
        p = t.audit_pending.c
        if self.dialect == "postgresql":
            # One array parameter: an IN list of thousands costs psycopg more to parse than
            # the delete costs the server.
            self.conn.execute(delete(t.audit_pending).where(
                p.event_id == func.any(literal(list(event_ids), ARRAY(BigInteger)))))
        else:
            for chunk in _chunks(event_ids, 5000):
                self.conn.execute(delete(t.audit_pending).where(p.event_id.in_(chunk)))
        g = t.audit_log.c
        self.conn.execute(update(t.audit_log).where(g.id == 1).values(
            tree_size=size + len(event_ids), root=root))

    def leaf_of(self, event_id: int) -> int | None:
        lv = t.audit_leaves.c
        found = self.conn.execute(select(lv.leaf_index).where(lv.event_id == event_id)).first()
        return None if found is None else int(found.leaf_index)

    def add_head(self, head: TreeHead) -> None:
        self.conn.execute(insert(t.audit_tree_heads).values(
            tree_size=head.tree_size, timestamp=head.timestamp, root=head.root,
            key_id=head.key_id, signature=head.signature, tsa_token=head.tsa_token))

    @staticmethod
    def _head(r: Row[Any]) -> TreeHead:
        return TreeHead(tree_size=int(r.tree_size), timestamp=int(r.timestamp), root=r.root,
                        key_id=r.key_id, signature=r.signature, tsa_token=r.tsa_token)

    def latest_head(self) -> TreeHead | None:
        h = t.audit_tree_heads.c
        row = self.conn.execute(select(t.audit_tree_heads).order_by(h.id.desc())
                                .limit(1)).first()
        return None if row is None else self._head(row)

    def recent_heads(self, below_size: int, limit: int) -> list[TreeHead]:
        h = t.audit_tree_heads.c
        newest = (select(func.max(h.id).label("id")).where(h.tree_size < below_size)
                  .group_by(h.tree_size).order_by(h.tree_size.desc()).limit(limit).subquery())
        rows = self.conn.execute(select(t.audit_tree_heads).join(newest, newest.c.id == h.id)
                                 .order_by(h.tree_size))
        return [self._head(r) for r in rows]

    def heads(self, *, since_size: int = 0, limit: int = 100) -> list[TreeHead]:
        h = t.audit_tree_heads.c
        rows = self.conn.execute(select(t.audit_tree_heads).where(h.tree_size >= since_size)
                                 .order_by(h.id).limit(limit))
        return [self._head(r) for r in rows]


class SqlWitness(_Repo):
    def add_log(self, log_id: bytes, unit_code: str, public_pem: bytes, at: datetime) -> bool:
        w = t.audit_witness_logs.c
        if self.conn.execute(select(w.log_id).where(w.log_id == log_id)).first():
            return False
        self.conn.execute(insert(t.audit_witness_logs).values(
            log_id=log_id, unit_code=unit_code, public_key=public_pem.decode(),
            added_at=_utc(at)))
        return True

    def log(self, log_id: bytes, *, for_update: bool = False) -> tuple[str, bytes] | None:
        w = t.audit_witness_logs.c
        row = self.conn.execute(self._locked(
            select(w.unit_code, w.public_key).where(w.log_id == log_id), for_update)).first()
        return None if row is None else (row.unit_code, row.public_key.encode())

    @staticmethod
    def _head(r: Row[Any]) -> TreeHead:
        return TreeHead(tree_size=int(r.tree_size), timestamp=int(r.timestamp), root=r.root,
                        key_id=r.log_id, signature=r.signature, tsa_token=r.tsa_token)

    def latest(self, log_id: bytes) -> TreeHead | None:
        h = t.audit_witnessed.c
        row = self.conn.execute(select(t.audit_witnessed).where(
            h.log_id == log_id, h.verdict == Verdict.CONSISTENT.value)
            .order_by(h.id.desc()).limit(1)).first()
        return None if row is None else self._head(row)

    def add(self, log_id: bytes, head: TreeHead, verdict: Verdict, at: datetime) -> None:
        self.conn.execute(insert(t.audit_witnessed).values(
            log_id=log_id, tree_size=head.tree_size, timestamp=head.timestamp, root=head.root,
            signature=head.signature, tsa_token=head.tsa_token, received_at=_utc(at),
            verdict=verdict.value))

    def heads(self, log_id: bytes, limit: int) -> list[Witnessed]:
        h = t.audit_witnessed.c
        rows = self.conn.execute(select(t.audit_witnessed).where(h.log_id == log_id)
                                 .order_by(h.id.desc()).limit(limit))
        return [Witnessed(self._head(r), Verdict(r.verdict), _utc(r.received_at))
                for r in rows]


def _decode(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor or "|" not in cursor:
        return None
    at, ident = cursor.split("|", 1)
    try:
        return _utc(datetime.fromisoformat(at)), ident
    except ValueError:
        return None


def keyset_before(stmt: Any, keys: tuple[Any, Any], cursor: str | None) -> Any:
    """`stmt` continued after the item `cursor` names (``time|id``, newest first); a cursor
    that does not parse starts from the top."""
    decoded = _decode(cursor)
    if decoded is None:
        return stmt
    bound = (literal(v, type_=k.type) for k, v in zip(keys, decoded, strict=True))
    return stmt.where(tuple_(*keys) < tuple_(*bound))


def _notice(r: Row[Any]) -> Notice:
    return Notice(id=str(r.id), user_id=str(r.user_id), kind=NoticeKind(r.kind), title=r.title,
                  key=r.key, created_at=_utc(r.created_at),
                  document_id=str(r.document_id) if r.document_id else None,
                  receipt_id=str(r.receipt_id) if r.receipt_id else None,
                  read_at=utc(r.read_at), mailed_at=utc(r.mailed_at))


class SqlNotifications(_Repo):
    def add_many(self, notices: Sequence[Notice]) -> int:
        # The (user, key) pair is unique: a reminder already given is skipped, not repeated.
        # One statement a chunk: the rows it did insert come back (RETURNING, on both
        # engines), where a lookup of those given already used to go first.
        n, added = t.notifications.c, 0
        for chunk in _chunks(notices):
            stmt = self._insert(t.notifications).values([{
                "id": x.id, "user_id": x.user_id, "kind": x.kind.value, "title": x.title,
                "key": x.key[:200], "created_at": _utc(x.created_at),
                "document_id": x.document_id, "receipt_id": x.receipt_id} for x in chunk])
            added += len(self.conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["user_id", "key"])
                .returning(n.id)).all())
        return added

    def for_user(self, user_id: str, *, unread: bool, limit: int,
                 before: str | None) -> list[Notice]:
        n = t.notifications.c
        stmt = select(t.notifications).where(n.user_id == user_id)
        if unread:
            stmt = stmt.where(n.read_at.is_(None))
        stmt = keyset_before(stmt, (n.created_at, n.id), before)
        rows = self.conn.execute(stmt.order_by(n.created_at.desc(), n.id.desc()).limit(limit))
        return [_notice(r) for r in rows]

    def unread_count(self, user_id: str) -> int:
        n = t.notifications.c
        return int(self.conn.execute(select(func.count()).select_from(t.notifications).where(
            n.user_id == user_id, n.read_at.is_(None))).scalar_one())

    def mark_read(self, user_id: str, ids: Sequence[str] | None, at: datetime) -> int:
        n = t.notifications.c
        stmt = update(t.notifications).where(n.user_id == user_id, n.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(n.id.in_(list(ids)))
        return int(self.conn.execute(stmt.values(read_at=_utc(at))).rowcount or 0)

    def unmailed(self, limit: int) -> list[tuple[Notice, str]]:
        n, u = t.notifications.c, t.users.c
        rows = self.conn.execute(
            select(t.notifications, u.email.label("email"))
            .join_from(t.notifications, t.users, n.user_id == u.id)
            .where(n.mailed_at.is_(None), u.email.is_not(None), n.read_at.is_(None))
            .order_by(n.created_at).limit(limit))
        return [(_notice(r), str(r.email)) for r in rows]

    def mark_mailed(self, notice_id: str, at: datetime) -> None:
        n = t.notifications.c
        self.conn.execute(update(t.notifications).where(n.id == notice_id)
                          .values(mailed_at=_utc(at)))

