"""Loading and reading the organisation tree: units, levels, people and roles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from docflow.domain.audit import Action, AuditEvent, Origin
from docflow.domain.errors import Forbidden, Invalid
from docflow.domain.org import (
    ABBREVIATION,
    FAMILIES,
    ROLES,
    UNIT_CODE,
    Actor,
    CommitteeTerm,
    Level,
    Role,
    Unit,
    User,
    child_path,
)
from docflow.services.ids import new_id
from docflow.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class UnitRow:
    """One unit as read from an import file; `where` names the file and row for errors."""

    where: str
    code: str
    name: str
    abbreviation: str
    level: str
    parent_code: str
    valid_from: str = ""
    successor_code: str = ""
    family: str = ""
    """``state`` (the default) or ``party``: how its documents are numbered."""


@dataclass(frozen=True)
class TermRow:
    """A Party committee's term (nhiệm kỳ) as read from an import file."""

    where: str
    unit_code: str
    code: str
    starts_on: str
    ends_on: str


@dataclass(frozen=True)
class UserRow:
    where: str
    username: str
    full_name: str
    unit_code: str
    role: str
    email: str = ""


@dataclass(frozen=True)
class OrgImport:
    levels: Sequence[Level] = ()
    units: Sequence[UnitRow] = ()
    users: Sequence[UserRow] = ()
    terms: Sequence[TermRow] = ()


@dataclass
class ImportReport:
    units_created: int = 0
    units_updated: int = 0
    levels_created: int = 0
    users_created: int = 0
    roles_granted: int = 0
    usernames_created: list[str] = field(default_factory=list)


class OrgService:
    """Imports the tree all at once: either every row is good and all of it lands, or nothing."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def import_org(
        self, data: OrgImport, origin: Origin, progress: Progress | None = None
    ) -> ImportReport:
        """Validate every row, then write units, levels, users and roles in one transaction."""
        report = ImportReport()
        errors: list[str] = []
        with self._uow() as uow:
            existing_levels = {lv.code: lv for lv in uow.units.levels()}
            file_codes: dict[str, UnitRow] = {}
            for row in data.units:
                errors += _unit_row_errors(row)
                if row.code in file_codes:
                    errors.append(f"{row.where}: unit '{row.code}' appears twice "
                                  f"(first at {file_codes[row.code].where})")
                file_codes[row.code] = row
            referenced = {r.parent_code for r in data.units if r.parent_code}
            referenced |= {r.successor_code for r in data.units if r.successor_code}
            referenced |= {r.unit_code for r in data.users}
            known = uow.units.get_many(referenced - set(file_codes))
            stored = uow.units.get_many(file_codes)
            for row in data.units:
                for ref, what in ((row.parent_code, "parent"), (row.successor_code, "successor")):
                    if ref and ref not in file_codes and ref not in known:
                        errors.append(f"{row.where}: unknown {what} unit '{ref}'")
            paths, cycle_errors = _paths(data.units, file_codes, known)
            errors += cycle_errors
            terms, term_errors = _terms(data.terms, file_codes, known, uow)
            errors += term_errors
            for person in data.users:
                errors += _user_row_errors(person)
                if person.unit_code and person.unit_code not in file_codes \
                        and person.unit_code not in known:
                    errors.append(f"{person.where}: unknown unit '{person.unit_code}'")
            if errors:
                raise Invalid.fmt("the import has %(count)s bad row(s); nothing was imported",
                                  {"count": len(errors)}, errors=errors)

            new_levels = _derive_levels(data, existing_levels, paths)
            uow.units.upsert_levels(new_levels)
            report.levels_created = sum(1 for lv in new_levels if lv.code not in existing_levels)
            total = len(data.units) + len(data.users)
            units = [
                Unit(code=r.code, name=r.name.strip(), abbreviation=r.abbreviation.strip(),
                     level=r.level.strip(), parent_code=r.parent_code or None,
                     path=paths[r.code],
                     valid_from=date.fromisoformat(r.valid_from) if r.valid_from else None,
                     successor_code=r.successor_code or None,
                     family=r.family.strip().lower() or "state")
                for r in data.units
            ]
            for start in range(0, len(units), 1000):
                uow.units.upsert(units[start:start + 1000])
                if progress:
                    progress(min(start + 1000, len(units)), total)
            uow.units.upsert_terms(terms)
            report.units_created = sum(1 for u in units if u.code not in stored)
            report.units_updated = len(units) - report.units_created

            existing_users = uow.users.by_usernames({r.username.strip().lower()
                                                     for r in data.users})
            new_users: dict[str, User] = {}
            grants: list[tuple[str, str, str]] = []
            for person in data.users:
                username = person.username.strip().lower()
                user = existing_users.get(username) or new_users.get(username)
                email = person.email.strip() or None
                if user is None:
                    user = User(id=new_id(), username=username,
                                full_name=person.full_name.strip() or username, email=email)
                    new_users[username] = user
                elif email and user.email != email and username in existing_users:
                    uow.users.set_email(user.id, email)
                grants.append((user.id, person.unit_code, person.role.strip().lower()))
            uow.users.add_many(list(new_users.values()))
            uow.users.grant_many(grants)
            if progress:
                progress(total, total)
            report.users_created = len(new_users)
            report.usernames_created = sorted(new_users)
            report.roles_granted = len(grants)
            uow.audit.append(AuditEvent(
                at=self._clock.now(), action=Action.ORG_IMPORT, object_type="org",
                object_id="import", actor_id=None, unit_code=None, document_id=None,
                origin=origin, details={
                    "units_created": report.units_created, "units_updated": report.units_updated,
                    "users_created": report.users_created, "roles": report.roles_granted}))
            uow.commit()
        return report


def _unit_row_errors(row: UnitRow) -> list[str]:
    errors = []
    if not UNIT_CODE.match(row.code):
        errors.append(f"{row.where}: code '{row.code}' is not an identifier code "
                      "(1-13 letters, digits, dots)")
    if not row.name.strip():
        errors.append(f"{row.where}: the name is empty")
    if not ABBREVIATION.match(row.abbreviation.strip()):
        errors.append(f"{row.where}: abbreviation '{row.abbreviation}' is not valid")
    if not row.level.strip():
        errors.append(f"{row.where}: the level is empty")
    if row.valid_from:
        try:
            date.fromisoformat(row.valid_from)
        except ValueError:
            errors.append(f"{row.where}: valid_from '{row.valid_from}' is not a date (YYYY-MM-DD)")
    if row.parent_code and row.parent_code == row.code:
        errors.append(f"{row.where}: a unit cannot be its own parent")
    if row.family.strip() and row.family.strip().lower() not in FAMILIES:
        errors.append(f"{row.where}: family '{row.family}' is not one of {', '.join(FAMILIES)}")
    return errors


def _terms(rows: Sequence[TermRow], file_codes: dict[str, UnitRow], known: dict[str, Unit],
           uow: UnitOfWork) -> tuple[list[CommitteeTerm], list[str]]:
    """Checked committee terms: dates in order, for known units, not overlapping one another
    (nor the unit's stored terms)."""
    errors: list[str] = []
    found: list[CommitteeTerm] = []
    stored: dict[str, list[CommitteeTerm]] = {}
    for row in rows:
        try:
            term = CommitteeTerm(row.unit_code.strip(), row.code.strip(),
                                 date.fromisoformat(row.starts_on.strip()),
                                 date.fromisoformat(row.ends_on.strip()))
        except ValueError:
            errors.append(f"{row.where}: starts_on and ends_on are dates (YYYY-MM-DD)")
            continue
        if not term.code or len(term.code) > 32:
            errors.append(f"{row.where}: the term's code (e.g. 2020-2025) is 1 to 32 characters")
        if term.ends_on < term.starts_on:
            errors.append(f"{row.where}: the term ends before it starts")
        if term.unit_code not in file_codes and term.unit_code not in known \
                and uow.units.get(term.unit_code) is None:
            errors.append(f"{row.where}: unknown unit '{term.unit_code}'")
            continue
        if term.unit_code not in stored:
            stored[term.unit_code] = uow.units.terms(term.unit_code)
        others = [t for t in stored[term.unit_code] + found
                  if t.unit_code == term.unit_code and t.code != term.code]
        clash = next((t for t in others
                      if t.starts_on <= term.ends_on and term.starts_on <= t.ends_on), None)
        if clash is not None:
            errors.append(f"{row.where}: term {term.code} overlaps term {clash.code}")
        found.append(term)
    return found, errors


def _user_row_errors(row: UserRow) -> list[str]:
    errors = []
    username = row.username.strip().lower()
    if not (2 <= len(username) <= 64) or not all(c.isalnum() or c in "._-" for c in username):
        errors.append(f"{row.where}: username '{row.username}' is not valid")
    if row.role.strip().lower() not in ROLES:
        errors.append(f"{row.where}: unknown role '{row.role}' (one of {', '.join(sorted(ROLES))})")
    if not row.unit_code:
        errors.append(f"{row.where}: the unit code is empty")
    email = row.email.strip()
    if email and (len(email) > 254 or email.count("@") != 1 or any(c.isspace() for c in email)
                  or not all(email.split("@"))):
        errors.append(f"{row.where}: e-mail '{row.email}' is not an address")
    return errors


def _paths(
    rows: Sequence[UnitRow], in_file: dict[str, UnitRow], known: dict[str, Unit]
) -> tuple[dict[str, str], list[str]]:
    """Materialised paths for every unit of the file, walking up through file and database."""
    paths: dict[str, str] = {}
    errors: list[str] = []
    for row in rows:
        chain: list[str] = []
        code = row.code
        base: str | None = None
        ok = True
        while True:
            if code in paths:
                base = paths[code]
                break
            if code in chain:
                errors.append(f"{row.where}: the parents of '{row.code}' form a loop")
                ok = False
                break
            if code in in_file:
                chain.append(code)
                parent = in_file[code].parent_code
                if not parent:
                    break
                code = parent
            elif code in known:
                base = known[code].path
                break
            else:
                ok = False  # an unknown parent, reported already
                break
        if not ok:
            for c in chain:
                paths.setdefault(c, f"{c}/")
            continue
        for c in reversed(chain):
            base = paths[c] = child_path(base, c)
    return paths, errors


def _derive_levels(
    data: OrgImport, existing: dict[str, Level], paths: dict[str, str]
) -> list[Level]:
    """Levels given in the file win; levels only named by units get their depth as rank."""
    levels = {lv.code: lv for lv in data.levels}
    for row in data.units:
        code = row.level.strip()
        if code in levels or code in existing:
            continue
        levels[code] = Level(code=code, name=code, rank=paths[row.code].count("/") - 1)
    return list(levels.values())


MOVABLE = ("draft", "review", "submitted", "approved")
"""Documents a merged unit had not signed yet go on as the successor's; from the leader's
signature on, the signature block names the old unit, so those stay and are finished (the
successor's clerks hold the old unit's roles) or returned."""


@dataclass
class MergeReport:
    merged: list[str]
    into: str
    children_moved: list[str] = field(default_factory=list)
    roles_copied: int = 0
    drafts_moved: list[str] = field(default_factory=list)
    reports_moved: int = 0


class MergeService:
    """Merging units, as in the 2025 reform: the successor takes over the open work."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def merge(self, codes: Sequence[str], into: str, on: date, origin: Origin,
              by: Actor | None = None) -> MergeReport:
        """Merge `codes` into `into` from `on`, in one transaction. The merged units stay,
        inactive, pointing to their successor, with their registers, documents and trail
        under their own names; the successor's people hold their roles there (history and
        open entries), the merged units' people join the successor with the same roles,
        sub-units move under the successor, drafts not yet signed and report submissions
        still owed become the successor's. `by` must be an admin above every unit (None: the
        command line)."""
        codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
        errors: list[str] = []
        if not codes:
            errors.append("name the units to merge")
        if into in codes:
            errors.append(f"{into} cannot be merged into itself")
        with self._uow() as uow:
            units = uow.units.get_many([*codes, into])
            errors += [f"unknown unit '{c}'" for c in [*codes, into] if c not in units]
            if errors:
                raise Invalid("the merger is not valid", errors=errors)
            successor = units[into]
            if not successor.is_active(on):
                errors.append(f"{into} is not active on {on.isoformat()}")
            for code in codes:
                unit = units[code]
                if not unit.is_active(on):
                    errors.append(f"{code} is not active on {on.isoformat()} (merged or closed)")
                if unit.level != successor.level:
                    errors.append(f"{code} is a {unit.level}, {into} a {successor.level}")
                if successor.is_within(unit.path):
                    errors.append(f"{into} is under {code}")
            if by is not None and not any(
                    m.role is Role.ADMIN and all(units[c].is_within(m.unit_path)
                                                 for c in [*codes, into])
                    for m in by.memberships):
                raise Forbidden("a merger is made by an admin of a unit above all of them")
            if errors:
                raise Invalid("the merger is not valid", errors=errors)
            report = MergeReport(merged=codes, into=into)
            for code in codes:
                uow.units.merge(code, into, on)
                report.children_moved += uow.units.move_children(code, successor)
                roles = uow.users.roles_in(code)
                uow.users.grant_many([(user, into, role) for user, role in roles])
                report.roles_copied += len(roles)
                report.drafts_moved += uow.documents.move_unit(code, into, MOVABLE)
                report.reports_moved += uow.report_requests.move_pending(code, into)
            now = self._clock.now()
            uow.audit.append(AuditEvent(
                at=now, action=Action.ORG_MERGE, object_type="unit", object_id=into,
                actor_id=by.id if by else None, unit_code=into, document_id=None,
                origin=origin, details={
                    "merged": codes, "on": on.isoformat(),
                    "children_moved": report.children_moved,
                    "roles_copied": report.roles_copied,
                    "drafts_moved": report.drafts_moved,
                    "reports_moved": report.reports_moved}))
            uow.audit.append_many([AuditEvent(
                at=now, action=Action.DOCUMENT_TRANSFER, object_type="document", object_id=d,
                actor_id=by.id if by else None, unit_code=into, document_id=d, origin=origin,
                details={"to": into, "reason": "merger"}) for d in report.drafts_moved])
            uow.commit()
        return report
