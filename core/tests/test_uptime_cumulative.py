"""The engine's cumulative open time (core.uptime.OpenTime), and store_uptime
against core.uptime_reference.store_uptime_reference, the interval-intersecting
form it replaced, on generated inputs: the same figures to the microsecond.

test_uptime_property.py checks store_uptime against a per-second simulation
of the rules; here the inputs need not fall on whole seconds (polls are
moved by random microseconds), and spans are also drawn directly, not only
compressed from polls.
"""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from core import closures, uptime
from core.instants import DAY, HOUR, MINUTE, SECOND, WEEK
from core.uptime import HoursEntry, Span, UptimeFigures
from core.uptime_reference import store_uptime_reference

from .test_uptime import CHICAGO, STALE, every, local, spans_from_polls, t
from .test_uptime_property import SETTINGS, WEEK_S, ZONES, closure_rules, scenarios, schedules

# --------------------------------------------------------------------------
# OpenTime
# --------------------------------------------------------------------------


def open_inside(intervals: list[tuple[int, int]], a: int, b: int) -> int:
    """The open time inside [a, b), by intersection: what OpenTime must give."""
    return sum(e - s for s, e in uptime.intersect([(a, b)], intervals)) if a < b else 0


def test_open_time_is_flat_outside_the_intervals_and_rises_inside_them():
    opened = uptime.open_time([(10, 20), (30, 35)])
    assert opened.bounds == (10, 20, 30, 35)
    # Before, inside, between, inside, after: 0, t - 10, 10, 10 + t - 30, 15.
    assert [opened.at(x) for x in (0, 10, 15, 20, 25, 30, 33, 35, 99)] == [0, 0, 5, 10, 10, 10, 13, 15, 15]
    assert uptime.open_time([]).at(5) == 0


def test_open_time_of_touching_and_empty_intervals():
    # subtract() can leave neither, but OpenTime does not mind them.
    opened = uptime.open_time([(0, 5), (5, 10), (12, 12), (15, 16)])
    assert [opened.at(x) for x in (0, 5, 7, 10, 12, 13, 15, 16, 17)] == [0, 5, 7, 10, 10, 10, 10, 11, 11]


@st.composite
def disjoint_intervals(draw) -> list[tuple[int, int]]:
    edges = sorted(set(draw(st.lists(st.integers(-1000, 1000), max_size=16))))
    pairs = list(zip(edges[0::2], edges[1::2]))
    return [pair for pair in pairs if draw(st.booleans()) or len(pairs) < 3]


@given(disjoint_intervals(), st.integers(-1100, 1100), st.integers(-1100, 1100))
def test_open_time_inside_any_range_is_two_lookups(intervals, a, b):
    opened = uptime.open_time(intervals)
    a, b = min(a, b), max(a, b)
    assert opened.at(b) - opened.at(a) == open_inside(intervals, a, b)
    # The three windows' form: at(max(a, w)) = max(at(a), at(w)).
    for w in (a - 7, (a + b) // 2, b + 3):
        assert max(opened.at(b) - max(opened.at(a), opened.at(w)), 0) == open_inside(intervals, max(a, w), b)


# --------------------------------------------------------------------------
# store_uptime against the reference
# --------------------------------------------------------------------------


def both(spans, hours, zone_name, as_of, stale_after, closed=()) -> tuple[UptimeFigures, UptimeFigures]:
    kwargs = dict(spans=spans, hours=hours, zone_name=zone_name, as_of=as_of, stale_after=stale_after, closures=closed)
    return uptime.store_uptime(**kwargs), store_uptime_reference(**kwargs)


@settings(max_examples=300, **SETTINGS)
@given(data=st.data(), scenario=scenarios(longest=WEEK_S, max_polls=150))
def test_figures_equal_the_reference_on_polls_off_the_second(data, scenario):
    zone, entries, stale, as_of, polls = scenario
    # Polls, the report instant and the stale period moved off whole seconds.
    jitter = st.integers(0, SECOND - 1)
    polls = sorted((at * SECOND + data.draw(jitter), active) for at, active in polls)
    as_of = as_of * SECOND + data.draw(jitter)
    stale_after = stale * SECOND + data.draw(st.sampled_from([0, 1, SECOND // 2]))
    rules = data.draw(st.one_of(st.just([]), closure_rules(zone, as_of // SECOND, WEEK_S)))
    closed = closures.closure_intervals(rules, zone, as_of - WEEK, as_of)
    spans = spans_from_polls(polls, stale_after)
    new, reference = both(spans, uptime.weekly_hours(entries), zone, as_of, stale_after, closed)
    assert new == reference


@st.composite
def span_lists(draw, as_of: int) -> list[Span]:
    """Spans as the span rule leaves them (first polls increasing, each span's
    last poll before the next one's first), from before the week to after
    as_of, of any lengths: a microsecond to days."""
    span_count = draw(st.integers(0, 12))
    at = as_of - draw(st.integers(0, WEEK + 2 * DAY))
    spans = []
    for _ in range(span_count):
        first = at
        last = first + draw(st.one_of(st.just(0), st.integers(0, 3 * HOUR), st.integers(0, 3 * DAY)))
        spans.append(Span(draw(st.booleans()), first, last))
        at = last + draw(st.one_of(st.integers(1, 10), st.integers(1, 6 * HOUR), st.integers(1, 2 * DAY)))
    return spans


@st.composite
def instant_closures(draw, as_of: int) -> list[tuple[int, int]]:
    """Closures as core.closures gives them: sorted, disjoint, within the week."""
    edges = sorted(set(draw(st.lists(st.integers(as_of - WEEK, as_of), max_size=6))))
    return list(zip(edges[0::2], edges[1::2]))


@settings(max_examples=300, **SETTINGS)
@given(data=st.data(), zone=st.sampled_from(ZONES), schedule=schedules())
def test_figures_equal_the_reference_on_any_spans(data, zone, schedule):
    as_of = data.draw(st.integers(1_700_000_000, 1_720_000_000)) * SECOND + data.draw(st.integers(0, SECOND - 1))
    stale_after = data.draw(st.sampled_from([0, 1, 10 * MINUTE, 2 * HOUR, 2 * HOUR + 1, DAY]))
    spans = data.draw(span_lists(as_of))
    closed = data.draw(st.one_of(st.just([]), instant_closures(as_of)))
    new, reference = both(spans, uptime.weekly_hours(schedule), zone, as_of, stale_after, closed)
    assert new == reference


def test_figures_equal_the_reference_at_the_edges():
    as_of = local(CHICAGO, 2024, 3, 12, 18)  # two days after spring forward
    hours = uptime.weekly_hours([HoursEntry(day, t(9), t(17)) for day in range(7)])
    cases = [
        [],  # never polled
        [Span(True, as_of, as_of + HOUR)],  # first poll at as_of: not monitored
        [Span(True, as_of - WEEK - DAY, as_of - WEEK - DAY)],  # expired before the week: down all week
        [Span(False, as_of - 2 * WEEK, as_of - WEEK)],  # inactive into the week, then no signal
        [Span(True, as_of - WEEK, as_of - 1)],  # up throughout, polled to the end
        # Down from the last microsecond on.
        [Span(True, as_of - 3 * DAY, as_of - 3 * DAY), Span(False, as_of - 1, as_of - 1)],
        spans_from_polls(every(as_of - 2 * WEEK, as_of - MINUTE, 30 * MINUTE), STALE),
    ]
    for spans in cases:
        for closed in ([], [(as_of - 2 * DAY, as_of - DAY + HOUR)], [(as_of - WEEK, as_of)]):
            new, reference = both(spans, hours, CHICAGO, as_of, STALE, closed)
            assert new == reference, (spans, closed)


def test_stores_of_a_week_and_zone_share_one_cumulative_open_time():
    as_of = local(CHICAGO, 2024, 1, 10, 18)
    hours = uptime.weekly_hours([HoursEntry(day, t(9), t(17)) for day in range(7)])
    same_week = uptime.weekly_hours([HoursEntry(day, dt.time(9), dt.time(17)) for day in reversed(range(7))])
    assert same_week == hours and same_week is not hours
    shared = uptime._week_open_time_shared(hours, CHICAGO, as_of)
    assert uptime._week_open_time_shared(same_week, CHICAGO, as_of) is shared
    # Eight hours a day for seven days, the last hour 17:00-18:00 closed, the
    # last day's 9:00-17:00 open.
    assert shared.at_end - shared.open_time.at(as_of - WEEK) == 7 * 8 * HOUR
    assert (shared.at_end - shared.at_hour_start, shared.at_end - shared.at_day_start) == (0, 8 * HOUR)
    holiday = ((as_of - 2 * DAY, as_of - DAY),)
    closed = uptime._week_open_time_closed(shared, holiday, as_of)
    assert uptime._week_open_time_closed(shared, holiday, as_of) is closed
    assert closed.at_end == shared.at_end - 8 * HOUR  # the holiday holds one day's hours


def test_figures_equal_the_reference_around_the_windows_starts():
    # A status changing a microsecond before, at, or after the start of the
    # last hour or day: where an off-by-one in a window's clipping shows.
    as_of = local(CHICAGO, 2024, 1, 10, 18)
    for hours in (uptime.ALWAYS_OPEN, uptime.weekly_hours([HoursEntry(day, t(9), t(19)) for day in range(7)])):
        for window_start in (as_of - HOUR, as_of - DAY):
            for change in (window_start - 1, window_start, window_start + 1):
                cases = [
                    # Up until the status expires at `change`, then no signal.
                    [Span(True, as_of - 2 * DAY, change - STALE)],
                    # Down until `change`, then up; up until `change`, then down.
                    [Span(False, as_of - 2 * DAY, change - 1), Span(True, change, as_of - 1)],
                    [Span(True, as_of - 2 * DAY, change - 1), Span(False, change, as_of - 1)],
                ]
                for spans in cases:
                    new, reference = both(spans, hours, CHICAGO, as_of, STALE)
                    assert new == reference, (hours, spans)


def test_reports_as_of_instants_of_one_utc_day_share_the_pairs_business_hours():
    # 2024-01-10 in UTC: a report at 00:00 and one at 23:59 look up in one
    # open time of the pair; one at 00:00 the next day builds its own.
    hours = uptime.weekly_hours([HoursEntry(day, t(9), t(17)) for day in range(7)])
    midnight = local("UTC", 2024, 1, 10, 0)
    first = uptime._week_open_time_shared(hours, CHICAGO, midnight)
    last = uptime._week_open_time_shared(hours, CHICAGO, midnight + DAY - MINUTE)
    following = uptime._week_open_time_shared(hours, CHICAGO, midnight + DAY)
    assert first is not last and first.open_time is last.open_time
    assert following.open_time is not first.open_time


def test_figures_equal_the_reference_as_of_the_first_and_last_instants_of_a_utc_day():
    # The pair's open time covers the week before the UTC day and the day:
    # a week ending at the day's first or last microsecond is inside it, in
    # zones behind, ahead of and half an hour off UTC.
    midnight = local("UTC", 2024, 3, 10, 0)  # Chicago springs forward at 08:00 UTC
    hours = uptime.weekly_hours([HoursEntry(day, t(8), t(23)) for day in range(7)])
    for zone_name in (CHICAGO, "Asia/Kolkata", "Pacific/Auckland"):
        for as_of in (midnight, midnight + 1, midnight + DAY - 1):
            spans = [Span(True, as_of - 8 * DAY, as_of - 3 * DAY), Span(False, as_of - 3 * DAY + HOUR, as_of - HOUR)]
            for week in (hours, uptime.ALWAYS_OPEN):
                new, reference = both(spans, week, zone_name, as_of, STALE)
                assert new == reference, (zone_name, as_of)
