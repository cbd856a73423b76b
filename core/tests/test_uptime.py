"""The uptime engine (reports/uptime.py): hand-computed cases.

Every expected figure below is worked out by hand; the arithmetic is in the
comment next to it. Local times are written with their zone; UTC offsets used:
America/Chicago CST = UTC-6, CDT = UTC-5; Asia/Kolkata IST = UTC+5:30;
Europe/London GMT = UTC+0 in January; Australia/Sydney AEST = UTC+10,
AEDT = UTC+11. The DST facts (checked with zoneinfo):
  Chicago   2024-03-10 (Sun) 02:00 CST -> 03:00 CDT (02:00-03:00 does not exist)
  Chicago   2024-11-03 (Sun) 02:00 CDT -> 01:00 CST (01:00-02:00 happens twice)
  Sydney    2024-04-07 (Sun) 03:00 AEDT -> 02:00 AEST (02:00-03:00 happens twice)
  Sydney    2024-10-06 (Sun) 02:00 AEST -> 03:00 AEDT (02:00-03:00 does not exist)
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core import instants
from core import uptime, uptime_reference
from core.instants import DAY, HOUR, MINUTE, SECOND, WEEK
from core.uptime import HoursEntry, Span, UptimeFigures

UTC = dt.timezone.utc
STALE = 2 * HOUR
CHICAGO = "America/Chicago"
SYDNEY = "Australia/Sydney"
KOLKATA = "Asia/Kolkata"
LONDON = "Europe/London"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


# --------------------------------------------------------------------------
# Helpers (pure; shared with test_uptime_property.py)
# --------------------------------------------------------------------------


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    """Microseconds since the epoch of a UTC wall time."""
    return instants.to_micros(dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC))


def local(zone: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0) -> int:
    """Microseconds since the epoch of a local wall time in `zone`."""
    return instants.to_micros(dt.datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(zone), fold=fold))


def t(h: int, m: int = 0, s: int = 0) -> dt.time:
    return dt.time(h, m, s)


def spans_from_polls(polls, stale: int) -> list[Span]:
    """Compress polls (at_micros, active), sorted by time, into spans with the
    rule of stores.services.polls_record: a poll extends the latest span when
    it has the same status and comes less than `stale` after the span's last
    poll; otherwise it opens a new span. A repeat of the latest timestamp is
    dropped (polls_record answers REPEAT / CONFLICTING_STATUS for it)."""
    spans: list[Span] = []
    last_at = None
    for at, active in polls:
        if last_at is not None and at <= last_at:
            continue
        last_at = at
        if spans and spans[-1].active == active and at - spans[-1].last_poll < stale:
            spans[-1] = Span(active, spans[-1].first_poll, at)
        else:
            spans.append(Span(active, at, at))
    return spans


def every(first: int, last: int, step: int, active: bool = True) -> list[tuple[int, bool]]:
    """Polls from `first` to `last` inclusive, `step` apart."""
    return [(at, active) for at in range(first, last + 1, step)]


def only(days: dict[int, list[tuple[dt.time, dt.time]]], missing: tuple[int, ...] = ()) -> list[HoursEntry]:
    """Schedule rows: the given days' intervals, the `missing` days without
    rows (open all day), every other day marked closed."""
    entries = []
    for day in range(7):
        if day in days:
            entries += [HoursEntry(day, s, e) for s, e in days[day]]
        elif day not in missing:
            entries.append(HoursEntry(day, None, None, closed=True))
    return entries


def all_figures(polls, entries, zone: str, as_of: int, stale: int = STALE, closures=()) -> UptimeFigures:
    return uptime.store_uptime(
        spans=spans_from_polls(sorted(polls), stale),
        hours=uptime.weekly_hours(entries),
        zone_name=zone,
        as_of=as_of,
        stale_after=stale,
        closures=closures,
    )


def figures(polls, entries, zone: str, as_of: int, stale: int = STALE, closures=()) -> UptimeFigures:
    """The seed columns' six figures (the others are zero here: see all_figures)."""
    return UptimeFigures(*all_figures(polls, entries, zone, as_of, stale, closures)[:6])


def expect(up_hour, up_day, up_week, down_hour, down_day, down_week) -> UptimeFigures:
    return UptimeFigures(up_hour, up_day, up_week, down_hour, down_day, down_week)


def values(*texts: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(text) for text in texts)


# --------------------------------------------------------------------------
# to_micros / from_micros
# --------------------------------------------------------------------------


def test_to_micros_and_back():
    instant = dt.datetime(2024, 1, 8, 12, 30, 15, 250_000, tzinfo=UTC)
    micros = instants.to_micros(instant)
    # 2024-01-08 is day 19730 since 1970-01-01.
    assert micros == (19730 * 86400 + 12 * 3600 + 30 * 60 + 15) * SECOND + 250_000
    assert instants.from_micros(micros) == instant
    # Another offset, same instant.
    assert instants.to_micros(instant.astimezone(ZoneInfo(KOLKATA))) == micros


def test_to_micros_rejects_naive_datetimes():
    with pytest.raises(ValueError):
        instants.to_micros(dt.datetime(2024, 1, 8, 12, 0))


# --------------------------------------------------------------------------
# local_interval
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (t(9), t(17), (9 * 3600, 17 * 3600)),
        (t(8, 15, 30), t(8, 15, 31), (29730, 29731)),
        # Overnight: 22:00 -> 02:00 of the next day = 26 h after midnight.
        (t(22), t(2), (22 * 3600, 26 * 3600)),
        (t(23, 59, 59), t(0, 0, 1), (86399, 86401)),
        # start == end: open 24 hours from start.
        (t(9), t(9), (9 * 3600, 33 * 3600)),
        (t(0), t(0), (0, 86400)),
        (t(13, 5, 7), t(13, 5, 7), (47107, 47107 + 86400)),
        # 23:59:59 and 24:00 (stored as 00:00) are the midnight ending the day.
        (t(18), t(23, 59, 59), (18 * 3600, 86400)),
        (t(0), t(23, 59, 59), (0, 86400)),
        (t(18), t(0), (18 * 3600, 86400)),
        # 23:59:58 is an ordinary end.
        (t(18), t(23, 59, 58), (18 * 3600, 86398)),
    ],
)
def test_local_interval(start, end, expected):
    assert uptime.local_interval(start, end) == expected
    # The same times as whole seconds after midnight (as the report's SQL reads them).
    def seconds(value: dt.time) -> int:
        return value.hour * 3600 + value.minute * 60 + value.second

    assert uptime.local_interval(seconds(start), seconds(end)) == expected


def test_local_interval_ignores_fractions_of_a_second():
    assert uptime.local_interval(dt.time(9, 0, 0, 300_000), dt.time(17, 0, 0, 999_999)) == (32400, 61200)
    # 23:59:59.5 is 23:59:59: the midnight ending the day.
    assert uptime.local_interval(t(18), dt.time(23, 59, 59, 500_000)) == (18 * 3600, 86400)
    # Equal once the fractions are dropped: open 24 hours.
    assert uptime.local_interval(dt.time(9, 0, 0, 1), dt.time(9, 0, 0, 2)) == (32400, 32400 + 86400)


# --------------------------------------------------------------------------
# weekly_hours
# --------------------------------------------------------------------------


def test_weekly_hours_without_rows_is_open_all_week():
    assert uptime.weekly_hours([]) == (((0, 86400),),) * 7
    assert uptime.ALWAYS_OPEN == (((0, 86400),),) * 7


def test_weekly_hours_resolves_interval_closed_and_missing_days():
    week = uptime.weekly_hours(
        [
            HoursEntry(MON, t(12), t(17)),
            HoursEntry(MON, t(9), t(11)),  # given out of order: sorted
            HoursEntry(TUE, t(22), t(2)),
            HoursEntry(WED, None, None, closed=True),
            # A day with a closed marker and an interval keeps the interval.
            HoursEntry(THU, None, None, closed=True),
            HoursEntry(THU, t(10), t(10)),
            HoursEntry(SAT, t(18), t(23, 59, 59)),
        ]
    )
    expected = (
        ((9 * 3600, 11 * 3600), (12 * 3600, 17 * 3600)),
        ((22 * 3600, 26 * 3600),),
        (),  # closed
        ((10 * 3600, 34 * 3600),),
        ((0, 86400),),  # Friday: no rows, open all day
        ((18 * 3600, 86400),),
        ((0, 86400),),  # Sunday: no rows, open all day
    )
    assert week == expected


def test_weekly_hours_takes_whole_seconds_as_well_as_times():
    week = uptime.weekly_hours(
        [
            HoursEntry(MON, 12 * 3600, 17 * 3600),
            HoursEntry(MON, 9 * 3600, 11 * 3600),
            HoursEntry(TUE, 22 * 3600, 2 * 3600),  # overnight
            HoursEntry(WED, None, None, closed=True),
            HoursEntry(THU, 0, 0),  # start == end (also 00:00 to 24:00)
            HoursEntry(SAT, 18 * 3600, 86399),  # ends 23:59:59
            HoursEntry(SUN, 18 * 3600, 0),  # ends 24:00
        ]
    )
    assert week == (
        ((9 * 3600, 11 * 3600), (12 * 3600, 17 * 3600)),
        ((22 * 3600, 26 * 3600),),
        (),
        ((0, 86400),),
        ((0, 86400),),
        ((18 * 3600, 86400),),
        ((18 * 3600, 86400),),
    )


# --------------------------------------------------------------------------
# merge / intersect / measure
# --------------------------------------------------------------------------


def test_merge_joins_overlapping_touching_and_nested_intervals():
    assert uptime.merge([]) == []
    assert uptime.merge([(5, 9), (1, 3), (2, 4), (9, 10), (12, 20), (13, 14)]) == [(1, 4), (5, 10), (12, 20)]
    assert uptime.merge([(1, 2), (3, 4)]) == [(1, 2), (3, 4)]


def test_intersect_of_sorted_disjoint_lists():
    a = [(0, 10), (20, 30), (40, 50)]
    b = [(5, 25), (30, 40), (45, 60)]
    # (0,10)&(5,25)=(5,10); (20,30)&(5,25)=(20,25); touching (30,40) gives nothing; (40,50)&(45,60)=(45,50)
    assert uptime.intersect(a, b) == [(5, 10), (20, 25), (45, 50)]
    assert uptime.intersect(b, a) == [(5, 10), (20, 25), (45, 50)]
    assert uptime.intersect(a, []) == []
    # One long interval against many short ones, and equal ends.
    assert uptime.intersect([(0, 100)], [(1, 2), (3, 4), (99, 100)]) == [(1, 2), (3, 4), (99, 100)]
    assert uptime.intersect([(0, 10), (10, 20)], [(5, 10), (10, 15)]) == [(5, 10), (10, 15)]


def test_tail_measures_give_the_three_windows_in_one_pass():
    # All three windows end where the intervals end; hour from 45, day from 5.
    # hour: (45,50) = 5; day: (5,10) + (20,30) + (40,50) = 25; week: all = 30.
    assert uptime_reference._tail_measures([(0, 10), (20, 30), (40, 50)], 45, 5) == (5, 25, 30)
    assert uptime_reference._tail_measures([(0, 10)], 15, 10) == (0, 0, 10)
    assert uptime_reference._tail_measures([], 0, 0) == (0, 0, 0)


# --------------------------------------------------------------------------
# status_timeline
# --------------------------------------------------------------------------


def total(intervals) -> int:
    return sum(e - s for s, e in intervals)


def test_status_timeline_active_span_expires_after_stale_period():
    # Active polls 10:00-10:30, next span (inactive) at 14:00; range 09:00-15:00.
    spans = [
        Span(True, utc(2024, 1, 8, 10), utc(2024, 1, 8, 10, 30)),
        Span(False, utc(2024, 1, 8, 14), utc(2024, 1, 8, 14)),
    ]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8, 9), utc(2024, 1, 8, 15))
    # up 10:00-12:30 (last poll + 2 h); down 12:30-14:00 (no signal) and 14:00-15:00 (inactive).
    assert tl.up == [(utc(2024, 1, 8, 10), utc(2024, 1, 8, 12, 30))]
    assert uptime.merge(tl.down) == [(utc(2024, 1, 8, 12, 30), utc(2024, 1, 8, 15))]


def test_status_timeline_next_span_cuts_active_status_short():
    # Active at 10:00, inactive at 11:00 (before the active poll goes stale).
    spans = [
        Span(True, utc(2024, 1, 8, 10), utc(2024, 1, 8, 10)),
        Span(False, utc(2024, 1, 8, 11), utc(2024, 1, 8, 11)),
    ]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8, 0), utc(2024, 1, 8, 12))
    assert tl.up == [(utc(2024, 1, 8, 10), utc(2024, 1, 8, 11))]
    assert tl.down == [(utc(2024, 1, 8, 11), utc(2024, 1, 8, 12))]


def test_status_timeline_clips_to_range_and_ignores_spans_from_end_on():
    spans = [
        Span(False, utc(2024, 1, 1, 0), utc(2024, 1, 1, 1)),  # starts long before the range, status carries in
        Span(True, utc(2024, 1, 8, 10), utc(2024, 1, 8, 23)),  # runs past the end of the range
        Span(False, utc(2024, 1, 8, 23, 30), utc(2024, 1, 9, 1)),  # starts after the end: ignored
    ]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8, 0), utc(2024, 1, 8, 12))
    assert tl.down == [(utc(2024, 1, 8, 0), utc(2024, 1, 8, 10))]
    assert tl.up == [(utc(2024, 1, 8, 10), utc(2024, 1, 8, 12))]


def test_status_timeline_spans_before_the_range():
    # Inactive Mon 2024-01-08 00:00, superseded at 01:00 by an active span (last poll 02:30)
    # that expires at 04:30; range 03:00-06:00.
    spans = [
        Span(False, utc(2024, 1, 8, 0), utc(2024, 1, 8, 0, 30)),
        Span(True, utc(2024, 1, 8, 1), utc(2024, 1, 8, 2, 30)),
    ]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8, 3), utc(2024, 1, 8, 6))
    assert tl.up == [(utc(2024, 1, 8, 3), utc(2024, 1, 8, 4, 30))]
    assert tl.down == [(utc(2024, 1, 8, 4, 30), utc(2024, 1, 8, 6))]
    # An active span that expired before the range: down (no signal) from the range's start
    # until the next span, then that span's status.
    spans = [Span(True, utc(2024, 1, 8, 0), utc(2024, 1, 8, 0)), Span(True, utc(2024, 1, 8, 5), utc(2024, 1, 8, 5))]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8, 3), utc(2024, 1, 8, 6))
    assert tl.down == [(utc(2024, 1, 8, 3), utc(2024, 1, 8, 5))]
    assert tl.up == [(utc(2024, 1, 8, 5), utc(2024, 1, 8, 6))]


def test_status_timeline_a_poll_that_stopped_vouching_exactly_at_the_start_gives_no_up_time():
    # An active poll at 08:00 vouches until 10:00; a range from 10:00 to 12:00
    # holds none of it: down (no signal) all through, and no empty up interval.
    spans = [Span(True, utc(2024, 1, 8, 8), utc(2024, 1, 8, 8))]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8, 10), utc(2024, 1, 8, 12))
    assert tl.up == []
    assert tl.down == [(utc(2024, 1, 8, 10), utc(2024, 1, 8, 12))]


def test_status_timeline_before_first_span_is_unmonitored():
    spans = [Span(True, utc(2024, 1, 8, 10), utc(2024, 1, 8, 10))]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8), utc(2024, 1, 8, 11))
    assert tl.up == [(utc(2024, 1, 8, 10), utc(2024, 1, 8, 11))]
    assert tl.down == []
    assert uptime.status_timeline([], STALE, 0, DAY) == uptime.StatusTimeline([], [], [])


def test_status_timeline_gap_of_exactly_stale_is_continuous_up():
    # Polls 10:00 and 12:00 (gap == STALE) are two spans, yet the store is up throughout:
    # the 10:00 poll is younger than 2 h at every instant before 12:00.
    polls = [(utc(2024, 1, 8, 10), True), (utc(2024, 1, 8, 12), True)]
    spans = spans_from_polls(polls, STALE)
    assert spans == [Span(True, polls[0][0], polls[0][0]), Span(True, polls[1][0], polls[1][0])]
    tl = uptime.status_timeline(spans, STALE, utc(2024, 1, 8), utc(2024, 1, 8, 15))
    assert uptime.merge(tl.up) == [(utc(2024, 1, 8, 10), utc(2024, 1, 8, 14))]
    assert tl.down == [(utc(2024, 1, 8, 14), utc(2024, 1, 8, 15))]


# --------------------------------------------------------------------------
# business_intervals
# --------------------------------------------------------------------------


def test_no_zone_changes_its_offset_twice_within_four_days():
    # business_intervals converts a date's intervals as its local midnight
    # plus their seconds when the offsets at that midnight and the next two
    # agree (core.uptime._steady_midnight). That is exact only if the offset
    # cannot change and change back within those two days: checked here
    # over every zone of the tz database zoneinfo uses, from December 1969
    # (a report's first week starts there at the earliest) to 2100, with two
    # days of margin for the offsets themselves (a change of up to 26 hours
    # moves a switch in local time by as much). The closest changes are
    # 6.96 days apart (America/Recife, 2000). The pure-Python zoneinfo is
    # read here because it keeps each zone's transitions where a test can see them.
    from zoneinfo import _zoneinfo, available_timezones

    since = -31 * 86400
    for key in sorted(available_timezones()):
        zone = _zoneinfo.ZoneInfo.no_cache(key)
        changes = []
        offset = zone._tti_before.utcoff if zone._tti_before else None
        for moment, info in zip(zone._trans_utc, zone._ttinfos):
            if info.utcoff != offset:
                changes.append(moment)
                offset = info.utcoff
        last = zone._trans_utc[-1] if zone._trans_utc else None
        if isinstance(zone._tz_after, _zoneinfo._TZStr):  # the rule for the years after the listed changes
            first_year = dt.datetime.fromtimestamp(last, dt.timezone.utc).year if last is not None else 1970
            ruled = sorted(moment for year in range(first_year, 2101) for moment in zone._tz_after.transitions(year))
            changes += [moment for moment in ruled if last is None or moment > last + 86400]
        changes = sorted(moment for moment in changes if moment >= since)
        closest = min((b - a for a, b in zip(changes, changes[1:])), default=None)
        assert closest is None or closest >= 4 * 86400, (key, closest)


def _intervals_date_by_date(hours: uptime.WeeklyHours, zone: str, start: int, end: int) -> list[uptime.Interval]:
    # The conversion without shortcuts: every end of every interval through local_to_micros.
    first = dt.datetime.fromtimestamp(start / SECOND, ZoneInfo(zone)).date().toordinal() - 2
    last = dt.datetime.fromtimestamp(end / SECOND, ZoneInfo(zone)).date().toordinal()
    pieces = []
    for ordinal in range(first, last + 1):
        for s, e in hours[(ordinal - 1) % 7]:
            s, e = max(uptime.local_to_micros(zone, ordinal, s), start), min(uptime.local_to_micros(zone, ordinal, e), end)
            if s < e:
                pieces.append((s, e))
    return uptime.merge(pieces)


@pytest.mark.parametrize(
    ("zone", "change"),
    [
        # Clocks forward at local midnight: 2024-03-10 00:00 CST -> 01:00 CDT in Havana.
        ("America/Havana", dt.date(2024, 3, 10)),
        # Clocks back at local midnight: 2024-04-07 00:00 -03 -> Apr 6 23:00 -04 in Santiago.
        ("America/Santiago", dt.date(2024, 4, 7)),
        # Half an hour back at 02:00: 2024-04-07 in Lord Howe.
        ("Australia/Lord_Howe", dt.date(2024, 4, 7)),
        # Forward at 02:00: 2024-03-10 in Chicago.
        (CHICAGO, dt.date(2024, 3, 10)),
        # A whole day skipped: Samoa went from -10 to +14 at the end of 2011-12-29.
        ("Pacific/Apia", dt.date(2011, 12, 30)),
    ],
)
def test_business_intervals_around_a_change_of_offset_are_each_dates_own(zone, change):
    # Across the change, the dates near it are converted time by time
    # (local_to_micros: fold 0, a time in a gap moves forward by it), the
    # others as midnight plus seconds: the same instants either way, for
    # hours that run all day, overnight, and up to the change itself.
    weeks = [
        uptime.ALWAYS_OPEN,
        uptime.weekly_hours(HoursEntry(day, t(22), t(2)) for day in range(7)),
        uptime.weekly_hours(HoursEntry(day, t(0), t(0)) for day in range(7)),
        uptime.weekly_hours(HoursEntry(day, t(1, 30), t(23, 59, 59)) for day in range(7)),
    ]
    middle = local(zone, change.year, change.month, change.day, 12)
    start, end = middle - 5 * DAY, middle + 5 * DAY
    for hours in weeks:
        assert uptime.business_intervals(hours, zone, start, end) == _intervals_date_by_date(hours, zone, start, end)


def test_a_date_two_days_or_less_before_a_change_is_converted_time_by_time():
    # Chicago springs forward on Sunday 2024-03-10 at 02:00. An interval of
    # Friday 03-08 ends by Sunday 00:00 at the latest (an overnight one from
    # 23:59): Friday is steady. Saturday's and Sunday's can reach past 02:00
    # on Sunday: not steady. Monday's lie after the change: steady again.
    ordinal = dt.date(2024, 3, 8).toordinal()
    steady = [uptime._steady_midnight(CHICAGO, ordinal + days) is not None for days in range(4)]
    assert steady == [True, False, False, True]
    assert uptime._steady_midnight(CHICAGO, ordinal) == utc(2024, 3, 8, 6)  # 00:00 CST
    assert uptime._steady_midnight(CHICAGO, ordinal + 3) == utc(2024, 3, 11, 5)  # 00:00 CDT


def test_business_intervals_empty_range():
    hours = uptime.ALWAYS_OPEN
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 8), utc(2024, 1, 8)) == []
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 9), utc(2024, 1, 8)) == []


def test_business_hours_that_open_exactly_when_the_range_ends_give_no_empty_interval():
    # Monday 2024-01-08 in Chicago, open 09:00-17:00 CST (15:00-23:00 UTC). A
    # range ending at 15:00 UTC touches the opening and holds none of it; one
    # starting at 23:00 UTC touches the closing. Intervals are never empty (a
    # timeline would draw a zero-width segment for one).
    hours = uptime.weekly_hours(only({MON: [(t(9), t(17))]}))
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 8), utc(2024, 1, 8, 15)) == []
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 8, 23), utc(2024, 1, 9, 3)) == []


def test_business_intervals_always_open_is_the_whole_range():
    start, end = utc(2024, 3, 5, 7, 13, 1), utc(2024, 3, 12, 7, 13, 1)  # a week across the Chicago DST change
    assert uptime.business_intervals(uptime.ALWAYS_OPEN, CHICAGO, start, end) == [(start, end)]


def test_business_intervals_overnight_sunday_runs_into_monday():
    # Sunday 2024-01-07 22:00 CST = Mon 04:00 UTC; Monday 2024-01-08 02:00 CST = 08:00 UTC.
    hours = uptime.weekly_hours(only({SUN: [(t(22), t(2))]}))
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 8), utc(2024, 1, 9)) == [
        (utc(2024, 1, 8, 4), utc(2024, 1, 8, 8))
    ]
    # Clipped by the range: [Mon 06:00 UTC, Mon 07:00 UTC).
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 8, 6), utc(2024, 1, 8, 7)) == [
        (utc(2024, 1, 8, 6), utc(2024, 1, 8, 7))
    ]


def test_business_intervals_merge_overnight_into_next_days_hours():
    # Monday 2024-01-08 20:00-10:00 CST and Tuesday 09:00-12:00 CST: one interval
    # Mon 20:00 CST (Tue 02:00 UTC) to Tue 12:00 CST (Tue 18:00 UTC).
    hours = uptime.weekly_hours(only({MON: [(t(20), t(10))], TUE: [(t(9), t(12))]}))
    assert uptime.business_intervals(hours, CHICAGO, utc(2024, 1, 8), utc(2024, 1, 10)) == [
        (utc(2024, 1, 9, 2), utc(2024, 1, 9, 18))
    ]


def test_business_intervals_missing_and_closed_days_kolkata():
    # Week of Mon 2024-01-08 in Asia/Kolkata: Wednesday closed, Thursday without rows,
    # other days 09:00-17:00 IST (= 03:30-11:30 UTC).
    hours = uptime.weekly_hours(only({d: [(t(9), t(17))] for d in (MON, TUE, FRI, SAT, SUN)}, missing=(THU,)))
    start, end = local(KOLKATA, 2024, 1, 8), local(KOLKATA, 2024, 1, 15)
    got = uptime.business_intervals(hours, KOLKATA, start, end)
    nine_to_five = [(utc(2024, 1, d, 3, 30), utc(2024, 1, d, 11, 30)) for d in (8, 9, 12, 13, 14)]
    # Thursday: 2024-01-11 00:00 IST (Jan 10 18:30 UTC) to Friday 00:00 IST (Jan 11 18:30 UTC).
    thursday = (utc(2024, 1, 10, 18, 30), utc(2024, 1, 11, 18, 30))
    assert got == sorted(nine_to_five + [thursday])


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "hours"),
    [
        # Sun 2024-03-10 00:00 CST = 06:00 UTC; Mon 00:00 CDT = 05:00 UTC: 23 h.
        (CHICAGO, dt.date(2024, 3, 10), utc(2024, 3, 10, 6), utc(2024, 3, 11, 5), 23),
        # Sun 2024-11-03 00:00 CDT = 05:00 UTC; Mon 00:00 CST = 06:00 UTC: 25 h.
        (CHICAGO, dt.date(2024, 11, 3), utc(2024, 11, 3, 5), utc(2024, 11, 4, 6), 25),
        # Sun 2024-04-07 00:00 AEDT = Sat 13:00 UTC; Mon 00:00 AEST = Sun 14:00 UTC: 25 h.
        (SYDNEY, dt.date(2024, 4, 7), utc(2024, 4, 6, 13), utc(2024, 4, 7, 14), 25),
        # Sun 2024-10-06 00:00 AEST = Sat 14:00 UTC; Mon 00:00 AEDT = Sun 13:00 UTC: 23 h.
        (SYDNEY, dt.date(2024, 10, 6), utc(2024, 10, 5, 14), utc(2024, 10, 6, 13), 23),
    ],
)
def test_business_intervals_open_day_on_dst_change(zone, day, start, end, hours):
    # Only Sunday, without rows (open all day); the other days closed. Both a
    # missing day and 00:00-00:00 (start == end) give the whole calendar day.
    for entries in (only({}, missing=(SUN,)), only({SUN: [(t(0), t(0))]}), only({SUN: [(t(0), t(23, 59, 59))]})):
        week = uptime.weekly_hours(entries)
        base = utc(day.year, day.month, day.day)
        got = uptime.business_intervals(week, zone, base - 2 * DAY, base + 2 * DAY)
        assert got == [(start, end)]
        assert end - start == hours * HOUR


@pytest.mark.parametrize(
    ("zone", "day", "interval", "expected"),
    [
        # 02:30 does not exist on 2024-03-10 in Chicago: it moves forward by the gap to
        # 03:30 CDT = 08:30 UTC; 04:00 CDT = 09:00 UTC.
        (CHICAGO, dt.date(2024, 3, 10), (t(2, 30), t(4)), (utc(2024, 3, 10, 8, 30), utc(2024, 3, 10, 9))),
        # 01:30 happens twice on 2024-11-03: first occurrence, 01:30 CDT = 06:30 UTC;
        # 02:30 CST = 08:30 UTC. Two hours.
        (CHICAGO, dt.date(2024, 11, 3), (t(1, 30), t(2, 30)), (utc(2024, 11, 3, 6, 30), utc(2024, 11, 3, 8, 30))),
        # An end in the ambiguous hour also takes the first occurrence: 00:30 CDT = 05:30 UTC,
        # 01:30 CDT = 06:30 UTC.
        (CHICAGO, dt.date(2024, 11, 3), (t(0, 30), t(1, 30)), (utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 6, 30))),
        # Sydney 2024-04-07: 02:30 happens twice, first is AEDT: Sat 15:30 UTC; 04:00 AEST = 18:00 UTC.
        (SYDNEY, dt.date(2024, 4, 7), (t(2, 30), t(4)), (utc(2024, 4, 6, 15, 30), utc(2024, 4, 6, 18))),
        # Sydney 2024-10-06: 02:15 does not exist, moves to 03:15 AEDT = Sat 16:15 UTC;
        # 05:00 AEDT = 18:00 UTC.
        (SYDNEY, dt.date(2024, 10, 6), (t(2, 15), t(5)), (utc(2024, 10, 5, 16, 15), utc(2024, 10, 5, 18))),
    ],
)
def test_business_intervals_endpoints_in_dst_gap_or_fold(zone, day, interval, expected):
    week = uptime.weekly_hours(only({day.weekday(): [interval]}))
    base = utc(day.year, day.month, day.day)
    assert uptime.business_intervals(week, zone, base - 2 * DAY, base + 2 * DAY) == [expected]


# --------------------------------------------------------------------------
# store_uptime: hand-computed cases
# --------------------------------------------------------------------------


def test_overnight_hours_monday_22_to_02_chicago():
    # Monday 2024-01-08 22:00-02:00 America/Chicago (CST); every other day closed.
    # Polls (CST): active Mon 21:30, 22:30, 23:30; inactive Tue 00:30, 01:30.
    # as_of Tue 2024-01-09 01:45 CST.
    polls = [
        (local(CHICAGO, 2024, 1, 8, 21, 30), True),
        (local(CHICAGO, 2024, 1, 8, 22, 30), True),
        (local(CHICAGO, 2024, 1, 8, 23, 30), True),
        (local(CHICAGO, 2024, 1, 9, 0, 30), False),
        (local(CHICAGO, 2024, 1, 9, 1, 30), False),
    ]
    as_of = local(CHICAGO, 2024, 1, 9, 1, 45)
    got = figures(polls, only({MON: [(t(22), t(2))]}), CHICAGO, as_of)
    # Status: up Mon 21:30 -> Tue 00:30, down Tue 00:30 -> 01:45.
    # Business: Mon 22:00 -> Tue 02:00 (Tuesday itself is closed).
    # hour [00:45, 01:45): down 60 min.
    # day/week: up 22:00 -> 00:30 = 2 h 30; down 00:30 -> 01:45 = 1 h 15.
    assert got == expect(0, 150 * MINUTE, 150 * MINUTE, 60 * MINUTE, 75 * MINUTE, 75 * MINUTE)
    assert uptime.report_values(got) == values("0.00", "2.50", "2.50", "60.00", "1.25", "1.25")


def test_overlapping_intervals_including_overnight_into_next_day_chicago():
    # America/Chicago (CST): Sunday 2024-01-07 20:00-10:00 (overnight into Monday),
    # Monday 2024-01-08 09:00-13:00 and 12:00-17:00; every other day closed.
    # Union Sun 20:00 -> Mon 17:00 = 21 h (the parts add up to 14 + 4 + 5 = 23 h).
    # Polls every 30 min Sun 12:00 -> Mon 16:00 CST, active except Mon 09:30 and 10:00.
    polls = [
        (at, at not in (local(CHICAGO, 2024, 1, 8, 9, 30), local(CHICAGO, 2024, 1, 8, 10)))
        for at, _ in every(local(CHICAGO, 2024, 1, 7, 12), local(CHICAGO, 2024, 1, 8, 16), 30 * MINUTE)
    ]
    entries = only({SUN: [(t(20), t(10))], MON: [(t(9), t(13)), (t(12), t(17))]})
    as_of = local(CHICAGO, 2024, 1, 8, 16, 30)
    got = figures(polls, entries, CHICAGO, as_of)
    # Status: up Sun 12:00 -> Mon 09:30, down 09:30 -> 10:30, up 10:30 -> 16:30.
    # hour [15:30, 16:30): up 60 min.
    # day [Sun 16:30, Mon 16:30) & business = Sun 20:00 -> Mon 16:30 = 20 h 30:
    #   down 09:30 -> 10:30 = 1 h (inside two overlapping intervals, counted once), up 19 h 30.
    # week: the same (nothing monitored before Sun 12:00).
    assert got == expect(60 * MINUTE, 19 * HOUR + 30 * MINUTE, 19 * HOUR + 30 * MINUTE, 0, HOUR, HOUR)
    assert uptime.report_values(got) == values("60.00", "19.50", "19.50", "0.00", "1.00", "1.00")


def test_missing_day_is_open_all_day_and_closed_day_is_not_kolkata():
    # Asia/Kolkata: Mon, Tue, Fri, Sat, Sun 09:00-17:00; Wednesday 2024-01-10 closed;
    # Thursday 2024-01-11 has no rows (open all day).
    # Polls hourly on the hour Tue 2024-01-09 12:00 -> Thu 2024-01-11 20:00 IST,
    # inactive Wed 08:00..20:00 and Thu 03:00, 04:00, active otherwise. as_of Thu 20:30 IST.
    inactive = set(range(local(KOLKATA, 2024, 1, 10, 8), local(KOLKATA, 2024, 1, 10, 20) + 1, HOUR))
    inactive |= {local(KOLKATA, 2024, 1, 11, 3), local(KOLKATA, 2024, 1, 11, 4)}
    polls = [
        (at, at not in inactive)
        for at, _ in every(local(KOLKATA, 2024, 1, 9, 12), local(KOLKATA, 2024, 1, 11, 20), HOUR)
    ]
    entries = only({d: [(t(9), t(17))] for d in (MON, TUE, FRI, SAT, SUN)}, missing=(THU,))
    got = figures(polls, entries, KOLKATA, local(KOLKATA, 2024, 1, 11, 20, 30))
    # Status: up Tue 12:00 -> Wed 08:00, down Wed 08:00 -> 21:00, up Wed 21:00 -> Thu 03:00,
    #         down Thu 03:00 -> 05:00, up Thu 05:00 -> 20:30.
    # Tue 09:00-17:00, monitored from 12:00: up 5 h. Wed closed: its 13 h down do not count.
    # Thu open all day: up 00:00-03:00 + 05:00-20:30 = 3 + 15.5 = 18.5 h, down 2 h.
    # hour [Thu 19:30, 20:30): up 60 min. day [Wed 20:30, Thu 20:30): up 18.5 h, down 2 h.
    # week: up 5 + 18.5 = 23.5 h, down 2 h.
    assert got == expect(60 * MINUTE, 18 * HOUR + 30 * MINUTE, 23 * HOUR + 30 * MINUTE, 0, 2 * HOUR, 2 * HOUR)
    assert uptime.report_values(got) == values("60.00", "18.50", "23.50", "0.00", "2.00", "2.00")


@pytest.mark.parametrize("end", [t(23, 59, 59), t(0)], ids=["23:59:59", "24:00"])
def test_end_23_59_59_includes_the_last_second_london(end):
    # Europe/London in January (GMT = UTC): Saturday 2024-01-13 18:00-<end>, every other day closed.
    # Polls: active every 30 min Sat 17:00 -> 23:30, inactive Sat 23:59:59,
    # active Sun 00:00:00 and 00:30 (at as_of: ignored). as_of Sun 2024-01-14 00:30.
    polls = every(utc(2024, 1, 13, 17), utc(2024, 1, 13, 23, 30), 30 * MINUTE)
    polls += [(utc(2024, 1, 13, 23, 59, 59), False), (utc(2024, 1, 14), True), (utc(2024, 1, 14, 0, 30), True)]
    got = figures(polls, only({SAT: [(t(18), end)]}), LONDON, utc(2024, 1, 14, 0, 30))
    # Business Sat 18:00 -> Sun 00:00 = 6 h, including the second 23:59:59-24:00.
    # Status: up 17:00 -> 23:59:59, down 23:59:59 -> 00:00:00, up 00:00 -> 00:30 (Sunday closed).
    # hour [23:30, 00:30): up 29 min 59 s, down 1 s. day/week: up 6 h - 1 s, down 1 s.
    assert got == expect(
        29 * MINUTE + 59 * SECOND, 6 * HOUR - SECOND, 6 * HOUR - SECOND, SECOND, SECOND, SECOND
    )
    # 29.983 min -> 29.98; 5.99972 h -> 6.00; 1 s = 0.01667 min -> 0.02; 0.00028 h -> 0.00.
    assert uptime.report_values(got) == values("29.98", "6.00", "6.00", "0.02", "0.00", "0.00")


def test_start_equals_end_is_open_24_hours_from_start_kolkata():
    # Asia/Kolkata: Friday 2024-01-12 10:00-10:00 (open until Saturday 10:00), other days closed.
    # Polls: active hourly Fri 08:00 -> Sat 08:00, inactive Sat 09:00, active Sat 09:40.
    # as_of Sat 2024-01-13 10:20 IST.
    polls = every(local(KOLKATA, 2024, 1, 12, 8), local(KOLKATA, 2024, 1, 13, 8), HOUR)
    polls += [(local(KOLKATA, 2024, 1, 13, 9), False), (local(KOLKATA, 2024, 1, 13, 9, 40), True)]
    got = figures(polls, only({FRI: [(t(10), t(10))]}), KOLKATA, local(KOLKATA, 2024, 1, 13, 10, 20))
    # Status: up Fri 08:00 -> Sat 09:00, down 09:00 -> 09:40, up 09:40 -> 10:20.
    # Business Fri 10:00 -> Sat 10:00.
    # hour [Sat 09:20, 10:20) & business = [09:20, 10:00): down 20 min, up 20 min.
    # day [Fri 10:20, Sat 10:20) & business = Fri 10:20 -> Sat 10:00:
    #   up Fri 10:20 -> Sat 09:00 (22 h 40) + 09:40 -> 10:00 (20 min) = 23 h; down 40 min.
    # week: business Fri 10:00 -> Sat 10:00: up 23 h 20, down 40 min.
    assert got == expect(
        20 * MINUTE, 23 * HOUR, 23 * HOUR + 20 * MINUTE, 20 * MINUTE, 40 * MINUTE, 40 * MINUTE
    )
    # 23 h 20 = 23.333 -> 23.33; 40 min = 0.667 h -> 0.67.
    assert uptime.report_values(got) == values("20.00", "23.00", "23.33", "20.00", "0.67", "0.67")


def test_chicago_spring_forward_open_day_is_23_hours():
    # America/Chicago, Sunday 2024-03-10 without rows (open all day), other days closed.
    # Active polls hourly 2024-03-10 04:00 UTC -> 2024-03-11 06:00 UTC. as_of Mon 2024-03-11 00:30 CDT = 05:30 UTC.
    polls = every(utc(2024, 3, 10, 4), utc(2024, 3, 11, 6), HOUR)
    as_of = local(CHICAGO, 2024, 3, 11, 0, 30)
    assert as_of == utc(2024, 3, 11, 5, 30)
    got = figures(polls, only({}, missing=(SUN,)), CHICAGO, as_of)
    # Business: Sun 00:00 CST (06:00 UTC) -> Mon 00:00 CDT (Mar 11 05:00 UTC) = 23 h.
    # hour [04:30, 05:30 UTC): business until 05:00: up 30 min. day [Mar 10 05:30, Mar 11 05:30): 23 h.
    assert got == expect(30 * MINUTE, 23 * HOUR, 23 * HOUR, 0, 0, 0)


def test_chicago_spring_forward_interval_starting_in_the_gap():
    # America/Chicago, Sunday 2024-03-10 02:30-04:00, other days closed. 02:30 does not exist:
    # it moves forward by the gap to 03:30 CDT = 08:30 UTC; 04:00 CDT = 09:00 UTC. 30 minutes.
    # Polls (UTC): active every 20 min 05:00 -> 08:40, inactive 08:45, active 08:55 and 09:15.
    # as_of 09:30 UTC (04:30 CDT).
    polls = every(utc(2024, 3, 10, 5), utc(2024, 3, 10, 8, 40), 20 * MINUTE)
    polls += [(utc(2024, 3, 10, 8, 45), False), (utc(2024, 3, 10, 8, 55), True), (utc(2024, 3, 10, 9, 15), True)]
    got = figures(polls, only({SUN: [(t(2, 30), t(4))]}), CHICAGO, utc(2024, 3, 10, 9, 30))
    # Status: up -> 08:45, down 08:45 -> 08:55, up 08:55 -> 09:30.
    # Business [08:30, 09:00): up 15 + 5 = 20 min, down 10 min (all windows).
    # (Had 02:30 been taken as 02:30 CDT = 07:30 UTC, business would be 90 minutes.)
    assert got == expect(20 * MINUTE, 20 * MINUTE, 20 * MINUTE, 10 * MINUTE, 10 * MINUTE, 10 * MINUTE)
    assert uptime.report_values(got) == values("20.00", "0.33", "0.33", "10.00", "0.17", "0.17")


def test_chicago_fall_back_open_day_is_25_hours():
    # America/Chicago, Sunday 2024-11-03 without rows (open all day), other days closed.
    # Active polls hourly Nov 3 04:00 UTC -> Nov 4 07:00 UTC. as_of Mon 2024-11-04 00:30 CST = 06:30 UTC.
    polls = every(utc(2024, 11, 3, 4), utc(2024, 11, 4, 7), HOUR)
    as_of = local(CHICAGO, 2024, 11, 4, 0, 30)
    assert as_of == utc(2024, 11, 4, 6, 30)
    got = figures(polls, only({}, missing=(SUN,)), CHICAGO, as_of)
    # Business: Sun 00:00 CDT (05:00 UTC) -> Mon 00:00 CST (Nov 4 06:00 UTC) = 25 h.
    # hour [05:30, 06:30 UTC): up 30 min. day [Nov 3 06:30, Nov 4 06:30): 06:30 -> 06:00 = 23.5 h.
    # week: the whole 25 h.
    assert got == expect(30 * MINUTE, 23 * HOUR + 30 * MINUTE, 25 * HOUR, 0, 0, 0)
    assert uptime.report_values(got) == values("30.00", "23.50", "25.00", "0.00", "0.00", "0.00")


def test_chicago_fall_back_interval_starting_in_the_ambiguous_hour():
    # America/Chicago, Sunday 2024-11-03 01:30-02:30, other days closed. 01:30 happens twice:
    # first occurrence 01:30 CDT = 06:30 UTC; 02:30 CST = 08:30 UTC. Two hours.
    # Polls (UTC): active every 30 min 05:00 -> 06:30, inactive 07:00 (the second 01:00, CST),
    # active every 30 min 07:30 -> 09:00. as_of 09:00 UTC (09:00 poll ignored).
    polls = every(utc(2024, 11, 3, 5), utc(2024, 11, 3, 6, 30), 30 * MINUTE)
    polls += [(utc(2024, 11, 3, 7), False)] + every(utc(2024, 11, 3, 7, 30), utc(2024, 11, 3, 9), 30 * MINUTE)
    got = figures(polls, only({SUN: [(t(1, 30), t(2, 30))]}), CHICAGO, utc(2024, 11, 3, 9))
    # Status: up 05:00 -> 07:00, down 07:00 -> 07:30, up 07:30 -> 09:00.
    # Business [06:30, 08:30): up 30 + 60 = 90 min, down 30 min.
    # hour [08:00, 09:00): business [08:00, 08:30): up 30 min.
    # (With the second occurrence, 07:30 UTC, it would be up 60 min and down 0.)
    assert got == expect(30 * MINUTE, 90 * MINUTE, 90 * MINUTE, 0, 30 * MINUTE, 30 * MINUTE)
    assert uptime.report_values(got) == values("30.00", "1.50", "1.50", "0.00", "0.50", "0.50")


def test_sydney_dst_end_open_day_is_25_hours():
    # Australia/Sydney, Sunday 2024-04-07 without rows (open all day), other days closed.
    # DST ends 03:00 AEDT -> 02:00 AEST. Sun 00:00 AEDT = Sat 13:00 UTC; Mon 00:00 AEST = Sun 14:00 UTC: 25 h.
    # Active polls hourly Apr 6 12:00 UTC -> Apr 7 15:00 UTC. as_of Mon 00:30 AEST = Apr 7 14:30 UTC.
    polls = every(utc(2024, 4, 6, 12), utc(2024, 4, 7, 15), HOUR)
    as_of = local(SYDNEY, 2024, 4, 8, 0, 30)
    assert as_of == utc(2024, 4, 7, 14, 30)
    got = figures(polls, only({}, missing=(SUN,)), SYDNEY, as_of)
    # hour [13:30, 14:30 UTC): business until 14:00: 30 min.
    # day [Apr 6 14:30, Apr 7 14:30) & [Apr 6 13:00, Apr 7 14:00) = 23.5 h. week: 25 h.
    assert got == expect(30 * MINUTE, 23 * HOUR + 30 * MINUTE, 25 * HOUR, 0, 0, 0)


def test_sydney_dst_end_interval_starting_in_the_ambiguous_hour():
    # Australia/Sydney, Sunday 2024-04-07 02:30-04:00, other days closed. 02:30 happens twice:
    # first occurrence 02:30 AEDT = Sat 15:30 UTC; 04:00 AEST = 18:00 UTC. 2 h 30.
    # Polls (UTC, Apr 6): active every 30 min 15:00 -> 15:30, inactive 16:00 (= 02:00 AEST, the
    # second time round), active every 30 min 16:30 -> 18:30. as_of 19:00 UTC.
    polls = every(utc(2024, 4, 6, 15), utc(2024, 4, 6, 15, 30), 30 * MINUTE)
    polls += [(utc(2024, 4, 6, 16), False)] + every(utc(2024, 4, 6, 16, 30), utc(2024, 4, 6, 18, 30), 30 * MINUTE)
    got = figures(polls, only({SUN: [(t(2, 30), t(4))]}), SYDNEY, utc(2024, 4, 6, 19))
    # Status: up 15:00 -> 16:00, down 16:00 -> 16:30, up 16:30 -> 19:00.
    # Business [15:30, 18:00): up 30 + 90 = 120 min, down 30 min. hour [18:00, 19:00): nothing.
    # (With the second occurrence, 16:30 UTC, it would be up 90 min and down 0.)
    assert got == expect(0, 2 * HOUR, 2 * HOUR, 0, 30 * MINUTE, 30 * MINUTE)


def test_sydney_dst_start_open_day_is_23_hours():
    # Australia/Sydney, Sunday 2024-10-06 without rows (open all day), other days closed.
    # DST starts 02:00 AEST -> 03:00 AEDT. Sun 00:00 AEST = Sat 14:00 UTC; Mon 00:00 AEDT = Sun 13:00 UTC: 23 h.
    # Active polls hourly Oct 5 13:00 UTC -> Oct 6 14:00 UTC. as_of Mon 00:30 AEDT = Oct 6 13:30 UTC.
    polls = every(utc(2024, 10, 5, 13), utc(2024, 10, 6, 14), HOUR)
    as_of = local(SYDNEY, 2024, 10, 7, 0, 30)
    assert as_of == utc(2024, 10, 6, 13, 30)
    got = figures(polls, only({}, missing=(SUN,)), SYDNEY, as_of)
    # hour [12:30, 13:30 UTC): business until 13:00: 30 min. day [Oct 5 13:30, Oct 6 13:30): 23 h.
    assert got == expect(30 * MINUTE, 23 * HOUR, 23 * HOUR, 0, 0, 0)


def test_sydney_dst_start_interval_starting_in_the_gap():
    # Australia/Sydney, Sunday 2024-10-06 02:15-05:00, other days closed. 02:15 does not exist:
    # it moves forward by the gap to 03:15 AEDT = Sat 16:15 UTC; 05:00 AEDT = 18:00 UTC. 1 h 45.
    # Polls (UTC, Oct 5): active every 15 min 15:00 -> 16:45, inactive 17:00, active every 15 min
    # 17:15 -> 19:00. as_of 19:00 UTC.
    polls = every(utc(2024, 10, 5, 15), utc(2024, 10, 5, 16, 45), 15 * MINUTE)
    polls += [(utc(2024, 10, 5, 17), False)] + every(utc(2024, 10, 5, 17, 15), utc(2024, 10, 5, 19), 15 * MINUTE)
    got = figures(polls, only({SUN: [(t(2, 15), t(5))]}), SYDNEY, utc(2024, 10, 5, 19))
    # Status: up 15:00 -> 17:00, down 17:00 -> 17:15, up 17:15 -> 19:00.
    # Business [16:15, 18:00): up 45 + 45 = 90 min, down 15 min. hour [18:00, 19:00): nothing.
    assert got == expect(0, 90 * MINUTE, 90 * MINUTE, 0, 15 * MINUTE, 15 * MINUTE)
    assert uptime.report_values(got) == values("0.00", "1.50", "1.50", "0.00", "0.25", "0.25")


def test_stale_gap_active_then_silence_is_up_for_stale_then_down():
    # UTC, open all week. Active polls Mon 2024-01-08 10:00 and 10:30, silence, active 14:00.
    # as_of 15:00. STALE = 2 h.
    polls = [(utc(2024, 1, 8, 10), True), (utc(2024, 1, 8, 10, 30), True), (utc(2024, 1, 8, 14), True)]
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 15))
    # up 10:00 -> 12:30 (10:30 + 2 h), down (no signal) 12:30 -> 14:00, up 14:00 -> 15:00.
    # hour: up 60 min. day/week: up 2.5 + 1 = 3.5 h, down 1.5 h.
    assert got == expect(60 * MINUTE, 3 * HOUR + 30 * MINUTE, 3 * HOUR + 30 * MINUTE, 0, 90 * MINUTE, 90 * MINUTE)


def test_stale_boundary_is_exact():
    # UTC, open all week. A single active poll Mon 2024-01-08 10:00; as_of 13:00.
    got = figures([(utc(2024, 1, 8, 10), True)], [], "UTC", utc(2024, 1, 8, 13))
    # up [10:00, 12:00); at 12:00 the poll is exactly 2 h old: down [12:00, 13:00).
    # hour [12:00, 13:00): down exactly 60 min.
    assert got == expect(0, 2 * HOUR, 2 * HOUR, 60 * MINUTE, HOUR, HOUR)
    # A gap of exactly STALE (10:00, 12:00) never goes stale; one second more does.
    got = figures([(utc(2024, 1, 8, 10), True), (utc(2024, 1, 8, 12), True)], [], "UTC", utc(2024, 1, 8, 13))
    assert got == expect(60 * MINUTE, 3 * HOUR, 3 * HOUR, 0, 0, 0)
    got = figures([(utc(2024, 1, 8, 10), True), (utc(2024, 1, 8, 12, 0, 1), True)], [], "UTC", utc(2024, 1, 8, 13))
    # up 10:00 -> 12:00, down 12:00 -> 12:00:01, up 12:00:01 -> 13:00.
    assert got == expect(60 * MINUTE - SECOND, 3 * HOUR - SECOND, 3 * HOUR - SECOND, SECOND, SECOND, SECOND)


def test_stale_gap_outside_business_hours_counts_only_inside_chicago():
    # America/Chicago, every day 09:00-17:00 CST. Active poll Mon 2024-01-08 07:30 CST, then
    # silence until an active poll at 10:15 CST. as_of 11:00 CST.
    polls = [(local(CHICAGO, 2024, 1, 8, 7, 30), True), (local(CHICAGO, 2024, 1, 8, 10, 15), True)]
    entries = only({d: [(t(9), t(17))] for d in range(7)})
    got = figures(polls, entries, CHICAGO, local(CHICAGO, 2024, 1, 8, 11))
    # Status: up 07:30 -> 09:30, down 09:30 -> 10:15, up 10:15 -> 11:00.
    # Business from 09:00: up 09:00-09:30 + 10:15-11:00 = 75 min, down 45 min.
    # hour [10:00, 11:00): down 15 min, up 45 min.
    assert got == expect(45 * MINUTE, 75 * MINUTE, 75 * MINUTE, 15 * MINUTE, 45 * MINUTE, 45 * MINUTE)


def test_first_poll_inside_the_window_time_before_it_is_not_monitored():
    # UTC, open all week. Store's first poll Mon 2024-01-08 10:00 (active), active 11:00,
    # inactive 11:30. as_of 12:00.
    polls = [(utc(2024, 1, 8, 10), True), (utc(2024, 1, 8, 11), True), (utc(2024, 1, 8, 11, 30), False)]
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 12))
    # Before 10:00 nothing counts (neither up nor down). up 10:00 -> 11:30, down 11:30 -> 12:00.
    # hour [11:00, 12:00): up 30, down 30. day/week: up 90 min, down 30 min.
    assert got == expect(30 * MINUTE, 90 * MINUTE, 90 * MINUTE, 30 * MINUTE, 30 * MINUTE, 30 * MINUTE)
    # First poll inside the last hour: as_of 10:20 -> up 20 min everywhere, nothing else.
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 10, 20))
    assert got == expect(20 * MINUTE, 20 * MINUTE, 20 * MINUTE, 0, 0, 0)


def test_first_poll_inside_the_window_inactive_kolkata():
    # Asia/Kolkata, every day 09:00-21:00 IST. First poll Wed 2024-01-10 20:00 IST, inactive;
    # active 20:40 IST. as_of Thu 2024-01-11 09:30 IST.
    polls = [(local(KOLKATA, 2024, 1, 10, 20), False), (local(KOLKATA, 2024, 1, 10, 20, 40), True)]
    entries = only({d: [(t(9), t(21))] for d in range(7)})
    got = figures(polls, entries, KOLKATA, local(KOLKATA, 2024, 1, 11, 9, 30))
    # Status: down Wed 20:00 -> 20:40, up 20:40 -> 22:40, down 22:40 -> Thu 09:30.
    # Business: Wed 20:00 -> 21:00 (earlier Wed hours unmonitored), Thu 09:00 -> 09:30.
    # up 20:40 -> 21:00 = 20 min; down 20:00 -> 20:40 + Thu 09:00 -> 09:30 = 70 min.
    # hour [08:30, 09:30): down 30 min. day [Wed 09:30, Thu 09:30): all of the above.
    assert got == expect(0, 20 * MINUTE, 20 * MINUTE, 30 * MINUTE, 70 * MINUTE, 70 * MINUTE)


def test_as_of_with_a_fraction_of_a_second_is_exact():
    # UTC, open all week. Active poll Mon 2024-01-08 11:30; as_of 12:00:00.5.
    got = figures([(utc(2024, 1, 8, 11, 30), True)], [], "UTC", utc(2024, 1, 8, 12) + 500_000)
    # up 11:30 -> 12:00:00.5 = 30 min 0.5 s in every window.
    assert got == expect(*(30 * MINUTE + 500_000,) * 3, 0, 0, 0)
    # 30.0083 min -> 30.01; 0.50014 h -> 0.50.
    assert uptime.report_values(got) == values("30.01", "0.50", "0.50", "0.00", "0.00", "0.00")


def test_no_polls_or_only_later_polls_give_zero():
    as_of = utc(2024, 1, 8, 12)
    assert figures([], [], "UTC", as_of) == expect(0, 0, 0, 0, 0, 0)
    # Polls at or after as_of are ignored.
    assert figures([(as_of, True), (as_of + HOUR, False)], [], "UTC", as_of) == expect(0, 0, 0, 0, 0, 0)
    # Polls older than the week that went stale long ago: down (no signal), all week.
    got = figures([(as_of - 30 * DAY, True)], [], "UTC", as_of)
    assert got == expect(0, 0, 0, 60 * MINUTE, DAY, WEEK)


def test_as_of_in_the_past_ignores_later_polls():
    # UTC, open all week. Polls every 30 min Mon 2024-01-08 08:00 -> 20:00, active except
    # inactive at 11:00 and 11:30. Spans: active 08:00-10:30, inactive 11:00-11:30, active 12:00-20:00.
    polls = [
        (at, at not in (utc(2024, 1, 8, 11), utc(2024, 1, 8, 11, 30)))
        for at, _ in every(utc(2024, 1, 8, 8), utc(2024, 1, 8, 20), 30 * MINUTE)
    ]
    # as_of 11:45: up 08:00 -> 11:00, down 11:00 -> 11:45 (the 12:00 poll has not happened yet).
    # hour [10:45, 11:45): up 15, down 45. day: up 3 h, down 45 min.
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 11, 45))
    assert got == expect(15 * MINUTE, 3 * HOUR, 3 * HOUR, 45 * MINUTE, 45 * MINUTE, 45 * MINUTE)
    # as_of 15:10, inside the active span 12:00-20:00 that runs past it:
    # up 08:00 -> 11:00 and 12:00 -> 15:10 = 6 h 10, down 11:00 -> 12:00 = 1 h. hour: up 60.
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 15, 10))
    assert got == expect(60 * MINUTE, 6 * HOUR + 10 * MINUTE, 6 * HOUR + 10 * MINUTE, 0, HOUR, HOUR)
    assert uptime.report_values(got) == values("60.00", "6.17", "6.17", "0.00", "1.00", "1.00")


def test_as_of_in_the_past_before_the_next_span_lets_the_active_poll_go_stale():
    # UTC, open all week. Active 10:00, then active 13:30 (a new span: 3.5 h > STALE) and on.
    polls = [(utc(2024, 1, 8, 10), True)] + every(utc(2024, 1, 8, 13, 30), utc(2024, 1, 8, 18), 30 * MINUTE)
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 12, 30))
    # up 10:00 -> 12:00, down 12:00 -> 12:30. hour [11:30, 12:30): up 30, down 30.
    assert got == expect(30 * MINUTE, 2 * HOUR, 2 * HOUR, 30 * MINUTE, 30 * MINUTE, 30 * MINUTE)


def test_as_of_in_the_past_with_business_hours_chicago():
    # America/Chicago, every day 09:00-17:00 CST. Polls hourly, active, Mon 2024-01-08 08:00 ->
    # Fri 2024-01-12 20:00 CST. as_of Wed 2024-01-10 10:30 CST (later polls ignored).
    polls = every(local(CHICAGO, 2024, 1, 8, 8), local(CHICAGO, 2024, 1, 12, 20), HOUR)
    entries = only({d: [(t(9), t(17))] for d in range(7)})
    got = figures(polls, entries, CHICAGO, local(CHICAGO, 2024, 1, 10, 10, 30))
    # hour [09:30, 10:30): 60 min.
    # day [Tue 10:30, Wed 10:30): Tue 10:30-17:00 (6.5 h) + Wed 09:00-10:30 (1.5 h) = 8 h.
    # week: Mon 8 h + Tue 8 h + Wed 1.5 h = 17.5 h (earlier days unmonitored).
    assert got == expect(60 * MINUTE, 8 * HOUR, 17 * HOUR + 30 * MINUTE, 0, 0, 0)


def test_inactive_spans_count_as_downtime_including_their_silence():
    # UTC, open all week. Inactive polls every 30 min Mon 2024-01-08 09:00 -> 10:00, silence,
    # inactive 14:00 (a new span), active 15:00. as_of 15:30.
    polls = every(utc(2024, 1, 8, 9), utc(2024, 1, 8, 10), 30 * MINUTE, active=False)
    polls += [(utc(2024, 1, 8, 14), False), (utc(2024, 1, 8, 15), True)]
    assert len(spans_from_polls(polls, STALE)) == 3
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 15, 30))
    # down 09:00 -> 15:00 (inactive, then no signal, then inactive), up 15:00 -> 15:30.
    # hour [14:30, 15:30): down 30, up 30. day/week: down 6 h, up 30 min.
    assert got == expect(30 * MINUTE, 30 * MINUTE, 30 * MINUTE, 30 * MINUTE, 6 * HOUR, 6 * HOUR)


def test_inactive_span_running_past_as_of():
    # UTC, open all week. Inactive polls every 30 min Mon 2024-01-08 09:00 -> 12:00. as_of 10:10.
    polls = every(utc(2024, 1, 8, 9), utc(2024, 1, 8, 12), 30 * MINUTE, active=False)
    got = figures(polls, [], "UTC", utc(2024, 1, 8, 10, 10))
    # down 09:00 -> 10:10 = 70 min; hour [09:10, 10:10): 60 min.
    assert got == expect(0, 0, 0, 60 * MINUTE, 70 * MINUTE, 70 * MINUTE)
    assert uptime.report_values(got) == values("0.00", "0.00", "0.00", "60.00", "1.17", "1.17")


def test_inactive_time_outside_business_hours_is_not_downtime_london():
    # Europe/London (GMT in January), Mon-Fri 09:00-17:00, Saturday and Sunday closed.
    # Inactive poll Fri 2024-01-12 16:00, nothing else. as_of Mon 2024-01-15 09:45.
    entries = only({d: [(t(9), t(17))] for d in (MON, TUE, WED, THU, FRI)})
    got = figures([(utc(2024, 1, 12, 16), False)], entries, LONDON, utc(2024, 1, 15, 9, 45))
    # down from Fri 16:00; inside business: Fri 16:00-17:00 (1 h) + Mon 09:00-09:45 (45 min).
    # hour [08:45, 09:45): 45 min. day [Sun 09:45, Mon 09:45): 45 min. week: 1 h 45.
    assert got == expect(0, 0, 0, 45 * MINUTE, 45 * MINUTE, HOUR + 45 * MINUTE)
    assert uptime.report_values(got) == values("0.00", "0.00", "0.00", "45.00", "0.75", "1.75")


# --------------------------------------------------------------------------
# report_values
# --------------------------------------------------------------------------


def test_report_values_round_half_up_in_minutes_and_hours():
    got = uptime.report_values(
        UptimeFigures(
            # 1.5 s = 0.025 min -> 0.03 (half up; half-even would give 0.02)
            1_500_000,
            # 18 s = 0.005 h -> 0.01 (half up; half-even would give 0.00)
            18 * SECOND,
            # 450 s = 0.125 h -> 0.13 (half up; half-even would give 0.12)
            450 * SECOND,
            # 0.3 s = 0.005 min -> 0.01
            300_000,
            # 18 s - 1 µs = 0.0049999... h -> 0.00
            18 * SECOND - 1,
            # 7 h 30 min 27 s = 7.5075 h -> 7.51
            7 * HOUR + 30 * MINUTE + 27 * SECOND,
        )
    )
    assert got == values("0.03", "0.01", "0.13", "0.01", "0.00", "7.51")
    assert [str(v) for v in got] == ["0.03", "0.01", "0.13", "0.01", "0.00", "7.51"]


def test_report_values_units_minutes_for_the_hour_hours_otherwise():
    # 90 min in each column: 90.00 minutes for the last hour, 1.50 hours for day and week.
    got = uptime.report_values(UptimeFigures(*(90 * MINUTE,) * 6))
    assert got == values("90.00", "1.50", "1.50", "90.00", "1.50", "1.50")
    # Full windows: 60 minutes, 24 hours, 168 hours.
    got = uptime.report_values(UptimeFigures(HOUR, DAY, WEEK, HOUR, DAY, WEEK))
    assert [str(v) for v in got] == ["60.00", "24.00", "168.00", "60.00", "24.00", "168.00"]
    # Zero is 0.00, two decimals.
    assert [str(v) for v in uptime.report_values(UptimeFigures(0, 0, 0, 0, 0, 0))] == ["0.00"] * 6


@pytest.mark.parametrize(
    "micros",
    [0, 1, 299_999, 300_000, 1_500_000, 18 * SECOND - 1, 18 * SECOND, 450 * SECOND, WEEK, 10**15 + 7, -1, -300_000],
)
def test_report_texts_are_the_report_values_as_text(micros):
    figures = UptimeFigures(*(micros,) * 6)
    assert uptime.report_texts(figures) == tuple(str(value) for value in uptime.report_values(figures))
