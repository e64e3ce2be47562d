"""Handling an incoming document (Decree 30, Art. 20-24): the leader annotates it and assigns
one lead, coordinators and people informed, with a deadline; the lead reports progress and
then done; the leader can assign again or extend the deadline, with a reason. Each step is a
transition of the entry's ``incoming`` flow, audited, and the sender sees the status (04
assigned, 05 processing, 06 done)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.calendar import WorkingCalendar
from docflow.domain.errors import Conflict, Invalid, NotFound
from docflow.domain.notifications import NoticeKind
from docflow.domain.org import Actor
from docflow.domain.routing import (
    Assignment,
    DispatchTarget,
    ProgressNote,
    Receipt,
    ReceiptStatus,
)
from docflow.services.documents import (
    DocumentService,
    incoming,
    load_visible,
    own_entry,
    receipt_context,
    run_workflow,
)
from docflow.services.ids import new_id
from docflow.services.notifications import notify
from docflow.services.ports import Clock, UnitOfWork, UnitOfWorkFactory


class HandlingService:
    """Assign, report progress, extend; completion is `DocumentService.complete_receipt`."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, timezone: str,
                 calendar: WorkingCalendar | None = None,
                 documents: DocumentService | None = None) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        self._calendar = calendar or WorkingCalendar()
        self._documents = documents

    def deadline_in(self, working_days: int) -> date:
        """The day `working_days` working days from today (holidays skipped): what a leader
        means by "within 5 working days"."""
        if not 1 <= working_days <= 366:
            raise Invalid("a deadline is 1 to 366 working days away")
        today = self._clock.now().astimezone(self._zone).date()
        return self._calendar.add_working_days(today, working_days)

    def assign(self, actor: Actor, receipt_id: str, annotation: str, lead: str,
               deadline: date, origin: Origin, *, coordinators: Sequence[str] = (),
               informed: Sequence[str] = (), coordinator_units: Sequence[str] = (),
               informed_units: Sequence[str] = ()) -> Assignment:
        """The leader's annotation and who handles the entry, by when (usernames, all members
        of the recipient unit; nobody in two roles), and sub-units that coordinate or are
        informed: the document is passed down to them, coordinators' copies due on the same
        day. Assigning again replaces the previous assignment, which stays in the trail."""
        now = self._clock.now()
        names = [lead, *coordinators, *informed]
        unit_codes = [*coordinator_units, *informed_units]
        errors = []
        if len(set(unit_codes)) != len(unit_codes):
            errors.append("a sub-unit is named in two roles, or twice")
        if not annotation.strip():
            errors.append("the annotation (bút phê) is empty")
        if not lead.strip():
            errors.append("name the lead (chủ trì)")
        if len(set(names)) != len(names):
            errors.append("a person is named in two roles, or twice")
        if deadline < now.astimezone(self._zone).date():
            errors.append("the deadline has passed already")
        if errors:
            raise Invalid("the assignment is not valid", errors=errors)
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            fired = run_workflow(incoming(receipt), receipt.status, "assign",
                                 receipt_context(uow, actor, receipt, now))
            people = uow.users.by_usernames(names)
            problems = [f"no such person: {n}" for n in names if n not in people]
            problems += [f"{n} is not a member of {receipt.unit_code}" for n in names
                         if n in people and receipt.unit_code not in
                         {m.unit_code for m in uow.users.memberships(people[n].id)}]
            problems += self._sub_unit_problems(uow, receipt.unit_code, unit_codes,
                                                now.astimezone(self._zone).date())
            if problems:
                raise Invalid("the assignment is not valid", errors=problems)
            if unit_codes and self._documents is None:
                raise Conflict("this service was built without passing documents down")
            assignment = Assignment(
                id=new_id(), receipt_id=receipt.id, annotation=annotation.strip(),
                lead_id=people[lead].id,
                coordinators=tuple(people[n].id for n in coordinators),
                informed=tuple(people[n].id for n in informed), deadline=deadline,
                assigned_by=actor.id, assigned_at=now,
                units=tuple([(c, "coordinator") for c in coordinator_units]
                            + [(c, "informed") for c in informed_units]))
            uow.assignments.add(assignment)
            receipt.status = ReceiptStatus(fired.target)
            receipt.deadline = deadline
            receipt.assigned_at = receipt.assigned_at or now
            receipt.updated_at = now
            uow.receipts.save(receipt)
            self._audit(uow, Action.RECEIPT_ASSIGN, receipt, actor, origin, {
                "from": fired.source, "to": fired.target, "annotation": assignment.annotation,
                "lead": lead, "coordinators": list(coordinators), "informed": list(informed),
                "coordinator_units": list(coordinator_units),
                "informed_units": list(informed_units), "deadline": deadline.isoformat()})
            label = _label(uow, receipt)
            for role, ids in (("Chủ trì", [assignment.lead_id]),
                              ("Phối hợp", assignment.coordinators),
                              ("Để biết", assignment.informed)):
                notify(uow, NoticeKind.ASSIGNED,
                       f"{role} xử lý{'' if role == 'Để biết' else f' (hạn {deadline:%d/%m/%Y})'}"
                       f": {label}", f"assigned:{assignment.id}", now, users=ids,
                       document_id=receipt.document_id, receipt_id=receipt.id,
                       skip=[actor.id])
            uow.commit()
        # The sub-units' copies: the cascade's own path (its checks ran above), after the
        # assignment, so a lost job is requeued like any forward.
        for codes, due in ((coordinator_units, deadline), (informed_units, None)):
            if codes and self._documents is not None:
                self._documents.forward(actor, receipt_id, DispatchTarget(unit_codes=tuple(codes)),
                                        origin, deadline=due)
        return assignment

    @staticmethod
    def _sub_unit_problems(uow: UnitOfWork, unit_code: str, codes: Sequence[str],
                           today: date) -> list[str]:
        if not codes:
            return []
        units = uow.units.get_many([unit_code, *codes])
        own = units[unit_code]
        problems = [f"no such unit: {c}" for c in codes if c not in units]
        problems += [f"{c} is not a sub-unit of {unit_code}" for c in codes if c in units
                     and (c == unit_code or not units[c].is_within(own.path))]
        problems += [f"{c} was merged or closed" for c in codes if c in units
                     and not units[c].is_active(today)]
        return problems

    def progress(self, actor: Actor, receipt_id: str, text: str, origin: Origin
                 ) -> ProgressNote:
        """The lead's progress note; the entry is then being processed (05)."""
        if not text.strip():
            raise Invalid("the progress note is empty")
        now = self._clock.now()
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            fired = run_workflow(incoming(receipt), receipt.status, "progress",
                                 receipt_context(uow, actor, receipt, now))
            note = ProgressNote(id=new_id(), receipt_id=receipt.id, author_id=actor.id,
                                text=text.strip(), at=now)
            uow.assignments.add_note(note)
            receipt.status = ReceiptStatus(fired.target)
            receipt.updated_at = now
            uow.receipts.save(receipt)
            self._audit(uow, Action.RECEIPT_PROGRESS, receipt, actor, origin, {
                "from": fired.source, "to": fired.target, "note": note.text})
            uow.commit()
        return note

    def extend(self, actor: Actor, receipt_id: str, deadline: date, reason: str,
               origin: Origin) -> Receipt:
        """A later deadline, with the reason; the leader's to give."""
        now = self._clock.now()
        with self._uow() as uow:
            receipt = own_entry(uow, actor, receipt_id)
            fired = run_workflow(incoming(receipt), receipt.status, "extend",
                                 receipt_context(uow, actor, receipt, now, reason))
            if receipt.deadline is not None and deadline <= receipt.deadline:
                raise Invalid.fmt("an extension moves the deadline later than %(day)s",
                                  {"day": receipt.deadline.isoformat()})
            before = receipt.deadline
            receipt.deadline = deadline
            receipt.updated_at = now
            uow.receipts.save(receipt)
            self._audit(uow, Action.RECEIPT_EXTEND, receipt, actor, origin, {
                "from_deadline": before.isoformat() if before else None,
                "to_deadline": deadline.isoformat(), "reason": fired.reason})
            current = uow.assignments.current(receipt.id)
            if current is not None:
                notify(uow, NoticeKind.EXTENDED,
                       f"Gia hạn xử lý đến {deadline:%d/%m/%Y}: {_label(uow, receipt)}",
                       f"extended:{receipt.id}:{deadline}", now, users=[current.lead_id],
                       document_id=receipt.document_id, receipt_id=receipt.id,
                       skip=[actor.id])
            uow.commit()
        return receipt

    def handling(self, actor: Actor, receipt_id: str
                 ) -> tuple[Assignment | None, list[ProgressNote]]:
        """The assignment in force and the progress notes, oldest first."""
        with self._uow() as uow:
            receipt = uow.receipts.get(receipt_id)
            if receipt is None:
                raise NotFound("no such incoming entry")
            load_visible(uow, actor, receipt.document_id)
            return uow.assignments.current(receipt.id), uow.assignments.notes(receipt.id)

    @staticmethod
    def _audit(uow: UnitOfWork, action: Action, receipt: Receipt, actor: Actor,
               origin: Origin, details: dict[str, object]) -> None:
        assert receipt.updated_at is not None
        uow.audit.append(AuditEvent(
            at=receipt.updated_at, action=action, object_type="receipt", object_id=receipt.id,
            actor_id=actor.id, unit_code=receipt.unit_code, document_id=receipt.document_id,
            origin=origin, details=details, authority=actor.capacity_in(receipt.unit_code)))


def _label(uow: UnitOfWork, receipt: Receipt) -> str:
    document = uow.documents.get(receipt.document_id)
    if document is None:
        return receipt.document_id
    return document.symbol or document.abstract[:120]

