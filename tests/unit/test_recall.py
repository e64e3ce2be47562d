"""Recall: the sender asks a dispatched document back with a reason; every copy, down the
cascade too, is frozen (13) until its unit agrees (15, withdrawn) or refuses (16, with its
reason); nothing more is sent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from docflow.bootstrap import Services
from docflow.domain.errors import Conflict, Forbidden, Invalid
from docflow.domain.org import Level
from docflow.domain.routing import DispatchStatus, DispatchTarget, RecallStatus, ReceiptStatus
from docflow.services.org import OrgImport, UnitRow
from docflow.web import create_app
from tests.conftest import ORIGIN, PASSWORD, Org, issued_document


def test_a_recall_freezes_every_copy_until_its_unit_answers(services: Services,
                                                            org: Org) -> None:
    docs = services.documents
    services.org.import_org(OrgImport(
        levels=[Level("branch", "Chi hội", 3)],
        units=[UnitRow("t", "P01.X1.B1", "Chi hội", "CH", "branch", "P01.X1")]), ORIGIN)
    doc_id = issued_document(services, org)
    docs.dispatch(org.clerk, doc_id, DispatchTarget(level="commune", under="P01"), ORIGIN)
    services.queue.join()  # type: ignore[attr-defined]
    entries = {e.unit_code: e.receipt_id for e in services.queries.inbox(org.commune_clerk)}
    x1 = entries["P01.X1"]
    docs.register_receipt(org.commune_clerk, x1, ORIGIN)
    pending = docs.forward(org.commune_clerk, x1, DispatchTarget(("P01.X1.B1",)), ORIGIN)
    services.queue.join()  # type: ignore[attr-defined]
    x2 = next(e.receipt_id for e in services.queries.inbox(org.other_clerk))
    docs.return_receipt(org.other_clerk, x2, "Gửi nhầm", ORIGIN)

    with pytest.raises(Invalid, match="reason"):
        docs.recall(org.clerk, doc_id, " ", ORIGIN)
    with pytest.raises(Forbidden):
        docs.recall(org.officer, doc_id, "Sai sót", ORIGIN)
    # Three copies asked back: X1, X3 and the branch; X2 had returned it.
    assert docs.recall(org.clerk, doc_id, "Sai sót số liệu", ORIGIN) == 3
    frozen = docs.receipt(org.commune_clerk, x1)
    assert frozen.recall is RecallStatus.ASKED
    assert docs.allowed_receipt_actions(org.commune_clerk, frozen) == ["agree_recall",
                                                                       "refuse_recall"]
    with pytest.raises(Conflict, match="answer the recall first"):
        docs.complete_receipt(org.commune_clerk, x1, ORIGIN)
    with pytest.raises(Conflict, match="answer the recall first"):
        services.handling.assign(org.commune_leader, x1, "Giao", "x1clerk",
                                 datetime.now(UTC).date() + timedelta(days=3), ORIGIN)
    with pytest.raises(Conflict, match="recalled"):
        docs.dispatch(org.clerk, doc_id, DispatchTarget(("P02",)), ORIGIN)

    with pytest.raises(Invalid, match="reason"):
        docs.answer_recall(org.commune_clerk, x1, False, ORIGIN)
    withdrawn = docs.answer_recall(org.commune_clerk, x1, True, ORIGIN)
    assert withdrawn.recall is RecallStatus.AGREED
    assert docs.allowed_receipt_actions(org.commune_clerk, withdrawn) == []
    with pytest.raises(Conflict, match="withdrawn"):
        docs.complete_receipt(org.commune_clerk, x1, ORIGIN)
    with pytest.raises(Conflict, match="no recall"):
        docs.answer_recall(org.commune_clerk, x1, True, ORIGIN)
    # The returned copy was not asked; X3 refuses and carries on.
    assert docs.receipt(org.other_clerk, x2).recall is None
    _counts, rows = services.queries.recipients(org.clerk, doc_id)
    x3 = next(r.receipt_id for r in rows if r.unit_code == "P01.X3")
    with pytest.raises(Forbidden):
        docs.answer_recall(org.commune_clerk, x3, True, ORIGIN)  # not X1's copy
    # A forward whose job runs only after the recall delivers copies already asked back.
    services.org.import_org(OrgImport(units=[
        UnitRow("t", "P01.X1.B2", "Chi hội Hai", "CH2", "branch", "P01.X1")]), ORIGIN)
    late_forward = replace(pending, id="00000000-0000-4000-8000-0000000000ff",
                           target=DispatchTarget(("P01.X1.B2",)))
    from storage.db.uow import SqlUnitOfWorkFactory

    with SqlUnitOfWorkFactory(services.engine)() as uow:
        uow.dispatches.add(replace(late_forward, status=DispatchStatus.PENDING))
        uow.commit()
    assert docs.fan_out(late_forward.id) == 1
    _counts, rows = services.queries.recipients(org.clerk, doc_id)
    b2 = next(r.receipt_id for r in rows if r.unit_code == "P01.X1.B2")
    assert docs.receipt(org.clerk, b2).recall is RecallStatus.ASKED


def test_the_api(services: Services, org: Org) -> None:
    doc_id = issued_document(services, org)
    services.documents.dispatch(org.clerk, doc_id, DispatchTarget(("P01.X1",)), ORIGIN)
    services.queue.join()  # type: ignore[attr-defined]
    client = create_app(services).test_client()

    def login(username: str) -> dict[str, str]:
        made = client.post("/api/v1/session", json={"username": username,
                                                    "password": PASSWORD})
        return {"X-CSRF-Token": made.json["csrf_token"]}  # type: ignore[index]

    clerk = login("clerk")
    asked = client.post(f"/api/v1/documents/{doc_id}/recall", headers=clerk,
                        json={"reason": "Ban hành nhầm"})
    assert asked.json == {"document_id": doc_id, "copies_asked": 1}
    client.delete("/api/v1/session", headers=clerk)
    commune = login("x1clerk")
    entry = client.get("/api/v1/inbox").json["items"][0]["receipt_id"]  # type: ignore[index]
    assert client.get(f"/api/v1/receipts/{entry}").json["recall_code"] == "13"  # type: ignore[index]
    refused = client.post(f"/api/v1/receipts/{entry}/recall", headers=commune,
                          json={"agree": False, "reason": "Đã triển khai"})
    assert refused.json["recall_code"] == "16"  # type: ignore[index]
    assert refused.json["actions"] == ["register", "return"]  # type: ignore[index]
    assert client.post(f"/api/v1/receipts/{entry}/register",
                       headers=commune).json["status"] == ReceiptStatus.REGISTERED.value  # type: ignore[index]
