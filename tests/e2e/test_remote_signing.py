"""The interrupted flow over HTTP: the server prepares, the leader's token signs, the server
checks the value and completes; wrong values and late completions are refused clearly."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from flask.testing import FlaskClient

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.signatures import BatchItemStatus, SignatureKind
from docflow.signing.pki import PkiFiles, init_pki
from docflow.signing.validation import Verdict, validate_pdf
from docflow.web import create_app
from storage.queue.inprocess import InProcessQueue
from tests.clock import Clock
from tests.conftest import ORIGIN, PASSWORD, Org, approve, embedded_settings, seed_org
from tests.pdfs import good_pdf

PASS = b"token-passphrase"



@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Org, PkiFiles, Clock]]:
    files = init_pki(tmp_path / "pki", passphrase=PASS, now=datetime.now(UTC))
    clock = Clock()
    svc = bootstrap(embedded_settings(tmp_path / "var"), clock=clock, upgrade_embedded=True)
    yield svc, seed_org(svc), files, clock
    svc.close()


def token(files: PkiFiles) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """What the leader's USB token holds: the key never leaves it; the certificate does."""
    key, cert, _ = pkcs12.load_key_and_certificates(files.leader_p12.read_bytes(), PASS)
    assert isinstance(key, rsa.RSAPrivateKey) and cert is not None
    return key, cert


def approved(svc: Services, org: Org) -> str:
    doc = svc.documents.draft(org.officer, DraftSpec("QĐ", "Về việc ký từ xa"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "qd.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    return doc.id


def leader_client(svc: Services) -> tuple[FlaskClient, dict[str, str]]:
    client = create_app(svc).test_client()
    login = client.post("/api/v1/session", json={"username": "leader", "password": PASSWORD})
    return client, {"X-CSRF-Token": login.json["csrf_token"]}


def on_token(key: rsa.RSAPrivateKey, data_b64: str) -> str:
    """What the token agent does: sign the data to be signed, answer base64."""
    value = key.sign(base64.b64decode(data_b64), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(value).decode()


def complete(client: FlaskClient, headers: dict[str, str], session_id: str, value_b64: str
             ) -> Any:
    return client.post(f"/api/v1/signing-sessions/{session_id}", headers=headers,
                       json={"signature_value": value_b64})


def prepare(client: FlaskClient, headers: dict[str, str], doc_id: str, cert: x509.Certificate
            ) -> Any:
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return client.post(f"/api/v1/documents/{doc_id}/signing-sessions", headers=headers, json={
        "kind": "leader", "certificate": pem, "position": "CHỦ TỊCH", "authority": "TM."})


def test_prepare_sign_on_the_token_complete(
    world: tuple[Services, Org, PkiFiles, Clock]
) -> None:
    svc, org, files, _ = world
    doc_id = approved(svc, org)
    key, cert = token(files)
    client, headers = leader_client(svc)
    prepared = prepare(client, headers, doc_id, cert)
    assert prepared.status_code == 201, prepared.json
    value = on_token(key, prepared.json["data_to_be_signed"])
    done = complete(client, headers, prepared.json["id"], value)
    assert done.status_code == 201, done.json
    assert done.json["field"] == "Leader"
    again = complete(client, headers, prepared.json["id"], value)
    assert again.status_code == 409
    signed = svc.documents.view(org.leader, doc_id, ORIGIN)
    assert signed.status == "signed"  # the completed leader's signature moves it on (v2)
    main = signed.main_revision()
    assert main is not None and main.sha256 == done.json["result_sha256"]
    with svc.blobs.open(main.sha256) as f:
        report = validate_pdf(f.read(), isolate=False, trust_roots=[
            x509.load_pem_x509_certificate(files.ca_cert.read_bytes())])
    assert report.verdict is Verdict.VALID, report.to_json()
    assert report.signatures[0].authority == "TM."


def test_a_wrong_signature_value_is_refused_and_nothing_changes(
    world: tuple[Services, Org, PkiFiles, Clock]
) -> None:
    svc, org, files, _ = world
    doc_id = approved(svc, org)
    _, cert = token(files)
    client, headers = leader_client(svc)
    prepared = prepare(client, headers, doc_id, cert)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = complete(client, headers, prepared.json["id"],
                       on_token(other, prepared.json["data_to_be_signed"]))
    assert refused.status_code == 422
    assert "does not verify with the signer's certificate" in refused.json["detail"]
    unchanged = svc.documents.view(org.leader, doc_id, ORIGIN)
    assert (len(unchanged.revisions), unchanged.status) == (1, "approved")
    assert svc.signatures.signatures(org.leader, doc_id) == []


def test_a_late_completion_is_refused(world: tuple[Services, Org, PkiFiles, Clock]) -> None:
    svc, org, files, clock = world
    doc_id = approved(svc, org)
    key, cert = token(files)
    client, headers = leader_client(svc)
    prepared = prepare(client, headers, doc_id, cert)
    value = on_token(key, prepared.json["data_to_be_signed"])
    clock.at += timedelta(minutes=11)
    late = complete(client, headers, prepared.json["id"], value)
    assert late.status_code == 409 and "expired" in late.json["detail"]


def test_only_the_leader_prepares_a_leader_signature(
    world: tuple[Services, Org, PkiFiles, Clock]
) -> None:
    svc, org, files, _ = world
    doc_id = approved(svc, org)
    _, cert = token(files)
    client = create_app(svc).test_client()
    login = client.post("/api/v1/session", json={"username": "officer", "password": PASSWORD})
    refused = prepare(client, {"X-CSRF-Token": login.json["csrf_token"]}, doc_id, cert)
    assert refused.status_code == 403
    bad = client.post(f"/api/v1/documents/{doc_id}/signing-sessions",
                      headers={"X-CSRF-Token": login.json["csrf_token"]},
                      json={"kind": "leader", "certificate": "not base64!"})
    assert bad.status_code == 422


def test_a_batch_is_signed_in_one_token_session_each_document_with_its_status(
    world: tuple[Services, Org, PkiFiles, Clock]
) -> None:
    svc, org, files, _ = world
    ready = [approved(svc, org) for _ in range(3)]
    draft = svc.documents.draft(org.officer, DraftSpec("CT", "Chưa duyệt"), ORIGIN).id
    key, cert = token(files)
    client, headers = leader_client(svc)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    made = client.post("/api/v1/signing-batches", headers=headers, json={
        "documents": [*ready, draft], "kind": "leader", "certificate": pem,
        "position": "CHỦ TỊCH", "authority": "TM."})
    assert made.status_code == 201, made.json
    assert made.json["counts"] == {"prepared": 3, "failed": 1}
    failed = next(i for i in made.json["items"] if i["status"] == "failed")
    assert failed["document_id"] == draft and "approved" in failed["error"]
    # The token signs every prepared item in one PIN session.
    values = {i["id"]: on_token(key, i["data_to_be_signed"])
              for i in made.json["items"] if i["status"] == "prepared"}
    first = next(iter(values))
    values[first] = base64.b64encode(b"\0" * 256).decode()  # one value corrupted on the way
    sent = client.post(f"/api/v1/signing-batches/{made.json['id']}/values", headers=headers,
                       json={"values": values})
    assert sent.status_code == 202
    assert isinstance(svc.queue, InProcessQueue) and svc.queue.join(30)
    progress = client.get(f"/api/v1/signing-batches/{made.json['id']}").json
    assert progress["counts"] == {"signed": 2, "failed": 2}
    corrupted = next(i for i in progress["items"] if i["id"] == first)
    assert "does not verify" in corrupted["error"]
    signed = [d for d in ready if svc.signatures.signatures(org.leader, d)]
    assert len(signed) == 2
    other = create_app(svc).test_client()
    other.post("/api/v1/session", json={"username": "officer", "password": PASSWORD})
    assert other.get(f"/api/v1/signing-batches/{made.json['id']}").status_code == 404


def test_a_batch_job_that_signed_then_died_is_marked_signed_when_run_again(
    world: tuple[Services, Org, PkiFiles, Clock]
) -> None:
    svc, org, files, _ = world
    doc_id = approved(svc, org)
    key, cert = token(files)
    der = cert.public_bytes(serialization.Encoding.DER)
    _, items, prepared = svc.batches.prepare(org.leader, [doc_id], SignatureKind.LEADER, der,
                                             [], ORIGIN, position="CHỦ TỊCH")
    value = key.sign(prepared[items[0].id].data_to_be_signed, padding.PKCS1v15(),
                     hashes.SHA256())
    assert isinstance(svc.queue, InProcessQueue)
    svc.queue.bind({"complete_batch_item": lambda *_: None})  # the job "dies" before running
    svc.batches.submit_values(org.leader, items[0].batch_id, {items[0].id: value})
    # The signature lands (as if the job got that far), but the item is still queued.
    session_id = items[0].session_id
    assert session_id is not None
    svc.signatures.complete_remote(org.leader, session_id, value, svc.remote_signing, ORIGIN)
    assert svc.batches.complete_item(items[0].id) is BatchItemStatus.SIGNED
    assert svc.batches.items(org.leader, items[0].batch_id)[0].status is BatchItemStatus.SIGNED
