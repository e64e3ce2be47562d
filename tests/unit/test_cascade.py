"""The cascade: a recipient unit passes a directive down to its own sub-units, and the issuer
sees the roll-up tree per level and unit."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.org import Actor, Level
from docflow.domain.routing import DispatchTarget
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.web import create_app
from tests.clock import Clock
from tests.conftest import ORIGIN, PASSWORD, Org, approve, embedded_settings, issue, seed_org
from tests.pdfs import good_pdf


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Org, Clock, dict[str, Actor]]]:
    clock = Clock()
    svc = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    org = seed_org(svc)
    svc.org.import_org(OrgImport(
        levels=[Level("province", "Tỉnh", 1), Level("commune", "Xã", 2),
                Level("branch", "Chi hội", 3)],
        units=[UnitRow("t", "P01.X1.B1", "Chi hội Một", "CH1", "branch", "P01.X1"),
               UnitRow("t", "P01.X1.B2", "Chi hội Hai", "CH2", "branch", "P01.X1"),
               UnitRow("t", "P01.X2.B1", "Chi hội Ba", "CH3", "branch", "P01.X2")],
        users=[UserRow("t", "b1clerk", "B1 Clerk", "P01.X1.B1", "clerk")]), ORIGIN)
    svc.identity.set_password("b1clerk", PASSWORD, ORIGIN)
    b1 = svc.identity.actor_by_username("b1clerk")
    assert b1 is not None
    yield svc, org, clock, {"b1clerk": b1}
    svc.close()


def dispatched(svc: Services, org: Org, clock: Clock) -> str:
    reply_due = (clock.at + timedelta(days=7)).date()
    doc = svc.documents.draft(org.officer, DraftSpec("CT", "Về việc triển khai",
                                                     reply_due=reply_due), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "ct.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    issue(svc, org.leader, org.clerk, doc.id)
    svc.documents.dispatch(org.clerk, doc.id, DispatchTarget(level="commune", under="P01"),
                           ORIGIN)
    svc.queue.join()  # type: ignore[attr-defined]
    return doc.id


def entry_of(svc: Services, actor: Actor, doc_id: str) -> str:
    return next(e.receipt_id for e in svc.queries.inbox(actor) if e.document_id == doc_id)


def test_a_commune_passes_the_directive_down_and_the_issuer_sees_the_tree(
        world: tuple[Services, Org, Clock, dict[str, Actor]]) -> None:
    svc, org, clock, people = world
    doc_id = dispatched(svc, org, clock)
    x1 = entry_of(svc, org.commune_clerk, doc_id)
    with pytest.raises(Conflict, match="once registered"):
        svc.documents.forward(org.commune_clerk, x1, DispatchTarget(level="branch",
                                                                    under="P01.X1"), ORIGIN)
    svc.documents.register_receipt(org.commune_clerk, x1, ORIGIN)
    # Only its own subtree, only its own entry.
    with pytest.raises(Invalid) as outside:
        svc.documents.forward(org.commune_clerk, x1, DispatchTarget(("P01.X2.B1",)), ORIGIN)
    assert outside.value.errors == ["unit 'P01.X2.B1' is not under P01.X1"]
    with pytest.raises(Invalid, match=r"not P01\.X1 or under it"):
        svc.documents.forward(org.commune_clerk, x1, DispatchTarget(level="branch",
                                                                    under="P01.X2"), ORIGIN)
    with pytest.raises(Forbidden):
        svc.documents.forward(org.clerk, x1, DispatchTarget(("P01.X1.B1",)), ORIGIN)

    # The leader annotates: the commune's clerk leads, and it goes down to the branches.
    svc.handling.assign(org.commune_leader, x1, "Chuyển các chi hội thực hiện", "x1clerk",
                        (clock.at + timedelta(days=5)).date(), ORIGIN)
    sent = svc.documents.forward(org.commune_clerk, x1, DispatchTarget(level="branch",
                                                                       under="P01.X1"), ORIGIN)
    assert sent.sender_unit == "P01.X1"
    svc.queue.join()  # type: ignore[attr-defined]
    # The branch sees and registers it like any incoming document.
    b1_entry = entry_of(svc, people["b1clerk"], doc_id)
    svc.documents.register_receipt(people["b1clerk"], b1_entry, ORIGIN)
    svc.documents.complete_receipt(people["b1clerk"], b1_entry, ORIGIN)
    # Forwarding again reaches only units that have no entry yet.
    again = svc.documents.forward(org.commune_clerk, x1, DispatchTarget(("P01.X1.B1",)),
                                  ORIGIN)
    svc.queue.join()  # type: ignore[attr-defined]
    assert svc.documents.dispatch_state(again.id).recipient_count == 0  # type: ignore[union-attr]

    view = svc.queries.cascade(org.clerk, doc_id)
    by_level = dict(view.levels)
    assert [level for level, _ in view.levels] == ["commune", "branch"]
    assert (by_level["commune"].arrived, by_level["commune"].registered,
            by_level["commune"].assigned) == (3, 1, 1)
    assert (by_level["branch"].arrived, by_level["branch"].registered,
            by_level["branch"].done) == (2, 1, 1)
    assert all(c.overdue == 0 for _, c in view.levels)
    # The issuer's direct recipients, each with its subtree; then drill into P01.X1.
    top = {e.unit_code: e for e in view.children}
    assert set(top) == {"P01.X1", "P01.X2", "P01.X3"} and view.parent is None
    assert (top["P01.X1"].subtree.arrived, top["P01.X1"].subtree.done) == (3, 1)
    assert top["P01.X2"].subtree.arrived == 1
    down = svc.queries.cascade(org.clerk, doc_id, "P01.X1")
    assert {e.unit_code: e.via_unit for e in down.children} == {"P01.X1.B1": "P01.X1",
                                                                 "P01.X1.B2": "P01.X1"}

    # A commune sees its own entry and its subtree; another province's auditor nothing.
    mine = svc.queries.cascade(org.commune_clerk, doc_id)
    assert [e.unit_code for e in mine.children] == ["P01.X1"]
    assert sum(c.arrived for _, c in mine.levels) == 3
    with pytest.raises(NotFound):
        svc.queries.cascade(org.other_province_auditor, doc_id)

    # After the reply date, every open entry counts as overdue; done and returned do not.
    clock.at += timedelta(days=8)
    late = dict(svc.queries.cascade(org.clerk, doc_id).levels)
    assert (late["commune"].overdue, late["branch"].overdue) == (3, 1)


def test_the_api_forwards_and_shows_the_cascade(
        world: tuple[Services, Org, Clock, dict[str, Actor]]) -> None:
    svc, org, clock, _people = world
    doc_id = dispatched(svc, org, clock)
    client = create_app(svc).test_client()

    def login(username: str) -> dict[str, str]:
        made = client.post("/api/v1/session", json={"username": username,
                                                    "password": PASSWORD})
        return {"X-CSRF-Token": made.json["csrf_token"]}  # type: ignore[index]

    commune = login("x1clerk")
    x1 = entry_of(svc, org.commune_clerk, doc_id)
    client.post(f"/api/v1/receipts/{x1}/register", headers=commune)
    sent = client.post(f"/api/v1/receipts/{x1}/forward", headers=commune,
                       json={"units": ["P01.X1.B1", "P01.X1.B2"]})
    assert sent.status_code == 202, sent.json
    svc.queue.join()  # type: ignore[attr-defined]
    client.delete("/api/v1/session", headers=commune)
    login("clerk")
    tree = client.get(f"/api/v1/documents/{doc_id}/cascade").json
    assert [c["level"] for c in tree["levels"]] == ["commune", "branch"]  # type: ignore[index]
    x1_row = next(c for c in tree["children"] if c["unit_code"] == "P01.X1")  # type: ignore[index]
    assert x1_row["subtree"]["arrived"] == 3
    down = client.get(f"/api/v1/documents/{doc_id}/cascade?unit=P01.X1").json
    assert sorted(c["unit_code"] for c in down["children"]) == [  # type: ignore[index]
        "P01.X1.B1", "P01.X1.B2"]
