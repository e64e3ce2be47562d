"""Load definitions from JSON data and refuse malformed ones before anything runs them."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from importlib import resources
from typing import Any

from workflows.engine import Definition, Guard, Transition
from workflows.errors import DefinitionError

BUILTIN = ("outgoing", "receipt")


def load(data: Mapping[str, Any], known_roles: frozenset[str] | None = None) -> Definition:
    """Build a Definition from its data form and validate it.

    Every state must be reachable from the initial one, every non-terminal state must have a way
    out, terminal states must have none, and guards may name only `known_roles` when given.
    """
    try:
        name = str(data["name"])
        version = int(data["version"])
        states = tuple(str(s) for s in data["states"])
        initial = str(data["initial"])
        terminal = frozenset(str(s) for s in data.get("terminal", ()))
        transitions = tuple(
            Transition(
                trigger=str(t["trigger"]),
                source=str(t["from"]),
                target=str(t["to"]),
                guard=Guard(relation=str(t["relation"]), roles=frozenset(t["roles"])),
                needs_reason=bool(t.get("needs_reason", False)),
                title=str(t.get("title", "")),
            )
            for t in data["transitions"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DefinitionError(f"malformed definition: {exc!r}") from exc
    definition = Definition(
        name=name,
        version=version,
        title=str(data.get("title", name)),
        initial=initial,
        states=states,
        terminal=terminal,
        transitions=transitions,
        roles=frozenset(r for t in transitions for r in t.guard.roles),
    )
    _validate(definition, known_roles)
    return definition


def _validate(d: Definition, known_roles: frozenset[str] | None) -> None:
    states = set(d.states)
    if len(states) != len(d.states):
        raise DefinitionError(f"{d.name}: a state is listed twice")
    if d.initial not in states:
        raise DefinitionError(f"{d.name}: initial state '{d.initial}' is not a state")
    for s in d.terminal - states:
        raise DefinitionError(f"{d.name}: terminal state '{s}' is not a state")
    for t in d.transitions:
        for end in (t.source, t.target):
            if end not in states:
                raise DefinitionError(f"{d.name}: '{t.trigger}' names unknown state '{end}'")
        if t.source in d.terminal:
            raise DefinitionError(f"{d.name}: terminal state '{t.source}' has a way out")
        if not t.guard.roles:
            raise DefinitionError(f"{d.name}: '{t.trigger}' lets nobody fire it")
        if known_roles is not None and not t.guard.roles <= known_roles:
            unknown = ", ".join(sorted(t.guard.roles - known_roles))
            raise DefinitionError(f"{d.name}: '{t.trigger}' names unknown roles: {unknown}")
    seen = {d.initial}
    todo = deque([d.initial])
    while todo:
        here = todo.popleft()
        for t in d.available(here):
            if t.target not in seen:
                seen.add(t.target)
                todo.append(t.target)
    for s in d.states:
        if s not in seen:
            raise DefinitionError(f"{d.name}: state '{s}' cannot be reached")
        if s not in d.terminal and not d.available(s):
            raise DefinitionError(f"{d.name}: state '{s}' is a dead end but not terminal")


def load_builtin(name: str, known_roles: frozenset[str] | None = None) -> Definition:
    """Load one of the definitions shipped in ``workflows/definitions``."""
    if name not in BUILTIN:
        raise DefinitionError(f"no built-in definition named '{name}'")
    text = resources.files("workflows.definitions").joinpath(f"{name}.json").read_text("utf-8")
    return load(json.loads(text), known_roles)
