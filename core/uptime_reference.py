"""The engine's figures by interval intersection: the form store_uptime had
before it measured through cumulative open time (core.uptime.OpenTime).

Kept as a slow, exact reference and nothing else: core/tests compares
store_uptime with it on generated inputs, and bench/micro_bench.py times the
two and checks they agree on every store. Pure Python, no Django.
"""
from __future__ import annotations

from collections.abc import Sequence

from .instants import DAY, HOUR, WEEK
from .uptime import (
    Interval,
    Span,
    UptimeFigures,
    WeeklyHours,
    _business_intervals_shared,
    intersect,
    status_timeline,
    subtract,
)


def _tail_measures(intervals: Sequence[Interval], hour_start: int, day_start: int) -> tuple[int, int, int]:
    """Lengths after hour_start, after day_start, and in all, of intervals
    that all end by the same instant: the three report windows in one pass."""
    hour = day = week = 0
    for s, e in intervals:
        week += e - s
        if e > day_start:
            day += e - (s if s > day_start else day_start)
            if e > hour_start:
                hour += e - (s if s > hour_start else hour_start)
    return hour, day, week


def store_uptime_reference(
    *,
    spans: Sequence[Span],
    hours: WeeklyHours,
    zone_name: str,
    as_of: int,
    stale_after: int,
    closures: Sequence[Interval] = (),
) -> UptimeFigures:
    """store_uptime's figures: the status intervals intersected with the open
    hours, interval list by interval list, then measured per window."""
    week_start = as_of - WEEK
    timeline = status_timeline(spans, stale_after, week_start, as_of)
    if not timeline.up and not timeline.down:
        return UptimeFigures(0, 0, 0, 0, 0, 0)
    business = _business_intervals_shared(hours, zone_name, week_start, as_of)
    hour_start, day_start = as_of - HOUR, as_of - DAY
    if closures:
        open_hours = subtract(business, closures)
        # Closed time counts once the store is monitored, as up and down time
        # do: from its first poll on, every instant is up, down or closed.
        monitored_from = min(timeline.up[0][0] if timeline.up else as_of, timeline.down[0][0] if timeline.down else as_of)
        closed_hours = intersect(intersect(business, closures), [(monitored_from, as_of)])
        closed = _tail_measures(closed_hours, hour_start, day_start)
    else:
        open_hours, closed = business, (0, 0, 0)
    up_hour, up_day, up_week = _tail_measures(intersect(timeline.up, open_hours), hour_start, day_start)
    down_hour, down_day, down_week = _tail_measures(intersect(timeline.down, open_hours), hour_start, day_start)
    no_signal = _tail_measures(intersect(timeline.no_signal, open_hours), hour_start, day_start) if timeline.no_signal else (0, 0, 0)
    return UptimeFigures(up_hour, up_day, up_week, down_hour, down_day, down_week, *no_signal, *closed)
