"""Public-holiday calendars as data, one JSON file per country and year (``VN-2026.json``);
a deployment adds or corrects years with files of its own (DOCFLOW_CALENDAR_DIR)."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from docflow.domain.calendar import CalendarYear, WorkingCalendar
from docflow.domain.errors import Invalid


def load_calendar(extra: Path | None = None, country: str = "VN") -> WorkingCalendar:
    """The shipped years, then those in `extra` (which replace a shipped year)."""
    years = _read(resources.files("docflow.calendars"), country)
    if extra is not None:
        years += _read(extra, country)
    return WorkingCalendar(years)


def _read(folder: Traversable, country: str) -> list[CalendarYear]:
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(f"{country}-") and entry.name.endswith(".json"):
            try:
                found.append(parse(json.loads(entry.read_text("utf-8"))))
            except (ValueError, KeyError, TypeError) as exc:
                raise Invalid(f"calendar {entry.name}: {exc}") from exc
            except Invalid as exc:
                raise Invalid(f"calendar {entry.name}: {exc}", errors=exc.errors) from exc
    return found


def parse(data: dict[str, object]) -> CalendarYear:
    """One year from its data form (see VN-2026.json)."""
    def days(key: str) -> dict[date, str]:
        listed = data.get(key, [])
        if not isinstance(listed, list):
            raise TypeError(f"'{key}' is a list")
        return {date.fromisoformat(str(d["date"])): str(d.get("name", "")) for d in listed}

    status = str(data.get("status", "official"))
    if status not in ("official", "provisional"):
        raise ValueError("'status' is official or provisional")
    return CalendarYear(year=int(str(data["year"])), holidays=days("holidays"),
                        working_days=days("working_days"),
                        provisional=status == "provisional", source=str(data.get("source", "")))
