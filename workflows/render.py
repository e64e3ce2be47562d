"""Definitions as text an administrator can read: Mermaid state diagrams."""

from __future__ import annotations

import re

from workflows.engine import Definition, Transition

_RELATIONS = {"drafting_unit": "drafting unit", "recipient_unit": "recipient unit",
              "requesting_unit": "requesting unit", "consulted": "the people consulted",
              "lead": "the lead"}


def to_mermaid(definition: Definition) -> str:
    """`stateDiagram-v2` source: each state, each transition labelled with its title, who may
    fire it (roles, unit, levels) and how (a step several people take, a reason needed)."""
    lines = ["stateDiagram-v2", f"    %% {definition.name} version {definition.version}: "
                                f"{_clean(definition.title)}"]
    ids = {state: _id(state) for state in definition.states}
    for state in definition.states:
        if ids[state] != state:
            lines.append(f'    state "{_clean(state)}" as {ids[state]}')
    lines.append(f"    [*] --> {ids[definition.initial]}")
    for t in definition.transitions:
        lines.append(f"    {ids[t.source]} --> {ids[t.target]} : {_label(t)}")
    for state in definition.states:
        if state in definition.terminal:
            lines.append(f"    {ids[state]} --> [*]")
    return "\n".join(lines) + "\n"


def _label(t: Transition) -> str:
    who = ", ".join(sorted(t.guard.roles))
    relation = t.guard.relation
    where = _RELATIONS.get(relation, relation.replace("_", " "))
    # Relations are units ("drafting_unit") or parts people play ("lead", "consulted").
    whom = f"{who} of the {where}" if relation.endswith("unit") else f"{where} ({who})"
    if t.guard.levels:
        whom += " at " + " or ".join(sorted(t.guard.levels)) + " level"
    parts = [_clean(t.title or t.trigger), f"[{t.trigger}]", whom]
    if t.mode == "quorum":
        parts.append("as many of the participants as each instance sets" if t.quorum_given
                     else f"any {t.quorum} of the participants")
    elif t.mode == "parallel":
        parts.append("all participants, any order")
    elif t.mode == "sequential":
        parts.append("all participants, in order")
    if t.needs_reason:
        parts.append("with a reason")
    return " — ".join(parts)


def _id(state: str) -> str:
    return re.sub(r"\W", "_", state, flags=re.ASCII)


def _clean(text: str) -> str:
    # ':' ends a Mermaid label, '"' a state name, and ';' a statement; '#' starts an entity.
    return re.sub(r'[:;"#]', " ", text).strip()
