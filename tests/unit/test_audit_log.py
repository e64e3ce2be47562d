"""The audit trail as a tamper-evident log, on the embedded default: chains, the sequencer,
signed tree heads, proofs, auditor queries and offline verification of an untouched export."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docflow import auditbundle
from docflow.bootstrap import Services
from docflow.domain import merkle
from docflow.domain.audit import AuditFilter, TreeHead, record_hash
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Forbidden, NotFound
from docflow.services.audit import Selection
from tests.conftest import ORIGIN, Org, handled_in_a_commune, issued_document
from tests.pdfs import good_pdf


def _export(svc: Services, tmp_path: Path, selection: Selection, name: str = "b.zip",
            **kw: object) -> Path:
    path = tmp_path / name
    auditbundle.write(svc.audit.export(selection, **kw), path)  # type: ignore[arg-type]
    return path


def _verify(svc: Services, path: Path, **kw: object) -> auditbundle.Report:
    return auditbundle.verify_bundle(path, key_pem=svc.audit.public_key_pem,
                                     **kw)  # type: ignore[arg-type]


def test_each_event_links_to_the_one_before_on_its_document(services: Services,
                                                            org: Org) -> None:
    doc_id = issued_document(services, org)
    events = services.audit.events(org.auditor, AuditFilter(scope=None, document_id=doc_id),
                                   ORIGIN)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["prev"] is None
    for before, after in itertools.pairwise(events):
        assert after["prev"] == before["hash"] == record_hash(before).hex()
    assert {e["action"] for e in events} >= {"document.create", "document.sign",
                                              "document.number"}
    # Each names the capacity its actor acted in.
    by_action = {e["action"]: e for e in events}
    assert by_action["document.create"]["authority"] == "officer"
    assert by_action["document.number"]["authority"] == "clerk"


def test_what_a_recipient_unit_does_names_the_capacity_it_was_done_in(services: Services,
                                                                      org: Org) -> None:
    doc_id = issued_document(services, org)
    handled_in_a_commune(services, org, doc_id)
    events = services.audit.events(org.auditor, AuditFilter(scope=None, document_id=doc_id),
                                   ORIGIN)
    done_there = [e for e in events if e["actor_id"] == org.commune_clerk.id]
    assert {e["action"] for e in done_there} >= {"receipt.register", "receipt.complete"}
    assert {e["authority"] for e in done_there} == {"clerk"}


def test_the_sequencer_makes_every_committed_event_a_leaf_in_order(services: Services,
                                                                   org: Org) -> None:
    issued_document(services, org)
    added = services.audit.sequence()
    assert added > 10
    assert services.audit.sequence() == 0  # nothing left
    head = services.audit.issue_tree_head()
    with services.engine.connect() as conn:
        from sqlalchemy import text
        rows = conn.execute(text(
            "SELECT l.leaf_index, e.hash FROM audit_leaves l JOIN audit_events e "
            "ON e.id = l.event_id ORDER BY l.leaf_index")).fetchall()
    assert [r.leaf_index for r in rows] == list(range(head.tree_size))
    assert merkle.root([merkle.leaf_hash(r.hash) for r in rows]) == head.root


def test_tree_heads_are_signed_when_the_tree_grew_and_on_demand(services: Services,
                                                                org: Org) -> None:
    first = services.audit.issue_tree_head()
    assert services.audit.issue_tree_head() == first  # nothing new, recent: the same head
    forced = services.audit.issue_tree_head(force=True)
    assert forced.tree_size == first.tree_size and forced.timestamp > first.timestamp
    issued_document(services, org)
    grown = services.audit.issue_tree_head()
    assert grown.tree_size > first.tree_size
    proof = services.audit.consistency(first.tree_size, grown.tree_size)
    merkle.verify_consistency(first.tree_size, grown.tree_size, first.root, grown.root, proof)


def test_an_inclusion_proof_proves_the_event_is_in_the_signed_tree(services: Services,
                                                                   org: Org) -> None:
    doc_id = issued_document(services, org)
    event = services.audit.events(org.auditor, AuditFilter(scope=None, document_id=doc_id),
                                  ORIGIN)[2]
    leaf, size, path, head = services.audit.inclusion(org.auditor, event["id"])
    assert head is not None and head.tree_size == size
    merkle.verify_inclusion(leaf, size, merkle.leaf_hash(record_hash(event)), path, head.root)
    with pytest.raises(NotFound):  # another province's auditor: no such event for them
        services.audit.inclusion(org.other_province_auditor, event["id"])


def test_auditors_see_only_their_subtree_and_every_query_is_recorded(services: Services,
                                                                     org: Org) -> None:
    doc_id = issued_document(services, org)
    mine = services.audit.events(org.auditor, AuditFilter(scope=None, document_id=doc_id),
                                 ORIGIN)
    assert mine
    theirs = services.audit.events(org.other_province_auditor,
                                   AuditFilter(scope=None, document_id=doc_id), ORIGIN)
    assert theirs == []
    with pytest.raises(NotFound):
        services.audit.events(org.other_province_auditor,
                              AuditFilter(scope=None, under="P01/"), ORIGIN)
    with pytest.raises(Forbidden):
        services.audit.events(org.clerk, AuditFilter(scope=None), ORIGIN)
    asked = services.audit.events(org.auditor, AuditFilter(
        scope=None, actions=("audit.query",)), ORIGIN)
    # Only their own earlier query: the other province's auditor queried as a unit of P02.
    assert len(asked) == 1
    assert asked[0]["actor_id"] == org.auditor.id
    assert asked[0]["details"]["document"] == doc_id


def test_queries_by_actor_action_and_time_page_by_id(services: Services, org: Org) -> None:
    for _ in range(3):
        issued_document(services, org)
    everything = services.audit.events(org.auditor, AuditFilter(scope=None), ORIGIN,
                                       limit=1000)
    signs = services.audit.events(org.auditor, AuditFilter(
        scope=None, actions=("document.sign",), actor_id=org.leader.id), ORIGIN)
    assert len(signs) == 3 and {e["actor_id"] for e in signs} == {org.leader.id}
    page1 = services.audit.events(org.auditor, AuditFilter(scope=None), ORIGIN, limit=5)
    page2 = services.audit.events(org.auditor, AuditFilter(scope=None), ORIGIN,
                                  after=page1[-1]["id"], limit=5)
    assert [e["id"] for e in page1 + page2] == [e["id"] for e in everything[:10]]
    future = datetime.now(UTC) + timedelta(days=1)
    assert services.audit.events(org.auditor, AuditFilter(scope=None, since=future),
                                 ORIGIN) == []


@pytest.mark.parametrize("selection", ["document", "unit", "range"])
def test_an_untouched_export_verifies_offline(services: Services, org: Org, tmp_path: Path,
                                              selection: str) -> None:
    doc_id = issued_document(services, org)
    services.audit.issue_tree_head()
    issued_document(services, org)
    chosen = {"document": Selection(document_id=doc_id), "unit": Selection(unit_code="P01"),
              "range": Selection(since=datetime.now(UTC) - timedelta(hours=1),
                                 until=datetime.now(UTC) + timedelta(hours=1))}[selection]
    path = _export(services, tmp_path, chosen)
    report = _verify(services, path)
    assert report.clean, report.as_json()
    assert report.events >= 9
    with zipfile.ZipFile(path) as z:
        assert set(z.namelist()) == {"manifest.json", "events.jsonl", "tree-heads.json",
                                     "proofs.json", "log-key.pem"}


def test_the_bundles_own_key_is_not_trusted(services: Services, org: Org,
                                            tmp_path: Path) -> None:
    doc_id = issued_document(services, org)
    path = _export(services, tmp_path, Selection(document_id=doc_id))
    report = auditbundle.verify_bundle(path)
    assert [p.code for p in report.problems] == ["UNTRUSTED_KEY"]
    pinned = auditbundle.verify_bundle(path, fingerprints=[report.key_fingerprint])
    assert pinned.clean


def test_an_auditor_export_redacts_other_units_events_and_still_verifies(
        services: Services, org: Org, tmp_path: Path) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CV", "Về việc báo cáo"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    path = _export(services, tmp_path, Selection(document_id=doc.id), actor=org.auditor)
    assert _verify(services, path).clean
    with pytest.raises(NotFound):
        services.audit.export(Selection(document_id=doc.id), actor=org.other_province_auditor)
    exports = services.audit.events(org.auditor, AuditFilter(
        scope=None, actions=("audit.export",)), ORIGIN)
    assert len(exports) == 1 and exports[0]["details"]["document"] == doc.id


def test_a_held_head_from_the_same_log_verifies(services: Services, org: Org,
                                                tmp_path: Path) -> None:
    issued_document(services, org)
    held = services.audit.issue_tree_head()
    doc_id = issued_document(services, org)
    path = _export(services, tmp_path, Selection(document_id=doc_id))
    assert _verify(services, path, known=[held]).clean
    forged = TreeHead(**{**held.__dict__, "root": b"\x00" * 32})
    codes = [p.code for p in _verify(services, path, known=[forged]).problems]
    assert codes == ["BAD_STH_SIGNATURE"]


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(auditbundle.BundleError):
        auditbundle.verify_bundle(bad)
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("manifest.json", json.dumps({"format": "something else"}))
    with pytest.raises(auditbundle.BundleError):
        auditbundle.verify_bundle(bad)


@pytest.mark.parametrize("details", [
    {}, {"reason": "Trả lại: thiếu chữ ký \"KT.\"", "n": 3, "ok": True, "none": None},
    {"nested": {"b": [1, 2.5, "x"], "a": {"z": 1e16, "y": -0.0}}, "tuple": (1, 2)},
    {1: "int key", "1x": "str key"}, {"details": 0, "quote": '"details":0'},
])
def test_the_hash_written_is_the_hash_read_back(details: dict[object, object]) -> None:
    """`link` splices the details' JSON into the record instead of encoding it twice; what a
    reader recomputes from the stored JSON must be the same hash."""
    from docflow.domain.audit import Action, AuditEvent, Origin, link

    event = AuditEvent(at=datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC),
                       action=Action.DOCUMENT_VIEW, object_type="document", object_id="d",
                       actor_id="a", unit_code="P01", document_id="d",
                       origin=Origin("10.0.0.1", "x" * 400, "web"),
                       details=details)  # type: ignore[arg-type]
    linked = link(event, 2, b"\x01" * 32)
    stored = json.loads(json.dumps(json.loads(linked.details_json)))  # through a JSON column
    assert record_hash({**linked.fields, "details": stored}) == linked.digest
    assert len(linked.fields["user_agent"]) == 300
