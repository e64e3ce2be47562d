"""The token agent over HTTP on loopback: only the docflow site it serves may use it (CORS,
private-network preflight); it hands out the certificate and signs the data docflow prepared,
with a key file or a key on a PKCS#11 token (SoftHSM2) that never leaves it; and what it signs
completes a real signing batch."""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.signatures import BatchItemStatus, SignatureKind
from docflow.signing import pki
from docflow.signing.agent import TokenAgent, serve
from docflow.signing.signers import open_pkcs11_signer
from tests.conftest import ORIGIN, Org, approve
from tests.keys import test_keys
from tests.pdfs import good_pdf
from tests.softhsm import make_token

SITE = "https://docflow.example.gov.vn"


def running(agent: TokenAgent) -> Iterator[str]:
    server = serve(agent, [SITE], port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def agent_url() -> Iterator[str]:
    yield from running(TokenAgent(test_keys().leader.signer, log=lambda _: None))


def call(url: str, method: str = "GET", body: Any = None, origin: str | None = SITE,
         **headers: str) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Origin": origin} if origin else {}),
        **({"Content-Type": "application/json"} if data else {}), **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def test_it_gives_its_certificate_to_the_site_it_serves(agent_url: str) -> None:
    status, headers, body = call(f"{agent_url}/certificate")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == SITE
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert cert == x509.load_der_x509_certificate(test_keys().leader.signer.signing_cert.dump())
    assert body["chain"] and body["subject"]


@pytest.mark.parametrize("origin", ["https://evil.example", None])
def test_another_site_or_none_is_refused(agent_url: str, origin: str | None) -> None:
    for method, path, body in (("GET", "/certificate", None),
                               ("POST", "/sign", {"data_to_be_signed": ["AA=="]}),
                               ("OPTIONS", "/sign", None)):
        status, headers, answer = call(f"{agent_url}{path}", method, body, origin=origin)
        assert status == 403, (method, path)
        assert "Access-Control-Allow-Origin" not in headers
        assert "serves" in answer["detail"]


def test_the_preflight_lets_the_site_post_json_from_a_public_address(agent_url: str) -> None:
    status, headers, _ = call(f"{agent_url}/sign", "OPTIONS", **{
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
        "Access-Control-Request-Private-Network": "true"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == SITE
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    assert "content-type" in headers["Access-Control-Allow-Headers"].lower()


def test_it_signs_each_value_with_the_key(agent_url: str) -> None:
    values = [b"first signed attributes", b"second"]
    status, _, body = call(f"{agent_url}/sign", "POST", {
        "data_to_be_signed": [base64.b64encode(v).decode() for v in values]})
    assert status == 200
    public = x509.load_der_x509_certificate(
        test_keys().leader.signer.signing_cert.dump()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    for value, signature in zip(values, body["signature_values"], strict=True):
        public.verify(base64.b64decode(signature), value, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("body", [{"data_to_be_signed": []}, {"data_to_be_signed": ["@@"]},
                                  {"values": ["AA=="]}, ["AA=="]])
def test_a_bad_request_is_answered_clearly(agent_url: str, body: Any) -> None:
    status, _, answer = call(f"{agent_url}/sign", "POST", body)
    assert status == 400 and "data_to_be_signed" in answer["detail"]


def test_values_it_signs_complete_a_real_signing_batch(services: Services, org: Org,
                                                      agent_url: str) -> None:
    ids = []
    for n in range(2):
        doc = services.documents.draft(org.officer, DraftSpec("CV", f"Về việc {n}"), ORIGIN)
        services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                                  io.BytesIO(good_pdf()), ORIGIN)
        approve(services, org.officer, org.leader, doc.id)
        ids.append(doc.id)
    _, _, cert = call(f"{agent_url}/certificate")
    der = x509.load_pem_x509_certificate(cert["certificate"].encode()).public_bytes(
        Encoding.DER)
    chain = [x509.load_pem_x509_certificate(c.encode()).public_bytes(
        Encoding.DER) for c in cert["chain"]]
    batch, items, prepared = services.batches.prepare(
        org.leader, ids, SignatureKind.LEADER, der, chain, ORIGIN, position="CHỦ TỊCH")
    _, _, signed = call(f"{agent_url}/sign", "POST", {"data_to_be_signed": [
        base64.b64encode(prepared[i.id].data_to_be_signed).decode() for i in items]})
    services.batches.submit_values(org.leader, batch.id, {
        item.id: base64.b64decode(v) for item, v in zip(items, signed["signature_values"],
                                                        strict=True)})
    assert services.queue.join(30)  # type: ignore[attr-defined]
    assert {i.status for i in services.batches.items(org.leader, batch.id)} == {
        BatchItemStatus.SIGNED}
    assert {services.documents.view(org.leader, i, ORIGIN).status for i in ids} == {"signed"}


def test_a_key_on_a_pkcs11_token_signs_and_stays_there(softhsm_tokens: tuple[str, ...],
                                                       tmp_path: Path) -> None:
    files = pki.init_pki(tmp_path / "pki", passphrase=b"x", now=datetime.now(UTC))
    authority = pki.load_authority(files, b"x")
    token = make_token(softhsm_tokens, authority, key_label="agent-leader",
                       common_name="Lãnh Đạo Token")
    with open_pkcs11_signer(token.module, token.label, token.pin, token.key_label) as signer:
        for url in running(TokenAgent(signer, log=lambda _: None)):
            _, _, cert = call(f"{url}/certificate")
            assert "Lãnh Đạo Token" in cert["subject"]
            status, _, body = call(f"{url}/sign", "POST",
                                   {"data_to_be_signed": [base64.b64encode(b"attrs").decode()]})
    assert status == 200
    public = x509.load_pem_x509_certificate(cert["certificate"].encode()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(base64.b64decode(body["signature_values"][0]), b"attrs", padding.PKCS1v15(),
                  hashes.SHA256())


def test_with_confirmation_a_batch_is_signed_only_once_the_person_says_yes() -> None:
    asked: list[tuple[int, str]] = []
    answers = iter([False, True])

    def confirm(count: int, site: str) -> bool:
        asked.append((count, site))
        return next(answers)

    for url in running(TokenAgent(test_keys().leader.signer, log=lambda _: None,
                                  confirm=confirm)):
        body = {"data_to_be_signed": [base64.b64encode(b"a").decode()] * 2}
        declined = call(f"{url}/sign", "POST", body)
        assert declined[0] == 403 and "declined" in declined[2]["detail"]
        status, _, signed = call(f"{url}/sign", "POST", body)
        assert status == 200 and len(signed["signature_values"]) == 2
    assert asked == [(2, SITE), (2, SITE)]
