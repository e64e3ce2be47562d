"""Granting and revoking signing authority (KT., Q., TL., TUQ.); every change audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.delegation import Delegation, check_grant
from docflow.domain.documents import CATALOGUE
from docflow.domain.errors import Forbidden, Invalid, NotFound
from docflow.domain.org import Actor, Role
from docflow.domain.signatures import Authority
from docflow.services.ids import new_id
from docflow.services.ports import Clock, UnitOfWorkFactory


class DelegationService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def grant(self, actor: Actor, unit_code: str, grantee: str, authority: Authority,
              valid_from: date, valid_to: date, reason: str, origin: Origin, *,
              doc_types: Iterable[str] = ()) -> Delegation:
        """A leader of `unit_code` lets `grantee` (a username) sign with `authority`, for
        these document types (all when none), from `valid_from` to `valid_to`."""
        types = frozenset(doc_types)
        unknown = sorted(types - set(CATALOGUE))
        if unknown:
            raise Invalid("unknown document types", errors=unknown)
        is_leader = Role.LEADER.value in actor.roles_in(unit_code)
        now = self._clock.now()
        with self._uow() as uow:
            found = uow.users.by_usernames([grantee])
            person = found.get(grantee)
            if person is None or unit_code not in {
                    m.unit_code for m in uow.users.memberships(person.id)}:
                raise Invalid.fmt("%(person)s is not a member of %(unit)s",
                                  {"person": grantee, "unit": unit_code})
            check_grant(authority, is_leader, actor.id, person.id, valid_from, valid_to,
                        reason)
            delegation = Delegation(
                id=new_id(), unit_code=unit_code, grantor_id=actor.id, grantee_id=person.id,
                authority=authority, doc_types=types, valid_from=valid_from,
                valid_to=valid_to, reason=reason.strip(), created_at=now)
            uow.delegations.add(delegation)
            uow.audit.append(AuditEvent(
                at=now, action=Action.DELEGATION_GRANT, object_type="delegation",
                object_id=delegation.id, actor_id=actor.id, unit_code=unit_code,
                document_id=None, origin=origin, details={
                    "grantee": grantee, "authority": authority.value,
                    "doc_types": sorted(types), "valid_from": valid_from.isoformat(),
                    "valid_to": valid_to.isoformat(), "reason": delegation.reason},
                authority=actor.capacity_in(unit_code)))
            uow.commit()
        return delegation

    def revoke(self, actor: Actor, delegation_id: str, origin: Origin) -> Delegation:
        """A leader of the unit withdraws a grant before it ends."""
        now = self._clock.now()
        with self._uow() as uow:
            delegation = uow.delegations.get(delegation_id)
            if delegation is None or not actor.unit_codes & {delegation.unit_code}:
                raise NotFound("no such delegation")
            if Role.LEADER.value not in actor.roles_in(delegation.unit_code):
                raise Forbidden("only a leader of the unit revokes a delegation")
            if delegation.revoked_at is not None:
                return delegation
            uow.delegations.revoke(delegation.id, now)
            uow.audit.append(AuditEvent(
                at=now, action=Action.DELEGATION_REVOKE, object_type="delegation",
                object_id=delegation.id, actor_id=actor.id, unit_code=delegation.unit_code,
                document_id=None, origin=origin, details={},
                authority=actor.capacity_in(delegation.unit_code)))
            uow.commit()
        return replace(delegation, revoked_at=now)

    def for_unit(self, actor: Actor, unit_code: str) -> list[Delegation]:
        """The unit's grants, for its own people."""
        if unit_code not in actor.unit_codes:
            raise NotFound("no such unit")
        with self._uow() as uow:
            return uow.delegations.for_unit(unit_code)
