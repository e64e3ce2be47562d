"""Across levels through the API, with the real RQ worker, on PostgreSQL, Redis and S3: a
province directive goes to its communes; one commune's leader assigns it and its clerk passes
it down to the branches, another commune returns it; the province follows the cascade, searches
its registers without diacritics, and asks a commune's opinion on its next draft."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from docflow.bootstrap import Services
from docflow.domain.org import Level
from docflow.services.org import OrgImport, UnitRow, UserRow
from tests.conftest import ORIGIN, PASSWORD, Org
from tests.e2e.conftest import wait_until
from tests.e2e.test_round_trip_api import Session, draft, issue
from tests.pdfs import good_pdf


def test_province_communes_branches(client: FlaskClient, people: Org,
                                    stack: tuple[Services, Flask]) -> None:
    svc = stack[0]
    svc.org.import_org(OrgImport(
        levels=[Level("branch", "Chi hội", 3)],
        units=[UnitRow("e2e", "P01.X1.B1", "Chi hội Một", "CH1", "branch", "P01.X1"),
               UnitRow("e2e", "P01.X1.B2", "Chi hội Hai", "CH2", "branch", "P01.X1")],
        users=[UserRow("e2e", "b1clerk", "Văn thư chi hội", "P01.X1.B1", "clerk")]), ORIGIN)
    svc.identity.set_password("b1clerk", PASSWORD, ORIGIN)
    officer, leader, clerk = (Session(client, u) for u in ("officer", "leader", "clerk"))
    x1, x1_leader, x2, b1 = (Session(client, u)
                             for u in ("x1clerk", "x1leader", "x2clerk", "b1clerk"))

    doc_id = draft(officer, abstract="Về việc phòng chống bão lũ năm 2027").json["id"]
    officer.put(f"/api/v1/documents/{doc_id}/main", data=good_pdf(),
                headers={"Content-Type": "application/pdf"})
    assert issue(svc, people, officer, leader, clerk, doc_id)["status"] == "issued"
    clerk.post(f"/api/v1/documents/{doc_id}/dispatches", json={"level": "commune",
                                                               "under": "P01"})
    wait_until(lambda: clerk.get(f"/api/v1/documents/{doc_id}/recipients").json["total"] == 3)

    def entry(who: Session) -> str:
        return str(next(i["receipt_id"] for i in who.get("/api/v1/inbox").json["items"]
                        if i["document_id"] == doc_id))

    # Commune 1: registered, assigned by its leader, passed down to its branches.
    x1_entry = entry(x1)
    x1.post(f"/api/v1/receipts/{x1_entry}/register")
    deadline = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
    assigned = x1_leader.post(f"/api/v1/receipts/{x1_entry}/assign", json={
        "annotation": "Giao văn thư chuyển các chi hội", "lead": "x1clerk",
        "deadline": deadline})
    assert assigned.status_code == 201 and assigned.json["edxml_status"] == "04", assigned.json
    down = x1.post(f"/api/v1/receipts/{x1_entry}/forward", json={"level": "branch",
                                                                 "under": "P01.X1"})
    assert down.status_code == 202, down.json
    wait_until(lambda: any(i["document_id"] == doc_id
                           for i in b1.get("/api/v1/inbox").json["items"]))
    b1.post(f"/api/v1/receipts/{entry(b1)}/register")
    # Commune 2 returns it.
    returned = x2.post(f"/api/v1/receipts/{entry(x2)}/return", json={"reason": "Gửi nhầm"})
    assert returned.json["edxml_status"] == "02"

    # The province follows the cascade and drills into commune 1.
    tree = clerk.get(f"/api/v1/documents/{doc_id}/cascade").json
    levels = {c["level"]: c for c in tree["levels"]}
    assert (levels["commune"]["arrived"], levels["commune"]["registered"],
            levels["commune"]["assigned"], levels["commune"]["returned"]) == (3, 1, 1, 1)
    assert (levels["branch"]["arrived"], levels["branch"]["registered"]) == (2, 1)
    x1_row = next(c for c in tree["children"] if c["unit_code"] == "P01.X1")
    assert x1_row["subtree"]["arrived"] == 3
    drill = clerk.get(f"/api/v1/documents/{doc_id}/cascade?unit=P01.X1").json
    assert sorted(c["unit_code"] for c in drill["children"]) == ["P01.X1.B1", "P01.X1.B2"]

    # Registers on PostgreSQL, without diacritics.
    found = clerk.get("/api/v1/registers/outgoing?q=bao%20lu").json["items"]
    assert [r["document_id"] for r in found] == [doc_id]
    incoming = x1.get("/api/v1/registers/incoming?q=hoi%20lhpn%20tinh%20mot").json["items"]
    assert [r["document_id"] for r in incoming] == [doc_id]

    # The next draft: the province asks commune 1's leader for an opinion.
    next_draft = draft(officer, abstract="Dự thảo kế hoạch năm 2028").json["id"]
    asked = officer.post(f"/api/v1/documents/{next_draft}/consultations", json={
        "question": "Góp ý dự thảo", "participants": ["x1leader"]})
    assert asked.status_code == 201, asked.json
    answered = x1_leader.post(f"/api/v1/consultations/{asked.json['id']}/answers",
                              json={"answer": "agree", "comment": "Nhất trí"})
    assert answered.json["status"] == "answered"
    assert x1_leader.get(f"/api/v1/documents/{next_draft}").status_code == 200
    assert b1.get(f"/api/v1/documents/{next_draft}").status_code == 404
