"""Business-hours weeks: the rules of a store's schedule as it is written,
in one place for the API, the admin and the Loop import (docs/semantics.md,
section 2). How a week becomes UTC intervals is the engine's (core.uptime).

- A time is HH:MM or HH:MM:SS; 24:00, the midnight ending the day, only
  ends an interval, and is stored as 00:00.
- An entry is an interval of a weekday (0 = Monday ... 6 = Sunday), or that
  weekday marked closed, without times.
- A weekday is closed or has intervals, not both; a weekday without entries
  is open all day.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_LOCAL_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?$", re.ASCII)
END_ONLY = "24:00 can only end an interval."


@dataclass(frozen=True)
class HoursInput:
    """One entry of a schedule: an interval of a weekday, or that weekday closed."""

    day_of_week: int
    start: dt.time | None = None
    end: dt.time | None = None
    closed: bool = False


def parse_local_time(text: str) -> tuple[dt.time, bool]:
    """A schedule time "HH:MM" or "HH:MM:SS"; "24:00" is accepted as the
    midnight ending the day. Returns the time (24:00 as 00:00) and whether it
    was written as 24:00."""
    if not isinstance(text, str):
        raise ValueError("expected a time string such as 09:30 or 23:59:59")
    match = _LOCAL_TIME.match(text.strip())
    if not match:
        raise ValueError("expected a time such as 09:30 or 23:59:59")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if (hour, minute, second) == (24, 0, 0):
        return dt.time(0, 0), True
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("hours run 00-23 (or 24:00), minutes and seconds 00-59")
    return dt.time(hour, minute, second), False


def local_time(text: Any, *, is_end: bool) -> dt.time:
    """A start or an end of an interval, as stored (24:00 as 00:00); ValueError with the reason."""
    value, is_24 = parse_local_time(text)
    if is_24 and not is_end:
        raise ValueError(END_ONLY)
    return value


def entry_problem(entry: HoursInput) -> str | None:
    """What is wrong with one entry (None: nothing): the weekday, or the times
    an open or a closed entry must and must not have."""
    if not 0 <= entry.day_of_week <= 6:
        return f"Day {entry.day_of_week} is not 0 (Monday) to 6 (Sunday)."
    if entry.closed and (entry.start is not None or entry.end is not None):
        return f"Day {entry.day_of_week}: a closed day has no start or end time."
    if not entry.closed and (entry.start is None or entry.end is None):
        return f"Day {entry.day_of_week}: give a start and an end time, or mark the day closed."
    return None


def week_problems(*, week: Sequence[HoursInput]) -> list[str]:
    """What is wrong with a whole week of entries: each entry's problem, and
    any weekday both closed and open."""
    problems = [problem for problem in map(entry_problem, week) if problem is not None]
    closed = {entry.day_of_week for entry in week if entry.closed}
    open_ = {entry.day_of_week for entry in week if not entry.closed}
    problems.extend(f"Day {day} is both closed and open." for day in sorted(closed & open_))
    return problems


def end_time_text(end: dt.time, *, start: dt.time) -> str:
    """An interval's end as the API shows it: 00:00 after a later start is
    the midnight ending the day, 24:00:00."""
    if end == dt.time(0) and start != dt.time(0):
        return "24:00:00"
    return end.isoformat()


class HoursRow(Protocol):
    """What week_representation reads of a stored row (BusinessHours)."""

    day_of_week: int
    start_time_local: dt.time | None
    end_time_local: dt.time | None
    closed: bool


def week_representation(rows: Iterable[HoursRow]) -> list[dict[str, Any]]:
    """All seven days of stored rows: their intervals, closed, or open all day."""
    ordered = sorted(rows, key=lambda row: (row.day_of_week, row.start_time_local or dt.time(0)))
    days = []
    for day in range(7):
        day_rows = [row for row in ordered if row.day_of_week == day]
        intervals = [
            {
                "start_time_local": row.start_time_local.isoformat(),
                "end_time_local": end_time_text(row.end_time_local, start=row.start_time_local),
            }
            for row in day_rows
            if not row.closed
        ]
        if intervals:
            state = "open"
        elif day_rows:
            state = "closed"
        else:
            state = "open_all_day"
        days.append({"dayOfWeek": day, "state": state, "intervals": intervals})
    return days
