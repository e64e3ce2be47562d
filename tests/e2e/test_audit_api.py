"""Auditors at work over HTTP on the production shape (PostgreSQL, RQ worker, S3), and the
offline check of what they take away with the `docflow` command: the worker's sequencer puts
events in the log within seconds, the API serves the trail (JSON, CSV), proofs, heads and a
bundle, and `docflow audit verify` checks that bundle knowing nothing but the key."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from docflow.bootstrap import Services
from docflow.domain import merkle
from docflow.domain.audit import record_hash
from tests.conftest import Org, issued_document
from tests.e2e.conftest import DOCFLOW
from tests.e2e.test_round_trip_api import Session


def _verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCFLOW, "audit", "verify", str(bundle), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_an_auditor_queries_proves_and_exports_and_the_bundle_verifies_offline(
        stack: tuple[Services, Flask], client: FlaskClient, people: Org,
        tmp_path: Path) -> None:
    services = stack[0]
    doc_id = issued_document(services, people)
    auditor = Session(client, "auditor")

    # The worker's sequencer makes committed events leaves within 5 s, with no help.
    services.maintenance.start()
    deadline = time.monotonic() + 5
    with services.engine.connect() as conn:
        from sqlalchemy import text
        while conn.execute(text("SELECT count(*) FROM audit_pending")).scalar_one():
            assert time.monotonic() < deadline, "events not sequenced within 5 s"
            time.sleep(0.2)
            conn.rollback()

    trail = auditor.get(f"/api/v1/audit/events?document={doc_id}").json
    assert [e["seq"] for e in trail["items"]] == list(range(1, len(trail["items"]) + 1))
    signs = auditor.get("/api/v1/audit/events?action=document.sign&actor=leader").json
    assert len(signs["items"]) == 1 and signs["items"][0]["actor"] == "leader"
    page = auditor.get("/api/v1/audit/events?limit=3").json
    assert len(page["items"]) == 3 and page["next"] == page["items"][-1]["id"]
    more = auditor.get(f"/api/v1/audit/events?limit=3&after={page['next']}").json
    assert more["items"][0]["id"] > page["next"]

    sheet = auditor.get(f"/api/v1/audit/events?document={doc_id}&format=csv")
    assert sheet.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(sheet.data.decode("utf-8-sig"))))
    assert len(rows) == len(trail["items"]) and rows[0]["action"] == "document.create"

    event = trail["items"][3]
    proof = auditor.get(f"/api/v1/audit/events/{event['id']}/proof").json
    head = proof["tree_head"]
    merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"],
                            merkle.leaf_hash(record_hash(event)),
                            [bytes.fromhex(p) for p in proof["path"]],
                            bytes.fromhex(head["root"]))

    held = auditor.post("/api/v1/audit/tree-heads").json
    issued_document(services, people)
    newer = auditor.post("/api/v1/audit/tree-heads").json
    grown = auditor.get(f"/api/v1/audit/consistency?first={held['tree_size']}"
                        f"&second={newer['tree_size']}").json
    merkle.verify_consistency(held["tree_size"], newer["tree_size"],
                              bytes.fromhex(held["root"]), bytes.fromhex(newer["root"]),
                              [bytes.fromhex(p) for p in grown["path"]])

    key = auditor.get("/api/v1/audit/log-key")
    (tmp_path / "log.pem").write_bytes(key.data)
    (tmp_path / "held.json").write_text(json.dumps(held))
    bundle = auditor.post("/api/v1/audit/exports", json={"document": doc_id, "known": [held]})
    assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
    (tmp_path / "doc.zip").write_bytes(bundle.data)

    clean = _verify(tmp_path / "doc.zip", "--key", str(tmp_path / "log.pem"),
                    "--known-sth", str(tmp_path / "held.json"), "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["clean"] is True
    pinned = _verify(tmp_path / "doc.zip", "--fingerprint",
                     key.headers["X-Key-Fingerprint"])
    assert pinned.returncode == 0 and pinned.stdout.startswith("CLEAN"), pinned.stdout
    untrusted = _verify(tmp_path / "doc.zip")
    assert untrusted.returncode == 1 and "UNTRUSTED_KEY" in untrusted.stdout
    (tmp_path / "junk.zip").write_bytes(b"junk")
    assert _verify(tmp_path / "junk.zip").returncode == 2

    # The other province's auditor sees none of it; nobody else reads the trail at all.
    other = Session(client, "p2auditor")
    assert other.get(f"/api/v1/audit/events?document={doc_id}").json["items"] == []
    assert other.get(f"/api/v1/audit/events/{event['id']}/proof").status_code == 404
    assert other.post("/api/v1/audit/exports", json={"document": doc_id}).status_code == 404
    assert other.get("/api/v1/audit/events?unit=P01").status_code == 404
    assert Session(client, "clerk").get("/api/v1/audit/events").status_code == 403

    # And what the auditors asked is in the trail too.
    asked = auditor.get("/api/v1/audit/events?action=audit.query,audit.export").json["items"]
    assert {e["action"] for e in asked} == {"audit.query", "audit.export"}
    assert all(e["actor"] == "auditor" for e in asked)
