"""A clerk seals a queue of documents with the seal the server holds, through the API, each
document a job of the real RQ worker, on PostgreSQL, Redis and S3."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from flask import Flask
from flask.testing import FlaskClient

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.signatures import SignatureKind
from docflow.signing.appearance import demo_seal_png
from docflow.signing.keys import PadesKey
from docflow.signing.pki import PkiFiles, init_pki
from docflow.signing.signers import load_pkcs12
from docflow.signing.validation import Verdict, validate_pdf
from tests.conftest import ORIGIN, Org, approve
from tests.e2e.conftest import wait_until
from tests.e2e.test_round_trip_api import Session
from tests.pdfs import good_pdf

PASS = "seal-batch-passphrase"


@pytest.fixture
def pki_files(tmp_path: Path) -> PkiFiles:
    files = init_pki(tmp_path / "pki", passphrase=PASS.encode(), now=datetime.now(UTC))
    (tmp_path / "pki" / "passphrase").write_text(PASS)
    (tmp_path / "pki" / "seal.png").write_bytes(demo_seal_png())
    (tmp_path / "pki" / "seals.toml").write_text(
        '[units.P01]\npkcs12 = "seal.p12"\npassphrase_file = "passphrase"\nimage = "seal.png"\n')
    return files


@pytest.fixture
def production_env(production_env: dict[str, str], pki_files: PkiFiles) -> dict[str, str]:
    """The production shape, with the province's seal held by the server (web and worker)."""
    return {**production_env, "DOCFLOW_SEAL_KEYS": str(pki_files.directory / "seals.toml")}


def leader_signed_and_numbered(svc: Services, org: Org, key: PadesKey) -> str:
    """What the clerk seals: approved, signed by the leader, numbered."""
    doc = svc.documents.draft(org.officer, DraftSpec("QĐ", "Về việc đóng dấu hàng loạt"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "qd.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    svc.signatures.sign(org.leader, doc.id, SignatureKind.LEADER, key, ORIGIN,
                        position="CHỦ TỊCH")
    svc.documents.number(org.clerk, doc.id, ORIGIN)
    return doc.id


def test_a_clerk_seals_a_queue_one_job_each(stack: tuple[Services, Flask], people: Org,
                                            client: FlaskClient, pki_files: PkiFiles) -> None:
    svc = stack[0]
    leader_key = PadesKey(load_pkcs12(pki_files.leader_p12, PASS.encode()))
    ready = [leader_signed_and_numbered(svc, people, leader_key) for _ in range(3)]
    not_signed = svc.documents.draft(people.officer, DraftSpec("CV", "Chưa ký"), ORIGIN).id
    clerk, officer = Session(client, "clerk"), Session(client, "officer")

    wrong_role = officer.post("/api/v1/seal-batches", json={"documents": ready})
    assert wrong_role.status_code == 202
    started = clerk.post("/api/v1/seal-batches", json={"documents": [*ready, not_signed]})
    assert started.status_code == 202, started.json
    batch_id = started.json["id"]

    def progress(who: Session, batch: str) -> dict[str, object]:
        return dict(who.get(f"/api/v1/signing-batches/{batch}").json)

    def finished() -> bool:
        return all(progress(who, batch)["counts"].get("queued", 0) == 0  # type: ignore[attr-defined]
                   for who, batch in ((clerk, batch_id), (officer, wrong_role.json["id"])))

    wait_until(finished, timeout=60)
    done = progress(clerk, batch_id)
    assert done["counts"] == {"signed": 3, "failed": 1}, done
    failed = next(i for i in done["items"] if i["document_id"] == not_signed)  # type: ignore[attr-defined]
    assert "after the leader's signature" in failed["error"]
    refused = progress(officer, wrong_role.json["id"])
    assert refused["counts"] == {"failed": 3}, refused
    assert all("clerk" in i["error"] for i in refused["items"])  # type: ignore[attr-defined]
    ca = x509.load_pem_x509_certificate(pki_files.ca_cert.read_bytes())
    for doc_id in ready:
        doc = clerk.get(f"/api/v1/documents/{doc_id}").json
        assert doc["status"] == "issued"  # the seal issues it
        newest = max((r for r in doc["revisions"] if r["kind"] == "main"),
                     key=lambda r: r["seq"])
        with clerk.get(f"/api/v1/documents/{doc_id}/revisions/{newest['id']}/content") as got:
            report = validate_pdf(got.data, trust_roots=[ca], isolate=False)
        assert report.verdict is Verdict.VALID, report.to_json()
        assert [s.field for s in report.signatures] == ["Leader", "Seal"]
