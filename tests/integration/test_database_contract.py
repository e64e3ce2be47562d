"""The same checks on SQLite (embedded default) and PostgreSQL: schema, round trip, numbering."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from docflow.bootstrap import Services, bootstrap
from docflow.domain.routing import DispatchTarget
from storage.db import migrate
from storage.db import tables as t
from storage.queue.inprocess import InProcessQueue
from tests.conftest import (
    ORIGIN,
    Org,
    approve,
    embedded_settings,
    handled_in_a_commune,
    issued_document,
    seed_org,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    extra = {}
    if request.param == "postgresql":
        extra = {"DOCFLOW_DATABASE_URL": request.getfixturevalue("pg_url"),
                 "DOCFLOW_SECRET_KEY": "test"}
    services = bootstrap(embedded_settings(tmp_path, **extra))
    migrate.upgrade(services.engine)
    yield services
    services.close()


@pytest.fixture
def people(svc: Services) -> Org:
    return seed_org(svc)


def test_migrations_leave_nothing_pending_and_match_the_tables(svc: Services) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert migrate.pending(svc.engine) == []
    with svc.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


def test_the_round_trip(svc: Services, people: Org) -> None:
    doc_id = issued_document(svc, people)
    handled_in_a_commune(svc, people, doc_id)
    counts, _ = svc.queries.recipients(people.officer, doc_id)
    assert counts == {"delivered": 2, "done": 1}
    page1 = svc.queries.outbox(people.officer, limit=1)
    issued_document(svc, people)
    newest, older = svc.queries.outbox(people.officer, limit=2)
    assert older.id == page1[0].id
    cursor = f"{newest.updated_at.isoformat()}|{newest.id}"
    assert [d.id for d in svc.queries.outbox(people.officer, before=cursor)] == [older.id]


def test_concurrent_numbering_gets_consecutive_numbers(svc: Services, people: Org) -> None:
    approved = []
    for _ in range(24):
        doc_id = issued_document(svc, people)  # numbers 1..24
        approved.append(doc_id)
    # 24 more, approved and signed by the leader but not numbered, then numbered from 4
    # threads at once (outgoing v2 gives the number at `number`, between the two signatures).
    import io

    from docflow.domain.documents import DraftSpec, RevisionKind
    from docflow.domain.signatures import SignatureKind
    from tests.keys import test_keys
    from tests.pdfs import good_pdf

    pending = []
    for _ in range(24):
        d = svc.documents.draft(people.officer, DraftSpec("CT", "Về việc"), ORIGIN)
        svc.documents.attach(people.officer, d.id, RevisionKind.MAIN, "a.pdf",
                             io.BytesIO(good_pdf()), ORIGIN)
        approve(svc, people.officer, people.leader, d.id)
        svc.signatures.sign(people.leader, d.id, SignatureKind.LEADER, test_keys().leader,
                            ORIGIN, position="CHỦ TỊCH")
        pending.append(d.id)
    errors: list[BaseException] = []

    def number(ids: list[str]) -> None:
        try:
            for i in ids:
                svc.documents.number(people.clerk, i, ORIGIN)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=number, args=(pending[k::4],)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with svc.engine.connect() as conn:
        numbers = sorted(conn.execute(select(t.documents.c.number)
                                      .where(t.documents.c.unit_code == "P01")).scalars())
    assert numbers == list(range(1, 49))


class SlowKey:
    """A key that takes its time, as a USB token does; it counts what it signs."""

    def __init__(self, key: Any, *, calls_out: bool) -> None:
        self.key, self.calls_out, self.signed = key, calls_out, 0

    def sign(self, pdf: bytes, request: Any) -> Any:
        time.sleep(0.3)
        self.signed += 1
        return self.key.sign(pdf, request)


@pytest.mark.parametrize("calls_out", [False, True], ids=["locked", "checked-again"])
def test_two_leaders_signing_one_document_at_once_give_one_signature(
        svc: Services, people: Org, calls_out: bool) -> None:
    """Both ways of storing a signature (key on this machine: the document stays locked while
    it signs; key waiting on a timestamp authority: checked again under lock) leave one
    leader signature, one new revision and one trail event; the other signer is refused."""
    import io

    from docflow.domain.documents import DraftSpec, RevisionKind
    from docflow.domain.errors import DomainError
    from docflow.domain.signatures import SignatureKind
    from tests.keys import test_keys
    from tests.pdfs import good_pdf

    doc = svc.documents.draft(people.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    svc.documents.attach(people.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, people.officer, people.leader, doc.id)
    key = SlowKey(test_keys().leader, calls_out=calls_out)
    outcomes: list[object] = []

    def sign() -> None:
        try:
            outcomes.append(svc.signatures.sign(people.leader, doc.id, SignatureKind.LEADER,
                                                key, ORIGIN, position="CHỦ TỊCH"))
        except DomainError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "SignatureRecord"]
    assert key.signed == (2 if calls_out else 1)  # locked: the second never reached the key
    view = svc.documents.view(people.leader, doc.id, ORIGIN)
    assert view.status.value == "signed"
    assert [r.seq for r in view.revisions if r.kind is RevisionKind.MAIN] == [1, 2]
    assert len(svc.signatures.signatures(people.leader, doc.id)) == 1
    with svc.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.action == "document.sign")).scalar_one() == 1


def test_the_database_refuses_a_number_given_twice(svc: Services, people: Org) -> None:
    doc_id = issued_document(svc, people)
    with svc.engine.connect() as conn:
        row = conn.execute(select(t.documents).where(t.documents.c.id == doc_id)).one()._asdict()
        row["id"] = "00000000-0000-4000-8000-000000000001"
        with pytest.raises(IntegrityError):
            conn.execute(insert(t.documents).values(**row))


def test_the_trail_is_append_only(svc: Services, people: Org) -> None:
    """The database itself refuses to change or remove an audit event (both engines), and to
    empty the table (PostgreSQL); the downgrade takes the triggers away again."""
    from sqlalchemy import delete, text, update
    from sqlalchemy.exc import DatabaseError

    issued_document(svc, people)
    a = t.audit_events.c
    with svc.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(t.audit_events)).scalar_one()
        for change in (update(t.audit_events).values(action="document.view"),
                       delete(t.audit_events).where(a.id == 1)):
            with pytest.raises(DatabaseError, match="append-only"):
                conn.execute(change)
            conn.rollback()
        if svc.engine.dialect.name == "postgresql":
            with pytest.raises(DatabaseError, match="append-only"):
                conn.execute(text("TRUNCATE audit_events"))
            conn.rollback()
        assert conn.execute(select(func.count()).select_from(t.audit_events)).scalar_one() \
            == count


def test_every_chain_links_and_its_head_is_its_last_event(svc: Services, people: Org) -> None:
    """One event at a time (`append`) and several (`append_many`, the fan-out) both keep each
    chain's links and its head (seq and hash) as the events say."""
    from docflow.domain.audit import record_hash

    doc_id = issued_document(svc, people)
    svc.documents.dispatch(people.clerk, doc_id, DispatchTarget(level="commune", under="P01"),
                           ORIGIN)
    assert isinstance(svc.queue, InProcessQueue) and svc.queue.join(10)
    from storage.db.repositories import SqlAudit

    with svc.engine.connect() as conn:
        heads = {r.chain: (r.seq, r.hash) for r in conn.execute(select(t.audit_chains))}
        records = {chain: SqlAudit(conn).chain(chain) for chain in heads}
    assert any(len(r) > 3 for r in records.values())  # the document's chain, at least
    for chain, events in records.items():
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        hashes = [bytes.fromhex(e["hash"]) for e in events]
        assert [e["prev"] for e in events] == [None, *(h.hex() for h in hashes[:-1])]
        assert all(record_hash({k: v for k, v in e.items() if k not in ("id", "hash", "leaf")})
                   == h for e, h in zip(events, hashes, strict=True))
        assert heads[chain] == (len(events), hashes[-1])


def _allocate(url: str, count: int, out: object) -> None:
    from storage.db.engine import make_engine
    from storage.db.uow import SqlUnitOfWorkFactory

    engine = make_engine(url)
    uow = SqlUnitOfWorkFactory(engine)
    got = []
    for _ in range(count):
        with uow() as u:
            got.append(u.sequences.next("P01", "outgoing", "2026"))
            u.commit()
    engine.dispose()
    out.put(got)  # type: ignore[attr-defined]


def test_two_processes_allocating_get_distinct_consecutive_numbers(svc: Services,
                                                                   people: Org) -> None:
    """The numbering rule, across processes (web and worker, or two web processes): 500 numbers
    each, 1..1,000 exactly, none twice, none skipped."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    url = svc.engine.url.render_as_string(hide_password=False)
    workers = [spawn.Process(target=_allocate, args=(url, 500, out)) for _ in range(2)]
    for w in workers:
        w.start()
    batches = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(30)
    assert all(len(b) == 500 and b == sorted(b) for b in batches)
    assert sorted(n for b in batches for n in b) == list(range(1, 1001))


def test_an_embedded_database_with_data_upgrades_from_an_older_schema(tmp_path: Path) -> None:
    """SQLite rebuilds a table to alter it; with rows pointing at it (revisions at documents)
    that needs the foreign-key check off during the migration, and nothing broken after."""
    services = bootstrap(embedded_settings(tmp_path))
    try:
        migrate.upgrade(services.engine, "0009")
        with services.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO levels (code, name, rank) VALUES ('province', 'Tỉnh', 1)")
            conn.exec_driver_sql(
                "INSERT INTO units (code, name, abbreviation, level, path, search_name) "
                "VALUES ('P09', 'Tỉnh', 'HPN', 'province', 'P09/', '')")
            conn.exec_driver_sql(
                "INSERT INTO users (id, username, full_name, active) VALUES "
                "('00000000-0000-4000-8000-000000000009', 'u9', 'U', 1)")
            conn.exec_driver_sql(
                "INSERT INTO documents (id, unit_code, created_by, created_at, updated_at, "
                "doc_type, abstract, urgency, confidentiality, recipients, status, "
                "workflow_version, number, symbol, issued_year, search_text) VALUES "
                "('00000000-0000-4000-8000-00000000000d', 'P09', "
                "'00000000-0000-4000-8000-000000000009', '2026-01-02 03:04:05', "
                "'2026-01-02 03:04:05', 'CT', 'Về việc', 'normal', 'normal', '[]', 'issued', "
                "1, 7, '07/CT-HPN', 2026, '')")
            conn.exec_driver_sql(
                "INSERT INTO revisions (id, document_id, kind, seq, filename, sha256, size, "
                "media_type, created_at, created_by) VALUES "
                "('00000000-0000-4000-8000-00000000000e', '00000000-0000-4000-8000-00000000000d',"
                " 'main', 1, 'a.pdf', '" + "0" * 64 + "', 1, 'application/pdf', "
                "'2026-01-02 03:04:05', '00000000-0000-4000-8000-000000000009')")
        migrate.upgrade(services.engine)
        assert migrate.pending(services.engine) == []
        with services.engine.connect() as conn:
            period = conn.execute(select(t.documents.c.number_period)).scalar_one()
            assert period == "2026"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        services.close()


def test_events_written_before_the_log_are_chained_and_queued_by_the_migration(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Upgrading a database that has a trail: its events join their chains in the order they
    were written, queue for the sequencer, and verify like any others."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from docflow import auditbundle
    from docflow.services.audit import Selection

    for dialect in ("sqlite", "postgresql"):
        extra = {}
        if dialect == "postgresql":
            extra = {"DOCFLOW_DATABASE_URL": request.getfixturevalue("pg_url"),
                     "DOCFLOW_SECRET_KEY": "test"}
        services = bootstrap(embedded_settings(tmp_path / dialect, **extra))
        try:
            migrate.upgrade(services.engine, "0021")
            doc = "0192a0a0-0000-7000-8000-000000000001"
            with services.engine.begin() as conn:
                for action, obj, document in (("document.create", doc, doc),
                                              ("user.login", "u1", None),
                                              ("document.view", doc, doc)):
                    conn.execute(text(
                        "INSERT INTO audit_events (at, action, object_type, object_id, "
                        "document_id, via, details) VALUES (:at, :a, :t, :o, :d, 'api', "
                        "'{\"note\": \"cũ\"}')"),
                        {"at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "a": action,
                         "t": "document" if document else "user", "o": obj, "d": document})
            migrate.upgrade(services.engine)
            with services.engine.connect() as conn:
                rows = conn.execute(text("SELECT chain, seq FROM audit_events ORDER BY id"))
                assert [tuple(r) for r in rows] == [
                    (f"document:{doc}", 1), ("user:u1", 1), (f"document:{doc}", 2)]
                assert conn.execute(text("SELECT count(*) FROM audit_pending")).scalar() == 3
            assert services.audit.sequence() == 3
            bundle = tmp_path / f"{dialect}.zip"
            auditbundle.write(services.audit.export(Selection(document_id=doc)), bundle)
            report = auditbundle.verify_bundle(bundle, key_pem=services.audit.public_key_pem)
            assert report.clean and report.events == 2, report.as_json()
        finally:
            services.close()
