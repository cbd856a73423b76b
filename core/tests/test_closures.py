"""Closures, hand-computed (docs/semantics.md, section 7): a closure's time
is taken out of the business hours before anything is measured, so it is
neither up nor down; it counts as closed time (once the store is monitored).
Local closures are read in each store's zone with the business hours' DST
rules; instants are the same for every store.

Unless a test says otherwise: the store is open 09:00-17:00 every day, polls
"active" every 30 minutes from long before the week, stale period 2 hours.
"""
from __future__ import annotations

import datetime as dt

from core import closures, uptime
from core.closures import ClosureRule, local_moment
from core.instants import DAY, HOUR, MINUTE, WEEK
from core.uptime import HoursEntry, UptimeFigures

from .test_uptime import CHICAGO, KOLKATA, STALE, SYDNEY, every, local, spans_from_polls, t, utc

NINE_TO_FIVE = [HoursEntry(day, t(9), t(17)) for day in range(7)]


def local_rule(start: dt.datetime | dt.date, end: dt.datetime | dt.date, every_year: bool = False) -> ClosureRule:
    """A local closure; a date's end is inclusive, as the API takes it (the midnight after it)."""
    if not isinstance(end, dt.datetime):
        end = end + dt.timedelta(days=1)
    return ClosureRule(True, local_moment(start), local_moment(end), every_year)


def instant_rule(start: int, end: int) -> ClosureRule:
    return ClosureRule(False, start, end)


def measure(zone: str, as_of: int, rules, entries=NINE_TO_FIVE, polls=None) -> UptimeFigures:
    polls = polls if polls is not None else every(as_of - 2 * WEEK, as_of - MINUTE, 30 * MINUTE)
    return uptime.store_uptime(
        spans=spans_from_polls(polls, STALE),
        hours=uptime.weekly_hours(entries),
        zone_name=zone,
        as_of=as_of,
        stale_after=STALE,
        closures=closures.closure_intervals(rules, zone, as_of - WEEK, as_of),
    )


def day_and_week(figures: UptimeFigures) -> dict[str, int]:
    return {
        "up_day": figures.uptime_last_day,
        "down_day": figures.downtime_last_day,
        "closed_day": figures.closed_last_day,
        "up_week": figures.uptime_last_week,
        "closed_week": figures.closed_last_week,
    }


# Wednesday 10 January 2024, 18:00 in Chicago (CST, UTC-6).
AS_OF = local(CHICAGO, 2024, 1, 10, 18)
JAN_10 = dt.date(2024, 1, 10)


def at(hour: int, minute: int = 0, day: int = 10) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute)


def test_no_closure_the_week_is_all_up():
    assert day_and_week(measure(CHICAGO, AS_OF, [])) == {
        "up_day": 8 * HOUR, "down_day": 0, "closed_day": 0, "up_week": 56 * HOUR, "closed_week": 0
    }


def test_a_closure_inside_business_hours():
    """12:00-14:00 on the 10th: two of the day's eight hours are closed, not up."""
    assert day_and_week(measure(CHICAGO, AS_OF, [local_rule(at(12), at(14))])) == {
        "up_day": 6 * HOUR, "down_day": 0, "closed_day": 2 * HOUR, "up_week": 54 * HOUR, "closed_week": 2 * HOUR
    }


def test_a_closure_across_the_opening():
    """07:00-10:00: only 09:00-10:00 was business hours; the rest removes nothing."""
    assert day_and_week(measure(CHICAGO, AS_OF, [local_rule(at(7), at(10))]))["closed_day"] == HOUR


def test_a_closure_around_the_whole_day():
    """The whole local day 10 January: 09:00-17:00 closed, nothing up that day."""
    assert day_and_week(measure(CHICAGO, AS_OF, [local_rule(JAN_10, JAN_10)])) == {
        "up_day": 0, "down_day": 0, "closed_day": 8 * HOUR, "up_week": 48 * HOUR, "closed_week": 8 * HOUR
    }


def test_a_closure_in_downtime_excuses_it():
    """Inactive 12:00-16:00 on the 10th, the closure 13:00-15:00: two hours of downtime stay."""
    as_of = AS_OF
    polls = (
        every(as_of - 2 * WEEK, local(CHICAGO, 2024, 1, 10, 11, 30), 30 * MINUTE)
        + every(local(CHICAGO, 2024, 1, 10, 12), local(CHICAGO, 2024, 1, 10, 15, 30), 30 * MINUTE, active=False)
        + every(local(CHICAGO, 2024, 1, 10, 16), as_of - MINUTE, 30 * MINUTE)
    )
    without = measure(CHICAGO, as_of, [], polls=polls)
    excused = measure(CHICAGO, as_of, [local_rule(at(13), at(15))], polls=polls)
    assert (without.downtime_last_day, without.uptime_last_day) == (4 * HOUR, 4 * HOUR)
    assert (excused.downtime_last_day, excused.uptime_last_day, excused.closed_last_day) == (2 * HOUR, 4 * HOUR, 2 * HOUR)


def test_overlapping_closures_remove_their_time_once():
    """12:00-14:00 and 13:00-15:00: three hours closed, not four."""
    rules = [local_rule(at(12), at(14)), local_rule(at(13), at(15))]
    assert measure(CHICAGO, AS_OF, rules).closed_last_day == 3 * HOUR


def test_a_closure_cuts_an_overnight_interval_at_its_edge():
    """Open 18:00-02:00 every day; closed the whole local 10 January. As of
    11 January 03:00 the day's business hours are 10 Jan 18:00 - 11 Jan 02:00:
    18:00-24:00 is closed, 00:00-02:00 (11 January) is up; the 9th's overnight
    interval loses its 00:00-02:00 on the 10th to the closure."""
    as_of = local(CHICAGO, 2024, 1, 11, 3)
    overnight = [HoursEntry(day, t(18), t(2)) for day in range(7)]
    figures = measure(CHICAGO, as_of, [local_rule(JAN_10, JAN_10)], entries=overnight)
    assert (figures.uptime_last_day, figures.closed_last_day) == (2 * HOUR, 6 * HOUR)
    assert figures.closed_last_week == 8 * HOUR  # 10 Jan 00:00-02:00 and 18:00-24:00


def test_a_local_date_closure_on_chicagos_spring_forward_day_is_23_hours():
    """10 March 2024 has 23 hours in Chicago (02:00 CST -> 03:00 CDT). Open all
    day; as of 11 March 00:00 the day window starts 9 March 23:00: one hour up,
    23 closed."""
    as_of = local(CHICAGO, 2024, 3, 11)
    figures = measure(CHICAGO, as_of, [local_rule(dt.date(2024, 3, 10), dt.date(2024, 3, 10))], entries=[])
    assert (figures.uptime_last_day, figures.closed_last_day, figures.closed_last_week) == (HOUR, 23 * HOUR, 23 * HOUR)


def test_a_local_date_closure_on_sydneys_fall_back_day_is_25_hours():
    """7 April 2024 has 25 hours in Sydney (03:00 AEDT -> 02:00 AEST). As of
    8 April 00:00 the last day (24 hours) is all inside it; the week holds all 25."""
    as_of = local(SYDNEY, 2024, 4, 8)
    figures = measure(SYDNEY, as_of, [local_rule(dt.date(2024, 4, 7), dt.date(2024, 4, 7))], entries=[])
    assert (figures.uptime_last_day, figures.closed_last_day, figures.closed_last_week) == (0, 24 * HOUR, 25 * HOUR)


def test_a_local_closure_starting_in_the_spring_forward_gap_starts_after_it():
    """02:30 does not exist on 10 March 2024 in Chicago: as business hours do,
    it is read with the offset from before the gap, 03:30 CDT."""
    intervals = closures.closure_intervals(
        [local_rule(dt.datetime(2024, 3, 10, 2, 30), dt.datetime(2024, 3, 10, 5))], CHICAGO, utc(2024, 3, 9), utc(2024, 3, 12)
    )
    assert intervals == [(local(CHICAGO, 2024, 3, 10, 3, 30), local(CHICAGO, 2024, 3, 10, 5))]


def test_an_instant_closure_is_the_same_instant_in_every_zone():
    """15:00-17:00 UTC on 10 January is 09:00-11:00 in Chicago (inside its hours)
    and 20:30-22:30 in Kolkata (outside them)."""
    rule = instant_rule(utc(2024, 1, 10, 15), utc(2024, 1, 10, 17))
    assert measure(CHICAGO, AS_OF, [rule]).closed_last_day == 2 * HOUR
    kolkata_as_of = local(KOLKATA, 2024, 1, 10, 23)
    assert measure(KOLKATA, kolkata_as_of, [rule]).closed_last_day == 0


def test_every_year_repeats_over_the_year_boundary():
    """31 December - 1 January, given for 2022 and every year: as of 1 January
    2025 18:00 (open all day) the last day is all closed, and the week holds
    31 December 00:00 to 1 January 18:00, 42 hours."""
    rule = local_rule(dt.date(2022, 12, 31), dt.date(2023, 1, 1), every_year=True)
    figures = measure(CHICAGO, local(CHICAGO, 2025, 1, 1, 18), [rule], entries=[])
    assert (figures.uptime_last_day, figures.closed_last_day, figures.closed_last_week) == (0, 24 * HOUR, 42 * HOUR)


def test_a_closure_not_every_year_stays_in_its_year():
    rule = local_rule(dt.date(2022, 12, 31), dt.date(2023, 1, 1))
    assert measure(CHICAGO, local(CHICAGO, 2025, 1, 1, 18), [rule], entries=[]).closed_last_week == 0


def test_29_february_every_year_repeats_in_leap_years_only():
    rule = local_rule(dt.date(2024, 2, 29), dt.date(2024, 2, 29), every_year=True)
    around = {year: closures.closure_intervals([rule], CHICAGO, utc(year, 2, 25), utc(year, 3, 4)) for year in (2025, 2028)}
    assert around[2025] == []
    assert around[2028] == [(local(CHICAGO, 2028, 2, 29), local(CHICAGO, 2028, 3, 1))]


def test_no_signal_is_the_part_of_downtime_with_a_stale_latest_poll():
    """Active until 10:00, one inactive poll at 12:30, then silence: up
    09:00-12:00 (the 10:00 poll vouches for two hours), down 12:00-17:00, of
    which no signal 12:00-12:30 (nothing since 10:00) and 14:30-17:00 (the
    inactive poll is two hours old)."""
    polls = every(AS_OF - 2 * WEEK, local(CHICAGO, 2024, 1, 10, 10), 30 * MINUTE) + [
        (local(CHICAGO, 2024, 1, 10, 12, 30), False)
    ]
    figures = measure(CHICAGO, AS_OF, [], polls=polls)
    assert (figures.uptime_last_day, figures.downtime_last_day, figures.no_signal_last_day) == (
        3 * HOUR,
        5 * HOUR,
        3 * HOUR,
    )
    assert figures.no_signal_last_hour == 0  # 17:00-18:00 is after closing


def test_closed_time_before_the_first_poll_is_not_counted():
    """Monitored from 10 January 12:00 only; closed 09:00-14:00: two hours closed (12:00-14:00), not five."""
    polls = every(local(CHICAGO, 2024, 1, 10, 12), AS_OF - MINUTE, 30 * MINUTE)
    figures = measure(CHICAGO, AS_OF, [local_rule(at(9), at(14))], polls=polls)
    assert (figures.uptime_last_day, figures.closed_last_day) == (3 * HOUR, 2 * HOUR)


def test_extended_texts_are_in_the_seed_units_and_percent_is_empty_when_not_monitored():
    figures = UptimeFigures(
        30 * MINUTE, 6 * HOUR, 50 * HOUR, 30 * MINUTE, 2 * HOUR, 6 * HOUR, 15 * MINUTE, HOUR, 2 * HOUR, 0, 0, 8 * HOUR
    )
    assert uptime.extended_texts(figures) == ("15.00", "1.00", "2.00", "0.00", "0.00", "8.00", "50.00", "75.00", "89.29")
    assert uptime.extended_texts(UptimeFigures(0, 0, 0, 0, 0, 0))[6:] == ("", "", "")


def test_uptime_percent_rounds_half_up():
    assert str(uptime.uptime_percent(1, 7)) == "12.50"
    assert str(uptime.uptime_percent(2, 1)) == "66.67"
    assert str(uptime.uptime_percent(1, 2)) == "33.33"
    assert uptime.uptime_percent(0, 0) is None
    assert str(uptime.uptime_percent(0, DAY)) == "0.00"


def test_percent_texts_equal_uptime_percent():
    for up, down in [(1, 7), (2, 1), (1, 2), (0, 5), (5, 0), (3, 3), (1, 199_999), (HOUR, 59 * MINUTE), (123_456_789, 987_654_321)]:
        figures = UptimeFigures(up, up, up, down, down, down)
        assert uptime.extended_texts(figures)[6:] == (str(uptime.uptime_percent(up, down)),) * 3
