from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import workflows
from workflows import (
    Context,
    DefinitionError,
    GuardRefused,
    NotYourTurn,
    ReasonRequired,
    TransitionNotAvailable,
)

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


@pytest.mark.parametrize("name", ["outgoing", "incoming", "cascade", "report-request",
                                  "consultation"])
def test_builtin_definitions_load_and_validate(name: str) -> None:
    d = workflows.load_builtin(name, frozenset({"clerk", "officer", "leader", "auditor", "admin"}))
    assert d.initial in d.states


@pytest.mark.parametrize(("position", "trigger", "roles", "target"), [
    ("draft", "submit", {"officer"}, "review"),
    ("review", "pass", {"leader"}, "submitted"),
    ("submitted", "approve", {"leader"}, "approved"),
    ("approved", "sign", {"leader"}, "signed"),
    ("signed", "number", {"clerk"}, "numbered"),
    ("numbered", "seal", {"clerk"}, "issued"),
    ("issued", "dispatch", {"clerk"}, "dispatched"),
    ("dispatched", "dispatch", {"clerk"}, "dispatched"),
])
def test_outgoing_moves_forward_for_the_right_role(
    position: str, trigger: str, roles: set[str], target: str
) -> None:
    d = workflows.load_builtin("outgoing")
    assert d.version == 2
    fired = workflows.fire(d, position, trigger, ctx("drafting_unit", *roles))
    assert (fired.source, fired.target, fired.actor, fired.at) == (position, target, "u1", NOW)


@pytest.mark.parametrize(("position", "trigger", "roles", "target"), [
    ("draft", "submit", {"officer"}, "submitted"),
    ("submitted", "approve", {"leader"}, "approved"),
    ("approved", "issue", {"clerk"}, "issued"),
    ("issued", "dispatch", {"clerk"}, "dispatched"),
])
def test_outgoing_v1_still_runs_for_documents_started_on_it(
    position: str, trigger: str, roles: set[str], target: str
) -> None:
    d = workflows.builtin().get("outgoing", 1)
    fired = workflows.fire(d, position, trigger, ctx("drafting_unit", *roles))
    assert (fired.source, fired.target) == (position, target)


def test_an_officer_cannot_approve() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(GuardRefused) as info:
        workflows.fire(d, "submitted", "approve", ctx("drafting_unit", "officer", "clerk"))
    assert info.value.roles == frozenset({"leader"})


def test_a_leader_of_another_relation_cannot_approve() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(GuardRefused):
        workflows.fire(d, "submitted", "approve", ctx("recipient_unit", "leader"))


def test_numbering_twice_or_v1s_issue_is_not_available() -> None:
    d = workflows.load_builtin("outgoing")
    for position in ("numbered", "issued"):
        with pytest.raises(TransitionNotAvailable):
            workflows.fire(d, position, "number", ctx("drafting_unit", "clerk"))
    with pytest.raises(TransitionNotAvailable):
        workflows.fire(d, "approved", "issue", ctx("drafting_unit", "clerk"))


def test_returning_needs_a_reason_and_keeps_it_trimmed() -> None:
    d = workflows.load_builtin("outgoing")
    with pytest.raises(ReasonRequired):
        workflows.fire(d, "submitted", "return", ctx("drafting_unit", "leader", reason="  "))
    fired = workflows.fire(d, "submitted", "return",
                           ctx("drafting_unit", "leader", reason="  sai thể thức "))
    assert (fired.target, fired.reason) == ("draft", "sai thể thức")


def test_receipt_is_registered_then_done_and_terminal_states_stay_put() -> None:
    d = workflows.load_builtin("incoming")
    assert workflows.fire(d, "delivered", "register", ctx("recipient_unit", "clerk")).target \
        == "registered"
    assert workflows.fire(d, "registered", "complete", ctx("recipient_unit", "officer")).target \
        == "done"
    for terminal in d.terminal:
        assert d.available(terminal) == ()


def test_allowed_lists_only_what_the_actor_may_fire() -> None:
    d = workflows.load_builtin("outgoing")
    assert {t.trigger for t in d.allowed("submitted", ctx("drafting_unit", "leader"))} \
        == {"approve", "comment", "return"}
    assert {t.trigger for t in d.allowed("submitted", ctx("drafting_unit", "officer"))} \
        == {"comment"}
    assert d.allowed("approved", ctx("drafting_unit", "officer", "clerk")) == ()


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


# --- levels, steps several people take, versions -------------------------------------------------


def step(mode: str, quorum: int | None = None) -> workflows.Definition:
    answer: dict[str, Any] = {"trigger": "answer", "from": "a", "to": "b", "relation": "asked",
                              "roles": ["officer"], "mode": mode}
    if quorum is not None:
        answer["quorum"] = quorum
    return workflows.load(definition(transitions=[
        answer, {"trigger": "end", "from": "b", "to": "c", "relation": "r", "roles": ["clerk"]}]))


def act(d: workflows.Definition, actor: str, acted: tuple[str, ...],
        people: tuple[str, ...] = ("ana", "binh", "chi")) -> workflows.Fired:
    return workflows.fire(d, "a", "answer", Context(
        actor=actor, at=NOW, roles={"asked": frozenset({"officer"})}, participants=people,
        acted=acted))


def test_a_guard_can_require_the_units_level() -> None:
    d = workflows.load(definition(transitions=[
        {"trigger": "go", "from": "a", "to": "b", "relation": "r", "roles": ["clerk"],
         "levels": ["province"]},
        {"trigger": "end", "from": "b", "to": "c", "relation": "r", "roles": ["clerk"]}]),
        known_levels=frozenset({"province", "commune"}))

    def at(level: str) -> Context:
        return Context(actor="u", at=NOW, roles={"r": frozenset({"clerk"})}, levels={"r": level})

    assert workflows.fire(d, "a", "go", at("province")).target == "b"
    with pytest.raises(GuardRefused, match="at the province level"):
        workflows.fire(d, "a", "go", at("commune"))
    with pytest.raises(DefinitionError, match="unknown levels: district"):
        workflows.load(definition(transitions=[
            {"trigger": "go", "from": "a", "to": "b", "relation": "r", "roles": ["clerk"],
             "levels": ["district"]},
            {"trigger": "end", "from": "b", "to": "c", "relation": "r", "roles": ["clerk"]}]),
            known_levels=frozenset({"province", "commune"}))


def test_a_parallel_step_waits_for_everyone_in_any_order() -> None:
    d = step("parallel")
    first = act(d, "chi", ())
    assert (first.target, first.complete) == ("a", False)
    assert act(d, "ana", ("chi",)).target == "a"
    last = act(d, "binh", ("chi", "ana"))
    assert (last.target, last.complete) == ("b", True)
    with pytest.raises(NotYourTurn, match="already"):
        act(d, "chi", ("chi",))
    with pytest.raises(NotYourTurn, match="not among"):
        act(d, "dung", ())


def test_a_sequential_step_goes_in_the_given_order() -> None:
    d = step("sequential")
    with pytest.raises(NotYourTurn, match="ana's turn"):
        act(d, "binh", ())
    assert act(d, "ana", ()).target == "a"
    assert act(d, "binh", ("ana",)).target == "a"
    assert act(d, "chi", ("ana", "binh")).target == "b"


def test_a_quorum_step_moves_when_n_have_acted() -> None:
    d = step("quorum", 2)
    assert act(d, "binh", ()).complete is False
    assert act(d, "chi", ("binh",)).target == "b"
    with pytest.raises(NotYourTurn, match="needs 2 participants and has 1"):
        act(d, "ana", (), people=("ana",))


@pytest.mark.parametrize(("mode", "quorum", "message"), [
    ("vote", None, "has mode 'vote'"),
    ("quorum", None, "states how many"),
    ("parallel", 2, "states how many"),
    ("quorum", 0, "at least 1"),
])
def test_step_modes_are_checked_at_load(mode: str, quorum: int | None, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        step(mode, quorum)


def test_the_registry_keeps_every_version() -> None:
    v1 = workflows.load(definition())
    v2 = workflows.load(definition(version=2, transitions=[
        {"trigger": "go", "from": "a", "to": "c", "relation": "r", "roles": ["clerk"]},
        {"trigger": "back", "from": "a", "to": "b", "relation": "r", "roles": ["clerk"]},
        {"trigger": "end", "from": "b", "to": "c", "relation": "r", "roles": ["clerk"]}]))
    registry = workflows.Registry([v2, v1])
    assert registry.get("t") is v2 and registry.get("t", 1) is v1
    assert registry.versions("t") == [1, 2] and registry.newest() == [v2]
    with pytest.raises(DefinitionError, match="no version 3"):
        registry.get("t", 3)
    with pytest.raises(DefinitionError, match="no definition named 'u'"):
        registry.get("u")
    with pytest.raises(DefinitionError, match="defined twice"):
        workflows.Registry([v1, v1])


def test_mermaid_shows_every_state_and_transition() -> None:
    d = workflows.builtin().get("consultation", 1)
    text = workflows.to_mermaid(d)
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2" and "```" not in text
    assert "    [*] --> draft" in lines and "    concluded --> [*]" in lines
    for t in d.transitions:
        assert any(line.startswith(f"    {t.source} --> {t.target} : ") and f"[{t.trigger}]"
                   in line for line in lines), t
    assert "all participants, any order" in text and "with a reason" in text
    # ':' would end a label early; the title's colon is replaced.
    assert all(line.count(" : ") <= 1 for line in lines)


def test_a_quorum_can_be_left_to_each_instance() -> None:
    d = workflows.builtin().get("consultation", 2)
    people = ("ana", "binh", "chi")

    def answer(actor: str, acted: tuple[str, ...], quorum: int | None) -> workflows.Fired:
        return workflows.fire(d, "consulting", "answer", Context(
            actor=actor, at=NOW, roles={"consulted": frozenset({"officer"})},
            participants=people, acted=acted, quorum=quorum))

    assert answer("ana", (), 2).complete is False
    assert answer("binh", ("ana",), 2).target == "answered"
    assert answer("binh", ("ana",), 3).target == "consulting"
    with pytest.raises(NotYourTurn, match="quorum was not given"):
        answer("ana", (), None)
    assert "as many of the participants as each instance sets" in workflows.to_mermaid(d)
