"""A store's week as drawable segments, from the engine's intervals.

Pure (no ORM): the dashboard feeds it spans, hours and closures, and draws
the result as inline SVG. Every segment carries its local start, end and
duration, so a tooltip says when the store was down (or closed) in the
owner's own time.

Closures are taken out of the business hours exactly as the engine does
(core.uptime.store_uptime): the open and down segments are business hours
minus closures, and the closures inside the week are segments of their own,
with the reasons of the closures that cover them.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple
from zoneinfo import ZoneInfo

from core import instants, uptime
from core.closures import ClosureRule, closure_intervals

KIND_NAMES = {"open": "Open", "down": "Down", "closed": "Closed"}


class Segment(NamedTuple):
    # "open" (business hours, up or unmonitored), "down" (down inside business
    # hours, closures removed), "closed" (a closure, inside business hours or not)
    kind: str
    start: int  # microseconds since the epoch
    end: int
    x: float  # position and width in percent of the timeline
    width: float
    label: str  # local start – end (duration)
    reason: str = ""  # closed: the reasons of the closures covering it, as the reader may see them

    @property
    def title(self) -> str:
        """The tooltip: `Closed (Inventory): Mon 08 Jan 09:00 – 12:00 CST (3 h 00 min)`."""
        name = KIND_NAMES[self.kind]
        return f"{name} ({self.reason}): {self.label}" if self.reason else f"{name}: {self.label}"


class DayMark(NamedTuple):
    x: float
    label: str


class StoreWeek(NamedTuple):
    segments: list[Segment]
    down_periods: list[Segment]
    day_marks: list[DayMark]
    closed_periods: Sequence[Segment] = ()


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


def closed_pieces(
    closed: Sequence[uptime.Interval],
    reasons: Sequence[tuple[ClosureRule, str]],
    zone_name: str,
    start: int,
    end: int,
) -> list[tuple[int, int, str]]:
    """The closed intervals cut where the closures covering them change, each
    piece with the reasons of those closures (joined, in the order given;
    "" where none of `reasons` covers it), adjacent pieces with the same
    reasons joined again."""
    if not closed:
        return []
    covered = [(closure_intervals([rule], zone_name, start, end), reason) for rule, reason in reasons]
    pieces: list[tuple[int, int, str]] = []
    for s, e in closed:
        cuts = {s, e}
        for intervals, _reason in covered:
            for a, b in intervals:
                if s < a < e:
                    cuts.add(a)
                if s < b < e:
                    cuts.add(b)
        bounds = sorted(cuts)
        for a, b in zip(bounds, bounds[1:]):
            names: list[str] = []
            for intervals, reason in covered:
                if reason and reason not in names and any(x <= a and b <= y for x, y in intervals):
                    names.append(reason)
            text = ", ".join(names)
            if pieces and pieces[-1][1] == a and pieces[-1][2] == text:
                pieces[-1] = (pieces[-1][0], b, text)
            else:
                pieces.append((a, b, text))
    return pieces


def store_week(
    *,
    spans: Sequence[uptime.Span],
    hours: uptime.WeeklyHours,
    zone_name: str,
    as_of: int,
    stale_after: int,
    closures: Sequence[ClosureRule] = (),
    reasons: Sequence[tuple[ClosureRule, str]] = (),
) -> StoreWeek:
    """Business hours, closures and downtime inside the hours left open over
    the week ending at `as_of`. `closures` are the store's closures as the
    engine reads them; `reasons` name those the reader may see (a closure's
    rule and its reason), for the tooltips."""
    start = as_of - instants.WEEK
    zone = ZoneInfo(zone_name)
    closed = closure_intervals(closures, zone_name, start, as_of)
    business = uptime.business_intervals(hours, zone_name, start, as_of)
    open_hours = uptime.subtract(business, closed) if closed else business
    down = uptime.intersect(uptime.status_timeline(spans, stale_after, start, as_of).down, open_hours)

    def segment(kind: str, s: int, e: int, reason: str = "") -> Segment:
        return Segment(
            kind,
            s,
            e,
            100 * (s - start) / instants.WEEK,
            100 * (e - s) / instants.WEEK,
            local_label(s, e, zone),
            reason,
        )

    open_segments = [segment("open", s, e) for s, e in open_hours]
    closed_periods = [segment("closed", s, e, reason) for s, e, reason in closed_pieces(closed, reasons, zone_name, start, as_of)]
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
    return StoreWeek(open_segments + closed_periods + down_periods, down_periods, marks, closed_periods)
