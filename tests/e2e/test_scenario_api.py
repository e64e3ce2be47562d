"""Issue 4's scenario through the API, on PostgreSQL, Redis (a real RQ worker) and S3: a
province directive cascades to communes and branches with assignments; one commune returns
it; a commune is merged into another, which finishes its open work; a report request has one
late unit and is compiled; reminders go out; the directive is recalled and the copies answer.
Signatures are made with the test keys beside the API (over HTTP they need a token)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from docflow.bootstrap import Services, bootstrap
from docflow.calendars import load_calendar
from docflow.config import Settings
from docflow.domain.org import Actor, Level
from docflow.domain.signatures import SignatureKind
from docflow.services.org import OrgImport, UnitRow, UserRow
from docflow.web import create_app
from tests.clock import Clock
from tests.conftest import ORIGIN, PASSWORD, Org, seed_org
from tests.e2e.conftest import wait_until
from tests.keys import test_keys
from tests.pdfs import good_pdf

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")



@pytest.fixture
def world(production_env: dict[str, str], worker: subprocess.Popen[bytes]
          ) -> Iterator[tuple[Services, Flask, Clock]]:
    clock = Clock()
    services = bootstrap(Settings.from_env(production_env), clock=clock)
    app = create_app(services)
    app.testing = True
    try:
        yield services, app, clock
    finally:
        services.close()


class Session:
    def __init__(self, client: FlaskClient, username: str) -> None:
        self.client = client
        login = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.json
        csrf = {"X-CSRF-Token": login.json["csrf_token"]}
        made = client.post("/api/v1/tokens", json={"name": "e2e"}, headers=csrf)
        self.headers = {"Authorization": f"Bearer {made.json['token']}"}
        client.delete("/api/v1/session", headers=csrf)  # the next person logs in afresh

    def call(self, method: str, url: str, ok: int = 200, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        answer = self.client.open(url, method=method, headers=headers, **kw)
        assert answer.status_code == ok, (url, answer.status_code, answer.json)
        return answer.json if answer.is_json else answer.data

    def get(self, url: str, **kw: Any) -> Any:
        return self.call("GET", url, **kw)

    def post(self, url: str, ok: int = 200, **kw: Any) -> Any:
        return self.call("POST", url, ok, **kw)


def issued(svc: Services, drafter: Session, leader: Session, clerk: Session,
           leader_actor: Actor, clerk_actor: Actor, doc_type: str, abstract: str) -> str:
    """Draft, review, approve, sign, number and seal: the steps over the API."""
    doc_id = drafter.post("/api/v1/documents", 201, json={"type": doc_type,
                                                          "abstract": abstract})["id"]
    drafter.call("PUT", f"/api/v1/documents/{doc_id}/main", 201, data=good_pdf(),
                 headers={"Content-Type": "application/pdf"})
    drafter.post(f"/api/v1/documents/{doc_id}/submit")
    leader.post(f"/api/v1/documents/{doc_id}/pass")
    leader.post(f"/api/v1/documents/{doc_id}/approve")
    keys = test_keys()
    svc.signatures.sign(leader_actor, doc_id, SignatureKind.LEADER, keys.leader, ORIGIN,
                        position="CHỦ TỊCH")
    clerk.post(f"/api/v1/documents/{doc_id}/number")
    svc.signatures.sign(clerk_actor, doc_id, SignatureKind.SEAL, keys.seal, ORIGIN)
    assert clerk.get(f"/api/v1/documents/{doc_id}")["status"] == "issued"
    return str(doc_id)


def entry(who: Session, doc_id: str) -> str:
    return str(next(i["receipt_id"] for i in who.get("/api/v1/inbox")["items"]
                    if i["document_id"] == doc_id))


def test_province_communes_branches_with_a_merger(world: tuple[Services, Flask, Clock]
                                                 ) -> None:
    svc, app, clock = world
    org: Org = seed_org(svc)
    svc.org.import_org(OrgImport(
        levels=[Level("branch", "Chi hội", 3)],
        units=[UnitRow("e2e", "P01.X1.B1", "Chi hội Một", "CH1", "branch", "P01.X1"),
               UnitRow("e2e", "P01.X1.B2", "Chi hội Hai", "CH2", "branch", "P01.X1")],
        users=[UserRow("e2e", "b1clerk", "Văn thư chi hội", "P01.X1.B1", "clerk"),
               UserRow("e2e", "x3clerk", "Văn thư xã Ba", "P01.X3", "clerk"),
               UserRow("e2e", "x3leader", "Chủ tịch xã Ba", "P01.X3", "leader"),
               UserRow("e2e", "padmin", "Quản trị tỉnh", "P01", "admin")]), ORIGIN)
    for name in ("b1clerk", "x3clerk", "x3leader", "padmin"):
        svc.identity.set_password(name, PASSWORD, ORIGIN)
    client = app.test_client()
    officer, leader, clerk = (Session(client, u) for u in ("officer", "leader", "clerk"))
    x1, x1_leader, x2, x3, x3_leader, b1, admin = (
        Session(client, u) for u in ("x1clerk", "x1leader", "x2clerk", "x3clerk", "x3leader",
                                     "b1clerk", "padmin"))

    # The province issues a directive to its communes.
    doc_id = issued(svc, officer, leader, clerk, org.leader, org.clerk, "CT",
                    "Về việc phòng chống bão lũ năm 2027")
    clerk.post(f"/api/v1/documents/{doc_id}/dispatches", 202,
               json={"level": "commune", "under": "P01"})
    wait_until(lambda: clerk.get(f"/api/v1/documents/{doc_id}/recipients")["total"] == 3)

    # Commune 1: registered, assigned in working days, passed down to its branches.
    x1_entry = entry(x1, doc_id)
    x1.post(f"/api/v1/receipts/{x1_entry}/register")
    x1_leader.post(f"/api/v1/receipts/{x1_entry}/assign", 201, json={
        "annotation": "Giao văn thư triển khai tới chi hội", "lead": "x1clerk",
        "working_days": 5})
    x1.post(f"/api/v1/receipts/{x1_entry}/forward", 202, json={"level": "branch",
                                                             "under": "P01.X1"})
    wait_until(lambda: any(i["document_id"] == doc_id
                           for i in b1.get("/api/v1/inbox")["items"]))
    b1.post(f"/api/v1/receipts/{entry(b1, doc_id)}/register")
    handled = x1.post(f"/api/v1/receipts/{x1_entry}/progress", 201,
                      json={"text": "Đã chuyển hai chi hội"})
    assert (handled["assignment"]["lead"], handled["assignment"]["assigned_by"],
            handled["progress"][0]["author"]) == ("x1clerk", "x1leader", "x1clerk")
    assert [n["kind"] for n in x1.get("/api/v1/notifications")["items"]] == ["assigned"]

    # Commune 3 returns it, with its reason; commune 2 registers it and is then merged.
    x3.post(f"/api/v1/receipts/{entry(x3, doc_id)}/return",
            json={"reason": "Gửi nhầm đơn vị"})
    x2_entry = entry(x2, doc_id)
    x2.post(f"/api/v1/receipts/{x2_entry}/register")

    # A report request to the three communes, due today.
    today = clock.at.astimezone(ZONE).date()
    asked = leader.post("/api/v1/report-requests", 201, json={
        "unit_code": "P01", "title": "Báo cáo tình hình mưa bão", "deadline": today.isoformat(),
        "level": "commune", "under": "P01"})
    x1_report = issued(svc, x1_leader, x1_leader, x1, org.commune_leader, org.commune_clerk,
                       "BC", "Báo cáo xã Một")
    x1.post(f"/api/v1/report-requests/{asked['id']}/submissions", 201,
            json={"unit_code": "P01.X1", "document_id": x1_report})

    # 1 July: commune 2 is merged into commune 1 (the 2025 reform).
    merged = admin.post("/api/v1/units/merge", json={"units": ["P01.X2"], "into": "P01.X1",
                                                      "on": today.isoformat()})
    assert merged["reports_moved"] == 1  # its owed report: commune 1 is asked already
    inbox = {i["receipt_id"] for i in x1.get("/api/v1/inbox")["items"]}
    assert x2_entry in inbox  # the successor holds the merged commune's open entry
    x1.post(f"/api/v1/receipts/{x2_entry}/complete")
    assert x1.get(f"/api/v1/receipts/{x2_entry}")["unit_code"] == "P01.X2"  # history stays

    # Two days later commune 3 sends its report, late; the reminder job had chased it.
    clock.at += timedelta(days=2)
    while not load_calendar().is_working_day(clock.at.astimezone(ZONE).date()):
        clock.at += timedelta(days=1)
    svc.notifications.remind()
    assert "report_due" in [n["kind"] for n in x3.get("/api/v1/notifications")["items"]]
    x3_report = issued(svc, x3_leader, x3_leader, x3,
                       _actor(svc, "x3leader"), _actor(svc, "x3clerk"), "BC", "Báo cáo xã Ba")
    done = x3.post(f"/api/v1/report-requests/{asked['id']}/submissions", 201,
                   json={"unit_code": "P01.X3", "document_id": x3_report})
    assert (done["pending"], done["late"]) == ([], ["P01.X3"])
    pdf = leader.get(f"/api/v1/report-requests/{asked['id']}/compilation.pdf")
    outline = [o.title for o in PdfReader(io.BytesIO(pdf)).outline]
    assert outline[0] == "Tổng hợp" and len(outline) == 3

    # The province follows the tree, then recalls the directive; the copies answer.
    tree = clerk.get(f"/api/v1/documents/{doc_id}/cascade")
    assert {lv["level"]: lv["arrived"] for lv in tree["levels"]} == {"commune": 3, "branch": 2}
    assert clerk.post(f"/api/v1/documents/{doc_id}/recall",
                      json={"reason": "Ban hành văn bản thay thế"})["copies_asked"] >= 3
    x1_leader.post(f"/api/v1/receipts/{x1_entry}/recall", json={"agree": True})
    x1.post(f"/api/v1/receipts/{x2_entry}/recall",  # the merged commune's copy: its successor
            json={"agree": False, "reason": "Đã triển khai xong"})
    statuses = {r["unit_code"]: r for r in clerk.get(
        f"/api/v1/documents/{doc_id}/recipients")["items"]}
    assert statuses["P01.X1"]["recall"] == "agreed"
    assert statuses["P01.X2"]["recall"] == "refused"
    assert statuses["P01.X3"]["status"] == "returned"


def _actor(svc: Services, username: str) -> Actor:
    found = svc.identity.actor_by_username(username)
    assert found is not None
    return found
