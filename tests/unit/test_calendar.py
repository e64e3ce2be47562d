"""Working days on the holiday calendar, and the shipped calendar data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from docflow.calendars import load_calendar
from docflow.domain.calendar import CalendarYear, WorkingCalendar, registration_due
from docflow.domain.documents import Urgency
from docflow.domain.errors import Invalid

VN = load_calendar()


def test_the_shipped_years_load_and_say_what_is_provisional() -> None:
    assert {2025, 2026, 2027} <= set(VN.years)
    official = VN.year(2025)
    assert official is not None and not official.provisional
    later = VN.year(2027)
    assert later is not None and later.provisional and "correct this file" in later.source


@pytest.mark.parametrize(("start", "days", "due"), [
    (date(2026, 11, 20), 0, date(2026, 11, 20)),  # Friday itself
    (date(2026, 11, 20), 1, date(2026, 11, 23)),  # over the weekend
    (date(2026, 11, 21), 0, date(2026, 11, 23)),  # from a Saturday
    (date(2026, 2, 12), 2, date(2026, 2, 23)),  # Thursday before Tết Bính Ngọ
    (date(2026, 4, 24), 1, date(2026, 4, 28)),  # Hùng Kings' day in lieu on Monday 27/4
    (date(2026, 4, 29), 1, date(2026, 5, 4)),  # 30/4 and 1/5
    (date(2025, 4, 25), 1, date(2025, 4, 26)),  # the Saturday worked in lieu of 2/5/2025
    (date(2026, 12, 31), 1, date(2027, 1, 4)),  # New Year's Day and a weekend
])
def test_adding_working_days(start: date, days: int, due: date) -> None:
    assert VN.add_working_days(start, days) == due


def test_lateness_in_working_days() -> None:
    assert VN.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert VN.working_days_between(date(2026, 2, 23), date(2026, 2, 13)) == -1
    assert VN.working_days_between(date(2026, 11, 23), date(2026, 11, 23)) == 0


def test_registration_is_due_the_next_working_day_urgent_ones_at_once() -> None:
    friday = date(2026, 4, 24)
    assert registration_due(friday, Urgency.NORMAL, VN) == date(2026, 4, 28)
    assert registration_due(friday, Urgency.URGENT, VN) == friday


def test_a_year_without_data_counts_weekends_only() -> None:
    bare = WorkingCalendar()
    assert not bare.covers(2026)
    assert bare.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 16)


def test_bad_calendar_data_is_named(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="other years"):
        CalendarYear(2026, holidays={date(2025, 1, 1): "x"})
    with pytest.raises(Invalid, match="both off and worked"):
        CalendarYear(2026, holidays={date(2026, 5, 2): "x"}, working_days={date(2026, 5, 2): "y"})
    (tmp_path / "VN-2028.json").write_text(json.dumps({"year": 2028, "holidays": [
        {"date": "2028-02-30", "name": "no such day"}]}), "utf-8")
    with pytest.raises(Invalid, match=r"VN-2028\.json"):
        load_calendar(tmp_path)


def test_a_deployment_corrects_a_year(tmp_path: Path) -> None:
    (tmp_path / "VN-2027.json").write_text(json.dumps({
        "year": 2027, "status": "official", "holidays": [{"date": "2027-02-12", "name": "Tết"}],
        "working_days": [{"date": "2027-02-20", "name": "làm bù"}]}), "utf-8")
    corrected = load_calendar(tmp_path)
    assert not corrected.is_working_day(date(2027, 2, 12))
    assert corrected.is_working_day(date(2027, 2, 20))  # a Saturday worked
    assert corrected.is_working_day(date(2027, 2, 5))  # the shipped guess is replaced


def test_a_leader_gives_a_deadline_in_working_days(services: object) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from docflow.bootstrap import Services

    assert isinstance(services, Services)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    assert services.handling.deadline_in(5) == VN.add_working_days(today, 5)
    with pytest.raises(Invalid):
        services.handling.deadline_in(0)
