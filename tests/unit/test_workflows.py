from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import workflows
from workflows import Context, DefinitionError, GuardRefused, ReasonRequired, TransitionNotAvailable

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def ctx(relation: str = "drafting_unit", *roles: str, reason: str | None = None) -> Context:
    return Context(actor="u1", at=NOW, roles={relation: frozenset(roles)}, reason=reason)


def definition(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t", "version": 1, "states": ["a", "b", "c"], "initial": "a",
        "terminal": ["c"],
        "transitions": [
            {"trigger": "go", "from": "a", "to": "b", "relation": "r", "roles": ["clerk"]},
            {"trigger": "end", "from": "b", "to": "c", "relation": "r", "roles": ["clerk"]},
        ],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("name", ["outgoing", "receipt"])
def test_builtin_definitions_load_and_validate(name: str) -> None:
    d = workflows.load_builtin(name, frozenset({"clerk", "officer", "leader", "auditor", "admin"}))
    assert d.initial in d.states


@pytest.mark.parametrize(("position", "trigger", "roles", "target"), [
    ("draft", "submit", {"officer"}, "submitted"),
    ("submitted", "approve", {"leader"}, "approved"),
    ("approved", "issue", {"clerk"}, "issued"),
    ("issued", "dispatch", {"clerk"}, "dispatched"),
    ("dispatched", "dispatch", {"clerk"}, "dispatched"),
])
def test_outgoing_moves_forward_for_the_right_role(
    position: str, trigger: str, roles: set[str], target: str
) -> None:
    d = workflows.load_builtin("outgoing")
    fired = workflows.fire(d, position, trigger, ctx("drafting_unit", *roles))
    assert (fired.source, fired.target, fired.actor, fired.at) == (position, target, "u1", NOW)


def test_an_officer_cannot_approve() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(GuardRefused) as info:
        workflows.fire(d, "submitted", "approve", ctx("drafting_unit", "officer", "clerk"))
    assert info.value.roles == frozenset({"leader"})


def test_a_leader_of_another_relation_cannot_approve() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(GuardRefused):
        workflows.fire(d, "submitted", "approve", ctx("recipient_unit", "leader"))


def test_issuing_twice_is_not_available() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(TransitionNotAvailable):
        workflows.fire(d, "issued", "issue", ctx("drafting_unit", "clerk"))


def test_returning_needs_a_reason_and_keeps_it_trimmed() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(ReasonRequired):
        workflows.fire(d, "submitted", "return", ctx("drafting_unit", "leader", reason="  "))
    fired = workflows.fire(d, "submitted", "return",
                           ctx("drafting_unit", "leader", reason="  sai thể thức "))
    assert (fired.target, fired.reason) == ("draft", "sai thể thức")


def test_receipt_is_registered_then_done_and_terminal_states_stay_put() -> None:
    d = workflows.load_builtin("receipt")
    assert workflows.fire(d, "delivered", "register", ctx("recipient_unit", "clerk")).target \
        == "registered"
    assert workflows.fire(d, "registered", "complete", ctx("recipient_unit", "officer")).target \
        == "done"
    for terminal in d.terminal:
        assert d.available(terminal) == ()


def test_allowed_lists_only_what_the_actor_may_fire() -> None:
    d = workflows.load_builtin("outgoing")
    assert {t.trigger for t in d.allowed("submitted", ctx("drafting_unit", "leader"))} \
        == {"approve", "return"}
    assert d.allowed("submitted", ctx("drafting_unit", "officer")) == ()


@pytest.mark.parametrize(("changes", "message"), [
    ({"initial": "x"}, "initial state"),
    ({"terminal": ["z"]}, "terminal state 'z'"),
    ({"states": ["a", "b", "c", "lonely"]}, "cannot be reached"),
    ({"terminal": []}, "dead end"),
    ({"transitions": [
        {"trigger": "go", "from": "a", "to": "nowhere", "relation": "r", "roles": ["clerk"]}]},
     "unknown state"),
    ({"transitions": [
        {"trigger": "go", "from": "a", "to": "b", "relation": "r", "roles": []},
        {"trigger": "end", "from": "b", "to": "c", "relation": "r", "roles": ["clerk"]}]},
     "lets nobody"),
    ({"states": ["a", "a", "b", "c"]}, "twice"),
    ({"transitions": "nope"}, "malformed"),
])
def test_malformed_definitions_are_refused_at_load(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        workflows.load(definition(**changes))


def test_unknown_roles_are_refused_when_roles_are_known() -> None:
    with pytest.raises(DefinitionError, match="unknown roles: clerk"):
        workflows.load(definition(), known_roles=frozenset({"leader"}))


def test_a_terminal_state_with_a_way_out_is_refused() -> None:
    data = definition(terminal=["b", "c"])
    with pytest.raises(DefinitionError, match="terminal state 'b' has a way out"):
        workflows.load(data)
