"""Working days: deadlines in Decree 30 and in leaders' assignments are counted in working days,
on a calendar of public holidays kept as data per year (Saturdays and Sundays off, holidays
off, swapped Saturdays worked)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from docflow.domain.documents import Urgency
from docflow.domain.errors import Invalid

WEEKEND = (5, 6)  # Saturday, Sunday


@dataclass(frozen=True)
class CalendarYear:
    """One year's decisions: days off beyond the weekend, and weekend days worked instead."""

    year: int
    holidays: Mapping[date, str]
    working_days: Mapping[date, str] = field(default_factory=dict)
    provisional: bool = False
    """True until the year's Tết days and swaps are decided and the data checked."""
    source: str = ""

    def __post_init__(self) -> None:
        strays = [d for d in [*self.holidays, *self.working_days] if d.year != self.year]
        if strays:
            raise Invalid(f"the calendar of {self.year} lists days of other years",
                          errors=[d.isoformat() for d in strays])
        both = sorted(set(self.holidays) & set(self.working_days))
        if both:
            raise Invalid(f"the calendar of {self.year} lists days both off and worked",
                          errors=[d.isoformat() for d in both])


class WorkingCalendar:
    """Answers which days are worked and counts working days. Years without data count only
    weekends as days off, and say so (`covers`)."""

    def __init__(self, years: Iterable[CalendarYear] = ()) -> None:
        self._years: dict[int, CalendarYear] = {}
        for y in years:
            self._years[y.year] = y  # a later source (the deployment's) replaces a year

    def covers(self, year: int) -> bool:
        return year in self._years

    def year(self, year: int) -> CalendarYear | None:
        return self._years.get(year)

    @property
    def years(self) -> list[int]:
        return sorted(self._years)

    def is_working_day(self, day: date) -> bool:
        known = self._years.get(day.year)
        if known is not None:
            if day in known.working_days:
                return True
            if day in known.holidays:
                return False
        return day.weekday() not in WEEKEND

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, days: int) -> date:
        """The day `days` working days after `start` (0: `start` itself, or the next working
        day if `start` is not one): a deadline of "5 working days" from a Friday before Tết
        lands after the holiday."""
        if days < 0:
            raise Invalid("a number of working days is not negative")
        day = start if self.is_working_day(start) else self.next_working_day(start)
        for _ in range(days):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when `end` is
        earlier): how late something is, in working days."""
        if end < start:
            return -self.working_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def registration_due(arrival_day: date, urgency: Urgency, calendar: WorkingCalendar) -> date:
    """The day an arrival must be registered by (Decree 30 Art. 21): urgent ones the day they
    arrive, the others that day or at the latest the next working day. `arrival_day` is in
    the organisation's civil time."""
    if urgency is not Urgency.NORMAL:
        return arrival_day
    return calendar.next_working_day(arrival_day)
