"""A store's week as drawable segments, from the engine's intervals.

Pure (no ORM): the dashboard feeds it spans and hours, and draws the result
as inline SVG. Every segment carries its local start, end and duration, so a
tooltip says when the store was down in the owner's own time.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple
from zoneinfo import ZoneInfo

from core import instants, uptime


class Segment(NamedTuple):
    kind: str  # "open" (business hours, up or unmonitored), "down" (down inside business hours)
    start: int  # microseconds since the epoch
    end: int
    x: float  # position and width in percent of the timeline
    width: float
    label: str  # local start – end (duration)


class DayMark(NamedTuple):
    x: float
    label: str


class StoreWeek(NamedTuple):
    segments: list[Segment]
    down_periods: list[Segment]
    day_marks: list[DayMark]


def format_duration(micros: int) -> str:
    """`2 h 05 min`, `45 min`, `3 d 4 h`: short and exact to the minute."""
    minutes = round(micros / instants.MINUTE)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if not minutes else f"{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def local_label(start: int, end: int, zone: ZoneInfo) -> str:
    begin = instants.from_micros(start).astimezone(zone)
    finish = instants.from_micros(end).astimezone(zone)
    same_day = begin.date() == finish.date()
    end_text = finish.strftime("%H:%M") if same_day else finish.strftime("%a %d %b %H:%M")
    return f"{begin:%a %d %b %H:%M} – {end_text} {finish:%Z} ({format_duration(end - start)})"


def store_week(
    *, spans: Sequence[uptime.Span], hours: uptime.WeeklyHours, zone_name: str, as_of: int, stale_after: int
) -> StoreWeek:
    """Business hours and downtime inside them over the week ending at `as_of`."""
    start = as_of - instants.WEEK
    zone = ZoneInfo(zone_name)
    open_hours = uptime.business_intervals(hours, zone_name, start, as_of)
    down = uptime.intersect(uptime.status_timeline(spans, stale_after, start, as_of).down, open_hours)

    def segment(kind: str, s: int, e: int) -> Segment:
        return Segment(
            kind, s, e, 100 * (s - start) / instants.WEEK, 100 * (e - s) / instants.WEEK, local_label(s, e, zone)
        )

    segments = [segment("open", s, e) for s, e in open_hours]
    down_periods = [segment("down", s, e) for s, e in down]
    # Local midnights, so the owner reads the days of their own week.
    marks: list[DayMark] = []
    day = instants.from_micros(start).astimezone(zone).date() + dt.timedelta(days=1)
    while True:
        midnight = instants.to_micros(dt.datetime.combine(day, dt.time(), tzinfo=zone))
        if midnight >= as_of:
            break
        marks.append(DayMark(100 * (midnight - start) / instants.WEEK, f"{day:%a %d}"))
        day += dt.timedelta(days=1)
    return StoreWeek(segments + down_periods, down_periods, marks)
