"""A clock tests move by hand (`clock.at = …`): deadlines, periods and terms without waiting."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """The Clock port, standing still at `at` (default: now) until a test moves it."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self.at
