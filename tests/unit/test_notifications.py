"""Notifications: status changes reach whoever must act next; the reminder job watches
deadlines on the working-day calendar (before, after, escalation) and late registrations; mail
goes to a real SMTP server (aiosmtpd on 127.0.0.1) when one is configured."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from docflow.bootstrap import Services, bootstrap
from docflow.domain.documents import DraftSpec, RevisionKind, Urgency
from docflow.domain.notifications import NoticeKind
from docflow.domain.org import Actor
from docflow.domain.routing import DispatchTarget
from docflow.domain.signatures import SignatureKind
from docflow.mail import SmtpMailer
from docflow.services.org import OrgImport, UserRow
from tests.clock import Clock
from tests.conftest import ORIGIN, Org, approve, embedded_settings, issue, seed_org
from tests.keys import test_keys
from tests.pdfs import good_pdf


def local(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 7, tzinfo=UTC)  # Vietnam is UTC+7


MONDAY = date(2026, 11, 23)


@pytest.fixture
def clock() -> Clock:
    return Clock(local(MONDAY))


@pytest.fixture
def svc(tmp_path: Path, clock: Clock) -> Iterator[Services]:
    built = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True)
    yield built
    built.close()


@pytest.fixture
def people(svc: Services) -> Org:
    return seed_org(svc)


def kinds(svc: Services, who: Actor) -> list[str]:
    return [n.kind.value for n in reversed(svc.notifications.list(who))]


def dispatched(svc: Services, org: Org, urgency: Urgency = Urgency.NORMAL) -> str:
    doc = svc.documents.draft(org.officer, DraftSpec("CT", "Về việc phòng chống bão",
                                                     urgency=urgency), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "ct.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    issue(svc, org.leader, org.clerk, doc.id)
    svc.documents.dispatch(org.clerk, doc.id, DispatchTarget(unit_codes=("P01.X1",)), ORIGIN)
    svc.queue.join()  # type: ignore[attr-defined]
    return doc.id


def test_each_step_reaches_who_acts_next(svc: Services, people: Org) -> None:
    org, keys = people, test_keys()
    doc = svc.documents.draft(org.officer, DraftSpec("CT", "Về việc A"), ORIGIN)
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "a.pdf",
                         io.BytesIO(good_pdf()), ORIGIN)
    svc.documents.submit(org.officer, doc.id, ORIGIN)
    assert kinds(svc, org.leader) == ["to_review"]
    svc.documents.return_to_drafter(org.leader, doc.id, "Sửa trích yếu", ORIGIN)
    returned = svc.notifications.list(org.officer)
    assert [n.kind for n in returned] == [NoticeKind.RETURNED]
    assert "Sửa trích yếu" in returned[0].title
    svc.documents.attach(org.officer, doc.id, RevisionKind.MAIN, "b.pdf",
                         io.BytesIO(good_pdf("B")), ORIGIN)
    approve(svc, org.officer, org.leader, doc.id)
    svc.signatures.sign(org.leader, doc.id, SignatureKind.LEADER, keys.leader, ORIGIN,
                        position="CHỦ TỊCH")
    assert kinds(svc, org.clerk) == ["to_issue"]
    assert kinds(svc, org.auditor) == []  # nobody else
    svc.notifications.mark_read(org.clerk)
    assert svc.notifications.unread(org.clerk) == 0


def test_a_returned_entry_reaches_the_sender(svc: Services, people: Org) -> None:
    dispatched(svc, people)
    entry = svc.queries.inbox(people.commune_clerk)[0].receipt_id
    svc.documents.return_receipt(people.commune_clerk, entry, "Gửi nhầm đơn vị", ORIGIN)
    (notice,) = svc.notifications.list(people.clerk)[:1]
    assert notice.kind is NoticeKind.ENTRY_RETURNED and "Gửi nhầm đơn vị" in notice.title
    assert [n.kind for n in svc.notifications.list(people.leader)][:1] == [
        NoticeKind.ENTRY_RETURNED]


def test_a_recall_reaches_every_copys_clerks_and_leaders(svc: Services, people: Org) -> None:
    doc_id = dispatched(svc, people)
    assert svc.documents.recall(people.clerk, doc_id, "Sai sót", ORIGIN) == 1
    for who in (people.commune_clerk, people.commune_leader):
        (notice,) = svc.notifications.list(who)
        assert notice.kind is NoticeKind.RECALL_ASKED and notice.receipt_id is not None


def test_an_urgent_arrival_reaches_the_clerks_at_once(svc: Services, people: Org) -> None:
    dispatched(svc, people, Urgency.URGENT)
    assert kinds(svc, people.commune_clerk) == ["urgent_arrival"]
    assert kinds(svc, people.commune_leader) == []


def test_deadlines_remind_then_escalate(svc: Services, people: Org, clock: Clock) -> None:
    org = people
    dispatched(svc, org)
    entry = svc.queries.inbox(org.commune_clerk)[0].receipt_id
    svc.documents.register_receipt(org.commune_clerk, entry, ORIGIN)
    deadline = svc.handling.deadline_in(1)
    assert deadline == date(2026, 11, 24)
    svc.handling.assign(org.commune_leader, entry, "Giao văn thư tham mưu", "x1clerk",
                        deadline, ORIGIN)
    assert kinds(svc, org.commune_clerk) == ["assigned"]
    assert svc.notifications.remind() == 1  # due within two working days
    assert svc.notifications.remind() == 0  # not twice
    assert kinds(svc, org.commune_clerk) == ["assigned", "due_soon"]
    clock.at = local(date(2026, 11, 26))  # Thursday: two working days late
    svc.notifications.remind()
    assert kinds(svc, org.commune_clerk)[-1] == "overdue"
    assert kinds(svc, org.commune_leader) == ["escalated"]
    clock.at = local(date(2026, 11, 28))  # Saturday: nobody is reminded
    assert svc.notifications.remind() == 0
    clock.at = local(date(2026, 11, 30))  # Monday: overdue again, escalated once only
    svc.notifications.remind()
    assert kinds(svc, org.commune_clerk).count("overdue") == 2
    assert kinds(svc, org.commune_leader) == ["escalated"]
    svc.documents.complete_receipt(org.commune_clerk, entry, ORIGIN)
    clock.at = local(date(2026, 12, 1))
    assert svc.notifications.remind() == 0  # done: nothing more


def test_an_arrival_left_unregistered_reminds_the_clerks(svc: Services, people: Org,
                                                        clock: Clock) -> None:
    dispatched(svc, people)  # Monday
    clock.at = local(date(2026, 11, 24))  # Tuesday: the next working day is still on time
    assert svc.notifications.remind() == 0
    clock.at = local(date(2026, 11, 25))
    assert svc.notifications.remind() == 1
    assert kinds(svc, people.commune_clerk) == ["register_due"]


def test_reports_due_remind_the_units_that_have_not_sent(svc: Services, people: Org,
                                                         clock: Clock) -> None:
    svc.reports.request(people.leader, "P01", "Báo cáo quý IV", "Số liệu hội viên",
                        date(2026, 11, 25), DispatchTarget(unit_codes=("P01.X1", "P01.X2")),
                        ORIGIN)
    svc.notifications.remind()
    assert kinds(svc, people.commune_clerk) == ["report_due"]
    assert kinds(svc, people.commune_leader) == ["report_due"]
    clock.at = local(date(2026, 11, 26))
    svc.notifications.remind()
    assert kinds(svc, people.other_clerk) == ["report_due", "report_due"]  # due, then late


# --- mail ---------------------------------------------------------------------------------

class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    yield inbox, port
    server.stop()


def test_notifications_are_mailed_once_to_people_with_an_address(
        tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    svc = bootstrap(embedded_settings(tmp_path, DOCFLOW_SMTP_URL=f"smtp://127.0.0.1:{port}",
                                      DOCFLOW_MAIL_FROM="vanthu@hoilhpn.vn",
                                      DOCFLOW_SITE_URL="https://docflow.hoilhpn.vn/"),
                    clock=clock, upgrade_embedded=True)
    try:
        org = seed_org(svc)
        svc.org.import_org(OrgImport(users=[UserRow("t", "x1clerk", "X1", "P01.X1", "clerk",
                                                    email="vanthu.x1@hoilhpn.vn")]), ORIGIN)
        dispatched(svc, org, Urgency.URGENT)
        assert svc.notifications.send_mail() == 1  # the leader etc. have no address
        assert svc.notifications.send_mail() == 0
        (message,) = inbox.messages
        assert message["To"] == "vanthu.x1@hoilhpn.vn"
        assert message["Subject"] == "Văn bản KHẨN đến: 01/CT-HPN — Về việc phòng chống bão"
        # The link opens the page where the clerk registers it, not the API's JSON.
        [document_id] = {n.document_id for n in svc.notifications.list(org.commune_clerk)}
        assert (f"Văn bản đến / incoming entry: https://docflow.hoilhpn.vn/documents/"
                f"{document_id}\n") in message.get_content()
        assert "/api/" not in message.get_content()
        assert svc.notifications.list(org.commune_clerk)[0].mailed_at is not None
    finally:
        svc.close()


def test_a_refused_mail_stays_for_the_next_sweep(tmp_path: Path, clock: Clock,
                                                 smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    closed = _free_port()
    svc = bootstrap(embedded_settings(tmp_path), clock=clock, upgrade_embedded=True,
                    mailer=SmtpMailer("127.0.0.1", closed, "a@b.vn", timeout=2))
    try:
        org = seed_org(svc)
        svc.org.import_org(OrgImport(users=[UserRow("t", "x1clerk", "X1", "P01.X1", "clerk",
                                                    email="x1@hoilhpn.vn")]), ORIGIN)
        dispatched(svc, org, Urgency.URGENT)
        assert svc.notifications.send_mail() == 0
        assert svc.notifications.list(org.commune_clerk)[0].mailed_at is None
    finally:
        svc.close()
    assert inbox.messages == []


def test_a_bad_address_in_an_import_is_named(svc: Services) -> None:
    from docflow.domain.errors import Invalid

    seed_org(svc)
    with pytest.raises(Invalid) as refused:
        svc.org.import_org(OrgImport(users=[UserRow("row 2", "x1clerk", "X1", "P01.X1",
                                                    "clerk", email="not an address")]), ORIGIN)
    assert any("not an address" in e for e in refused.value.errors)
