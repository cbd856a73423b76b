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


# --------------------------------------------------------------------------
# Closures: taken out of the business hours as the engine does, drawn apart
# --------------------------------------------------------------------------

from core.closures import ClosureRule, closure_intervals, local_moment  # noqa: E402

CHICAGO_MONDAY_9_TO_17 = uptime.weekly_hours(
    [uptime.HoursEntry(0, dt.time(9), dt.time(17))] + [uptime.HoursEntry(day, None, None, True) for day in range(1, 7)]
)


def local_rule(start: str, end: str, every_year: bool = False) -> ClosureRule:
    return ClosureRule(True, local_moment(dt.datetime.fromisoformat(start)), local_moment(dt.datetime.fromisoformat(end)), every_year)


def at_utc(hour: int, minute: int = 0) -> int:
    return instants.to_micros(dt.datetime(2024, 1, 8, hour, minute, tzinfo=UTC))


def test_a_closure_inside_business_hours_is_a_closed_segment_and_never_down():
    # Monday 2024-01-08 in Chicago (UTC-6), open 09:00-17:00 local (15:00-23:00 UTC),
    # inactive all day; closed for "Inventory" 10:00-13:00 local (16:00-19:00 UTC).
    spans = [uptime.Span(False, at_utc(15), at_utc(22, 30))]
    inventory = local_rule("2024-01-08T10:00:00", "2024-01-08T13:00:00")
    as_of = at_utc(23)
    week = store_week(
        spans=spans, hours=CHICAGO_MONDAY_9_TO_17, zone_name="America/Chicago", as_of=as_of,
        stale_after=2 * instants.HOUR, closures=(inventory,), reasons=[(inventory, "Inventory")],
    )

    closed = [s for s in week.segments if s.kind == "closed"]
    assert [(s.start, s.end, s.reason) for s in closed] == [(at_utc(16), at_utc(19), "Inventory")]
    assert list(week.closed_periods) == closed
    assert closed[0].title == "Closed (Inventory): Mon 08 Jan 10:00 – 13:00 CST (3 h 00 min)"
    assert closed[0].x == pytest.approx(100 * (at_utc(16) - (as_of - instants.WEEK)) / instants.WEEK)
    assert closed[0].width == pytest.approx(100 * 3 * instants.HOUR / instants.WEEK)
    # Business hours minus the closure: open and down on either side of it, none inside.
    assert [(s.start, s.end) for s in week.segments if s.kind == "open"] == [(at_utc(15), at_utc(16)), (at_utc(19), at_utc(23))]
    assert [(s.start, s.end) for s in week.down_periods] == [(at_utc(15), at_utc(16)), (at_utc(19), at_utc(23))]
    assert [s.label for s in week.down_periods] == [
        "Mon 08 Jan 09:00 – 10:00 CST (1 h 00 min)",
        "Mon 08 Jan 13:00 – 17:00 CST (4 h 00 min)",
    ]
    # The down periods are exactly the engine's downtime.
    figures = uptime.store_uptime(
        spans=spans, hours=CHICAGO_MONDAY_9_TO_17, zone_name="America/Chicago", as_of=as_of,
        stale_after=2 * instants.HOUR,
        closures=closure_intervals([inventory], "America/Chicago", as_of - instants.WEEK, as_of),
    )
    assert sum(s.end - s.start for s in week.down_periods) == figures.downtime_last_week == 5 * instants.HOUR
    assert figures.closed_last_week == 3 * instants.HOUR


def test_a_closure_is_drawn_outside_business_hours_too_and_clipped_to_the_week():
    # Closed all of Monday 2024-01-08 (Chicago), as dates give it: midnight to
    # midnight local; the week ends at 12:00 local, so the segment does too.
    holiday = local_rule("2024-01-08T00:00:00", "2024-01-09T00:00:00")
    as_of = at_utc(18)
    week = store_week(
        spans=[], hours=CHICAGO_MONDAY_9_TO_17, zone_name="America/Chicago", as_of=as_of,
        stale_after=2 * instants.HOUR, closures=(holiday,), reasons=[(holiday, "Holiday")],
    )
    # The week starts at 12:00 local on the Monday before: its afternoon is open.
    monday_before = lambda hour: at_utc(hour) - instants.WEEK  # noqa: E731
    assert [(s.kind, s.start, s.end) for s in week.segments] == [
        ("open", monday_before(18), monday_before(23)),
        ("closed", at_utc(6), as_of),
    ]
    assert week.segments[1].title == "Closed (Holiday): Mon 08 Jan 00:00 – 12:00 CST (12 h 00 min)"


def test_overlapping_closures_are_cut_where_their_reasons_change():
    inventory = local_rule("2024-01-08T10:00:00", "2024-01-08T13:00:00")
    training = local_rule("2024-01-08T12:00:00", "2024-01-08T14:00:00")
    hidden = local_rule("2024-01-08T14:00:00", "2024-01-08T15:00:00")  # a closure the reader does not see
    week = store_week(
        spans=[], hours=CHICAGO_MONDAY_9_TO_17, zone_name="America/Chicago", as_of=at_utc(23),
        stale_after=2 * instants.HOUR, closures=(inventory, training, hidden),
        reasons=[(inventory, "Inventory"), (training, "Training")],
    )
    assert [(s.start, s.end, s.title.split(":")[0]) for s in week.closed_periods] == [
        (at_utc(16), at_utc(18), "Closed (Inventory)"),
        (at_utc(18), at_utc(19), "Closed (Inventory, Training)"),
        (at_utc(19), at_utc(20), "Closed (Training)"),
        (at_utc(20), at_utc(21), "Closed"),
    ]
    assert [(s.start, s.end) for s in week.segments if s.kind == "open"] == [(at_utc(15), at_utc(16)), (at_utc(21), at_utc(23))]


def test_a_closure_outside_the_week_draws_nothing():
    last_year = local_rule("2023-01-08T10:00:00", "2023-01-08T13:00:00")
    week = store_week(
        spans=[], hours=CHICAGO_MONDAY_9_TO_17, zone_name="America/Chicago", as_of=at_utc(23),
        stale_after=2 * instants.HOUR, closures=(last_year,), reasons=[(last_year, "Old")],
    )
    assert week.closed_periods == [] and [s.kind for s in week.segments] == ["open"]
    # Every year, it is this week again.
    yearly = last_year._replace(every_year=True)
    week = store_week(
        spans=[], hours=CHICAGO_MONDAY_9_TO_17, zone_name="America/Chicago", as_of=at_utc(23),
        stale_after=2 * instants.HOUR, closures=(yearly,), reasons=[(yearly, "Stocktake")],
    )
    assert [(s.start, s.end, s.reason) for s in week.closed_periods] == [(at_utc(16), at_utc(19), "Stocktake")]
