"""Documents from outside docflow: the clerk uploads the scan and types its metadata; it joins
the same register and flow, and a duplicate is pointed out before it is registered twice."""

from __future__ import annotations

import io
from datetime import date

import pytest

from docflow.bootstrap import Services
from docflow.domain.documents import Channel, DocumentStatus, ExternalSpec
from docflow.domain.errors import BadFile, Conflict, Forbidden, Invalid, NotFound
from docflow.domain.routing import DispatchTarget, ReceiptStatus
from tests.conftest import ORIGIN, Org, issued_document
from tests.pdfs import good_pdf

MINISTRY = "Bộ Nội vụ"


def spec(**changes: object) -> ExternalSpec:
    base: dict[str, object] = dict(
        doc_type="CT", abstract="Về việc tăng cường kỷ luật hành chính", issuer_name=MINISTRY,
        issued_on=date(2026, 11, 2), channel=Channel.PAPER, symbol="15/CT-BNV",
        issuer_code="000.00.00.G22")
    base.update(changes)
    return ExternalSpec(**base)  # type: ignore[arg-type]


def receive(svc: Services, org: Org, **changes: object) -> tuple[str, list[str]]:
    receipt, found = svc.documents.receive_external(
        org.clerk, spec(**changes), "scan.pdf", io.BytesIO(good_pdf("SCAN")), ORIGIN)
    return receipt.id, [d.why for d in found]


def test_an_upload_joins_the_register_and_the_flow(services: Services, org: Org) -> None:
    receipt_id, found = receive(services, org)
    assert found == []
    entry = services.documents.receipt(org.clerk, receipt_id)
    assert entry.status is ReceiptStatus.DELIVERED
    doc = services.documents.view(org.clerk, entry.document_id, ORIGIN)
    assert doc.status is DocumentStatus.EXTERNAL and doc.channel is Channel.PAPER
    assert (doc.number, doc.symbol, doc.issuer_name) == (15, "15/CT-BNV", MINISTRY)
    assert doc.identifier == "000.00.00.G22,2026/11/02,15/CT-BNV"
    assert services.documents.allowed_actions(org.clerk, doc) == []
    with pytest.raises(Conflict):  # it is not ours to issue or send as our own
        services.documents.dispatch(org.clerk, doc.id, DispatchTarget(unit_codes=("P01.X1",)),
                                    ORIGIN)
    registered = services.documents.register_receipt(org.clerk, receipt_id, ORIGIN)
    assert registered.arrival_number == 1
    page = services.queries.incoming_register(org.clerk, "bo noi vu")
    assert [(e.symbol, e.issuer_name, e.issuer_code) for e in page] == [
        ("15/CT-BNV", MINISTRY, "000.00.00.G22")]
    assert services.queries.incoming_register(org.clerk, "ky luat hanh chinh")
    # and it is passed down like any directive
    services.documents.forward(org.clerk, receipt_id, DispatchTarget(unit_codes=("P01.X1",)),
                               ORIGIN)
    services.queue.join()  # type: ignore[attr-defined]
    below = services.queries.inbox(org.commune_clerk)
    assert [r.document_id for r in below] == [doc.id]


def test_a_duplicate_is_pointed_out_not_refused(services: Services, org: Org) -> None:
    first, _ = receive(services, org)
    services.documents.register_receipt(org.clerk, first, ORIGIN)
    # the same document by e-mail: same identifier
    again, found = receive(services, org, channel=Channel.EMAIL)
    assert found == ["the same identifier"]
    # typed without the code, spelt differently: same number, symbol and issuer
    third, found = receive(services, org, issuer_code=None, symbol="15/ct-bnv",
                           issuer_name="BỘ NỘI VỤ")
    assert found == ["the same number, symbol and issuer"]
    assert [d.entry.receipt_id for d in services.documents.duplicates(org.clerk, third)] \
        == [first]
    # another issuer's 15/CT is another document
    _, found = receive(services, org, issuer_code=None, issuer_name="Bộ Tài chính",
                       symbol="15/CT-BTC")
    assert found == []
    services.documents.register_receipt(org.clerk, again, ORIGIN)  # a warning only


def test_a_paper_copy_of_a_docflow_document_is_recognised(services: Services,
                                                          org: Org) -> None:
    doc_id = issued_document(services, org)
    issued = services.documents.view(org.clerk, doc_id, ORIGIN)
    services.documents.dispatch(org.clerk, doc_id, DispatchTarget(unit_codes=("P01.X1",)),
                                ORIGIN)
    services.queue.join()  # type: ignore[attr-defined]
    entry = services.queries.inbox(org.commune_clerk)[0]
    services.documents.register_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)
    assert issued.issued_at is not None and issued.symbol is not None
    _, found = services.documents.receive_external(
        org.commune_clerk, spec(issuer_name="Hội LHPN tỉnh Một", issuer_code=None,
                                symbol=issued.symbol, issued_on=issued.issued_at.date()),
        "giay.pdf", io.BytesIO(good_pdf("GIAY")), ORIGIN)
    assert [d.entry.receipt_id for d in found] == [entry.receipt_id]


def test_bad_input_is_named_and_nothing_is_kept(services: Services, org: Org) -> None:
    with pytest.raises(Invalid) as refused:
        receive(services, org, issuer_name=" ", issued_on=date(2099, 1, 1),
                issuer_code="not a code!", doc_type="XX")
    text = " ".join(refused.value.errors)
    for fault in ("unknown document type", "issuer", "future", "identifier code"):
        assert fault in text
    with pytest.raises(Invalid):
        receive(services, org, channel=Channel.DOCFLOW)
    with pytest.raises(Forbidden):  # registering arrivals is the clerk's
        services.documents.receive_external(org.officer, spec(), "a.pdf",
                                            io.BytesIO(good_pdf()), ORIGIN)
    with pytest.raises(BadFile):  # not a PDF
        services.documents.receive_external(org.clerk, spec(), "a.pdf",
                                            io.BytesIO(b"not a pdf"), ORIGIN)
    assert services.queries.inbox(org.clerk) == []


def test_another_unit_sees_nothing_of_it(services: Services, org: Org) -> None:
    receipt_id, _ = receive(services, org)
    with pytest.raises(NotFound):
        services.documents.receipt(org.other_clerk, receipt_id)
    with pytest.raises(NotFound):
        services.documents.duplicates(org.other_clerk, receipt_id)
