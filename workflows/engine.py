"""Fire a trigger on a definition: the only way a tracked object changes state.

A transition is fired by one person (mode ``single``), or it is a step several people take:
``parallel`` (all of them, any order), ``sequential`` (all of them, in the order given) or
``quorum`` (any n of them). For a step, the caller says who takes part and who has acted
already (`Context.participants`, `Context.acted`); each act is a `Fired` whose target is the
source until the step is complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from workflows.errors import (
    GuardRefused,
    NotYourTurn,
    ReasonRequired,
    TransitionNotAvailable,
)

MODES = ("single", "parallel", "sequential", "quorum")


@dataclass(frozen=True)
class Guard:
    """Who may fire a transition: one of `roles`, held in the unit that `relation` names, and,
    when `levels` is given, that unit at one of those levels."""

    relation: str
    """How the actor's unit relates to the object, e.g. ``drafting_unit`` or ``recipient_unit``."""
    roles: frozenset[str]
    """Roles of which the actor must hold at least one in that unit."""
    levels: frozenset[str] = frozenset()
    """Levels (``province``, ``commune`` …) the unit must be at; empty: any."""


@dataclass(frozen=True)
class Transition:
    """One edge of a definition."""

    trigger: str
    source: str
    target: str
    guard: Guard
    needs_reason: bool = False
    title: str = ""
    mode: str = "single"
    quorum: int | None = None
    """For ``quorum`` steps: how many participants must act; None with `quorum_given`."""
    quorum_given: bool = False
    """The quorum comes with each instance (`Context.quorum`), e.g. set by whoever asks."""

    def needed(self, participants: int, given: int | None = None) -> int:
        """How many acts complete this step, of `participants` people."""
        if self.mode == "single":
            return 1
        if self.mode == "quorum":
            if self.quorum_given:
                if given is None:
                    raise NotYourTurn(self.trigger, "the step's quorum was not given")
                return given
            assert self.quorum is not None
            return self.quorum
        return participants


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
    variant_of: str | None = None
    """For an organisation's variant: the definition it stands in for (e.g. ``outgoing``)."""
    applies_to_units: frozenset[str] = frozenset()
    """A variant runs for objects of these units (their codes) …"""
    applies_to_levels: frozenset[str] = frozenset()
    """… or, failing a unit match, of units at these levels."""

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
    levels: Mapping[str, str] = field(default_factory=dict)
    """The level of the unit in each relation: ``{"drafting_unit": "commune"}``."""
    participants: tuple[str, ...] = ()
    """For a step several people take: who takes part, in order."""
    acted: tuple[str, ...] = ()
    """For such a step: who has acted on it already, in the order they did."""
    quorum: int | None = None
    """For a quorum step whose definition leaves it to the instance: how many must act."""


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
    complete: bool = True
    """False for an act that leaves a step waiting for others (target == source)."""


def _passes(guard: Guard, context: Context) -> bool:
    if guard.levels and context.levels.get(guard.relation) not in guard.levels:
        return False
    return bool(guard.roles & context.roles.get(guard.relation, frozenset()))


def fire(definition: Definition, position: str, trigger: str, context: Context) -> Fired:
    """Fire `trigger` from `position`, or raise why not.

    Raises TransitionNotAvailable when no such edge leaves `position`, GuardRefused when the
    actor lacks the role (or the unit's level), NotYourTurn when a step is not the actor's to
    take (not a participant, acted already, someone else's turn), ReasonRequired when a
    reason is needed and missing.
    """
    candidates = [t for t in definition.available(position) if t.trigger == trigger]
    if not candidates:
        raise TransitionNotAvailable(definition.name, position, trigger)
    passing = [t for t in candidates if _passes(t.guard, context)]
    if not passing:
        first = candidates[0].guard
        raise GuardRefused(trigger, first.relation, first.roles, first.levels)
    transition = passing[0]
    reason = (context.reason or "").strip() or None
    if transition.needs_reason and reason is None:
        raise ReasonRequired(trigger)
    complete = _take_turn(transition, context)
    return Fired(
        definition=definition.name,
        version=definition.version,
        trigger=trigger,
        source=position,
        target=transition.target if complete else position,
        actor=context.actor,
        at=context.at,
        reason=reason,
        complete=complete,
    )


def _take_turn(transition: Transition, context: Context) -> bool:
    """Check that this act is the actor's to make; True when it completes the step."""
    if transition.mode == "single":
        return True
    people, acted = context.participants, context.acted
    if context.actor not in people:
        raise NotYourTurn(transition.trigger, "you are not among the participants")
    if context.actor in acted:
        raise NotYourTurn(transition.trigger, "you have acted on this step already")
    if transition.mode == "sequential" and people[len(acted)] != context.actor:
        raise NotYourTurn(transition.trigger, f"it is {people[len(acted)]}'s turn")
    needed = transition.needed(len(people), context.quorum)
    if needed > len(people):
        raise NotYourTurn(transition.trigger, f"the step needs {needed} participants and has "
                                              f"{len(people)}")
    return len(acted) + 1 >= needed
