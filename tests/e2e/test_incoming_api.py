"""A clerk brings in a scanned paper document through the API (multipart upload with typed
metadata), on PostgreSQL, Redis and S3: it waits in the inbox with its signature check, the
same document again is pointed out as a duplicate, and both reach the incoming register."""

from __future__ import annotations

import io
import json

from flask.testing import FlaskClient

from tests.conftest import Org
from tests.e2e.conftest import wait_until
from tests.e2e.test_round_trip_api import Session
from tests.pdfs import good_pdf

METADATA = {"type": "CV", "abstract": "Về việc góp ý dự thảo luật", "issuer": "Bộ Tư pháp",
            "issuer_code": "000.00.00.G19", "symbol": "2310/BTP-VĐCXDPL",
            "issued_on": "2026-11-10", "channel": "paper", "reply_due": "2026-12-30"}


def upload(clerk: Session, metadata: dict[str, object], pdf: bytes) -> object:
    return clerk.post("/api/v1/incoming", data={
        "metadata": json.dumps(metadata, ensure_ascii=False),
        "file": (io.BytesIO(pdf), "cong-van.pdf", "application/pdf")},
        content_type="multipart/form-data")


def test_a_scanned_document_joins_the_register(client: FlaskClient, people: Org) -> None:
    clerk = Session(client, "clerk")
    made = upload(clerk, METADATA, good_pdf("SCAN"))
    assert made.status_code == 201, made.json  # type: ignore[attr-defined]
    entry = made.json  # type: ignore[attr-defined]
    assert (entry["status"], entry["duplicates"]) == ("delivered", [])
    assert entry["deadline"] == "2026-12-30"
    wait_until(lambda: clerk.get(f"/api/v1/receipts/{entry['id']}").json["validation"])
    body = clerk.get(f"/api/v1/receipts/{entry['id']}").json
    assert body["validation"]["verdict"] == "NO_SIGNATURE"
    doc = clerk.get(f"/api/v1/documents/{entry['document_id']}").json
    assert (doc["status"], doc["channel"], doc["issuer_name"], doc["actions"]) == (
        "external", "paper", "Bộ Tư pháp", [])
    assert clerk.post(f"/api/v1/receipts/{entry['id']}/register").status_code == 200

    again = upload(clerk, {**METADATA, "channel": "email"}, good_pdf("EMAIL")).json  # type: ignore[attr-defined]
    assert [d["why"] for d in again["duplicates"]] == ["the same identifier"]
    assert again["duplicates"][0]["receipt_id"] == entry["id"]
    shown = clerk.get(f"/api/v1/receipts/{again['id']}").json["duplicates"]
    assert [d["arrival_number"] for d in shown] == [1]

    found = clerk.get("/api/v1/registers/incoming", query_string={"q": "bo tu phap"}).json
    assert [i["symbol"] for i in found["items"]] == ["2310/BTP-VĐCXDPL"]


def test_bad_uploads_are_named(client: FlaskClient, people: Org) -> None:
    clerk = Session(client, "clerk")
    missing = clerk.post("/api/v1/incoming", data={"metadata": "{}"},
                         content_type="multipart/form-data")
    assert missing.status_code == 422 and "multipart" in missing.json["detail"]
    bad = upload(clerk, {**METADATA, "issued_on": "2099-01-01", "issuer": ""}, good_pdf())
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert any("future" in e for e in bad.json["errors"])  # type: ignore[attr-defined]
    officer = Session(client, "officer")
    assert upload(officer, METADATA, good_pdf()).status_code == 403  # type: ignore[attr-defined]
    assert clerk.get("/api/v1/inbox").json["items"] == []
