"""Fire a trigger on a definition: the only way a tracked object changes state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from workflows.errors import GuardRefused, ReasonRequired, TransitionNotAvailable


@dataclass(frozen=True)
class Guard:
    """Who may fire a transition: one of `roles`, held in the unit that `relation` names."""

    relation: str
    """How the actor's unit relates to the object, e.g. ``drafting_unit`` or ``recipient_unit``."""
    roles: frozenset[str]
    """Roles of which the actor must hold at least one in that unit."""


@dataclass(frozen=True)
class Transition:
    """One edge of a definition."""

    trigger: str
    source: str
    target: str
    guard: Guard
    needs_reason: bool = False
    title: str = ""


@dataclass(frozen=True)
class Definition:
    """A workflow: states, the initial state, terminal states and guarded transitions."""

    name: str
    version: int
    title: str
    initial: str
    states: tuple[str, ...]
    terminal: frozenset[str]
    transitions: tuple[Transition, ...]
    roles: frozenset[str] = field(default_factory=frozenset)

    def available(self, position: str) -> tuple[Transition, ...]:
        """Transitions leaving `position`, whoever the actor is."""
        return tuple(t for t in self.transitions if t.source == position)

    def allowed(self, position: str, context: Context) -> tuple[Transition, ...]:
        """Transitions leaving `position` that this actor may fire."""
        return tuple(t for t in self.available(position) if _passes(t.guard, context))


@dataclass(frozen=True)
class Context:
    """What the engine knows of the actor and the moment; supplied by the caller."""

    actor: str
    at: datetime
    roles: Mapping[str, frozenset[str]]
    """Roles the actor holds, by relation: ``{"drafting_unit": {"leader"}}``."""
    reason: str | None = None


@dataclass(frozen=True)
class Fired:
    """The event a successful trigger produces; the caller persists it and its audit record."""

    definition: str
    version: int
    trigger: str
    source: str
    target: str
    actor: str
    at: datetime
    reason: str | None


def _passes(guard: Guard, context: Context) -> bool:
    return bool(guard.roles & context.roles.get(guard.relation, frozenset()))


def fire(definition: Definition, position: str, trigger: str, context: Context) -> Fired:
    """Fire `trigger` from `position`, or raise why not.

    Raises TransitionNotAvailable when no such edge leaves `position`, GuardRefused when the
    actor lacks the role, ReasonRequired when a reason is needed and missing.
    """
    candidates = [t for t in definition.available(position) if t.trigger == trigger]
    if not candidates:
        raise TransitionNotAvailable(definition.name, position, trigger)
    passing = [t for t in candidates if _passes(t.guard, context)]
    if not passing:
        first = candidates[0].guard
        raise GuardRefused(trigger, first.relation, first.roles)
    transition = passing[0]
    reason = (context.reason or "").strip() or None
    if transition.needs_reason and reason is None:
        raise ReasonRequired(trigger)
    return Fired(
        definition=definition.name,
        version=definition.version,
        trigger=trigger,
        source=position,
        target=transition.target,
        actor=context.actor,
        at=context.at,
        reason=reason,
    )
