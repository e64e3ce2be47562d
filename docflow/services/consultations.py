"""Consultation (xin ý kiến) on a draft, run by the ``consultation`` workflow.

The drafting unit asks named people (in any unit) for their opinion by a deadline; each answers
once, agree, disagree or other, with a comment; the step completes when all have answered, and
the drafting unit concludes, early only with a reason. The people asked may read the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import workflows
from docflow.domain import access
from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.consultations import (
    MAX_PARTICIPANTS,
    Answer,
    Consultation,
    ConsultationStatus,
    Opinion,
)
from docflow.domain.documents import DocumentStatus
from docflow.domain.errors import Conflict, Invalid, NotFound
from docflow.domain.org import Actor, Role
from docflow.services.documents import WORKFLOWS, load_visible, run_workflow
from docflow.services.ids import new_id
from docflow.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

CONSULTATION = WORKFLOWS.get("consultation")
"""The newest version, for new consultations; one under way keeps its own."""
ANSWERING_ROLES = frozenset({Role.OFFICER.value, Role.LEADER.value, Role.CLERK.value})


class ConsultationService:
    """Ask, answer, conclude; every step audited in the transaction that makes it."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, timezone: str) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = ZoneInfo(timezone)

    def ask(self, actor: Actor, document_id: str, question: str, usernames: Sequence[str],
            origin: Origin, *, deadline: date | None = None,
            quorum: int | None = None) -> Consultation:
        """Open a consultation on a document not yet issued; it is answered once `quorum` of
        the people asked have answered (everyone when None); others may still answer."""
        question = question.strip()
        names = [u.strip() for u in usernames if u.strip()]
        errors = []
        if not question:
            errors.append("the question is empty")
        if not 1 <= len(names) <= MAX_PARTICIPANTS:
            errors.append(f"ask 1 to {MAX_PARTICIPANTS} people")
        if len(set(names)) != len(names):
            errors.append("a person is named twice")
        if quorum is not None and not 1 <= quorum <= len(names):
            errors.append(f"the quorum is between 1 and the {len(names)} people asked")
        now = self._clock.now()
        if deadline is not None and deadline < now.astimezone(self._zone).date():
            errors.append("the deadline has passed already")
        if errors:
            raise Invalid("the consultation cannot be opened", errors=errors)
        with self._uow() as uow:
            document = load_visible(uow, actor, document_id, for_update=True)
            if document.status not in (DocumentStatus.DRAFT, DocumentStatus.REVIEW,
                                       DocumentStatus.SUBMITTED):
                raise Conflict.fmt("opinions are asked on a draft; this document is "
                                   "%(status)s", {"status": str(document.status)})
            people = uow.users.by_usernames(names)
            problems = [f"no such person: {n}" for n in names if n not in people]
            problems += [f"{n} is the one asking" for n in names
                         if n in people and people[n].id == actor.id]
            problems += [f"{n} holds no role that answers (officer, leader, clerk)"
                         for n in names if n in people
                         and not {m.role.value for m in uow.users.memberships(people[n].id)}
                         & ANSWERING_ROLES]
            if problems:
                raise Invalid("the consultation cannot be opened", errors=problems)
            fired = run_workflow(CONSULTATION, ConsultationStatus.DRAFT.value, "ask",
                                 workflows.Context(actor=actor.id, at=now, roles=access.
                                                   drafting_roles(actor, document.unit_code)))
            consultation = Consultation(
                id=new_id(), document_id=document.id, unit_code=document.unit_code,
                asked_by=actor.id, question=question,
                participants=tuple(people[n].id for n in names), deadline=deadline,
                quorum=quorum,
                status=ConsultationStatus(fired.target), workflow_version=CONSULTATION.version,
                created_at=now)
            uow.consultations.add(consultation)
            self._audit(uow, Action.CONSULTATION_ASK, consultation, actor, origin, now, {
                "question": question, "participants": names, "quorum": quorum,
                "deadline": deadline.isoformat() if deadline else None})
            uow.commit()
        return consultation

    def answer(self, actor: Actor, consultation_id: str, answer: Answer, comment: str,
               origin: Origin) -> Consultation:
        """One person's opinion, once; the last one completes the step."""
        comment = comment.strip()
        if answer is Answer.OTHER and not comment:
            raise Invalid("an 'other' answer says what, in the comment")
        now = self._clock.now()
        with self._uow() as uow:
            consultation = self._visible(uow, actor, consultation_id, for_update=True)
            if actor.id not in consultation.participants:
                raise Conflict("'answer': you are not among the people asked")
            if any(o.user_id == actor.id for o in consultation.opinions):
                raise Conflict("'answer': you have acted on this step already")
            roles = frozenset(m.role.value for m in actor.memberships)
            fired = run_workflow(self._definition(consultation), consultation.status.value,
                                 "answer", workflows.Context(
                                     actor=actor.id, at=now, roles={"consulted": roles},
                                     participants=consultation.participants,
                                     acted=tuple(o.user_id for o in consultation.opinions),
                                     quorum=consultation.quorum
                                     or len(consultation.participants)))
            opinion = Opinion(user_id=actor.id, answer=answer, comment=comment, at=now)
            uow.consultations.add_opinion(consultation.id, opinion)
            consultation = replace(consultation, status=ConsultationStatus(fired.target),
                                   opinions=(*consultation.opinions, opinion))
            uow.consultations.save(consultation)
            self._audit(uow, Action.CONSULTATION_ANSWER, consultation, actor, origin, now, {
                "answer": answer.value, "comment": comment, "complete": fired.complete})
            uow.commit()
        return consultation

    def conclude(self, actor: Actor, consultation_id: str, conclusion: str, origin: Origin,
                 *, reason: str | None = None) -> Consultation:
        """Close the consultation with the drafting unit's conclusion (before everyone has
        answered only with a reason, e.g. the deadline passed)."""
        conclusion = conclusion.strip()
        if not conclusion:
            raise Invalid("write the conclusion drawn from the answers")
        now = self._clock.now()
        with self._uow() as uow:
            consultation = self._visible(uow, actor, consultation_id, for_update=True)
            fired = run_workflow(self._definition(consultation), consultation.status.value,
                                 "conclude", workflows.Context(
                                     actor=actor.id, at=now, reason=reason,
                                     roles=access.drafting_roles(actor, consultation.unit_code)))
            consultation = replace(consultation, status=ConsultationStatus(fired.target),
                                   conclusion=conclusion, concluded_by=actor.id,
                                   concluded_at=now)
            uow.consultations.save(consultation)
            tally = consultation.tally()
            self._audit(uow, Action.CONSULTATION_CONCLUDE, consultation, actor, origin, now, {
                "conclusion": conclusion, "reason": fired.reason, "agree": tally.agree,
                "disagree": tally.disagree, "other": tally.other, "pending": tally.pending,
                "majority_agrees": tally.majority_agrees})
            uow.commit()
        return consultation

    def get(self, actor: Actor, consultation_id: str) -> Consultation:
        with self._uow() as uow:
            return self._visible(uow, actor, consultation_id)

    def for_document(self, actor: Actor, document_id: str) -> list[Consultation]:
        with self._uow() as uow:
            load_visible(uow, actor, document_id)
            return uow.consultations.for_document(document_id)

    @staticmethod
    def _definition(consultation: Consultation) -> workflows.Definition:
        return WORKFLOWS.get(CONSULTATION.name, consultation.workflow_version)

    @staticmethod
    def _visible(uow: UnitOfWork, actor: Actor, consultation_id: str, *,
                 for_update: bool = False) -> Consultation:
        consultation = uow.consultations.get(consultation_id, for_update=for_update)
        if consultation is None:
            raise NotFound("no such consultation")
        load_visible(uow, actor, consultation.document_id)  # NotFound, as for the document
        return consultation

    @staticmethod
    def _audit(uow: UnitOfWork, action: Action, consultation: Consultation, actor: Actor,
               origin: Origin, at: datetime, details: dict[str, object]) -> None:
        uow.audit.append(AuditEvent(
            at=at, action=action, object_type="consultation", object_id=consultation.id,
            actor_id=actor.id, unit_code=consultation.unit_code,
            document_id=consultation.document_id, origin=origin,
            details={"consultation": consultation.id, **details},
            authority=actor.capacity_in(consultation.unit_code)))
