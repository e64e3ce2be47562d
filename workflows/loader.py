"""Load definitions from JSON data and refuse malformed ones before anything runs them.

Definitions are versioned: each file holds one (name, version), and a tracked object keeps the
version it started with (`Registry.get(name, version)`), so changing a flow never strands the
documents already in it.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from workflows.engine import MODES, Definition, Guard, Transition
from workflows.errors import DefinitionError


def load(data: Mapping[str, Any], known_roles: frozenset[str] | None = None,
         known_levels: frozenset[str] | None = None) -> Definition:
    """Build a Definition from its data form and validate it.

    Every state must be reachable from the initial one, every non-terminal state must have a way
    out, terminal states must have none, guards may name only `known_roles` and `known_levels`
    when given, and a step's mode must be one the engine runs (a quorum with its size).
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
                guard=Guard(relation=str(t["relation"]), roles=frozenset(t["roles"]),
                            levels=frozenset(t.get("levels", ()))),
                needs_reason=bool(t.get("needs_reason", False)),
                title=str(t.get("title", "")),
                mode=str(t.get("mode", "single")),
                quorum=int(t["quorum"]) if "quorum" in t and t["quorum"] != "given" else None,
                quorum_given=t.get("quorum") == "given",
            )
            for t in data["transitions"]
        )
        variant_of = str(data["variant_of"]) if "variant_of" in data else None
        applies = data.get("applies_to", {})
        units = frozenset(str(u) for u in applies.get("units", ()))
        levels = frozenset(str(v) for v in applies.get("levels", ()))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DefinitionError(f"malformed definition: {exc!r}") from exc
    if (units or levels) and variant_of is None:
        raise DefinitionError(f"{name}: 'applies_to' is for a variant ('variant_of')")
    if variant_of is not None and not (units or levels):
        raise DefinitionError(f"{name}: a variant says which units or levels it applies to")
    if variant_of == name:
        raise DefinitionError(f"{name}: a variant takes a name of its own")
    if known_levels is not None and not levels <= known_levels:
        raise DefinitionError(f"{name}: applies to unknown levels: "
                              f"{', '.join(sorted(levels - known_levels))}")
    definition = Definition(
        name=name,
        version=version,
        title=str(data.get("title", name)),
        initial=initial,
        states=states,
        terminal=terminal,
        transitions=transitions,
        roles=frozenset(r for t in transitions for r in t.guard.roles),
        variant_of=variant_of,
        applies_to_units=units,
        applies_to_levels=levels,
    )
    _validate(definition, known_roles, known_levels)
    return definition


def _validate(d: Definition, known_roles: frozenset[str] | None,
              known_levels: frozenset[str] | None) -> None:
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
        if known_levels is not None and not t.guard.levels <= known_levels:
            unknown = ", ".join(sorted(t.guard.levels - known_levels))
            raise DefinitionError(f"{d.name}: '{t.trigger}' names unknown levels: {unknown}")
        if t.mode not in MODES:
            raise DefinitionError(f"{d.name}: '{t.trigger}' has mode '{t.mode}'; one of "
                                  f"{', '.join(MODES)}")
        if (t.mode == "quorum") != (t.quorum is not None or t.quorum_given):
            raise DefinitionError(f"{d.name}: '{t.trigger}': a quorum (and only a quorum "
                                  f"step) states how many must act")
        if t.quorum is not None and t.quorum < 1:
            raise DefinitionError(f"{d.name}: '{t.trigger}': the quorum must be at least 1")
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


class Registry:
    """Every version of every definition, by name."""

    def __init__(self, definitions: Iterable[Definition]) -> None:
        self._by_key: dict[tuple[str, int], Definition] = {}
        for d in definitions:
            if (d.name, d.version) in self._by_key:
                raise DefinitionError(f"{d.name} version {d.version} is defined twice")
            self._by_key[(d.name, d.version)] = d
        for d in self._by_key.values():
            if d.variant_of is not None and not self.versions(d.variant_of):
                raise DefinitionError(f"{d.name} is a variant of '{d.variant_of}', which is "
                                      f"not defined")
        self._check_overlaps()

    def _check_overlaps(self) -> None:
        """Two variants of one flow may not claim the same unit or level: which one a unit
        runs must never depend on file order."""
        newest = self.newest()
        for i, a in enumerate(newest):
            for b in newest[i + 1:]:
                if a.variant_of is None or a.variant_of != b.variant_of:
                    continue
                shared = sorted((a.applies_to_units & b.applies_to_units)
                                | (a.applies_to_levels & b.applies_to_levels))
                if shared:
                    raise DefinitionError(f"variants {a.name} and {b.name} of {a.variant_of} "
                                          f"both apply to {', '.join(shared)}")

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._by_key})

    def versions(self, name: str) -> list[int]:
        return sorted(v for n, v in self._by_key if n == name)

    def get(self, name: str, version: int | None = None) -> Definition:
        """The definition `name` at `version`, or its newest version."""
        versions = self.versions(name)
        if not versions:
            raise DefinitionError(f"no definition named '{name}'")
        chosen = versions[-1] if version is None else version
        if chosen not in versions:
            raise DefinitionError(f"{name} has no version {chosen} (it has "
                                  f"{', '.join(map(str, versions))})")
        return self._by_key[(name, chosen)]

    def newest(self) -> list[Definition]:
        """The newest version of each definition, by name."""
        return [self.get(name) for name in self.names()]

    def for_unit(self, name: str, unit_code: str, level: str | None) -> Definition:
        """The newest definition a new object of `unit_code` (at `level`) runs for the flow
        `name`: a variant naming the unit, else one naming its level, else `name` itself."""
        variants = [d for d in self.newest() if d.variant_of == name]
        for d in variants:
            if unit_code in d.applies_to_units:
                return d
        for d in variants:
            if level is not None and level in d.applies_to_levels:
                return d
        return self.get(name)


def builtin(known_roles: frozenset[str] | None = None,
            known_levels: frozenset[str] | None = None,
            extra: Iterable[Definition] = ()) -> Registry:
    """The definitions shipped in ``workflows/definitions`` (one JSON file per version), and
    `extra` ones (an organisation's variants, `load_folder`)."""
    return Registry([*_read(resources.files("workflows.definitions"), known_roles,
                            known_levels), *extra])


def load_folder(folder: Path, known_roles: frozenset[str] | None = None,
                known_levels: frozenset[str] | None = None) -> list[Definition]:
    """Every ``*.json`` definition in `folder` (an organisation's own flows and variants),
    validated as the shipped ones are; a bad file raises naming the file."""
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: no such folder of workflow definitions")
    return _read(folder, known_roles, known_levels)


def _read(folder: Traversable, known_roles: frozenset[str] | None,
          known_levels: frozenset[str] | None) -> list[Definition]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            try:
                found.append(load(json.loads(entry.read_text("utf-8")), known_roles,
                                  known_levels))
            except json.JSONDecodeError as exc:
                raise DefinitionError(f"{entry.name}: not JSON: {exc}") from exc
            except DefinitionError as exc:
                raise DefinitionError(f"{entry.name}: {exc}") from exc
    return found


def load_builtin(name: str, known_roles: frozenset[str] | None = None) -> Definition:
    """The newest shipped version of one definition."""
    return builtin(known_roles).get(name)
