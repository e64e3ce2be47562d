"""Administration within reach: an administrator of a unit manages that unit's subtree (its
units, the people in them and their roles, imports that land inside it) and nothing else."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from docflow.domain.audit import Origin
from docflow.domain.errors import Forbidden, Invalid, NotFound
from docflow.domain.org import Actor, Role, Unit, User
from docflow.services.identity import IdentityService
from docflow.services.org import ImportReport, OrgImport, OrgService
from docflow.services.ports import UnitOfWorkFactory

MAX_UNITS = 2000


@dataclass(frozen=True)
class Member:
    """A person's role in a unit, as the administrator's list shows it."""

    user: User
    unit_code: str
    role: str


class AdminService:
    """The administrator's pages' service: everything checked against the subtrees the
    actor administers, then done by the identity and organisation services."""

    def __init__(self, uow: UnitOfWorkFactory, identity: IdentityService,
                 org: OrgService) -> None:
        self._uow = uow
        self._identity = identity
        self._org = org

    def units(self, actor: Actor) -> list[Unit]:
        """The units the actor administers, by path (the first MAX_UNITS)."""
        with self._uow() as uow:
            return uow.units.under(self._paths(actor), MAX_UNITS)

    def members(self, actor: Actor) -> list[Member]:
        """Everyone holding a role in a unit the actor administers."""
        with self._uow() as uow:
            units = uow.units.under(self._paths(actor), MAX_UNITS)
            return [Member(user, code, role)
                    for user, code, role in uow.users.members([u.code for u in units])]

    def add_person(self, actor: Actor, username: str, full_name: str, unit_code: str,
                   role: Role, origin: Origin) -> str:
        """A new account with a role in an administered unit; its first password (shown
        once, to hand over)."""
        self._check_unit(actor, unit_code)
        password = _password()
        self._identity.add_user(username, full_name, password, [(unit_code, role)], origin,
                                actor_id=actor.id)
        return password

    def grant(self, actor: Actor, username: str, unit_code: str, role: Role,
              origin: Origin) -> None:
        """Give a person a role in an administered unit."""
        self._check_unit(actor, unit_code)
        self._identity.grant(username, unit_code, role, origin, actor_id=actor.id)

    def reset_password(self, actor: Actor, username: str, origin: Origin) -> str:
        """A new password for someone with a role in an administered unit (shown once)."""
        with self._uow() as uow:
            found = uow.users.by_username(username.strip().lower())
            if found is None:
                raise NotFound.fmt("no user '%(username)s'", {"username": username})
            held = uow.users.memberships(found.user.id)
        if not any(actor.administers(m.unit_path) for m in held):
            raise Forbidden("this person holds no role in a unit you administer")
        password = _password()
        self._identity.set_password(username, password, origin, actor_id=actor.id)
        return password

    def import_org(self, actor: Actor, data: OrgImport, origin: Origin) -> ImportReport:
        """An import file, when every unit and person in it lands inside what the actor
        administers (new units under administered ones); else nothing, each row named."""
        with self._uow() as uow:
            codes = {r.code for r in data.units} | {r.parent_code for r in data.units} \
                | {r.unit_code for r in data.users}
            stored = uow.units.get_many(c for c in codes if c)
        inside: set[str] = {c for c, u in stored.items() if actor.administers(u.path)}
        rows = {r.code: r for r in data.units}
        changed = True
        while changed:  # a new unit is inside when its parent is
            changed = False
            for row in data.units:
                if row.code not in inside and row.code not in stored \
                        and row.parent_code in inside:
                    inside.add(row.code)
                    changed = True
        errors = [f"{r.where}: unit '{r.code}' is outside the units you administer"
                  for r in rows.values() if r.code not in inside]
        errors += [f"{p.where}: unit '{p.unit_code}' is outside the units you administer"
                   for p in data.users if p.unit_code not in inside]
        if errors:
            raise Forbidden.fmt("%(count)s row(s) reach outside the units you administer; "
                                "nothing was imported", {"count": len(errors)}, errors=errors)
        return self._org.import_org(data, origin)

    @staticmethod
    def _paths(actor: Actor) -> Sequence[str]:
        paths = actor.administered_paths()
        if not paths:
            raise Forbidden("administration is for administrators of a unit")
        return paths

    def _check_unit(self, actor: Actor, unit_code: str) -> None:
        with self._uow() as uow:
            unit = uow.units.get(unit_code)
        if unit is None:
            raise Invalid.fmt("unknown unit '%(unit)s'", {"unit": unit_code})
        if not actor.administers(unit.path):
            raise Forbidden.fmt("you do not administer unit '%(unit)s'", {"unit": unit_code})


def _password() -> str:
    # 12 characters from an alphabet without look-alikes: read out or typed from paper.
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))
