"""Tampering with the audit trail on PostgreSQL, as someone with database access would (the
append-only triggers dropped first), and what the offline verifier says of each: an altered
event, a deleted one, two rows swapped, a truncated tail, a replaced tree head, a rollback
to an older log. An untouched export verifies clean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from docflow import auditbundle
from docflow.bootstrap import Services, bootstrap
from docflow.domain import merkle
from docflow.domain.audit import TreeHead
from docflow.services.audit import Selection
from storage.db import migrate
from tests.conftest import Org, embedded_settings, issued_document, seed_org

AUDIT_TABLES = ("audit_events", "audit_leaves", "audit_nodes", "audit_tree_heads")


@pytest.fixture
def svc(pg_url: str, tmp_path: Path) -> Iterator[Services]:
    services = bootstrap(embedded_settings(tmp_path, DOCFLOW_DATABASE_URL=pg_url,
                                           DOCFLOW_SECRET_KEY="test"))
    migrate.upgrade(services.engine)
    yield services
    services.close()


@pytest.fixture
def doc_id(svc: Services) -> str:
    org: Org = seed_org(svc)
    issued_document(svc, org)
    found = issued_document(svc, org)
    issued_document(svc, org)
    svc.audit.issue_tree_head()
    return found


def _attack(svc: Services, *statements: str, **params: object) -> None:
    """Run SQL as an attacker who can switch the append-only triggers off."""
    with svc.engine.begin() as conn:
        for table in AUDIT_TABLES:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement), params)
        for table in AUDIT_TABLES:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def _problems(svc: Services, tmp_path: Path, selection: Selection,
              known: list[TreeHead] | None = None) -> list[tuple[str, int | None]]:
    path = tmp_path / "bundle.zip"
    # As `docflow audit export --known-sth`: the auditor asks for proof against what they hold.
    auditbundle.write(svc.audit.export(selection, known=known or []), path)
    report = auditbundle.verify_bundle(path, key_pem=svc.audit.public_key_pem,
                                       known=known or [])
    return sorted({(p.code, p.leaf) for p in report.problems}, key=str)


def _trail(svc: Services, doc_id: str) -> list[tuple[int, int, int]]:
    """(event id, seq, leaf) of the document's events."""
    with svc.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(  # type: ignore[misc]
            "SELECT e.id, e.seq, l.leaf_index FROM audit_events e "
            "JOIN audit_leaves l ON l.event_id = e.id WHERE e.document_id = :d ORDER BY e.seq"),
            {"d": doc_id})]


def _window() -> Selection:
    now = datetime.now(UTC)
    return Selection(since=now - timedelta(hours=1), until=now + timedelta(hours=1))


def test_the_triggers_refuse_changes_to_the_log(svc: Services, doc_id: str) -> None:
    from sqlalchemy.exc import DBAPIError
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_leaves",
                      "UPDATE audit_nodes SET hash = hash", "DELETE FROM audit_tree_heads",
                      "TRUNCATE audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), svc.engine.begin() as conn:
            conn.execute(text(statement))


def test_an_untouched_export_is_clean(svc: Services, doc_id: str, tmp_path: Path) -> None:
    assert _problems(svc, tmp_path, Selection(document_id=doc_id)) == []
    assert _problems(svc, tmp_path, _window()) == []


def test_an_updated_event_is_altered(svc: Services, doc_id: str, tmp_path: Path) -> None:
    event_id, _, leaf = _trail(svc, doc_id)[3]
    _attack(svc, "UPDATE audit_events SET details = '{\"reason\": \"rewritten\"}' "
                 "WHERE id = :id", id=event_id)
    assert _problems(svc, tmp_path, Selection(document_id=doc_id)) == [("ALTERED_EVENT", leaf)]
    assert _problems(svc, tmp_path, _window()) == [("ALTERED_EVENT", leaf)]


def test_an_event_rewritten_with_its_hash_is_still_altered(svc: Services, doc_id: str,
                                                           tmp_path: Path) -> None:
    # The attacker recomputes the record's hash too: the tree still holds the old one.
    from docflow.domain.audit import record_hash
    trail = svc.audit.export(Selection(document_id=doc_id)).records
    victim = trail[2]
    forged = {**victim, "actor_id": None}
    _attack(svc, "UPDATE audit_events SET actor_id = NULL, hash = :h WHERE id = :id",
            h=record_hash(forged), id=victim["id"])
    problems = _problems(svc, tmp_path, Selection(document_id=doc_id))
    assert ("ALTERED_EVENT", victim["leaf"]) in problems


def test_a_deleted_event_is_missing(svc: Services, doc_id: str, tmp_path: Path) -> None:
    trail = _trail(svc, doc_id)
    event_id, _, leaf = trail[4]
    _attack(svc, "DELETE FROM audit_events WHERE id = :id", id=event_id)
    assert _problems(svc, tmp_path, Selection(document_id=doc_id)) == [
        ("MISSING_EVENT", trail[5][2])]
    assert _problems(svc, tmp_path, _window()) == [("MISSING_EVENT", leaf)]


def test_a_deleted_event_and_its_leaf_are_missing(svc: Services, doc_id: str,
                                                  tmp_path: Path) -> None:
    trail = _trail(svc, doc_id)
    event_id, _, leaf = trail[4]
    _attack(svc, "DELETE FROM audit_events WHERE id = :id",
            "DELETE FROM audit_leaves WHERE event_id = :id", id=event_id)
    # The next leaf's proof needed the deleted one: it cannot be proven either way.
    assert _problems(svc, tmp_path, _window()) == [("MISSING_EVENT", leaf),
                                                   ("MISSING_PROOF", trail[5][2])]
    assert _problems(svc, tmp_path, Selection(document_id=doc_id)) == [
        ("MISSING_EVENT", trail[5][2]), ("MISSING_PROOF", trail[5][2])]


def test_two_swapped_rows_are_reordered(svc: Services, doc_id: str, tmp_path: Path) -> None:
    trail = _trail(svc, doc_id)
    (a, _, leaf_a), (b, _, leaf_b) = trail[2], trail[3]
    _attack(svc, "UPDATE audit_leaves SET event_id = -1 WHERE event_id = :a",
            "UPDATE audit_leaves SET event_id = :a WHERE event_id = :b",
            "UPDATE audit_leaves SET event_id = :b WHERE event_id = -1", a=a, b=b)
    for selection in (Selection(document_id=doc_id), _window()):
        codes = {code for code, _ in _problems(svc, tmp_path, selection)}
        assert codes == {"REORDERED_EVENTS"}
    leaves = {leaf for _, leaf in _problems(svc, tmp_path, _window())}
    assert leaves == {leaf_a, leaf_b}


def _truncate(svc: Services, keep: int) -> None:
    """Cut the log back to its first `keep` leaves, tree and heads included, as a restore of
    an old backup (or a careful attacker) would."""
    with svc.engine.connect() as conn:
        hashes = [r.hash for r in conn.execute(text(
            "SELECT hash FROM audit_leaves WHERE leaf_index < :k ORDER BY leaf_index"),
            {"k": keep})]
    _attack(svc,
            "DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_leaves "
            "WHERE leaf_index >= :k)",
            "DELETE FROM audit_leaves WHERE leaf_index >= :k",
            "DELETE FROM audit_nodes WHERE (idx + 1) * (1::bigint << level) > :k",
            "DELETE FROM audit_tree_heads WHERE tree_size > :k",
            "UPDATE audit_log SET tree_size = :k, root = :r",
            k=keep, r=merkle.root(hashes))


def test_a_truncated_tail_is_a_rolled_back_log(svc: Services, doc_id: str,
                                               tmp_path: Path) -> None:
    held = svc.audit.latest_head()
    _truncate(svc, held.tree_size - 5)
    problems = _problems(svc, tmp_path, _window(), known=[held])
    assert ("ROLLED_BACK_LOG", None) in problems


def test_a_truncated_tail_without_a_held_head_shows_in_the_chain(svc: Services, doc_id: str,
                                                                 tmp_path: Path) -> None:
    # The events are gone but the leaves stay: the range shows them missing.
    with svc.engine.connect() as conn:
        last = conn.execute(text("SELECT max(leaf_index) FROM audit_leaves")).scalar_one()
    _attack(svc, "DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_leaves "
                 "WHERE leaf_index >= :k)", k=last - 1)
    assert _problems(svc, tmp_path, _window()) == [("MISSING_EVENT", last - 1),
                                                   ("MISSING_EVENT", last)]


def test_a_replaced_tree_head_has_a_bad_signature(svc: Services, doc_id: str,
                                                  tmp_path: Path) -> None:
    _attack(svc, "UPDATE audit_tree_heads SET root = :r WHERE id = "
                 "(SELECT max(id) FROM audit_tree_heads)", r=b"\x42" * 32)
    codes = {code for code, _ in _problems(svc, tmp_path, Selection(document_id=doc_id))}
    assert "BAD_STH_SIGNATURE" in codes


def test_a_rollback_then_new_events_is_a_fork(svc: Services, doc_id: str,
                                              tmp_path: Path) -> None:
    held = svc.audit.latest_head()
    _truncate(svc, held.tree_size - 10)
    org = seed_org_again(svc)
    issued_document(svc, org)  # the log grows past the held head, on another history
    issued_document(svc, org)
    head = svc.audit.issue_tree_head()
    assert head.tree_size > held.tree_size
    problems = _problems(svc, tmp_path, _window(), known=[held])
    assert ("FORKED_LOG", None) in problems


def test_an_untouched_log_extends_the_held_head(svc: Services, doc_id: str,
                                                tmp_path: Path) -> None:
    held = svc.audit.latest_head()
    issued_document(svc, seed_org_again(svc))
    assert _problems(svc, tmp_path, _window(), known=[held]) == []


def seed_org_again(svc: Services) -> Org:
    """The people of the seeded organisation (already imported)."""
    from tests.conftest import ACCOUNTS
    actors = [svc.identity.actor_by_username(u) for u, _, _ in ACCOUNTS]
    return Org(*actors)  # type: ignore[arg-type]
