"""ISO weeks, the period a fleet report covers: Monday 00:00 UTC to the next Monday."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fleetray.errors import ReportError

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class ReportWeek:
    """One ISO week, ``2026-W48``."""

    year: int
    week: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(date.fromisocalendar(self.year, self.week, 1), datetime.min.time(), UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def days(self) -> list[date]:
        return [(self.start + timedelta(days=k)).date() for k in range(7)]

    @classmethod
    def containing(cls, moment: datetime) -> ReportWeek:
        year, week, _ = moment.astimezone(UTC).isocalendar()
        return cls(year, week)

    @classmethod
    def last_full(cls, now: datetime) -> ReportWeek:
        """The latest week that has ended by ``now``."""
        return cls.containing(now - timedelta(days=7))

    @classmethod
    def parse(cls, text: str, *, now: datetime) -> ReportWeek:
        """``2026-W48`` (ISO 8601), ``last`` (the last full week) or ``current`` (the week so far).

        Raises:
            ReportError: any other text, a week the year does not have, or a week that has not begun.
        """
        if text == "last":
            return cls.last_full(now)
        if text == "current":
            return cls.containing(now)
        match = WEEK_PATTERN.match(text)
        if match is None:
            raise ReportError(f"week: got {text!r}, expected an ISO week such as 2026-W48, 'last' or 'current'")
        year, week = int(match[1]), int(match[2])
        if year < 1:
            raise ReportError(f"week: year {match[1]} does not exist; expected one from 0001")
        try:
            chosen = cls(year, week)
            start = chosen.start
        except ValueError:
            weeks = date(year, 12, 28).isocalendar().week
            raise ReportError(f"week: {year} has weeks 01 to {weeks}, not {week:02d}") from None
        if start > now:
            raise ReportError(f"week: {chosen.label} has not begun yet (it starts {start:%Y-%m-%d})")
        return chosen
