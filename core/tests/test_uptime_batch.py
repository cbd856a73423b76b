"""core.uptime_batch.stores_uptime_array against store_uptime, store by store: the
same figures, to the microsecond, for any batch of stores (shared weeks or
not, closures or not), and for the edge cases a batch lays end to end."""
from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core import closures, instants, uptime
from core.closures import ClosureRule
from core.uptime import HoursEntry, Span, UptimeFigures
from core.uptime_batch import figure_texts, span_columns, stores_uptime_array

from .test_uptime import spans_from_polls
from .test_uptime_property import SETTINGS, WEEK_S, closure_rules, scenarios

UTC = dt.timezone.utc
SECOND, HOUR, DAY, WEEK = instants.SECOND, instants.HOUR, instants.DAY, instants.WEEK
STALE = 2 * HOUR


def micros(*args: int) -> int:
    return instants.to_micros(dt.datetime(*args, tzinfo=UTC))


def one_by_one(stores, as_of: int, stale: int) -> list[UptimeFigures]:
    """store_uptime for each (spans, hours, zone, closures)."""
    return [
        uptime.store_uptime(spans=spans, hours=hours, zone_name=zone, as_of=as_of, stale_after=stale, closures=closed)
        for spans, hours, zone, closed in stores
    ]


def batch(stores, as_of: int, stale: int) -> list[UptimeFigures]:
    weeks = [uptime.store_weeks(hours, zone, as_of, closed) for _, hours, zone, closed in stores]
    array = stores_uptime_array(spans=span_columns([spans for spans, *_ in stores]), weeks=weeks, as_of=as_of, stale_after=stale)
    return [UptimeFigures(*row) for row in array.tolist()]


@st.composite
def batches(draw):
    """Up to 8 stores measured as of one instant: each a scenario of
    core/tests/test_uptime_property.py (its polls moved to that instant),
    with closures or not; some repeat an earlier store's hours and zone, as
    a chain's stores do, so that they share a week."""
    stores = []
    as_of = stale = None
    for _ in range(draw(st.integers(1, 8))):
        zone, entries, own_stale, own_as_of, polls = draw(scenarios(longest=WEEK_S, max_polls=60))
        if as_of is None:
            as_of, stale = own_as_of, own_stale
        polls = [(at - own_as_of + as_of, active) for at, active in polls]
        if stores and draw(st.booleans()):
            _, hours, zone, _ = stores[draw(st.integers(0, len(stores) - 1))]
        else:
            hours = uptime.weekly_hours(entries)
        rules: list[ClosureRule] = draw(closure_rules(zone, as_of, WEEK_S)) if draw(st.booleans()) else []
        closed = closures.closure_intervals(rules, zone, (as_of - WEEK_S) * SECOND, as_of * SECOND)
        spans = spans_from_polls([(at * SECOND, active) for at, active in polls], stale * SECOND)
        stores.append((spans, hours, zone, closed))
    return stores, as_of * SECOND, stale * SECOND


@settings(max_examples=120, **SETTINGS)
@given(batches())
def test_a_batch_gives_each_store_what_store_uptime_gives_it(drawn):
    stores, as_of, stale = drawn
    assert batch(stores, as_of, stale) == one_by_one(stores, as_of, stale)


# Chicago, Monday 2024-01-15: open 09:00-17:00 every day (CST, UTC-6).
CHICAGO = "America/Chicago"
NINE_TO_FIVE = uptime.weekly_hours([HoursEntry(day, 9 * 3600, 17 * 3600) for day in range(7)])
AS_OF = micros(2024, 1, 15, 18)  # 12:00 in Chicago


def test_an_empty_batch_gives_nothing():
    assert batch([], AS_OF, STALE) == []


def test_a_store_without_spans_is_all_zero_beside_one_with_spans():
    up = [Span(True, micros(2024, 1, 15, 17, 30), micros(2024, 1, 15, 17, 55))]
    stores = [([], NINE_TO_FIVE, CHICAGO, ()), (up, NINE_TO_FIVE, CHICAGO, ())]
    figures = batch(stores, AS_OF, STALE)
    assert figures[0] == UptimeFigures(0, 0, 0, 0, 0, 0)
    # 11:30-12:00 Chicago up, and nothing before 11:30 is monitored.
    assert figures[1] == one_by_one(stores, AS_OF, STALE)[1]
    assert (figures[1].uptime_last_hour, figures[1].downtime_last_hour) == (30 * instants.MINUTE, 0)


def test_a_store_whose_first_span_begins_at_as_of_is_all_zero():
    at_noon = [Span(True, AS_OF, AS_OF)]
    assert batch([(at_noon, NINE_TO_FIVE, CHICAGO, ())], AS_OF, STALE) == [UptimeFigures(0, 0, 0, 0, 0, 0)]


def test_a_status_that_expired_before_the_week_leaves_the_week_without_signal():
    """Last polled active eight days before 12:00 Chicago: the whole week's open time is down, with no signal."""
    old = [Span(True, AS_OF - 8 * DAY, AS_OF - 8 * DAY)]
    [figures] = batch([(old, NINE_TO_FIVE, CHICAGO, ())], AS_OF, STALE)
    assert figures == one_by_one([(old, NINE_TO_FIVE, CHICAGO, ())], AS_OF, STALE)[0]
    assert figures.uptime_last_week == 0
    assert figures.downtime_last_week == figures.no_signal_last_week == 7 * 8 * HOUR


def test_stores_with_and_without_closures_side_by_side_keep_their_own_figures():
    """Two stores of one week and zone, polled alike; a closure of 10:00-11:00
    Chicago covers one: only its figures lose that hour, as closed time."""
    polls = [Span(True, micros(2024, 1, 8, 15), AS_OF - 1)]
    closure = [(micros(2024, 1, 15, 16), micros(2024, 1, 15, 17))]
    stores = [(polls, NINE_TO_FIVE, CHICAGO, ()), (polls, NINE_TO_FIVE, CHICAGO, closure)]
    plain, closed = batch(stores, AS_OF, STALE)
    assert [plain, closed] == one_by_one(stores, AS_OF, STALE)
    assert (plain.closed_last_day, closed.closed_last_day) == (0, HOUR)
    assert plain.uptime_last_day - closed.uptime_last_day == HOUR


def test_a_store_polled_across_the_spring_forward_night_matches_store_uptime():
    """Chicago springs forward at 02:00 on 2024-03-10: a store open all night,
    polled every hour until 03:30 CDT, then silent."""
    always = uptime.ALWAYS_OPEN
    as_of = micros(2024, 3, 10, 12)  # 07:00 CDT
    polls = spans_from_polls([(micros(2024, 3, 9, 6) + n * HOUR, True) for n in range(23)], STALE)
    stores = [(polls, always, CHICAGO, ())]
    assert batch(stores, as_of, STALE) == one_by_one(stores, as_of, STALE)


def near_half_hundredths(unit: int):
    """A microsecond below, at or above half a hundredth of the unit past a hundredth: where rounding half up turns."""
    return st.builds(lambda n, nudge: n * (unit // 100) + unit // 200 + nudge, st.integers(0, 10_000), st.integers(-1, 1))


# Mostly zero (as most figures are), any duration up to a week, and the
# rounding's edges; and, though no figure is, a negative number (the texts
# then take the Decimal way, as report_texts does).
durations = st.one_of(
    st.just(0),
    st.integers(0, WEEK),
    near_half_hundredths(instants.MINUTE),
    near_half_hundredths(HOUR),
    st.integers(-(10**9), -1),
)


@settings(max_examples=200, **SETTINGS)
@given(st.lists(st.lists(durations, min_size=12, max_size=12), min_size=1, max_size=20))
def test_figure_texts_are_report_texts_and_extended_texts_column_by_column(rows):
    columns = figure_texts(np.array(rows, dtype=np.int64))
    for index, row in enumerate(rows):
        figures = UptimeFigures(*row)
        assert [column[index] for column in columns] == [*uptime.report_texts(figures), *uptime.extended_texts(figures)]


def test_figure_texts_of_a_store_never_monitored_leave_its_percentages_empty():
    """No business time measured at all (a store added after the week): every figure 0.00, no percentage."""
    [texts] = zip(*figure_texts(np.zeros((1, 12), dtype=np.int64)))
    assert texts == ("0.00",) * 12 + ("",) * 3


def test_the_array_form_is_the_figures_row_by_row():
    up = [Span(True, micros(2024, 1, 15, 17, 30), micros(2024, 1, 15, 17, 55))]
    stores = [([], NINE_TO_FIVE, CHICAGO, ()), (up, NINE_TO_FIVE, CHICAGO, ())]
    weeks = [uptime.store_weeks(hours, zone, AS_OF, closed) for _, hours, zone, closed in stores]
    array = stores_uptime_array(spans=span_columns([spans for spans, *_ in stores]), weeks=weeks, as_of=AS_OF, stale_after=STALE)
    assert array.dtype == np.int64
    assert [UptimeFigures(*row) for row in array.tolist()] == one_by_one(stores, AS_OF, STALE)
