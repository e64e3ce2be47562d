"""Intake: a dispatched file is validated once, and the report travels with its entries."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import Authority, SignatureKind
from docflow.signing.keys import PadesKey
from docflow.signing.pki import PkiFiles, init_pki
from docflow.signing.signers import load_pkcs12
from storage.db import tables as t
from storage.queue.inprocess import InProcessQueue
from tests.conftest import ORIGIN, Org, approve, embedded_settings, seed_org
from tests.pdfs import good_pdf

PASS = b"intake-passphrase"


@pytest.fixture
def trusted(tmp_path: Path) -> Iterator[tuple[Services, Org, PkiFiles]]:
    files = init_pki(tmp_path / "pki", passphrase=PASS, now=datetime.now(UTC))
    svc = bootstrap(embedded_settings(tmp_path / "var",
                                      DOCFLOW_TRUST_ANCHORS=str(files.ca_cert)),
                    upgrade_embedded=True)
    yield svc, seed_org(svc), files
    svc.close()


def dispatched(svc: Services, org: Org, files: PkiFiles) -> str:
    """A directive taken through outgoing v2 (the leader's signature and the seal made with the
    keys of `files`) and dispatched to commune X1; the commune's entry."""
    doc = svc.documents.draft(org.officer, DraftSpec("CT", "Về việc"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    svc.signatures.sign(org.leader, doc.id, SignatureKind.LEADER,
                        PadesKey(load_pkcs12(files.leader_p12, PASS)), ORIGIN,
                        position="CHỦ TỊCH", authority=Authority.ON_BEHALF)
    svc.documents.number(org.clerk, doc.id, ORIGIN)
    svc.signatures.sign(org.clerk, doc.id, SignatureKind.SEAL,
                        PadesKey(load_pkcs12(files.seal_p12, PASS)), ORIGIN)
    svc.documents.dispatch(org.clerk, doc.id, DispatchTarget(unit_codes=("P01.X1",)), ORIGIN)
    assert isinstance(svc.queue, InProcessQueue) and svc.queue.join(30)
    return svc.queries.inbox(org.commune_clerk)[0].receipt_id


def test_a_signed_and_sealed_directive_arrives_valid(
    trusted: tuple[Services, Org, PkiFiles]
) -> None:
    svc, org, files = trusted
    receipt_id = dispatched(svc, org, files)
    outcome = svc.intake.report(org.commune_clerk, receipt_id)
    assert outcome is not None and outcome.verdict == "VALID", outcome
    assert outcome.acceptable
    assert svc.documents.register_receipt(org.commune_clerk, receipt_id, ORIGIN).arrival_number


def test_a_file_signed_outside_the_trust_anchors_is_returned_with_the_report(
    trusted: tuple[Services, Org, PkiFiles], tmp_path: Path
) -> None:
    svc, org, _ = trusted
    stranger = init_pki(tmp_path / "stranger", passphrase=PASS, now=datetime.now(UTC),
                        organisation="Một tổ chức khác")
    receipt_id = dispatched(svc, org, stranger)  # signed and sealed under another CA
    outcome = svc.intake.report(org.commune_clerk, receipt_id)
    assert outcome is not None and outcome.verdict == "INDETERMINATE"
    assert not outcome.acceptable
    returned = svc.intake.return_with_report(org.commune_clerk, receipt_id, "Không xác thực được",
                                             ORIGIN)
    assert returned.status == "returned"
    # One reason per signature: the leader's and the seal, both outside the anchors.
    assert returned.return_reason == ("Không xác thực được — signature check: INDETERMINATE "
                                      "(NO_CERTIFICATE_CHAIN_FOUND, NO_CERTIFICATE_CHAIN_FOUND)")


def test_each_file_is_validated_once(trusted: tuple[Services, Org, PkiFiles]) -> None:
    svc, org, files = trusted
    receipt_id = dispatched(svc, org, files)
    receipt = svc.documents.receipt(org.commune_clerk, receipt_id)
    again = svc.intake.validate_dispatch(receipt.dispatch_id)
    assert again is not None and again.verdict == "VALID"
    with svc.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.validations)).scalar_one() == 1
