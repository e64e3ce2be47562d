"""Who may see a document and in which capacity they act on it.

The one statement of the visibility rule. Views and queries do not decide access; the SQL side
of listing (storage) implements the same rule, and a test holds the two together.
"""

from __future__ import annotations

from collections.abc import Iterable

from docflow.domain.org import Actor


def can_see(actor: Actor, drafting_path: str, recipient_paths: Iterable[str]) -> bool:
    """A person sees a document when their unit drafted it, it was sent to their unit, or they
    audit the drafting unit or a recipient unit from that unit or an ancestor."""
    units = actor.unit_codes
    drafting_code = _code_of(drafting_path)
    if drafting_code in units or actor.audits(drafting_path):
        return True
    return any(_code_of(p) in units or actor.audits(p) for p in recipient_paths)


def drafting_roles(actor: Actor, unit_code: str) -> dict[str, frozenset[str]]:
    """Roles by workflow relation, for acting on an outgoing document of `unit_code`."""
    return {"drafting_unit": actor.roles_in(unit_code)}


def requesting_roles(actor: Actor, unit_code: str) -> dict[str, frozenset[str]]:
    """Roles by workflow relation, for acting on a report request of `unit_code`."""
    return {"requesting_unit": actor.roles_in(unit_code)}


def recipient_roles(actor: Actor, unit_code: str) -> dict[str, frozenset[str]]:
    """Roles by workflow relation, for acting on the incoming entry of `unit_code`."""
    return {"recipient_unit": actor.roles_in(unit_code)}


def _code_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]
