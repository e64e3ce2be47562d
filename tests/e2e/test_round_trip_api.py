"""The HTTP API with a real RQ worker, on PostgreSQL, Redis and S3: the round trip and the
refusals a user meets."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient

from docflow.bootstrap import Services
from docflow.domain.org import Actor
from docflow.domain.signatures import SignatureKind
from tests.conftest import ORIGIN, PASSWORD, Org
from tests.e2e.conftest import children, command_line, wait_until
from tests.keys import test_keys
from tests.pdfs import good_pdf


@pytest.fixture
def production_env(production_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The production shape, trusting the CA of the test keys the documents are signed with
    (web and worker: intake validates what arrives against it)."""
    anchor = tmp_path / "trust-anchor.pem"
    anchor.write_bytes(test_keys().ca.public_bytes(Encoding.PEM))
    return {**production_env, "DOCFLOW_TRUST_ANCHORS": str(anchor)}


def zygotes_of(pid: int) -> list[int]:
    """The validating zygotes `pid` started."""
    return [c for c in sorted(children(pid))
            if "docflow.signing.isolation" in command_line(c)]


class Session:
    """One person's browser-less API session, by bearer token."""

    def __init__(self, client: FlaskClient, username: str) -> None:
        self.client = client
        login = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.json
        csrf = login.json["csrf_token"]
        made = client.post("/api/v1/tokens", json={"name": "e2e"},
                           headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.json
        self.headers = {"Authorization": f"Bearer {made.json['token']}"}
        client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self.headers, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)


def draft(officer: Session, **body: Any) -> Any:
    return officer.post("/api/v1/documents", json={
        "type": "CT", "abstract": "Về việc triển khai công tác năm 2027", "urgency": "khan",
        **body})


def sign(svc: Services, signer: Actor, doc_id: str, kind: SignatureKind) -> None:
    """The leader's signature or the seal, made with the test keys through the service layer
    (over HTTP a signature takes a remote token or a seal the server holds; these tests have
    neither)."""
    keys = test_keys()
    if kind is SignatureKind.LEADER:
        svc.signatures.sign(signer, doc_id, kind, keys.leader, ORIGIN, position="CHỦ TỊCH")
    else:
        svc.signatures.sign(signer, doc_id, kind, keys.seal, ORIGIN)


def issue(svc: Services, people: Org, officer: Session, leader: Session, clerk: Session,
          doc_id: str) -> Any:
    """Outgoing v2 from draft to issued: the steps over the API, the signatures beside it;
    the issued document as the API shows it."""
    for who, step in ((officer, "submit"), (leader, "pass"), (leader, "approve")):
        moved = who.post(f"/api/v1/documents/{doc_id}/{step}")
        assert moved.status_code == 200, moved.json
    sign(svc, people.leader, doc_id, SignatureKind.LEADER)
    assert clerk.post(f"/api/v1/documents/{doc_id}/number").status_code == 200
    sign(svc, people.clerk, doc_id, SignatureKind.SEAL)
    return clerk.get(f"/api/v1/documents/{doc_id}").json


def test_a_directive_goes_down_to_the_communes_and_its_status_comes_back(
    client: FlaskClient, people: Org, stack: tuple[Services, Flask],
    worker: subprocess.Popen[bytes]
) -> None:
    officer, leader, clerk = (Session(client, u) for u in ("officer", "leader", "clerk"))
    x1, x2 = Session(client, "x1clerk"), Session(client, "x2clerk")

    made = draft(officer)
    assert made.status_code == 201, made.json
    doc_id = made.json["id"]
    up = officer.put(f"/api/v1/documents/{doc_id}/main?filename=chi-thi.pdf", data=good_pdf(),
                     headers={"Content-Type": "application/pdf"})
    assert up.status_code == 201 and up.json["page_count"] == 1
    svc = stack[0]
    assert officer.post(f"/api/v1/documents/{doc_id}/submit").json["status"] == "review"
    assert leader.post(f"/api/v1/documents/{doc_id}/pass").json["status"] == "submitted"
    approved = leader.post(f"/api/v1/documents/{doc_id}/approve")
    assert approved.json["status"] == "approved"
    sign(svc, people.leader, doc_id, SignatureKind.LEADER)
    assert clerk.get(f"/api/v1/documents/{doc_id}").json["status"] == "signed"
    numbered = clerk.post(f"/api/v1/documents/{doc_id}/number")
    assert (numbered.json["status"], numbered.json["symbol"]) == ("numbered", "01/CT-HPN")
    sign(svc, people.clerk, doc_id, SignatureKind.SEAL)
    issued = clerk.get(f"/api/v1/documents/{doc_id}")
    assert (issued.json["status"], issued.json["symbol"]) == ("issued", "01/CT-HPN")
    # The worker started its validating zygote; a warm spare waits in it.
    wait_until(lambda: len(zygotes_of(worker.pid)) == 1 and children(zygotes_of(worker.pid)[0]))
    zygote = zygotes_of(worker.pid)[0]
    spare = children(zygote)
    sent = clerk.post(f"/api/v1/documents/{doc_id}/dispatches",
                      json={"level": "commune", "under": "P01"})
    assert sent.status_code == 202 and sent.json["status"] == "pending"

    # The real worker process creates the incoming entries.
    wait_until(lambda: clerk.get(f"/api/v1/documents/{doc_id}/recipients").json["total"] == 3)
    inbox = x1.get("/api/v1/inbox").json["items"]
    assert [(i["symbol"], i["status"]) for i in inbox] == [("01/CT-HPN", "delivered")]
    receipt_id = inbox[0]["receipt_id"]
    assert x1.get(f"/api/v1/receipts/{receipt_id}").json["actions"] == ["register", "return"]
    # Intake validated the file the worker received (signed and sealed) for the clerk to read.
    wait_until(lambda: x1.get(f"/api/v1/receipts/{receipt_id}").json["validation"] is not None)
    assert x1.get(f"/api/v1/receipts/{receipt_id}").json["validation"]["verdict"] == "VALID"
    # The job's work horse (a fork) validated through the worker's zygote, rather than
    # starting a zygote of its own (~1 s a job): the zygote forked a new spare when the
    # job took the one that waited.
    wait_until(lambda: not children(zygote) <= spare)
    assert zygotes_of(worker.pid) == [zygote]
    registered = x1.post(f"/api/v1/receipts/{receipt_id}/register").json
    assert (registered["arrival_number"], registered["edxml_status"]) == (1, "03")
    assert x1.post(f"/api/v1/receipts/{receipt_id}/complete").json["status"] == "done"
    x2_receipt = x2.get("/api/v1/inbox").json["items"][0]["receipt_id"]
    returned = x2.post(f"/api/v1/receipts/{x2_receipt}/return", json={"reason": "Gửi nhầm"})
    assert returned.json["edxml_status"] == "02"

    status = officer.get(f"/api/v1/documents/{doc_id}/recipients").json
    assert status["counts"] == {"delivered": 1, "done": 1, "returned": 1}

    # The file comes back from S3, byte for byte, through the app (no public endpoint set):
    # the one uploaded, and the sealed one whose hash the dispatch recorded.
    revisions = sorted(officer.get(f"/api/v1/documents/{doc_id}").json["revisions"],
                       key=lambda r: r["seq"])
    got = x1.get(f"/api/v1/documents/{doc_id}/revisions/{revisions[0]['id']}/content?inline=1")
    assert got.status_code == 200 and got.data == good_pdf()
    sealed = revisions[-1]
    got = x1.get(f"/api/v1/documents/{doc_id}/revisions/{sealed['id']}/content?inline=1")
    assert got.status_code == 200 and hashlib.sha256(got.data).hexdigest() == sealed["sha256"]


def test_refusals_say_why_and_leak_nothing(client: FlaskClient, people: Org,
                                          stack: tuple[Services, Flask]) -> None:
    officer, leader, clerk = (Session(client, u) for u in ("officer", "leader", "clerk"))
    outsider = Session(client, "x1clerk")
    doc_id = draft(officer).json["id"]

    def problem(response: Any, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.json
        assert response.mimetype == "application/problem+json"
        return dict(response.json)

    # Wrong unit: 404, the same answer as for a document that does not exist.
    assert problem(outsider.get(f"/api/v1/documents/{doc_id}"), 404)["detail"] \
        == problem(outsider.get("/api/v1/documents/00000000-0000-4000-8000-000000000000"),
                   404)["detail"]
    # Bad PDF, oversize upload.
    bad = officer.put(f"/api/v1/documents/{doc_id}/main", data=b"<html>not a pdf</html>",
                      headers={"Content-Type": "application/pdf"})
    assert problem(bad, 422)["type"].endswith("/bad-file")
    huge = officer.put(f"/api/v1/documents/{doc_id}/main",
                       data=b"%PDF-1.7\n" + b"0" * (3 << 20),
                       headers={"Content-Type": "application/pdf"})
    assert problem(huge, 413)["type"].endswith("/too-large")
    # Wrong role: an officer cannot pass the review or approve.
    officer.put(f"/api/v1/documents/{doc_id}/main", data=good_pdf(),
                headers={"Content-Type": "application/pdf"})
    officer.post(f"/api/v1/documents/{doc_id}/submit")
    assert "leader" in problem(officer.post(f"/api/v1/documents/{doc_id}/pass"), 403)["detail"]
    leader.post(f"/api/v1/documents/{doc_id}/pass")
    assert "leader" in problem(officer.post(f"/api/v1/documents/{doc_id}/approve"), 403)["detail"]
    leader.post(f"/api/v1/documents/{doc_id}/approve")
    # Not yet signed: no number; v1's one-step issue is gone.
    problem(clerk.post(f"/api/v1/documents/{doc_id}/number"), 409)
    problem(clerk.post(f"/api/v1/documents/{doc_id}/issue"), 409)
    sign(stack[0], people.leader, doc_id, SignatureKind.LEADER)
    assert clerk.post(f"/api/v1/documents/{doc_id}/number").status_code == 200
    # Duplicate number.
    problem(clerk.post(f"/api/v1/documents/{doc_id}/number"), 409)
    # Classified document.
    assert "state-secret" in problem(draft(officer, confidentiality="mat"), 422)["detail"]
    # Bad input, with every problem listed.
    assert len(problem(draft(officer, type="XX", abstract=""), 422)["errors"]) == 2
    # No credentials.
    assert client.get("/api/v1/me").status_code == 401


def test_browser_sessions_need_the_csrf_token(client: FlaskClient, people: Org) -> None:
    login = client.post("/api/v1/session", json={"username": "officer", "password": PASSWORD})
    body = {"type": "CT", "abstract": "Về việc"}
    assert client.post("/api/v1/documents", json=body).status_code == 403
    ok = client.post("/api/v1/documents", json=body,
                     headers={"X-CSRF-Token": login.json["csrf_token"]})
    assert ok.status_code == 201


def test_health_and_readiness_check_every_dependency(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "blobs": "ok", "queue": "ok"}


def test_the_openapi_document_describes_every_api_route(client: FlaskClient,
                                                        stack: tuple[Services, Flask]) -> None:
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    app = stack[1]
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = rule.rule.removeprefix("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            if "<any(" in path:
                head, _, tail = path.partition("<any(")
                choices, _, rest = tail.partition("):")
                rest = rest.split(">", 1)[1]
                paths = [head + c.strip() + rest for c in choices.split(",")]
            else:
                paths = [path]
            for p in paths:
                templated = p.replace("<", "{").replace(">", "}")
                assert (templated, method.lower()) in described, (templated, method)
