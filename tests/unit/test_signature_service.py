"""Decree-30 signatures through the service layer: order, roles, revisions, records, trail."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime

import pytest
from cryptography import x509
from sqlalchemy import select

from docflow.bootstrap import Services
from docflow.domain.audit import Action
from docflow.domain.documents import DocumentStatus, DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.signatures import Authority, SignatureKind
from docflow.signing.appearance import demo_seal_png, demo_signature_png
from docflow.signing.keys import PadesKey
from docflow.signing.pki import init_pki
from docflow.signing.signers import load_pkcs12
from docflow.signing.validation import Verdict, validate_pdf
from storage.db import tables as t
from tests.conftest import ORIGIN, Org, approve
from tests.pdfs import good_pdf

PASS = b"test-passphrase"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[PadesKey, PadesKey, x509.Certificate]:
    folder = tmp_path_factory.mktemp("pki")
    files = init_pki(folder, passphrase=PASS, now=datetime.now(UTC))
    leader = PadesKey(load_pkcs12(files.leader_p12, PASS), signature_image=demo_signature_png())
    seal = PadesKey(load_pkcs12(files.seal_p12, PASS), seal_image=demo_seal_png())
    return leader, seal, x509.load_pem_x509_certificate(files.ca_cert.read_bytes())


def approved(services: Services, org: Org) -> str:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc ký số"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "ct.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.ATTACHMENT, "phu-luc.pdf",
                              io.BytesIO(good_pdf("PHU LUC")), ORIGIN)
    approve(services, org.officer, org.leader, doc.id)
    return doc.id


def status(services: Services, org: Org, doc_id: str) -> DocumentStatus:
    return services.documents.view(org.clerk, doc_id, ORIGIN).status


def current_bytes(services: Services, org: Org, doc_id: str, kind: RevisionKind) -> bytes:
    doc = services.documents.view(org.clerk, doc_id, ORIGIN)
    newest = max((r for r in doc.revisions if r.kind is kind), key=lambda r: r.seq)
    with services.blobs.open(newest.sha256) as f:
        return f.read()


def test_leader_then_number_then_seal_then_attachment(
    services: Services, org: Org, pki: tuple[PadesKey, PadesKey, x509.Certificate]
) -> None:
    leader_key, seal_key, ca = pki
    doc_id = approved(services, org)
    sigs = services.signatures
    first = sigs.sign(org.leader, doc_id, SignatureKind.LEADER, leader_key, ORIGIN,
                      position="CHỦ TỊCH", authority=Authority.ON_BEHALF)
    assert status(services, org, doc_id) is DocumentStatus.SIGNED
    numbered = services.documents.number(org.clerk, doc_id, ORIGIN)
    assert (numbered.status, numbered.number) == (DocumentStatus.NUMBERED, 1)
    second = sigs.sign(org.clerk, doc_id, SignatureKind.SEAL, seal_key, ORIGIN)
    assert status(services, org, doc_id) is DocumentStatus.ISSUED  # the seal issues it
    attachment = next(r for r in services.documents.view(org.clerk, doc_id, ORIGIN).revisions
                      if r.kind is RevisionKind.ATTACHMENT)
    third = sigs.sign(org.clerk, doc_id, SignatureKind.ATTACHMENT, seal_key, ORIGIN,
                      revision_id=attachment.id)

    # Each signature made a new revision from the one before; nothing was overwritten.
    assert second.signed_sha256 == first.result_sha256
    assert (first.field, second.field, first.authority) == ("Leader", "Seal", Authority.ON_BEHALF)
    doc = services.documents.view(org.clerk, doc_id, ORIGIN)
    mains = sorted((r for r in doc.revisions if r.kind is RevisionKind.MAIN), key=lambda r: r.seq)
    assert [r.seq for r in mains] == [1, 2, 3]
    assert mains[2].parent_id == mains[1].id and mains[1].parent_id == mains[0].id
    assert all(services.blobs.exists(r.sha256) for r in doc.revisions)
    assert third.signed_sha256 == attachment.sha256

    main = current_bytes(services, org, doc_id, RevisionKind.MAIN)
    report = validate_pdf(main, trust_roots=[ca], isolate=False)
    assert report.verdict is Verdict.VALID, report.to_json()
    assert [s.field for s in report.signatures] == ["Leader", "Seal"]
    annex = current_bytes(services, org, doc_id, RevisionKind.ATTACHMENT)
    assert validate_pdf(annex, trust_roots=[ca], isolate=False).verdict is Verdict.VALID
    assert [r.kind for r in sigs.signatures(org.auditor, doc_id)] == [
        SignatureKind.LEADER, SignatureKind.SEAL, SignatureKind.ATTACHMENT]
    with services.engine.connect() as conn:
        actions = Counter(conn.execute(select(t.audit_events.c.action)).scalars())
    assert actions["document.sign"] == 3


def test_decree_30_order_and_roles_are_enforced(
    services: Services, org: Org, pki: tuple[PadesKey, PadesKey, x509.Certificate]
) -> None:
    leader_key, seal_key, _ = pki
    doc_id = approved(services, org)
    sigs = services.signatures
    with pytest.raises(Conflict, match="after the leader"):
        sigs.sign(org.clerk, doc_id, SignatureKind.SEAL, seal_key, ORIGIN)
    with pytest.raises(Forbidden):
        sigs.sign(org.officer, doc_id, SignatureKind.LEADER, leader_key, ORIGIN)
    with pytest.raises(Forbidden):
        sigs.sign(org.clerk, doc_id, SignatureKind.LEADER, leader_key, ORIGIN)
    with pytest.raises(NotFound):
        sigs.sign(org.commune_leader, doc_id, SignatureKind.LEADER, leader_key, ORIGIN)
    with pytest.raises(Invalid):
        sigs.sign(org.clerk, doc_id, SignatureKind.SEAL, seal_key, ORIGIN,
                  authority=Authority.ON_BEHALF)
    sigs.sign(org.leader, doc_id, SignatureKind.LEADER, leader_key, ORIGIN, position="CHỦ TỊCH")
    assert status(services, org, doc_id) is DocumentStatus.SIGNED
    with pytest.raises(Conflict, match="approved document; this one is signed"):
        sigs.sign(org.leader, doc_id, SignatureKind.LEADER, leader_key, ORIGIN, position="X")
    with pytest.raises(Conflict, match="numbers"):
        sigs.sign(org.clerk, doc_id, SignatureKind.SEAL, seal_key, ORIGIN)
    with pytest.raises(Forbidden):  # the seal is the clerk's
        sigs.sign(org.leader, doc_id, SignatureKind.SEAL, seal_key, ORIGIN)
    services.documents.number(org.clerk, doc_id, ORIGIN)
    sigs.sign(org.clerk, doc_id, SignatureKind.SEAL, seal_key, ORIGIN)
    assert status(services, org, doc_id) is DocumentStatus.ISSUED
    with pytest.raises(Conflict, match="already"):
        sigs.sign(org.clerk, doc_id, SignatureKind.SEAL, seal_key, ORIGIN)
    # Refusals left no revision and no record behind.
    assert len(sigs.signatures(org.officer, doc_id)) == 2


def test_a_signature_needs_an_approved_document(
    services: Services, org: Org, pki: tuple[PadesKey, PadesKey, x509.Certificate]
) -> None:
    doc = services.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    with pytest.raises(Conflict, match="approved"):
        services.signatures.sign(org.leader, doc.id, SignatureKind.LEADER, pki[0], ORIGIN)


def test_a_refused_signature_writes_no_file(
    services: Services, org: Org, pki: tuple[PadesKey, PadesKey, x509.Certificate],
) -> None:
    doc_id = approved(services, org)
    with pytest.raises(Invalid, match="position"):
        services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, pki[0], ORIGIN)
    services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, pki[0], ORIGIN,
                             position="CHỦ TỊCH")
    before = {d for d, _ in services.blobs.inventory()}
    with pytest.raises(Conflict):
        services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, pki[0], ORIGIN)
    assert {d for d, _ in services.blobs.inventory()} == before


def test_a_file_the_store_cannot_keep_leaves_no_signature(
    services: Services, org: Org, pki: tuple[PadesKey, PadesKey, x509.Certificate],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The signed file is written beside the rows; when the write fails, the transaction
    rolls back: no revision, no record, no move, no event."""
    doc_id = approved(services, org)

    def full_disk(data: bytes, sha256: str, media_type: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(services.signatures._blobs, "put_bytes", full_disk)
    with pytest.raises(OSError, match="No space"):
        services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, pki[0], ORIGIN,
                                 position="CHỦ TỊCH")
    monkeypatch.undo()
    assert status(services, org, doc_id) is DocumentStatus.APPROVED
    assert services.signatures.signatures(org.clerk, doc_id) == []
    doc = services.documents.view(org.clerk, doc_id, ORIGIN)
    assert [r.seq for r in doc.revisions if r.kind is RevisionKind.MAIN] == [1]
    with services.engine.connect() as conn:
        signs = conn.execute(select(t.audit_events.c.id).where(
            t.audit_events.c.document_id == doc_id,
            t.audit_events.c.action == Action.DOCUMENT_SIGN.value)).all()
    assert signs == []
    services.signatures.sign(org.leader, doc_id, SignatureKind.LEADER, pki[0], ORIGIN,
                             position="CHỦ TỊCH")  # and it can be signed once there is room
    assert status(services, org, doc_id) is DocumentStatus.SIGNED
