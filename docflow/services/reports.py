"""Report requests, run by the ``report-request`` workflow: a leader asks the units below
(named, or a level under a unit) for a report by a deadline; each asked unit submits the report
it issued; the requesting unit sees who has, who has not and who was late, reminds, extends the
deadline with a reason, and closes (or cancels with a reason). Every step audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import workflows
from docflow.domain import access
from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.errors import Conflict, Forbidden, Invalid, NotFound
from docflow.domain.org import Actor
from docflow.domain.reports import ANSWERS, ReportRequest, RequestStatus, Submission
from docflow.domain.routing import DispatchTarget
from docflow.services.documents import WORKFLOWS, load_visible, run_workflow
from docflow.services.ids import new_id
from docflow.services.ports import (
    BlobStore,
    Clock,
    CompiledPart,
    ReportCompiler,
    SummaryRow,
    UnitOfWork,
    UnitOfWorkFactory,
)

REPORT_REQUEST = WORKFLOWS.get("report-request")


class ReportService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, timezone: str,
                 blobs: BlobStore | None = None, compiler: ReportCompiler | None = None
                 ) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        self._blobs = blobs
        self._compiler = compiler

    def compile(self, actor: Actor, request_id: str, origin: Origin) -> bytes:
        """The requesting unit's compilation: a summary table of every asked unit (sent, on
        time or late, or still owed) and the reports sent, in the order of the table. The
        download is audited."""
        if self._blobs is None or self._compiler is None:
            raise Conflict("this service was built without a report compiler")
        now = self._clock.now()
        with self._uow() as uow:
            request = self._get(uow, actor, request_id)
            if request.unit_code not in actor.unit_codes:
                raise Forbidden("the requesting unit compiles its reports")
            units = uow.units.get_many([s.unit_code for s in request.submissions])
            docs = {s.document_id: uow.documents.get(s.document_id)
                    for s in request.submissions if s.document_id}
            uow.audit.append(AuditEvent(
                at=now, action=Action.REPORT_COMPILE, object_type="report_request",
                object_id=request.id, actor_id=actor.id, unit_code=request.unit_code,
                document_id=None, origin=origin,
                details={"submitted": len(docs), "asked": len(request.submissions)}))
            uow.commit()
        rows, parts = [], []
        for s in sorted(request.submissions, key=lambda x: units[x.unit_code].path
                        if x.unit_code in units else x.unit_code):
            name = units[s.unit_code].name if s.unit_code in units else s.unit_code
            doc = docs.get(s.document_id) if s.document_id else None
            if doc is None or s.submitted_at is None:
                rows.append(SummaryRow(unit=name, state="Chưa gửi"))
                continue
            rows.append(SummaryRow(
                unit=name, state="Gửi muộn" if s.late else "Đúng hạn", symbol=doc.symbol,
                submitted_on=s.submitted_at.astimezone(self._zone).strftime("%d/%m/%Y"),
                abstract=doc.abstract))
            main = doc.main_revision()
            if main is not None:
                with self._blobs.open(main.sha256) as stream:
                    parts.append(CompiledPart(label=f"{name} — {doc.symbol or ''}",
                                              pdf=stream.read()))
        sent = sum(1 for r in rows if r.symbol)
        heading = [
            f"Hạn gửi: {request.deadline:%d/%m/%Y}. Đã gửi {sent}/{len(rows)} đơn vị "
            f"({sum(1 for s in request.submissions if s.late)} gửi muộn).",
            f"Tổng hợp lúc {now.astimezone(self._zone):%H:%M %d/%m/%Y}. Bản tổng hợp để đọc: "
            f"bản gốc có chữ ký số của từng báo cáo lưu tại docflow.",
        ]
        return self._compiler.compile(f"TỔNG HỢP BÁO CÁO: {request.title}", heading, rows,
                                      parts)

    def request(self, actor: Actor, unit_code: str, title: str, details: str,
                deadline: date, asked: DispatchTarget, origin: Origin) -> ReportRequest:
        """Ask the units `asked` names (all below `unit_code`) for a report by `deadline`."""
        asked = asked.check()
        now = self._clock.now()
        errors = []
        if not title.strip():
            errors.append("the title is empty")
        if deadline < self._today(now):
            errors.append("the deadline has passed already")
        if errors:
            raise Invalid("the report request is not valid", errors=errors)
        with self._uow() as uow:
            unit = uow.units.get(unit_code)
            if unit is None or unit_code not in actor.unit_codes:
                raise NotFound("no such unit of yours")
            fired = run_workflow(REPORT_REQUEST, RequestStatus.DRAFT.value, "send",
                                 self._context(actor, unit_code, now))
            codes = self._asked_units(uow, asked, unit.path, unit_code, self._today(now))
            request = ReportRequest(
                id=new_id(), unit_code=unit_code, title=title.strip(), details=details.strip(),
                deadline=deadline, status=RequestStatus(fired.target),
                workflow_version=REPORT_REQUEST.version, created_by=actor.id, created_at=now,
                submissions=tuple(Submission(unit_code=c) for c in codes))
            uow.report_requests.add(request)
            self._audit(uow, Action.REPORT_REQUEST, request, actor, origin, now, {
                "title": request.title, "deadline": deadline.isoformat(), "asked": codes})
            uow.commit()
        return request

    def submit(self, actor: Actor, request_id: str, unit_code: str, document_id: str,
               origin: Origin) -> ReportRequest:
        """An asked unit links the report it issued; after the deadline it counts as late."""
        now = self._clock.now()
        with self._uow() as uow:
            request = self._get(uow, actor, request_id, for_update=True)
            if request.status is not RequestStatus.OPEN:
                raise Conflict.fmt("the request is %(status)s; reports are not taken",
                                   {"status": str(request.status)})
            if unit_code not in actor.unit_codes:
                raise Forbidden("a unit submits its own report")
            entry = next((s for s in request.submissions if s.unit_code == unit_code), None)
            if entry is None:
                raise Conflict.fmt("%(unit)s was not asked for this report",
                                   {"unit": unit_code})
            if entry.document_id is not None:
                raise Conflict.fmt("%(unit)s has submitted its report already",
                                   {"unit": unit_code})
            report = load_visible(uow, actor, document_id)
            if report.unit_code != unit_code or report.status not in ANSWERS:
                raise Invalid("the report is a document the unit issued (numbered)")
            submission = Submission(unit_code=unit_code, document_id=report.id,
                                    submitted_by=actor.id, submitted_at=now,
                                    late=self._today(now) > request.deadline)
            uow.report_requests.submit(request.id, submission)
            self._audit(uow, Action.REPORT_SUBMIT, request, actor, origin, now, {
                "unit": unit_code, "document": report.id, "symbol": report.symbol,
                "late": submission.late})
            uow.commit()
        return replace(request, submissions=tuple(
            submission if s.unit_code == unit_code else s for s in request.submissions))

    def remind(self, actor: Actor, request_id: str, origin: Origin) -> list[str]:
        """Record a reminder to every unit that has not submitted; returns them."""
        return self._step(actor, request_id, "remind", Action.REPORT_REMIND, origin)[1]

    def extend(self, actor: Actor, request_id: str, deadline: date, reason: str,
               origin: Origin) -> ReportRequest:
        request, _ = self._step(actor, request_id, "extend", Action.REPORT_EXTEND, origin,
                                reason=reason, deadline=deadline)
        return request

    def close(self, actor: Actor, request_id: str, origin: Origin, *,
              cancel_reason: str | None = None) -> ReportRequest:
        """End the collection; `cancel_reason` cancels it instead."""
        trigger = "cancel" if cancel_reason is not None else "close"
        request, _ = self._step(actor, request_id, trigger, Action.REPORT_CLOSE, origin,
                                reason=cancel_reason)
        return request

    def get(self, actor: Actor, request_id: str) -> ReportRequest:
        with self._uow() as uow:
            return self._get(uow, actor, request_id)

    def involving(self, actor: Actor) -> list[ReportRequest]:
        """Requests the actor's units made or were asked, newest first."""
        with self._uow() as uow:
            ids = uow.report_requests.involving(sorted(actor.unit_codes))
            return [r for i in ids if (r := uow.report_requests.get(i)) is not None]

    def collecting(self, actor: Actor) -> list[ReportRequest]:
        """Requests the actor's units made that still collect reports, newest first."""
        return [r for r in self.involving(actor)
                if r.unit_code in actor.unit_codes and r.status is RequestStatus.OPEN]

    # --- shared ------------------------------------------------------------------------------

    def _step(self, actor: Actor, request_id: str, trigger: str, action: Action,
              origin: Origin, *, reason: str | None = None, deadline: date | None = None
              ) -> tuple[ReportRequest, list[str]]:
        now = self._clock.now()
        with self._uow() as uow:
            request = self._get(uow, actor, request_id, for_update=True)
            fired = run_workflow(self._definition(request), request.status.value, trigger,
                                 self._context(actor, request.unit_code, now, reason))
            details: dict[str, object] = {"from": fired.source, "to": fired.target,
                                          "reason": fired.reason}
            if deadline is not None:
                if deadline <= request.deadline:
                    raise Invalid.fmt("an extension moves the deadline later than %(day)s",
                                      {"day": request.deadline.isoformat()})
                details["deadline"] = deadline.isoformat()
                request = replace(request, deadline=deadline)
            pending = request.pending()
            if trigger == "remind":
                if not pending:
                    raise Conflict("every unit has submitted; nobody to remind")
                details["units"] = pending
            request = replace(request, status=RequestStatus(fired.target))
            if request.status is RequestStatus.CLOSED:
                request = replace(request, closed_at=now, close_reason=fired.reason)
                details["pending"] = pending
            uow.report_requests.save(request)
            self._audit(uow, action, request, actor, origin, now, details)
            uow.commit()
        return request, pending

    def _get(self, uow: UnitOfWork, actor: Actor, request_id: str, *,
             for_update: bool = False) -> ReportRequest:
        request = uow.report_requests.get(request_id, for_update=for_update)
        asked = {s.unit_code for s in request.submissions} if request else set()
        if request is None or not (request.unit_code in actor.unit_codes
                                   or asked & actor.unit_codes):
            raise NotFound("no such report request")
        return request

    @staticmethod
    def _asked_units(uow: UnitOfWork, asked: DispatchTarget, under_path: str,
                     requester: str, today: date) -> list[str]:
        if asked.unit_codes:
            units = uow.units.get_many(asked.unit_codes)
            errors = [f"unknown unit '{c}'" for c in asked.unit_codes if c not in units]
            errors += [f"unit '{u.code}' is not below {requester}" for u in units.values()
                       if u.code == requester or not u.path.startswith(under_path)]
            if errors:
                raise Invalid("the asked units are not valid", errors=errors)
            return list(asked.unit_codes)
        assert asked.level is not None and asked.under is not None
        under = uow.units.get(asked.under)
        if under is None or not under.path.startswith(under_path):
            raise Invalid.fmt("unit '%(unit)s' is not %(issuer)s or under it",
                              {"unit": asked.under, "issuer": requester})
        codes = [c for c in uow.units.active_codes_at_level(asked.level, under.path, today)
                 if c != requester]
        if not codes:
            raise Invalid.fmt("no active unit at level '%(level)s' under %(unit)s",
                              {"level": asked.level, "unit": asked.under})
        return codes

    @staticmethod
    def _definition(request: ReportRequest) -> workflows.Definition:
        return WORKFLOWS.get(REPORT_REQUEST.name, request.workflow_version)

    @staticmethod
    def _context(actor: Actor, unit_code: str, now: datetime,
                 reason: str | None = None) -> workflows.Context:
        return workflows.Context(actor=actor.id, at=now, reason=reason,
                                 roles=access.requesting_roles(actor, unit_code))

    def _today(self, now: datetime) -> date:
        return now.astimezone(self._zone).date()

    @staticmethod
    def _audit(uow: UnitOfWork, action: Action, request: ReportRequest, actor: Actor,
               origin: Origin, at: datetime, details: dict[str, object]) -> None:
        uow.audit.append(AuditEvent(
            at=at, action=action, object_type="report_request", object_id=request.id,
            actor_id=actor.id, unit_code=request.unit_code, document_id=None, origin=origin,
            details=details))
