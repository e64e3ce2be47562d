"""Signed outputs from the trail and the registers: an auditor's evidence pack for a document
and a unit's statutory registers and processing reports, each signed with the unit's seal."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from docflow import auditbundle
from docflow.bootstrap import Services, bootstrap
from docflow.domain.audit import AuditFilter
from docflow.domain.errors import Conflict, Forbidden, NotFound
from docflow.domain.routing import DispatchTarget
from docflow.services.evidence import Statement
from docflow.signing.validation import Verdict, validate_pdf
from storage.queue.inprocess import InProcessQueue
from tests.conftest import ORIGIN, Org, embedded_settings, issued_document, seed_org
from tests.keys import test_keys
from tests.unit.test_seals import Keys, ca, keys, seals_file

__all__ = ["keys"]  # the module's fixture, used here

SEALS = "".join(f'[units."{unit}"]\npkcs12 = "seal.p12"\npassphrase_file = "passphrase"\n'
                'image = "seal.png"\n' for unit in ("P01", "P01.X1"))


@pytest.fixture
def world(tmp_path: Path, keys: Keys) -> Iterator[tuple[Services, Org]]:
    svc = bootstrap(embedded_settings(tmp_path / "var",
                                      DOCFLOW_SEAL_KEYS=str(seals_file(keys, SEALS))),
                    upgrade_embedded=True)
    yield svc, seed_org(svc)
    svc.close()


def _text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_an_evidence_pack_is_signed_and_carries_the_file_and_a_verifiable_bundle(
        world: tuple[Services, Org], keys: Keys, tmp_path: Path) -> None:
    svc, org = world
    doc_id = issued_document(svc, org)
    pdf = svc.evidence.evidence_pack(org.auditor, doc_id, ORIGIN)

    report = validate_pdf(pdf, trust_roots=[ca(keys)])
    assert report.verdict is Verdict.VALID, report.to_json()
    text = _text(pdf)
    issued = svc.documents.view(org.clerk, doc_id, ORIGIN)
    assert issued.symbol and issued.symbol in text
    assert "document.sign" in text and "HỒ SƠ CHỨNG CỨ" in text

    files = PdfReader(io.BytesIO(pdf)).attachments
    assert set(files) == {"a.pdf", "audit-bundle.zip"}
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(files["audit-bundle.zip"][0])
    checked = auditbundle.verify_bundle(bundle, key_pem=svc.audit.public_key_pem)
    assert checked.clean, checked.as_json()
    with zipfile.ZipFile(bundle) as z:
        assert b"document.create" in z.read("events.jsonl")
    # The file inside is the document's own, its signatures intact.
    inside = validate_pdf(files["a.pdf"][0], trust_roots=[test_keys().ca])
    assert inside.verdict is Verdict.VALID

    # The pack itself is in the document's trail.
    trail = svc.audit.events(org.auditor, AuditFilter(scope=None, document_id=doc_id),
                             ORIGIN)
    assert "audit.evidence" in [e["action"] for e in trail]


def test_only_an_auditor_of_the_document_gets_an_evidence_pack(
        world: tuple[Services, Org]) -> None:
    svc, org = world
    doc_id = issued_document(svc, org)
    with pytest.raises(NotFound):
        svc.evidence.evidence_pack(org.other_province_auditor, doc_id, ORIGIN)
    with pytest.raises(Forbidden):
        svc.evidence.evidence_pack(org.clerk, doc_id, ORIGIN)


def test_registers_and_reports_for_a_period_are_signed_by_the_unit(
        world: tuple[Services, Org], keys: Keys) -> None:
    svc, org = world
    doc_id = issued_document(svc, org)
    issued = svc.documents.view(org.clerk, doc_id, ORIGIN)
    svc.documents.dispatch(org.clerk, doc_id, DispatchTarget(level="commune", under="P01"),
                           ORIGIN)
    assert isinstance(svc.queue, InProcessQueue) and svc.queue.join(10)
    entry = svc.queries.inbox(org.commune_clerk)[0]
    svc.documents.register_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)

    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    week = (today - timedelta(days=7), today + timedelta(days=1))
    register = svc.evidence.statement(org.clerk, Statement.OUTGOING_REGISTER, "P01", *week,
                                      ORIGIN)
    assert validate_pdf(register, trust_roots=[ca(keys)]).verdict is Verdict.VALID
    text = _text(register)
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐI" in text and issued.symbol in text  # type: ignore[operator]
    report = _text(svc.evidence.statement(org.auditor, Statement.OUTGOING_REPORT, "P01",
                                          *week, ORIGIN))
    assert "Tổng số văn bản đi: 1" in report

    arrived = _text(svc.evidence.statement(org.commune_clerk, Statement.INCOMING_REGISTER,
                                           "P01.X1", *week, ORIGIN))
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in arrived and issued.symbol in arrived  # type: ignore[operator]
    handled = _text(svc.evidence.statement(org.commune_clerk, Statement.INCOMING_REPORT,
                                           "P01.X1", *week, ORIGIN))
    assert "Đã vào sổ: 1" in handled
    # Another commune: its clerk may ask, but the server holds no seal for it.
    with pytest.raises(Conflict):
        svc.evidence.statement(org.other_clerk, Statement.INCOMING_REGISTER, "P01.X2",
                               *week, ORIGIN)
    # Nobody outside the unit (nor an auditor of another province) gets its registers.
    with pytest.raises(NotFound):
        svc.evidence.statement(org.other_province_auditor, Statement.OUTGOING_REGISTER,
                               "P01", *week, ORIGIN)
    with pytest.raises(NotFound):
        svc.evidence.statement(org.commune_clerk, Statement.OUTGOING_REGISTER, "P01", *week,
                               ORIGIN)
    empty = _text(svc.evidence.statement(org.clerk, Statement.INCOMING_REGISTER, "P01",
                                         *week, ORIGIN))
    assert "Không có văn bản nào trong kỳ" in empty
