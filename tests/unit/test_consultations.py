"""Consultation (xin ý kiến) through the service and the API: asking people in other units,
their one answer each, the step completing when all have answered, concluding, the trail."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from docflow.bootstrap import Services
from docflow.domain.consultations import Answer, ConsultationStatus
from docflow.domain.documents import DraftSpec, RevisionKind
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.web import create_app
from storage.db import tables as t
from tests.conftest import ORIGIN, PASSWORD, Org, approve, issue
from tests.pdfs import good_pdf


def draft(services: Services, org: Org) -> str:
    doc = services.documents.draft(org.officer, DraftSpec("QĐ", "Về việc lấy ý kiến"), ORIGIN)
    services.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "qd.pdf",
                              io.BytesIO(good_pdf()), ORIGIN)
    return doc.id


def test_ask_answer_conclude(services: Services, org: Org) -> None:
    c = services.consultations
    doc_id = draft(services, org)
    # The commune people cannot see the province's draft until they are asked.
    with pytest.raises(NotFound):
        services.documents.view(org.commune_leader, doc_id, ORIGIN)
    asked = c.ask(org.officer, doc_id, "Góp ý dự thảo quyết định", ["leader", "x1leader",
                                                                    "x2clerk"], ORIGIN,
                  deadline=datetime.now(UTC).date() + timedelta(days=5))
    assert asked.status is ConsultationStatus.CONSULTING
    assert services.documents.view(org.commune_leader, doc_id, ORIGIN).id == doc_id

    one = c.answer(org.commune_leader, asked.id, Answer.AGREE, "Nhất trí", ORIGIN)
    assert one.status is ConsultationStatus.CONSULTING and one.tally().pending == 2
    with pytest.raises(Conflict, match="acted on this step already"):
        c.answer(org.commune_leader, asked.id, Answer.DISAGREE, "", ORIGIN)
    with pytest.raises(Invalid, match="comment"):
        c.answer(org.leader, asked.id, Answer.OTHER, "  ", ORIGIN)
    c.answer(org.leader, asked.id, Answer.OTHER, "Sửa điều 2", ORIGIN)
    # Not asked: an auditor of the province sees the document but is not a participant.
    with pytest.raises((Conflict, Forbidden)):
        c.answer(org.auditor, asked.id, Answer.AGREE, "", ORIGIN)
    last = c.answer(org.other_clerk, asked.id, Answer.AGREE, "", ORIGIN)
    assert last.status is ConsultationStatus.ANSWERED
    tally = last.tally()
    assert (tally.agree, tally.disagree, tally.other, tally.pending) == (2, 0, 1, 0)
    assert tally.majority_agrees

    with pytest.raises(Forbidden):
        c.conclude(org.commune_leader, asked.id, "Thông qua", ORIGIN)
    done = c.conclude(org.officer, asked.id, "Tiếp thu ý kiến, sửa điều 2", ORIGIN)
    assert done.status is ConsultationStatus.CONCLUDED and done.conclusion
    assert [x.id for x in c.for_document(org.officer, doc_id)] == [asked.id]
    with services.engine.connect() as conn:
        actions = list(conn.execute(select(t.audit_events.c.action).where(
            t.audit_events.c.object_id == asked.id).order_by(t.audit_events.c.id)).scalars())
    assert actions == ["consultation.ask"] + ["consultation.answer"] * 3 \
        + ["consultation.conclude"]


def test_concluding_early_needs_the_leader_and_a_reason(services: Services, org: Org) -> None:
    c = services.consultations
    asked = c.ask(org.officer, draft(services, org), "Góp ý", ["x1leader", "x2clerk"], ORIGIN)
    c.answer(org.commune_leader, asked.id, Answer.DISAGREE, "Chưa phù hợp", ORIGIN)
    with pytest.raises(Invalid, match="reason"):
        c.conclude(org.leader, asked.id, "Giữ nguyên", ORIGIN)
    with pytest.raises(Forbidden, match="leader"):
        c.conclude(org.officer, asked.id, "Giữ nguyên", ORIGIN, reason="Quá hạn")
    done = c.conclude(org.leader, asked.id, "Giữ nguyên", ORIGIN, reason="Quá hạn góp ý")
    assert done.status is ConsultationStatus.CONCLUDED
    assert not done.tally().majority_agrees and done.tally().pending == 1
    with pytest.raises(Conflict):
        c.answer(org.other_clerk, asked.id, Answer.AGREE, "", ORIGIN)


def test_asking_checks_everything_and_names_each_problem(services: Services,
                                                        org: Org) -> None:
    c = services.consultations
    doc_id = draft(services, org)
    with pytest.raises(Invalid) as bad:
        c.ask(org.officer, doc_id, "Góp ý", ["nobody", "officer", "auditor"], ORIGIN)
    assert bad.value.errors == ["no such person: nobody", "officer is the one asking",
                                "auditor holds no role that answers (officer, leader, clerk)"]
    with pytest.raises(Invalid) as empty:
        c.ask(org.officer, doc_id, " ", ["leader", "leader"], ORIGIN,
              deadline=datetime.now(UTC).date() - timedelta(days=1))
    assert len(empty.value.errors) == 3
    with pytest.raises(NotFound):  # another unit's draft
        c.ask(org.commune_clerk, doc_id, "Góp ý", ["leader"], ORIGIN)
    approve(services, org.officer, org.leader, doc_id)
    issue(services, org.leader, org.clerk, doc_id)
    with pytest.raises(Conflict, match="on a draft"):
        c.ask(org.officer, doc_id, "Góp ý", ["leader"], ORIGIN)


def test_the_api_round_trip(services: Services, org: Org) -> None:
    client = create_app(services).test_client()

    def session(username: str) -> dict[str, str]:
        login = client.post("/api/v1/session", json={"username": username,
                                                     "password": PASSWORD})
        return {"X-CSRF-Token": login.json["csrf_token"]}  # type: ignore[index]

    doc_id = draft(services, org)
    officer = session("officer")
    asked = client.post(f"/api/v1/documents/{doc_id}/consultations", headers=officer, json={
        "question": "Góp ý dự thảo", "participants": ["x1leader"], "deadline": "2099-01-31"})
    assert asked.status_code == 201, asked.json
    cid = asked.json["id"]  # type: ignore[index]
    bad = client.post(f"/api/v1/documents/{doc_id}/consultations", headers=officer,
                      json={"question": "", "participants": "x1leader"})
    assert bad.status_code == 422 and "usernames" in bad.json["detail"]  # type: ignore[index]
    client.delete("/api/v1/session", headers=officer)

    commune = session("x1leader")
    answered = client.post(f"/api/v1/consultations/{cid}/answers", headers=commune,
                           json={"answer": "agree", "comment": "Nhất trí"})
    assert answered.status_code == 201
    assert answered.json["status"] == "answered"  # type: ignore[index]
    assert answered.json["tally"]["majority_agrees"] is True  # type: ignore[index]
    wrong = client.post(f"/api/v1/consultations/{cid}/answers", headers=commune,
                        json={"answer": "maybe"})
    assert wrong.status_code == 422
    client.delete("/api/v1/session", headers=commune)

    officer = session("officer")
    done = client.post(f"/api/v1/consultations/{cid}/conclude", headers=officer,
                       json={"conclusion": "Thông qua"})
    assert done.status_code == 200 and done.json["status"] == "concluded"  # type: ignore[index]
    listed = client.get(f"/api/v1/documents/{doc_id}/consultations").json
    assert [x["id"] for x in listed["items"]] == [cid]  # type: ignore[index]


def test_a_quorum_set_by_the_asker(services: Services, org: Org) -> None:
    c = services.consultations
    doc_id = draft(services, org)
    with pytest.raises(Invalid):
        c.ask(org.officer, doc_id, "Góp ý", ["leader", "x1leader"], ORIGIN, quorum=3)
    asked = c.ask(org.officer, doc_id, "Góp ý", ["leader", "x1leader", "x2clerk"], ORIGIN,
                  quorum=2)
    assert asked.workflow_version == 2
    c.answer(org.leader, asked.id, Answer.AGREE, "", ORIGIN)
    reached = c.answer(org.commune_leader, asked.id, Answer.AGREE, "", ORIGIN)
    assert reached.status is ConsultationStatus.ANSWERED
    late = c.answer(org.other_clerk, asked.id, Answer.DISAGREE, "Chưa rõ", ORIGIN)
    assert late.status is ConsultationStatus.ANSWERED and late.tally().pending == 0
    with pytest.raises(Conflict, match="already"):
        c.answer(org.other_clerk, asked.id, Answer.AGREE, "", ORIGIN)
    with pytest.raises(Conflict, match="not among"):
        c.answer(org.auditor, asked.id, Answer.AGREE, "", ORIGIN)
