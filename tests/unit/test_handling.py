"""Handling an incoming document: the leader annotates and assigns a lead, coordinators and
people informed with a deadline; the lead reports progress and done with the result; the
deadline is extended with a reason; the sender sees 04, 05, 06; an entry started on the
previous version of the flow finishes on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from docflow.bootstrap import Services
from docflow.domain.documents import DraftSpec
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.routing import EDXML_STATUS, DispatchTarget, ReceiptStatus
from docflow.services.org import OrgImport, UserRow
from docflow.web import create_app
from storage.db import tables as t
from tests.conftest import ORIGIN, PASSWORD, Org, issued_document

SOON = datetime.now(UTC).date() + timedelta(days=10)


@pytest.fixture
def entry(services: Services, org: Org) -> str:
    """A directive registered at commune P01.X1, which has a leader, a clerk and two
    officers."""
    services.org.import_org(OrgImport(levels=[], units=[], users=[
        UserRow("t", "x1lan", "Lan", "P01.X1", "officer"),
        UserRow("t", "x1mai", "Mai", "P01.X1", "officer")]), ORIGIN)
    for name in ("x1lan", "x1mai"):
        services.identity.set_password(name, PASSWORD, ORIGIN)
    doc_id = issued_document(services, org)
    services.documents.dispatch(org.clerk, doc_id, DispatchTarget(("P01.X1",)), ORIGIN)
    services.queue.join()  # type: ignore[attr-defined]
    receipt_id = next(e.receipt_id for e in services.queries.inbox(org.commune_clerk))
    services.documents.register_receipt(org.commune_clerk, receipt_id, ORIGIN)
    return receipt_id


def person(services: Services, username: str):  # type: ignore[no-untyped-def]
    found = services.identity.actor_by_username(username)
    assert found is not None
    return found


def test_assign_progress_extend_done(services: Services, org: Org, entry: str) -> None:
    h, docs = services.handling, services.documents
    lan, mai = person(services, "x1lan"), person(services, "x1mai")
    with pytest.raises(Forbidden, match="leader"):
        h.assign(org.commune_clerk, entry, "Giao đ/c Lan", "x1lan", SOON, ORIGIN)
    assigned = h.assign(org.commune_leader, entry, "Giao đ/c Lan chủ trì, đ/c Mai phối hợp",
                        "x1lan", SOON, ORIGIN, coordinators=["x1mai"], informed=["x1clerk"])
    receipt = docs.receipt(lan, entry)
    assert receipt.status is ReceiptStatus.ASSIGNED and EDXML_STATUS[receipt.status] == "04"
    assert receipt.deadline == SOON and assigned.lead_id == lan.id
    assert docs.allowed_receipt_actions(lan, receipt) == ["complete", "progress"]
    assert docs.allowed_receipt_actions(mai, receipt) == []

    with pytest.raises(Forbidden, match="as the lead"):
        h.progress(mai, entry, "Đã xem", ORIGIN)
    h.progress(lan, entry, "Đã họp triển khai", ORIGIN)
    assert docs.receipt(lan, entry).status is ReceiptStatus.PROCESSING
    with pytest.raises(Invalid, match="later than"):
        h.extend(org.commune_leader, entry, SOON - timedelta(days=1), "Chờ số liệu", ORIGIN)
    with pytest.raises(Invalid, match="reason"):
        h.extend(org.commune_leader, entry, SOON + timedelta(days=5), " ", ORIGIN)
    h.extend(org.commune_leader, entry, SOON + timedelta(days=5), "Chờ số liệu xã", ORIGIN)

    # The lead's result: a report drafted in the commune, linked when done.
    report = docs.draft(lan, DraftSpec("BC", "Báo cáo kết quả triển khai"), ORIGIN)
    with pytest.raises(NotFound):  # the province's document is not the commune's to cite
        docs.complete_receipt(lan, entry, ORIGIN, result_document_id=issued_document(
            services, org))
    done = docs.complete_receipt(lan, entry, ORIGIN, result_document_id=report.id)
    assert done.status is ReceiptStatus.DONE and done.result_document_id == report.id
    assignment, notes = h.handling(org.clerk, entry)  # the sender sees it all
    assert assignment is not None and [n.text for n in notes] == ["Đã họp triển khai"]
    with services.engine.connect() as conn:
        actions = list(conn.execute(select(t.audit_events.c.action).where(
            t.audit_events.c.object_id == entry).order_by(t.audit_events.c.id)).scalars())
    assert actions == ["receipt.deliver", "receipt.register", "receipt.assign",
                       "receipt.progress", "receipt.extend", "receipt.complete"]


def test_an_assignment_names_only_people_of_the_unit_once_each(services: Services, org: Org,
                                                               entry: str) -> None:
    h = services.handling
    with pytest.raises(Invalid) as bad:
        h.assign(org.commune_leader, entry, "Giao", "x1lan", SOON, ORIGIN,
                 coordinators=["x2clerk", "nobody"])
    assert bad.value.errors == ["no such person: nobody", "x2clerk is not a member of P01.X1"]
    with pytest.raises(Invalid) as twice:
        h.assign(org.commune_leader, entry, " ", "x1lan", SOON - timedelta(days=30), ORIGIN,
                 informed=["x1lan"])
    assert len(twice.value.errors) == 3
    # Reassigning replaces the lead; the previous lead can no longer report.
    h.assign(org.commune_leader, entry, "Giao Lan", "x1lan", SOON, ORIGIN)
    h.assign(org.commune_leader, entry, "Chuyển Mai", "x1mai", SOON, ORIGIN)
    with pytest.raises(Forbidden):
        h.progress(person(services, "x1lan"), entry, "Tiếp tục", ORIGIN)
    h.progress(person(services, "x1mai"), entry, "Đã nhận", ORIGIN)


def test_an_entry_started_on_version_1_finishes_on_it(services: Services, org: Org,
                                                       entry: str) -> None:
    with services.engine.begin() as conn:
        conn.execute(update(t.receipts).where(t.receipts.c.id == entry)
                     .values(workflow_version=1))
    with pytest.raises(Conflict, match="'assign' is not possible"):
        services.handling.assign(org.commune_leader, entry, "Giao", "x1lan", SOON, ORIGIN)
    done = services.documents.complete_receipt(org.commune_clerk, entry, ORIGIN)
    assert done.status is ReceiptStatus.DONE


def test_the_api(services: Services, org: Org, entry: str) -> None:
    client = create_app(services).test_client()

    def login(username: str) -> dict[str, str]:
        made = client.post("/api/v1/session", json={"username": username,
                                                    "password": PASSWORD})
        return {"X-CSRF-Token": made.json["csrf_token"]}  # type: ignore[index]

    leader = login("x1leader")
    made = client.post(f"/api/v1/receipts/{entry}/assign", headers=leader, json={
        "annotation": "Giao đ/c Lan", "lead": "x1lan", "deadline": SOON.isoformat()})
    assert made.status_code == 201, made.json
    assert made.json["edxml_status"] == "04"  # type: ignore[index]
    assert made.json["assignment"]["annotation"] == "Giao đ/c Lan"  # type: ignore[index]
    client.delete("/api/v1/session", headers=leader)
    lead = login("x1lan")
    noted = client.post(f"/api/v1/receipts/{entry}/progress", headers=lead,
                        json={"text": "Đang thực hiện"})
    assert noted.status_code == 201 and noted.json["edxml_status"] == "05"  # type: ignore[index]
    done = client.post(f"/api/v1/receipts/{entry}/complete", headers=lead)
    assert done.status_code == 200 and done.json["edxml_status"] == "06"  # type: ignore[index]


def test_overdue_entries_are_listed_for_their_unit(services: Services, org: Org,
                                                   entry: str) -> None:
    services.handling.assign(org.commune_leader, entry, "Giao", "x1lan", SOON, ORIGIN)
    assert services.queries.inbox(org.commune_clerk, overdue=True) == []
    # The deadline passes (moved to yesterday, as if the days had gone by).
    from sqlalchemy import update as sql_update

    with services.engine.begin() as conn:
        conn.execute(sql_update(t.receipts).where(t.receipts.c.id == entry)
                     .values(deadline=datetime.now(UTC).date() - timedelta(days=1)))
    late = services.queries.inbox(org.commune_clerk, overdue=True)
    assert [e.receipt_id for e in late] == [entry] and late[0].deadline is not None
    services.documents.complete_receipt(person(services, "x1lan"), entry, ORIGIN)
    assert services.queries.inbox(org.commune_clerk, overdue=True) == []
    client = create_app(services).test_client()
    client.post("/api/v1/session", json={"username": "x1clerk", "password": PASSWORD})
    assert client.get("/api/v1/inbox?overdue=1").json["items"] == []  # type: ignore[index]


def test_sub_units_coordinate_or_are_informed(services: Services, org: Org, entry: str) -> None:
    """A commune leader names branches too: each gets the document passed down, the
    coordinating one due on the assignment's deadline."""
    from docflow.domain.org import Level
    from docflow.services.org import UnitRow

    services.org.import_org(OrgImport(
        levels=[Level("branch", "Chi hội", 3)],
        units=[UnitRow("t", "P01.X1.B1", "Chi hội Một", "CH1", "branch", "P01.X1"),
               UnitRow("t", "P01.X1.B2", "Chi hội Hai", "CH2", "branch", "P01.X1")],
        users=[UserRow("t", "b1clerk", "Văn thư chi hội", "P01.X1.B1", "clerk"),
               UserRow("t", "b2clerk", "Văn thư chi hội", "P01.X1.B2", "clerk")]), ORIGIN)
    with pytest.raises(Invalid) as refused:
        services.handling.assign(org.commune_leader, entry, "Giao", "x1lan", SOON, ORIGIN,
                                 coordinator_units=["P01.X2", "P01.X1.B1"],
                                 informed_units=["P01.X1.B1"])
    assert set(refused.value.errors) == {"a sub-unit is named in two roles, or twice"}
    with pytest.raises(Invalid) as refused:
        services.handling.assign(org.commune_leader, entry, "Giao", "x1lan", SOON, ORIGIN,
                                 coordinator_units=["P01.X2", "NOPE"])
    assert set(refused.value.errors) == {"P01.X2 is not a sub-unit of P01.X1",
                                         "no such unit: NOPE"}
    made = services.handling.assign(org.commune_leader, entry, "Chi hội Một phối hợp",
                                    "x1lan", SOON, ORIGIN, coordinator_units=["P01.X1.B1"],
                                    informed_units=["P01.X1.B2"])
    assert made.units == (("P01.X1.B1", "coordinator"), ("P01.X1.B2", "informed"))
    services.queue.join()  # type: ignore[attr-defined]
    b1 = services.queries.inbox(person(services, "b1clerk"))
    b2 = services.queries.inbox(person(services, "b2clerk"))
    assert [e.deadline for e in b1] == [SOON]
    assert [e.deadline for e in b2] == [None]
    assert services.handling.handling(org.commune_leader, entry)[0] == made
