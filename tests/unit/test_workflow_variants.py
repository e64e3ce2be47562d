"""An organisation's variants of a flow: loaded and checked like the shipped definitions, and
picked per unit (its code first, then its level)."""

from __future__ import annotations

from typing import Any

import pytest

import workflows
from workflows import DefinitionError


def flow(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name, "version": 1, "states": ["a", "b"], "initial": "a", "terminal": ["b"],
        "transitions": [{"trigger": "go", "from": "a", "to": "b", "relation": "r",
                         "roles": ["clerk"]}],
    }
    data.update(changes)
    return data


def registry(*data: dict[str, Any]) -> workflows.Registry:
    return workflows.Registry([workflows.load(d) for d in data])


def test_a_unit_runs_its_variant_else_its_levels_else_the_base() -> None:
    reg = registry(flow("base"),
                   flow("base-communes", variant_of="base", applies_to={"levels": ["commune"]}),
                   flow("base-x1", variant_of="base", applies_to={"units": ["P01.X1"]}))
    assert reg.for_unit("base", "P01.X1", "commune").name == "base-x1"
    assert reg.for_unit("base", "P01.X2", "commune").name == "base-communes"
    assert reg.for_unit("base", "P01", "province").name == "base"
    assert reg.for_unit("base", "P01", None).name == "base"


def test_the_newest_version_of_a_variant_is_picked() -> None:
    reg = registry(flow("base"),
                   flow("v", variant_of="base", applies_to={"levels": ["commune"]}),
                   flow("v", version=2, variant_of="base", applies_to={"levels": ["commune"]}))
    assert reg.for_unit("base", "X", "commune").version == 2


@pytest.mark.parametrize(("data", "message"), [
    (flow("v", applies_to={"levels": ["commune"]}), "is for a variant"),
    (flow("v", variant_of="base"), "which units or levels"),
    (flow("base", variant_of="base", applies_to={"units": ["X"]}), "name of its own"),
    (flow("v", variant_of="base", applies_to="commune"), "malformed"),
])
def test_malformed_variants_are_refused_at_load(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        workflows.load(data)


def test_a_variant_of_an_unknown_flow_is_refused() -> None:
    with pytest.raises(DefinitionError, match="not defined"):
        registry(flow("v", variant_of="nothing", applies_to={"units": ["X"]}))


def test_two_variants_may_not_claim_the_same_level() -> None:
    with pytest.raises(DefinitionError, match="both apply to commune"):
        registry(flow("base"),
                 flow("v1", variant_of="base", applies_to={"levels": ["commune"]}),
                 flow("v2", variant_of="base", applies_to={"levels": ["commune", "ward"]}))


def test_variant_levels_are_checked_when_levels_are_known() -> None:
    with pytest.raises(DefinitionError, match="unknown levels: hamlet"):
        workflows.load(flow("v", variant_of="base", applies_to={"levels": ["hamlet"]}),
                       known_levels=frozenset({"province", "commune"}))


def test_a_bad_file_in_an_organisations_folder_is_named(tmp_path: Any) -> None:
    (tmp_path / "ok.json").write_text('{"name": "x"', "utf-8")
    with pytest.raises(DefinitionError, match=r"ok\.json: not JSON"):
        workflows.load_folder(tmp_path)
    with pytest.raises(DefinitionError, match="no such folder"):
        workflows.load_folder(tmp_path / "missing")
