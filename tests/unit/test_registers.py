"""Searching the outgoing and incoming registers as clerks type: without diacritics, by
number, by dates, page by page."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.routing import DispatchTarget
from docflow.domain.search import fold, terms
from docflow.web import create_app
from tests.conftest import ORIGIN, PASSWORD, Org, approve
from tests.conftest import issue as sign_and_issue
from tests.pdfs import good_pdf


@pytest.mark.parametrize(("text", "folded"), [
    ("Chỉ thị", "chi thi"), ("ĐẢNG ỦY  xã", "dang uy xa"), ("Quyết định số 15/QĐ-BNV",
                                                           "quyet dinh so 15/qd-bnv"),
    ("Hội Liên hiệp Phụ nữ", "hoi lien hiep phu nu"), ("Nghị quyết", "nghi quyet")])
def test_folding_drops_marks_and_case(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert terms(text) == list(dict.fromkeys(folded.split()))


def issue(services: Services, org: Org, doc_type: str, abstract: str,
          to: tuple[str, ...] = ("P01.X1",)) -> str:
    doc = services.documents.draft(org.officer, DraftSpec(doc_type, abstract), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    approve(services, org.officer, org.leader, doc.id)
    sign_and_issue(services, org.leader, org.clerk, doc.id)
    services.documents.dispatch(org.clerk, doc.id, DispatchTarget(to), ORIGIN)
    return doc.id


def test_registers_are_searched_without_diacritics(services: Services, org: Org) -> None:
    q = services.queries
    directive = issue(services, org, "CT", "Về việc tăng cường công tác phòng chống bão lũ")
    decision = issue(services, org, "QĐ", "Về việc khen thưởng chi hội xuất sắc")
    issue(services, org, "CV", "Về việc báo cáo sơ kết 6 tháng", to=("P01.X2",))
    services.queue.join()  # type: ignore[attr-defined]
    for entry in reversed(services.queries.inbox(org.commune_clerk)):  # oldest first
        services.documents.register_receipt(org.commune_clerk, entry.receipt_id, ORIGIN)

    assert [r.document_id for r in q.outgoing_register(org.clerk, "chi thi")] == [directive]
    assert [r.document_id for r in q.outgoing_register(org.clerk, "BÃO LŨ")] == [directive]
    # Words anywhere, in any order; "chi" alone also finds "chi hội".
    assert {r.document_id for r in q.outgoing_register(org.clerk, "chi")} == {directive,
                                                                               decision}
    assert [r.document_id for r in q.outgoing_register(org.clerk, "xuat sac khen")] == [
        decision]
    assert q.outgoing_register(org.clerk, "qd-hpn")[0].document_id == decision
    assert q.outgoing_register(org.clerk, number=2)[0].document_id == decision
    assert q.outgoing_register(org.clerk, "100% _x") == []  # wildcards are literal
    assert q.outgoing_register(org.commune_clerk) == []  # not the commune's register
    today = datetime.now(UTC).date()
    assert len(q.outgoing_register(org.clerk, from_date=today - timedelta(days=1),
                                   to_date=today + timedelta(days=1))) == 3
    assert q.outgoing_register(org.clerk, from_date=today + timedelta(days=2)) == []

    # The commune's incoming register: by words (the issuer's name too) and arrival number.
    found = q.incoming_register(org.commune_clerk, "hoi lhpn tinh mot chi thi")
    assert [r.document_id for r in found] == [directive] and found[0].arrival_number == 1
    assert q.incoming_register(org.commune_clerk, number=2)[0].document_id == decision
    assert q.incoming_register(org.other_clerk) == []  # registered nothing yet

    # Page by page, newest first.
    first = q.outgoing_register(org.clerk, limit=2)
    rest = q.outgoing_register(org.clerk, limit=2, before=f"{first[-1].issued_at.isoformat()}"
                                                        f"|{first[-1].document_id}")
    assert len(first) == 2 and len(rest) == 1
    assert {r.document_id for r in first + rest} == {r.document_id
                                                     for r in q.outgoing_register(org.clerk)}


def test_the_api(services: Services, org: Org) -> None:
    issue(services, org, "CT", "Về việc phòng chống dịch bệnh")
    client = create_app(services).test_client()
    client.post("/api/v1/session", json={"username": "clerk", "password": PASSWORD})
    got = client.get("/api/v1/registers/outgoing?q=phong%20chong&limit=1").json
    assert len(got["items"]) == 1 and got["next"]  # type: ignore[index]
    assert got["items"][0]["symbol"] == "01/CT-HPN"  # type: ignore[index]
    assert client.get("/api/v1/registers/outgoing?number=x").status_code == 422
    assert client.get("/api/v1/registers/incoming").json["items"] == []  # type: ignore[index]
