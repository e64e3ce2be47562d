from __future__ import annotations

from datetime import date

import pytest

from docflow.domain.access import can_see
from docflow.domain.documents import (
    CATALOGUE,
    Confidentiality,
    DraftSpec,
    check_draft,
    format_symbol,
)
from docflow.domain.errors import Invalid, Refused
from docflow.domain.org import Actor, Membership, Role, Unit, User
from docflow.domain.routing import DispatchTarget

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(("number", "doc_type", "issuer", "expected"), [
    (15, "QĐ", "BNV", "15/QĐ-BNV"),
    (5, "CV", "BNV", "05/BNV"),
    (216, "KH", "BCH", "216/KH-BCH"),
    (1, "CT", "HPN", "01/CT-HPN"),
])
def test_symbols_follow_decree_30(number: int, doc_type: str, issuer: str, expected: str) -> None:
    assert format_symbol(number, doc_type, issuer) == expected


def test_the_catalogue_has_the_appendix_iii_types() -> None:
    state = [t for t in CATALOGUE.values() if "state" in t.families]
    assert len(state) == 29  # Appendix III
    assert sorted(t.key for t in CATALOGUE.values() if "state" not in t.families) == [
        "KL", "QTr", "TT"]  # the Party's own
    assert CATALOGUE["QyĐ"].name == "Quy định"
    assert CATALOGUE["CV"].abbreviation is None


@pytest.mark.parametrize("level", [c for c in Confidentiality if c is not Confidentiality.NORMAL])
def test_classified_drafts_are_refused_unless_isolated(level: Confidentiality) -> None:
    spec = DraftSpec("CT", "Về việc", confidentiality=level)
    with pytest.raises(Refused, match="state-secret"):
        check_draft(spec, allow_classified=False, today=TODAY)
    assert check_draft(spec, allow_classified=True, today=TODAY).confidentiality is level


def test_a_bad_draft_lists_every_problem() -> None:
    with pytest.raises(Invalid) as info:
        check_draft(DraftSpec("XYZ", "   ", reply_due=date(2020, 1, 1)), allow_classified=False,
                    today=TODAY)
    assert len(info.value.errors) == 3


def test_a_draft_is_normalised() -> None:
    spec = check_draft(DraftSpec("CT", "  Về   việc\n kiểm tra ", recipients=("A", "B", "A")),
                       allow_classified=False, today=TODAY)
    assert spec.abstract == "Về việc kiểm tra"
    assert spec.recipients == ("A", "B")


def actor(*memberships: tuple[str, str, Role]) -> Actor:
    return Actor(User("u", "u", "U"), tuple(Membership(c, p, r) for c, p, r in memberships))


@pytest.mark.parametrize(("memberships", "drafting", "recipients", "visible"), [
    ([("P", "P/", Role.OFFICER)], "P/", [], True),  # drafted by my unit
    ([("X", "P/X/", Role.CLERK)], "P/", ["P/X/"], True),  # sent to my unit
    ([("X", "P/X/", Role.CLERK)], "P/", ["P/Y/"], False),  # sent to a sibling
    ([("X", "P/X/", Role.CLERK)], "P/", [], False),  # the province's draft
    ([("P", "P/", Role.AUDITOR)], "P/X/", [], True),  # auditor of an ancestor
    ([("P", "P/", Role.AUDITOR)], "Q/", ["Q/Z/", "P/X/"], True),  # sent into my subtree
    ([("Q", "Q/", Role.AUDITOR)], "P/", ["P/X/"], False),  # another province's auditor
    ([("P", "P/", Role.LEADER)], "P/X/", [], False),  # a leader above is no auditor
])
def test_who_sees_a_document(memberships: list[tuple[str, str, Role]], drafting: str,
                             recipients: list[str], visible: bool) -> None:
    assert can_see(actor(*memberships), drafting, recipients) is visible


@pytest.mark.parametrize("target", [
    DispatchTarget(),
    DispatchTarget(level="commune"),
    DispatchTarget(unit_codes=("A",), level="commune", under="P"),
])
def test_a_dispatch_target_must_be_whole(target: DispatchTarget) -> None:
    with pytest.raises(Invalid):
        target.check()


def test_units_are_effective_dated_and_merged_units_are_inactive() -> None:
    unit = Unit("X", "Xã", "X", "commune", "P", "P/X/", valid_from=date(2025, 7, 1))
    assert not unit.is_active(date(2025, 6, 30))
    assert unit.is_active(TODAY)
    merged = Unit("Y", "Xã", "Y", "commune", "P", "P/Y/", successor_code="X")
    assert not merged.is_active(TODAY)


def test_new_ids_are_version_7_and_time_ordered() -> None:
    import uuid

    from docflow.services.ids import new_id

    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # the millisecond prefix
