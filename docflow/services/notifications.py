"""Notifications: status changes reach the people who must act, in the same transaction as the
change (`notify`); deadlines are watched by a recurring job (`NotificationService.remind`):
a reminder before the deadline, one each working day after it, and an escalation to the
assigning leader; arrivals not registered on time remind the clerks. Mail goes out from a
sweep of the notices not mailed yet, when SMTP is configured."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from docflow.domain.calendar import WorkingCalendar, registration_due
from docflow.domain.documents import Urgency
from docflow.domain.notifications import Notice, NoticeKind
from docflow.domain.org import Actor
from docflow.services.ids import new_id
from docflow.services.paging import page_size
from docflow.services.ports import Clock, Deadline, Mailer, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


def notify(uow: UnitOfWork, kind: NoticeKind, title: str, key: str, at: datetime, *,
           users: Iterable[str] = (), units: Iterable[str] = (), roles: Iterable[str] = (),
           document_id: str | None = None, receipt_id: str | None = None,
           skip: Iterable[str] = ()) -> int:
    """Notify `users`, and the holders of `roles` in `units`, except `skip` (whoever acted).
    Returns how many notices were made (those already given under `key` are not repeated)."""
    people = set(users)
    if units and roles:
        for ids in uow.users.holding(units, roles).values():
            people.update(ids)
    people -= set(skip)
    return uow.notifications.add_many([
        Notice(id=new_id(), user_id=p, kind=kind, title=title, key=key, created_at=at,
               document_id=document_id, receipt_id=receipt_id) for p in sorted(people)])


def notify_entries(uow: UnitOfWork, kind: NoticeKind, title: str, key: str, at: datetime,
                   entries: Sequence[tuple[str, str]], roles: Iterable[str], *,
                   document_id: str | None = None) -> int:
    """Notify the holders of `roles` in each entry's unit about that entry ((entry id, unit)
    pairs; a recall asks thousands of copies back): one lookup, one insert."""
    holders = uow.users.holding({unit for _, unit in entries}, roles)
    return uow.notifications.add_many([
        Notice(id=new_id(), user_id=user, kind=kind, title=title, key=f"{key}:{receipt_id}",
               created_at=at, document_id=document_id, receipt_id=receipt_id)
        for receipt_id, unit in entries for user in holders.get(unit, ())])


@dataclass(frozen=True)
class ReminderPolicy:
    remind_before: int = 2
    """Working days before a deadline when the lead is reminded (once)."""
    escalate_after: int = 1
    """Working days past a deadline when the assigning leader is told (once)."""


class NotificationService:
    """A person's notifications; the reminder job; the mail sweep."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, timezone: str,
                 calendar: WorkingCalendar, policy: ReminderPolicy = ReminderPolicy(),
                 mailer: Mailer | None = None, *, site_url: str = "") -> None:
        """`site_url`: the web UI's public address, which links in mail start with."""
        self._uow = uow
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        self._calendar = calendar
        self._policy = policy
        self._mailer = mailer
        self._site = site_url.rstrip("/")

    @property
    def mails(self) -> bool:
        return self._mailer is not None

    def list(self, actor: Actor, *, unread: bool = False, limit: int = 50,
             before: str | None = None) -> list[Notice]:
        """The actor's own notices, newest first (`page_size(limit)` of them)."""
        with self._uow() as uow:
            return uow.notifications.for_user(actor.id, unread=unread,
                                              limit=page_size(limit), before=before)

    def unread(self, actor: Actor) -> int:
        with self._uow() as uow:
            return uow.notifications.unread_count(actor.id)

    def mark_read(self, actor: Actor, ids: Sequence[str] | None = None) -> int:
        """Mark the actor's notices read (all of them when `ids` is None)."""
        with self._uow() as uow:
            done = uow.notifications.mark_read(actor.id, ids, self._clock.now())
            uow.commit()
        return done

    # --- the recurring jobs -----------------------------------------------------------------

    def remind(self) -> int:
        """Deadlines and late registrations, as of now; safe to run as often as wanted (each
        reminder has its key). Returns how many notices were made."""
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        if not self._calendar.is_working_day(today):
            return 0  # nobody is reminded on a day off; the next working day catches up
        cal, policy = self._calendar, self._policy
        horizon = cal.add_working_days(today, policy.remind_before)
        made = 0
        with self._uow() as uow:
            # Built in memory, written in one insert each: a dispatch to thousands of units
            # left unregistered is thousands of reminders, not thousands of round trips.
            notices = []
            for d in uow.receipts.deadlines(horizon):
                if d.deadline >= today:
                    notices.append(_about(d, now, d.lead_id, NoticeKind.DUE_SOON,
                                          f"Sắp đến hạn xử lý ({d.deadline:%d/%m/%Y}): "
                                          f"{d.label}", f"due:{d.receipt_id}:{d.deadline}"))
                    continue
                late = cal.working_days_between(d.deadline, today)
                notices.append(_about(d, now, d.lead_id, NoticeKind.OVERDUE,
                                      f"Quá hạn xử lý {late} ngày làm việc: {d.label}",
                                      f"overdue:{d.receipt_id}:{today}"))
                if late >= policy.escalate_after:
                    notices.append(_about(d, now, d.assigned_by, NoticeKind.ESCALATED,
                                          f"Việc đã giao quá hạn (hạn {d.deadline:%d/%m/%Y}): "
                                          f"{d.label}",
                                          f"escalated:{d.receipt_id}:{d.deadline}"))
            made += uow.notifications.add_many(notices)
            start_of_day = datetime.combine(today, time(), self._zone)
            late_entries = [w for w in uow.receipts.waiting(start_of_day)
                            if registration_due(w.delivered_at.astimezone(self._zone).date(),
                                                Urgency(w.urgency), cal) < today]
            holders = uow.users.holding({w.unit_code for w in late_entries}, ["clerk"])
            made += uow.notifications.add_many([
                Notice(id=new_id(), user_id=user, kind=NoticeKind.REGISTER_DUE,
                       title=f"Văn bản đến chưa được vào sổ (đến ngày "
                             f"{w.delivered_at.astimezone(self._zone):%d/%m/%Y}): {w.label}",
                       key=f"register:{w.receipt_id}", created_at=now,
                       document_id=w.document_id, receipt_id=w.receipt_id)
                for w in late_entries for user in holders.get(w.unit_code, ())])
            made += self._reports(uow, now, today, horizon)
            uow.commit()
        return made

    def _reports(self, uow: UnitOfWork, now: datetime, today: date, horizon: date) -> int:
        made = 0
        for request in uow.report_requests.open_due(horizon):
            pending = request.pending()
            if not pending:
                continue
            kind = "late" if request.deadline < today else "due"
            made += notify(uow, NoticeKind.REPORT_DUE,
                           (f"Quá hạn gửi báo cáo (hạn {request.deadline:%d/%m/%Y}): "
                            if kind == "late" else
                            f"Sắp đến hạn gửi báo cáo ({request.deadline:%d/%m/%Y}): ")
                           + request.title,
                           f"report:{request.id}:{kind}:{request.deadline}", now,
                           units=pending, roles=["clerk", "leader"])
        return made

    def send_mail(self, limit: int = 200) -> int:
        """Mail the notices not mailed yet (unread ones, to people with an address); a
        refused message stays for the next sweep. Returns how many went out."""
        if self._mailer is None:
            return 0
        with self._uow() as uow:
            waiting = uow.notifications.unmailed(limit)
        sent = 0
        for notice, address in waiting:
            try:
                self._mailer.send(address, notice.title, _mail_body(notice, self._site))
            except OSError as exc:
                log.warning("mail to %s failed, kept for the next sweep: %s", address, exc)
                continue
            with self._uow() as uow:
                uow.notifications.mark_mailed(notice.id, self._clock.now())
                uow.commit()
            sent += 1
        return sent


def _about(d: Deadline, at: datetime, user: str, kind: NoticeKind, title: str, key: str
           ) -> Notice:
    return Notice(id=new_id(), user_id=user, kind=kind, title=title, key=key, created_at=at,
                  document_id=d.document_id, receipt_id=d.receipt_id)


def _mail_body(notice: Notice, site: str) -> str:
    # The page a person acts on (an incoming entry's actions are on its document's page),
    # not the API's JSON.
    lines = [notice.title, ""]
    if notice.document_id:
        label = "Văn bản đến / incoming entry" if notice.receipt_id else "Văn bản / document"
        lines.append(f"{label}: {site}/documents/{notice.document_id}")
    elif notice.kind is NoticeKind.REPORT_DUE:
        lines.append(f"Báo cáo / reports: {site}/reports")
    lines += ["", "— docflow (thư tự động; vui lòng không trả lời)"]
    return "\n".join(lines)
