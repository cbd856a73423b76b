"""Drawable weeks: segments in percent of the week, local-time labels, local midnights."""
import datetime as dt

import pytest

from core import instants
from core import uptime
from reports.timeline import format_duration, store_week

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0 min"),
        (45 * instants.MINUTE, "45 min"),
        (2 * instants.HOUR + 5 * instants.MINUTE, "2 h 05 min"),
        (instants.DAY + 4 * instants.HOUR, "1 d 4 h"),
        (3 * instants.DAY + 30 * instants.MINUTE, "3 d 0 h 30 min"),
        (29 * instants.SECOND, "0 min"),
        (31 * instants.SECOND, "1 min"),
    ],
)
def test_format_duration(micros, text):
    assert format_duration(micros) == text


def test_week_of_a_store_open_monday_9_to_17_in_chicago_down_for_an_hour():
    # Monday 2024-01-08, Chicago (UTC-6): open 15:00-23:00 UTC. Inactive 16:00-17:00 UTC
    # (10:00-11:00 local), active again at 17:00 and polling hourly until as_of.
    hours = uptime.weekly_hours(
        [uptime.HoursEntry(0, dt.time(9), dt.time(17))]
        + [uptime.HoursEntry(day, None, None, True) for day in range(1, 7)]
    )
    at = lambda hour: instants.to_micros(dt.datetime(2024, 1, 8, hour, tzinfo=UTC))  # noqa: E731
    spans = [uptime.Span(True, at(15), at(15)), uptime.Span(False, at(16), at(16)), uptime.Span(True, at(17), at(23))]
    as_of = at(23) + instants.MINUTE
    week = store_week(spans=spans, hours=hours, zone_name="America/Chicago", as_of=as_of, stale_after=2 * instants.HOUR)

    assert [(s.start, s.end) for s in week.down_periods] == [(at(16), at(17))]
    assert week.down_periods[0].label == "Mon 08 Jan 10:00 – 11:00 CST (1 h 00 min)"
    open_segments = [s for s in week.segments if s.kind == "open"]
    assert [(s.start, s.end) for s in open_segments] == [(at(15), at(23))]
    assert open_segments[0].label == "Mon 08 Jan 09:00 – 17:00 CST (8 h 00 min)"
    # Positions are percent of the week ending at as_of.
    assert open_segments[0].x == pytest.approx(100 * (at(15) - (as_of - instants.WEEK)) / instants.WEEK)
    assert open_segments[0].width == pytest.approx(100 * 8 * instants.HOUR / instants.WEEK)
    # One mark per local midnight inside the week: 7 of them (Jan 2 ... Jan 8).
    assert [mark.label for mark in week.day_marks] == ["Tue 02", "Wed 03", "Thu 04", "Fri 05", "Sat 06", "Sun 07", "Mon 08"]
    # Each at its local midnight (06:00 UTC in Chicago), in percent of the week.
    midnight = lambda day: instants.to_micros(dt.datetime(2024, 1, day, 6, tzinfo=UTC))  # noqa: E731
    assert [mark.x for mark in week.day_marks] == pytest.approx(
        [100 * (midnight(day) - (as_of - instants.WEEK)) / instants.WEEK for day in range(2, 9)]
    )


def test_a_week_ending_at_a_local_midnight_has_no_mark_at_its_right_edge():
    # As of Monday 2024-01-08 00:00 in Chicago (06:00 UTC): the marks are the
    # six midnights inside the week; the one it ends at is its edge, not a day.
    as_of = instants.to_micros(dt.datetime(2024, 1, 8, 6, tzinfo=UTC))
    week = store_week(spans=[], hours=uptime.ALWAYS_OPEN, zone_name="America/Chicago", as_of=as_of, stale_after=2 * instants.HOUR)
    assert [mark.label for mark in week.day_marks] == ["Tue 02", "Wed 03", "Thu 04", "Fri 05", "Sat 06", "Sun 07"]
    assert 0 < week.day_marks[0].x < week.day_marks[-1].x < 100


def test_a_store_down_across_closing_time_lists_a_period_that_stops_at_closing():
    # Monday 2024-01-08 in Chicago, open 09:00-17:00 local (15:00-23:00 UTC):
    # inactive from 16:00 local on, through closing and into the night.
    hours = uptime.weekly_hours(
        [uptime.HoursEntry(0, dt.time(9), dt.time(17))]
        + [uptime.HoursEntry(day, None, None, True) for day in range(1, 7)]
    )
    at = lambda hour: instants.to_micros(dt.datetime(2024, 1, 8, hour, tzinfo=UTC))  # noqa: E731
    spans = [uptime.Span(True, at(15), at(21)), uptime.Span(False, at(22), at(23) + 3 * instants.HOUR)]
    as_of = at(23) + 4 * instants.HOUR  # 21:00 local, long after closing
    week = store_week(spans=spans, hours=hours, zone_name="America/Chicago", as_of=as_of, stale_after=2 * instants.HOUR)

    assert [(s.start, s.end) for s in week.down_periods] == [(at(22), at(23))]
    assert week.down_periods[0].label == "Mon 08 Jan 16:00 – 17:00 CST (1 h 00 min)"


def test_overnight_segment_label_names_both_days():
    hours = uptime.weekly_hours(
        [uptime.HoursEntry(4, dt.time(22), dt.time(2))] + [uptime.HoursEntry(d, None, None, True) for d in (0, 1, 2, 3, 5, 6)]
    )
    as_of = instants.to_micros(dt.datetime(2024, 1, 8, tzinfo=UTC))
    spans = [uptime.Span(True, as_of - instants.WEEK, as_of - instants.MINUTE)]  # fake: one long up span
    week = store_week(spans=spans, hours=hours, zone_name="UTC", as_of=as_of, stale_after=10 * instants.DAY)
    assert [s.label for s in week.segments] == ["Fri 05 Jan 22:00 – Sat 06 Jan 02:00 UTC (4 h 00 min)"]
