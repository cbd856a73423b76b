"""The uptime engine: exact interval arithmetic over business hours and status spans.

Pure Python, no ORM and no Django: UTC instants and intervals in, numbers out.
The rules it implements are written down in docs/semantics.md.

Instants are integers of microseconds since the Unix epoch (UTC, core.instants),
so every sum is exact; an interval is a half-open pair ``(start, end)``. Lists of intervals
are sorted and pairwise disjoint unless said otherwise.

store_uptime measures a store's status intervals by lookups in the cumulative
open time of its week (OpenTime, built once per week and zone) rather than by
intersecting them with the business hours; core.uptime_reference keeps the
intersecting form as the reference it is tested against.
"""
from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from .instants import DAY, HOUR, MINUTE, SECOND, WEEK, from_micros, to_micros

Interval = tuple[int, int]
# Seven entries, Monday (0) to Sunday (6), each a tuple of local intervals in
# seconds after that day's midnight: 0 <= start < 86400 and start < end <= start + 86400.
WeeklyHours = tuple[tuple[tuple[int, int], ...], ...]

DAY_SECONDS = 86_400
# Ends written as 23:59:59 (the Loop data's habit) mean the midnight that ends the day.
_END_OF_DAY = DAY_SECONDS - 1
OPEN_ALL_DAY: tuple[tuple[int, int], ...] = ((0, DAY_SECONDS),)


# --------------------------------------------------------------------------
# Business hours
# --------------------------------------------------------------------------


class HoursEntry(NamedTuple):
    """One stored row of a weekly schedule: an interval, or a day marked closed."""

    day_of_week: int
    start: dt.time | int | None
    end: dt.time | int | None
    closed: bool = False


def _seconds(value: dt.time | int) -> int:
    if isinstance(value, int):
        return value
    return value.hour * 3600 + value.minute * 60 + value.second


def local_interval(start: dt.time | int, end: dt.time | int) -> tuple[int, int]:
    """A schedule interval as local seconds after its day's midnight.

    Times are `datetime.time`s or whole seconds after midnight. start == end is
    open 24 hours from start; an end of 23:59:59 (or 24:00, stored as 00:00)
    is the midnight ending the day; end < start runs past midnight into the
    next day. Fractions of a second are ignored.
    """
    s, e = _seconds(start), _seconds(end)
    if s == e:
        return s, s + DAY_SECONDS
    if e == _END_OF_DAY:
        return s, DAY_SECONDS
    if e < s:
        return s, e + DAY_SECONDS
    return s, e


def weekly_hours(entries: Iterable[HoursEntry | tuple[int, int | dt.time | None, int | dt.time | None, bool]]) -> WeeklyHours:
    """Resolve stored rows into a week: a day with intervals keeps them, a day
    marked closed (and without intervals) has none, any other day is open all day.
    Rows are HoursEntry or plain (day, start, end, closed) tuples."""
    intervals: list[tuple[int, tuple[int, int]]] = []
    closed: list[int] = []
    for day, start, end, day_closed in entries:
        if day_closed:
            closed.append(day)
        elif start is not None and end is not None:
            intervals.append((day, local_interval(start, end)))
    return week_of_intervals(intervals, closed)


def week_of_intervals(intervals: Iterable[tuple[int, tuple[int, int]]], closed_days: Sequence[int] = ()) -> WeeklyHours:
    """weekly_hours from its rows already resolved: (day, local_interval(start,
    end)) for each interval, and the days marked closed."""
    days: list[list[tuple[int, int]]] = [[], [], [], [], [], [], []]
    for day, interval in intervals:
        days[day].append(interval)
    # Built once per distinct schedule a process meets: for stores with
    # schedules of their own, for most of a report chunk's stores.
    return tuple(
        tuple(sorted(day)) if day else (() if index in closed_days else OPEN_ALL_DAY) for index, day in enumerate(days)
    )


ALWAYS_OPEN: WeeklyHours = weekly_hours(())


# Every zone a process meets stays (the IANA database has about 600): with a
# few, stores of more zones than that reloaded their zone file from disk.
@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=262_144)
def local_to_micros(zone_name: str, ordinal: int, seconds: int) -> int:
    """UTC instant of `seconds` after local midnight of the date `ordinal`.

    Wall-clock arithmetic with fold=0: a time in a spring-forward gap takes the
    offset from before the gap (so it lands later by the gap's length), and an
    ambiguous fall-back time takes its first occurrence.
    """
    local = dt.datetime.fromordinal(ordinal).replace(tzinfo=zone(zone_name))
    local += dt.timedelta(seconds=seconds)  # wall-clock addition, fold stays 0
    return to_micros(local)


def business_intervals(hours: WeeklyHours, zone_name: str, start: int, end: int) -> list[Interval]:
    """Business hours of a store within [start, end), as merged UTC intervals.

    Each local calendar date's intervals are converted on that date, so DST is
    exact; an interval from the day before can reach into the range, hence the
    extra leading days (_local_dates).
    """
    if end <= start:
        return []
    pieces: list[Interval] = []
    for ordinal, weekday, midnight in _local_dates(zone_name, start, end):
        for local_start, local_end in hours[weekday]:
            # Plain comparisons, not max()/min(): this runs for every interval of every store.
            if midnight is None:  # a change of offset near this date
                s = local_to_micros(zone_name, ordinal, local_start)
                e = local_to_micros(zone_name, ordinal, local_end)
            else:
                s = midnight + local_start * SECOND
                e = midnight + local_end * SECOND
            if s < start:
                s = start
            if e > end:
                e = end
            if s < e:
                pieces.append((s, e))
    return merge(pieces)


@lru_cache(maxsize=4096)
def _local_dates(zone_name: str, start: int, end: int) -> tuple[tuple[int, int, int | None], ...]:
    """The local dates whose intervals may reach into [start, end) in the
    zone, each as (ordinal, weekday, steady midnight: _steady_midnight).
    Shared by every week of the zone converted for the same range."""
    store_zone = zone(zone_name)
    first_date = from_micros(start).astimezone(store_zone).date() - dt.timedelta(days=2)
    last_date = from_micros(end).astimezone(store_zone).date()
    # date.weekday() of an ordinal: ordinal 1 (0001-01-01) was a Monday.
    return tuple(
        (ordinal, (ordinal - 1) % 7, _steady_midnight(zone_name, ordinal))
        for ordinal in range(first_date.toordinal(), last_date.toordinal() + 1)
    )


@lru_cache(maxsize=65_536)
def _steady_midnight(zone_name: str, ordinal: int) -> int | None:
    """The UTC instant of the date's local midnight when the zone's offset
    holds for the two days from it, which every interval of the date lies
    within (local_interval): then an interval's ends are that midnight plus
    their local seconds, the instants local_to_micros gives, without its
    calendar arithmetic. None when the offset changes in those days.

    With fold 0, a local time takes the offset from before a change until
    one instant of local time, and the offset from after from then on. So
    the offsets at the date's midnight and two days later agree exactly
    when no change lies between them, as long as the offset cannot change
    and change back within two days: no zone does
    (test_no_zone_changes_its_offset_twice_within_four_days, over every zone
    of the tz database from December 1969 to 2100)."""
    first = local_to_micros(zone_name, ordinal, 0)
    return first if local_to_micros(zone_name, ordinal + 2, 0) - first == 2 * DAY else None


@lru_cache(maxsize=4096)
def _business_intervals_shared(hours: WeeklyHours, zone_name: str, start: int, end: int) -> tuple[Interval, ...]:
    # Stores of a chain share their week and zone (13,584 Loop stores have
    # 2,086 pairs): a report converts each pair's week once.
    return tuple(business_intervals(hours, zone_name, start, end))


class OpenTime(NamedTuple):
    """The open time before any instant, of sorted disjoint intervals (a
    cumulative function: flat outside the intervals, rising inside them).

    `bounds` are the intervals' ends in order, [s0, e0, s1, e1, ...]. For
    j = bisect_right(bounds, t), the open time before t is `offsets[j] + t`
    when j is odd (t is inside interval (j - 1) // 2) and `offsets[j]` when j
    is even (t is before, between or after the intervals). So the open time
    inside any [a, b) is at(b) - at(a): two lookups instead of an intersection.
    """

    bounds: tuple[int, ...]
    offsets: tuple[int, ...]

    def at(self, t: int) -> int:
        j = bisect_right(self.bounds, t)
        return self.offsets[j] + t if j & 1 else self.offsets[j]


def open_time(intervals: Iterable[Interval]) -> OpenTime:
    """The OpenTime of sorted, disjoint intervals (touching or empty ones too)."""
    bounds: list[int] = []
    offsets = [0]
    total = 0
    for s, e in intervals:
        bounds += (s, e)
        offsets.append(total - s)  # inside: what came before, plus t - s
        total += e - s
        offsets.append(total)  # after it: all of it
    return OpenTime(tuple(bounds), tuple(offsets))


class WeekOpenTime(NamedTuple):
    """An open time covering the week ending at `as_of` (OpenTime, which may
    reach further: only differences of its values mean anything), with its
    values at the starts of the last hour and the last day and at as_of: what
    every store of a (week, zone) pair looks up, computed once for them all."""

    open_time: OpenTime
    at_hour_start: int
    at_day_start: int
    at_end: int


def _week_open_time(opened: OpenTime, as_of: int) -> WeekOpenTime:
    return WeekOpenTime(opened, opened.at(as_of - HOUR), opened.at(as_of - DAY), opened.at(as_of))


@lru_cache(maxsize=4096)
def _business_open_time(hours: WeeklyHours, zone_name: str, day_start: int) -> OpenTime:
    # The business hours of the week before the UTC day starting at
    # day_start, and of that day: every week ending inside the day lies
    # within, so a worker converts a (week, zone) pair once a day, not once
    # a report (each is as of its own instant).
    return open_time(business_intervals(hours, zone_name, day_start - WEEK, day_start + DAY))


@lru_cache(maxsize=4096)
def _week_open_time_shared(hours: WeeklyHours, zone_name: str, as_of: int) -> WeekOpenTime:
    # Built once per (week, zone) pair and report.
    return _week_open_time(_business_open_time(hours, zone_name, as_of - as_of % DAY), as_of)


@lru_cache(maxsize=4096)
def _week_open_time_closed(business: WeekOpenTime, closures: tuple[Interval, ...], as_of: int) -> WeekOpenTime:
    # Closures are mostly a chain's holidays, the same for its stores in one
    # zone (core.closures): a pair's open hours less them are built once too.
    bounds = business.open_time.bounds
    open_hours = subtract(list(zip(bounds[0::2], bounds[1::2])), closures)
    return _week_open_time(open_time(open_hours), as_of)


def open_intervals(hours: WeeklyHours, zone_name: str, start: int, end: int, closures: Sequence[Interval] = ()) -> list[Interval]:
    """Business hours within [start, end) with the closures (sorted, disjoint) taken out."""
    business = _business_intervals_shared(hours, zone_name, start, end)
    return subtract(business, closures) if closures else list(business)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals, sorted; touching and overlapping ones are joined."""
    ordered = sorted(intervals)
    if not ordered:
        return []
    merged: list[Interval] = []
    # The interval being joined in locals: run once per (week, zone) pair's
    # business hours, for every such pair of a report.
    start, end = ordered[0]
    for s, e in ordered:
        if s <= end:
            if e > end:
                end = e
        else:
            merged.append((start, end))
            start, end = s, e
    merged.append((start, end))
    return merged


# --------------------------------------------------------------------------
# Status over time
# --------------------------------------------------------------------------


class Span(NamedTuple):
    """A run of polls with one status and gaps shorter than the stale period."""

    active: bool
    first_poll: int
    last_poll: int


class StatusTimeline(NamedTuple):
    up: list[Interval]
    down: list[Interval]
    # The part of `down` in which the latest poll was the stale period old or older.
    no_signal: list[Interval]


def status_timeline(spans: Sequence[Span], stale_after: int, start: int, end: int) -> StatusTimeline:
    """Up and down time within [start, end) from a store's spans, sorted by first poll.

    A span's status holds from its first poll until the next span's first poll,
    except that an active status expires `stale_after` after the span's last
    poll (down, no signal). Down time from `stale_after` after a span's last
    poll on, of either status, is also no-signal time: the latest poll is that
    old. Before the first span nothing is monitored.
    """
    # Written with plain comparisons instead of min()/max(): this runs for
    # every span of every store in a report.
    up: list[Interval] = []
    down: list[Interval] = []
    no_signal: list[Interval] = []
    count = len(spans)
    for i in range(count):
        active, first, last = spans[i]
        if first >= end:
            break
        following = spans[i + 1][1] if i + 1 < count else end
        if following > end:
            following = end
        if following <= start:
            continue
        begin = first if first > start else start
        expires = last + stale_after
        if expires > following:
            expires = following
        if active:
            if begin < expires:
                up.append((begin, expires))
        elif begin < following:
            down.append((begin, following))
        if expires < start:
            expires = start
        if expires < following:
            if active:
                down.append((expires, following))
            no_signal.append((expires, following))
    return StatusTimeline(up, down, no_signal)


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two sorted disjoint interval lists."""
    out: list[Interval] = []
    i = j = 0
    len_a, len_b = len(a), len(b)
    while i < len_a and j < len_b:
        a_start, a_end = a[i]
        b_start, b_end = b[j]
        s = a_start if a_start > b_start else b_start
        if a_end < b_end:
            if s < a_end:
                out.append((s, a_end))
            i += 1
        else:
            if s < b_end:
                out.append((s, b_end))
            j += 1
    return out


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The parts of sorted disjoint intervals `a` outside sorted disjoint intervals `b`."""
    out: list[Interval] = []
    j, len_b = 0, len(b)
    for s, e in a:
        while j < len_b and b[j][1] <= s:
            j += 1
        k = j
        while k < len_b and b[k][0] < e:
            b_start, b_end = b[k]
            if b_start > s:
                out.append((s, b_start))
            if b_end > s:
                s = b_end
            if s >= e:
                break
            k += 1
        if s < e:
            out.append((s, e))
    return out


# --------------------------------------------------------------------------
# Report figures
# --------------------------------------------------------------------------


class UptimeFigures(NamedTuple):
    """Time inside business hours (closures removed), in microseconds, per
    window: up, down, the part of down with no signal, and the business
    hours that closures removed."""

    uptime_last_hour: int
    uptime_last_day: int
    uptime_last_week: int
    downtime_last_hour: int
    downtime_last_day: int
    downtime_last_week: int
    no_signal_last_hour: int = 0
    no_signal_last_day: int = 0
    no_signal_last_week: int = 0
    closed_last_hour: int = 0
    closed_last_day: int = 0
    closed_last_week: int = 0


REPORT_COLUMNS = (
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)
# ?columns=extended appends these (docs/semantics.md, section 5).
EXTENDED_COLUMNS = (
    "no_signal_last_hour",
    "no_signal_last_day",
    "no_signal_last_week",
    "closed_last_hour",
    "closed_last_day",
    "closed_last_week",
    "uptime_percent_last_hour",
    "uptime_percent_last_day",
    "uptime_percent_last_week",
)
# Each UptimeFigures field's unit in the CSV: the last hour in minutes, the
# last day and week in hours.
FIELD_UNITS = (MINUTE, HOUR, HOUR) * 4
_HUNDREDTH = Decimal("0.01")


def _status_open_time(
    spans: Sequence[Span], stale_after: int, start: int, end: int, week: WeekOpenTime
) -> tuple[int, int, int, int, int, int, int, int]:
    """status_timeline's walk over [start, end) (the week ending at `end`),
    step for step the same rule, measuring open time as it goes instead of
    listing intervals. Gives the first instant with a status, the open time
    before it, then the open time up and the open time with no signal, each
    in the last hour, the last day and in all. The first span must start
    before `end`.

    Within a window starting at w, the open time inside [a, b) is
    at(b) - at(max(a, w)) = at(b) - max(at(a), at(w)), as at() never
    decreases; 0 when b <= w, as then at(b) <= at(w). So the two lookups of
    an interval give all three windows, and consecutive intervals share
    their lookups: about one lookup per span.
    """
    (bounds, offsets), at_hour_start, at_day_start, _ = week
    up_hour = up_day = up_week = no_signal_hour = no_signal_day = no_signal_week = 0
    monitored_from, at_monitored = end, 0  # every span that counts begins before `end`
    at_begin = 0  # at(begin): the previous span's at(following), as its following is this span's begin
    count = len(spans)
    for i, (active, first, last) in enumerate(spans, 1):
        if first >= end:
            break
        following = spans[i][1] if i < count else end
        if following > end:
            following = end
        if following <= start:
            continue
        begin = first if first > start else start
        # OpenTime.at inlined, and plain comparisons instead of min()/max():
        # this runs for every span of every store in a report.
        if begin < monitored_from:  # the first span that counts
            j = bisect_right(bounds, begin)
            at_begin = offsets[j] + begin if j & 1 else offsets[j]
            monitored_from, at_monitored = begin, at_begin
        j = bisect_right(bounds, following)
        at_following = offsets[j] + following if j & 1 else offsets[j]
        # Up from begin until the status expires (active spans only), down
        # with no signal from then until following: at_expires is at() of
        # the expiry brought into [begin, following].
        expires = last + stale_after
        if expires >= following:  # the usual case: the next span comes first
            at_expires = at_following
        elif expires <= begin:  # expired before the week (or stale_after == 0)
            at_expires = at_begin
        else:
            j = bisect_right(bounds, expires)
            at_expires = offsets[j] + expires if j & 1 else offsets[j]
        if active and at_begin < at_expires:
            a, b = at_begin, at_expires
            up_week += b - a
            if b > at_day_start:  # at_hour_start >= at_day_start: the hour is inside the day
                up_day += b - (a if a > at_day_start else at_day_start)
                if b > at_hour_start:
                    up_hour += b - (a if a > at_hour_start else at_hour_start)
        if at_expires < at_following:
            a, b = at_expires, at_following
            no_signal_week += b - a
            if b > at_day_start:
                no_signal_day += b - (a if a > at_day_start else at_day_start)
                if b > at_hour_start:
                    no_signal_hour += b - (a if a > at_hour_start else at_hour_start)
        at_begin = at_following
    return monitored_from, at_monitored, up_hour, up_day, up_week, no_signal_hour, no_signal_day, no_signal_week


def store_weeks(
    hours: WeeklyHours, zone_name: str, as_of: int, closures: Sequence[Interval] = ()
) -> tuple[WeekOpenTime, WeekOpenTime]:
    """The open time a store is measured in over the week ending at `as_of`:
    (its business hours', those less the closures). One object each, shared
    by the stores of a (week, zone) pair, and of a pair and closures."""
    business = _week_open_time_shared(hours, zone_name, as_of)
    return business, (_week_open_time_closed(business, tuple(closures), as_of) if closures else business)


def store_uptime(
    *,
    spans: Sequence[Span],
    hours: WeeklyHours,
    zone_name: str,
    as_of: int,
    stale_after: int,
    closures: Sequence[Interval] = (),
) -> UptimeFigures:
    """Figures for one store over the hour, day and week ending at `as_of`.
    `closures` (sorted, disjoint UTC intervals: core.closures) are taken out
    of the business hours first: their time is neither up nor down.

    Measured by lookups in the week's cumulative open time (WeekOpenTime),
    shared by the stores of a (week, zone) pair, instead of intersecting
    interval lists (core.uptime_reference keeps that form, as a reference)."""
    # The spans are sorted by first poll: when the first starts at or after
    # as_of, no status falls inside the week (status_timeline gives nothing).
    if not spans or spans[0][1] >= as_of:
        return UptimeFigures(0, 0, 0, 0, 0, 0)
    business, week = store_weeks(hours, zone_name, as_of, closures)
    _, at_hour_start, at_day_start, at_end = week
    measured = _status_open_time(spans, stale_after, as_of - WEEK, as_of, week)
    monitored_from, at_monitored, up_hour, up_day, up_week, no_signal_hour, no_signal_day, no_signal_week = measured
    # From its first poll on, a store is up or down at every instant: its
    # down time is the open time since then that is not up (at() of the
    # window's start or of monitored_from, whichever is later, as above).
    down_hour = at_end - (at_monitored if at_monitored > at_hour_start else at_hour_start) - up_hour
    down_day = at_end - (at_monitored if at_monitored > at_day_start else at_day_start) - up_day
    down_week = at_end - at_monitored - up_week
    if not closures:
        return UptimeFigures(
            up_hour, up_day, up_week, down_hour, down_day, down_week, no_signal_hour, no_signal_day, no_signal_week
        )
    # Closed time counts from the first poll on too. The closed business
    # time before t, closed(t) = business.at(t) - open.at(t), never
    # decreases: the closed time in [max(monitored_from, w), as_of) is
    # closed(as_of) - max(closed(monitored_from), closed(w)).
    closed_at_end = business.at_end - at_end
    closed_at_monitored = business.open_time.at(monitored_from) - at_monitored
    closed_hour = closed_at_end - max(closed_at_monitored, business.at_hour_start - at_hour_start)
    closed_day = closed_at_end - max(closed_at_monitored, business.at_day_start - at_day_start)
    closed_week = closed_at_end - closed_at_monitored
    return UptimeFigures(
        up_hour, up_day, up_week, down_hour, down_day, down_week, no_signal_hour, no_signal_day, no_signal_week,
        closed_hour, closed_day, closed_week,
    )  # fmt: skip


def in_unit(micros: int, unit: int) -> Decimal:
    """A duration in minutes (unit=MINUTE) or hours (unit=HOUR), rounded half up
    to two decimals, exactly: the one rounding of every figure shown anywhere."""
    return (Decimal(micros) / unit).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


def report_values(figures: UptimeFigures) -> tuple[Decimal, ...]:
    """The seed columns' figures in report units (minutes for the hour, hours otherwise)."""
    return tuple(in_unit(micros, unit) for micros, unit in zip(figures[:6], FIELD_UNITS))


def unit_hundredths(micros: Any, unit: int) -> Any:
    """A duration of at least 0 in hundredths of the unit, rounded half up,
    exactly; an int of an int, elementwise of numpy's int64 arrays
    (core.uptime_batch), so both forms round by this one expression."""
    return (micros * 200 + unit) // (2 * unit)


def percent_hundredths(up: Any, total: Any) -> Any:
    """100 × up / total in hundredths, rounded half up, exactly (0 <= up <= total, total > 0); ints or int64 arrays."""
    return (20_000 * up + total) // (2 * total)


def hundredths_text(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def unit_text(micros: int, unit: int) -> str:
    """in_unit's text, in integer arithmetic: the CSV's text of a duration."""
    if micros < 0:  # never a duration; rounding half up differs below zero
        return str(in_unit(micros, unit))
    return hundredths_text(unit_hundredths(micros, unit))


def report_texts(figures: UptimeFigures) -> tuple[str, ...]:
    """report_values as the CSV writes them, in integer arithmetic: the same
    text as Decimal's. A store at a time; a report writes its chunk's texts a
    column at a time (core.uptime_batch.figure_texts, tested equal to these)."""
    return tuple(unit_text(micros, unit) for micros, unit in zip(figures[:6], FIELD_UNITS))


def uptime_percent(up: int, down: int) -> Decimal | None:
    """100 × up / (up + down), rounded half up to two decimals; None when the
    store was not monitored inside business hours at all (nothing to divide)."""
    if up + down == 0:
        return None
    return (Decimal(100 * up) / (up + down)).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


def percent_text(up: int, down: int) -> str:
    """uptime_percent's text in integer arithmetic; empty when not monitored."""
    total = up + down
    if total == 0:
        return ""
    if up < 0 or down < 0:  # never a duration
        return str(uptime_percent(up, down))
    return hundredths_text(percent_hundredths(up, total))


def extended_texts(figures: UptimeFigures) -> tuple[str, ...]:
    """The EXTENDED_COLUMNS' texts: no-signal and closed time in the seed
    columns' units, then the uptime percentages (empty when not monitored)."""
    up_hour, up_day, up_week, down_hour, down_day, down_week = figures[:6]
    return (
        *(unit_text(micros, unit) for micros, unit in zip(figures[6:12], FIELD_UNITS[6:])),
        percent_text(up_hour, down_hour),
        percent_text(up_day, down_day),
        percent_text(up_week, down_week),
    )
