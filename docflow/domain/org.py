"""Units in a tree whose levels are data, the people in them, and their roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Role(StrEnum):
    """What a person does in a unit (Decree 30 vocabulary)."""

    CLERK = "clerk"  # văn thư: registers, numbers, seals, issues
    OFFICER = "officer"  # chuyên viên: drafts, handles
    LEADER = "leader"  # lãnh đạo: approves, signs, assigns
    AUDITOR = "auditor"  # reads trails for a subtree
    ADMIN = "admin"


ROLES = frozenset(r.value for r in Role)

# Decree 30 identifier codes are at most 13 characters; letters, digits and dots in practice.
UNIT_CODE = re.compile(r"^[0-9A-Za-z.\-_]{1,13}$")
ABBREVIATION = re.compile(r"^[0-9A-Za-zĐđ/\-]{1,20}$")


@dataclass(frozen=True)
class Level:
    """A level of the tree (central, province, commune, branch ...): data, not code."""

    code: str
    name: str
    rank: int
    """0 at the root; larger is lower."""


@dataclass(frozen=True)
class Unit:
    """A cơ quan / đơn vị, effective-dated; a merged unit points to its successor."""

    code: str
    name: str
    abbreviation: str
    level: str
    parent_code: str | None
    path: str
    """Codes from the root down, each followed by '/': ``G22/T01/X001/``; a subtree is a prefix."""
    valid_from: date | None = None
    valid_to: date | None = None
    successor_code: str | None = None
    family: str = "state"
    """How its documents are numbered: ``state`` (Decree 30: ``15/QĐ-UBND``, numbers per
    calendar year) or ``party`` (Party rules: ``01-NQ/TU``, numbers per committee term)."""
    seal_image: str | None = None
    """sha256 of the seal image (red, transparent PNG) its organisation signatures show."""

    def is_active(self, on: date) -> bool:
        """True when the unit exists on `on` and has not been merged away."""
        if self.successor_code is not None:
            return False
        if self.valid_from is not None and on < self.valid_from:
            return False
        return self.valid_to is None or on < self.valid_to

    def is_within(self, ancestor_path: str) -> bool:
        """True when this unit is `ancestor_path`'s unit or below it."""
        return self.path.startswith(ancestor_path)


def child_path(parent_path: str | None, code: str) -> str:
    """The materialised path of a unit under `parent_path`."""
    return f"{parent_path or ''}{code}/"


@dataclass(frozen=True)
class Membership:
    """A role a person holds in one unit."""

    unit_code: str
    unit_path: str
    role: Role
    through: str | None = None
    """Held through a merger: the role is in `through`, which took this unit over (its
    successor), so the open work and history of the merged unit are the successor's."""
    merged: bool = False
    """The unit was merged away: history and open work only, no new documents."""


@dataclass(frozen=True)
class User:
    """A person who logs in."""

    id: str
    username: str
    full_name: str
    active: bool = True
    email: str | None = None
    """Where notifications are mailed, when SMTP is configured."""
    locale: str | None = None
    """The language the person chose for the pages (``vi``, ``en``); None: the browser's."""
    signature_image: str | None = None
    """sha256 of the person's handwritten signature (blue, transparent PNG), shown in their
    leader signatures."""


@dataclass(frozen=True)
class Actor:
    """The person acting now, with every role they hold; what access decisions look at."""

    user: User
    memberships: tuple[Membership, ...]

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def unit_codes(self) -> frozenset[str]:
        return frozenset(m.unit_code for m in self.memberships)

    def roles_in(self, unit_code: str) -> frozenset[str]:
        """Roles held in exactly this unit."""
        return frozenset(m.role.value for m in self.memberships if m.unit_code == unit_code)

    def capacity_in(self, unit_code: str) -> str | None:
        """The capacity the trail names for an act in this unit: the roles held there
        (``clerk,leader``); None for someone acting from elsewhere (a reader, a recipient)."""
        return ",".join(sorted(self.roles_in(unit_code))) or None

    def auditing(self) -> tuple[Membership, ...]:
        """The memberships in which the actor audits (each reaches its unit's subtree)."""
        return tuple(m for m in self.memberships if m.role is Role.AUDITOR)

    def audited_paths(self) -> list[str]:
        """The subtrees the actor audits."""
        return [m.unit_path for m in self.auditing()]

    def audits(self, unit_path: str) -> bool:
        """True when the actor audits this unit or one of its ancestors."""
        return any(
            m.role is Role.AUDITOR and unit_path.startswith(m.unit_path) for m in self.memberships
        )

    def is_admin(self) -> bool:
        return any(m.role is Role.ADMIN for m in self.memberships)

    def led_units(self) -> list[str]:
        """The units the actor leads (holds the leader's role in), by code."""
        return sorted({m.unit_code for m in self.memberships if m.role is Role.LEADER})

    def administered_paths(self) -> list[str]:
        """The subtrees the actor administers."""
        return sorted({m.unit_path for m in self.memberships if m.role is Role.ADMIN})

    def administers(self, unit_path: str) -> bool:
        """True when the actor is an administrator of this unit or one of its ancestors."""
        return any(m.role is Role.ADMIN and unit_path.startswith(m.unit_path)
                   for m in self.memberships)

    def primary_unit(self) -> str | None:
        """The unit a person usually acts for: the first where they hold a working role
        directly, in a unit not merged away."""
        for m in self.memberships:
            if m.role in (Role.OFFICER, Role.LEADER, Role.CLERK) and m.through is None \
                    and not m.merged:
                return m.unit_code
        return self.memberships[0].unit_code if self.memberships else None


FAMILIES = ("state", "party")


@dataclass(frozen=True)
class CommitteeTerm:
    """A Party committee's term (nhiệm kỳ), e.g. 2020-2025: its documents are numbered from 1
    within the term, whatever the calendar year."""

    unit_code: str
    code: str
    starts_on: date
    ends_on: date

    def covers(self, on: date) -> bool:
        return self.starts_on <= on <= self.ends_on
