"""The uptime engine against a brute-force, per-second simulation of the rules.

Random weekly schedules, zones, polls and reference instants; the engine's
figures must equal, to the second, what a second-by-second walk of the rules
gives. The simulation shares nothing with the engine but the input format: it
resolves the schedule itself, converts each (date, interval) to UTC on its own
with zoneinfo (fold=0), marks business seconds interval by interval (no
merging, no intersection), and walks the polls with a pointer to find the
latest poll at or before each second.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import closures, instants
from core import uptime
from core.closures import ClosureRule
from core.uptime import HoursEntry, UptimeFigures

from .test_uptime import spans_from_polls

UTC = dt.timezone.utc
SECOND = instants.SECOND
HOUR_S, DAY_S, WEEK_S = 3600, 86400, 7 * 86400
ZONES = ["America/Chicago", "Australia/Sydney", "Asia/Kolkata", "UTC", "Europe/London"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(instant: dt.datetime) -> int:
    return int((instant - EPOCH).total_seconds())


def on(y, mo, d, h=0) -> int:
    return epoch_seconds(dt.datetime(y, mo, d, h, tzinfo=UTC))


# UTC instants of DST changes (checked with zoneinfo), by zone.
DST_CHANGES = {
    "America/Chicago": [on(2024, 3, 10, 8), on(2024, 11, 3, 7)],  # spring forward, fall back
    "Australia/Sydney": [on(2024, 4, 6, 16), on(2024, 10, 5, 16)],  # DST ends, DST starts
    "Europe/London": [on(2024, 3, 31, 1), on(2024, 10, 27, 1)],  # spring forward, fall back
    "Asia/Kolkata": [],
    "UTC": [],
}
YEAR = (on(2023, 6, 1), on(2025, 6, 1))


# --------------------------------------------------------------------------
# The rules, by brute force
# --------------------------------------------------------------------------


def spec_local_interval(start: dt.time, end: dt.time) -> tuple[int, int]:
    """Rule 1, from the spec: [start, end) in seconds after the day's midnight."""
    s = start.hour * 3600 + start.minute * 60 + start.second
    e = end.hour * 3600 + end.minute * 60 + end.second
    if s == e:  # open 24 hours from start
        return s, s + DAY_S
    if end == dt.time(23, 59, 59) or e == 0:  # midnight ending the day
        return s, DAY_S
    if e < s:  # overnight
        return s, e + DAY_S
    return s, e


def spec_week(entries) -> dict[int, list[tuple[int, int]]]:
    """Each weekday's local intervals: its own, else none if marked closed, else all day."""
    days: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    closed = set()
    for entry in entries:
        if entry.closed:
            closed.add(entry.day_of_week)
        else:
            days[entry.day_of_week].append(spec_local_interval(entry.start, entry.end))
    for d in range(7):
        if not days[d] and d not in closed:
            days[d] = [(0, DAY_S)]
    return days


def open_seconds(entries, zone_name: str, start: int, end: int) -> bytearray:
    """One byte per second of [start, end): 1 inside some (date, interval) of the schedule."""
    zone = ZoneInfo(zone_name)
    week = spec_week(entries)
    flags = bytearray(end - start)
    first = dt.datetime.fromtimestamp(start, UTC).astimezone(zone).date() - dt.timedelta(days=3)
    last = dt.datetime.fromtimestamp(end, UTC).astimezone(zone).date() + dt.timedelta(days=1)
    date = first
    while date <= last:
        midnight = dt.datetime.combine(date, dt.time(0)).replace(tzinfo=zone)
        for s, e in week[date.weekday()]:
            us = epoch_seconds((midnight + dt.timedelta(seconds=s)).astimezone(UTC))
            ue = epoch_seconds((midnight + dt.timedelta(seconds=e)).astimezone(UTC))
            a, b = max(us, start) - start, min(ue, end) - start
            if a < b:
                flags[a:b] = b"\x01" * (b - a)
        date += dt.timedelta(days=1)
    return flags


def closed_seconds(closures, start: int, end: int) -> bytearray:
    """One byte per second of [start, end): 1 inside some closure (UTC seconds, any overlap)."""
    flags = bytearray(end - start)
    for s, e in closures:
        a, b = max(s, start) - start, min(e, end) - start
        if a < b:
            flags[a:b] = b"\x01" * (b - a)
    return flags


def simulate(polls, entries, zone_name: str, as_of: int, stale: int, longest: int, closures=()) -> dict[int, tuple[int, int, int, int]]:
    """(up, down, no signal, closed) seconds inside business hours for each
    window of length <= `longest` (1 h, 1 day, 1 week) ending at `as_of`,
    second by second. A second inside a closure is closed: neither up nor
    down. No signal: down with the latest poll `stale` old or older."""
    windows = [w for w in (HOUR_S, DAY_S, WEEK_S) if w <= longest]
    window_start = as_of - longest
    flags = open_seconds(entries, zone_name, window_start, as_of)
    shut = closed_seconds(closures, window_start, as_of)
    seen = [poll for poll in polls if poll[0] < as_of]  # polls at or after as_of are ignored
    n = len(seen)
    never = as_of + 1
    k = -1  # index of the latest poll at or before t
    at, active = 0, False
    following = seen[0][0] if n else never
    edges = sorted({as_of - w for w in windows}) + [as_of]
    pieces = []
    for lo, hi in zip(edges, edges[1:]):
        up = down = silent = closed = 0
        for t in range(lo, hi):
            while t >= following:
                k += 1
                at, active = seen[k]
                following = seen[k + 1][0] if k + 1 < n else never
            if k < 0 or not flags[t - window_start]:
                continue  # not monitored yet, or outside business hours
            if shut[t - window_start]:
                closed += 1
            elif active and t - at < stale:
                up += 1
            else:
                down += 1  # inactive, or no signal for `stale` or longer
                if t - at >= stale:
                    silent += 1
        pieces.append((up, down, silent, closed))
    # pieces are in time order; the i-th shortest window is the last i + 1 of them.
    result = {}
    for i, w in enumerate(windows):
        inside = pieces[-(i + 1) :]
        result[w] = tuple(sum(p[j] for p in inside) for j in range(4))
    return result


def in_seconds(entries) -> list[HoursEntry]:
    """The rows with times as whole seconds after midnight, as the report's SQL reads them."""
    def sec(value):
        return None if value is None else value.hour * 3600 + value.minute * 60 + value.second

    return [HoursEntry(e.day_of_week, sec(e.start), sec(e.end), e.closed) for e in entries]


def engine(polls, entries, zone_name: str, as_of: int, stale: int, rules=()) -> UptimeFigures:
    spans = spans_from_polls([(at * SECOND, active) for at, active in polls], stale * SECOND)
    hours = uptime.weekly_hours(entries)
    assert uptime.weekly_hours(in_seconds(entries)) == hours
    return uptime.store_uptime(
        spans=spans,
        hours=hours,
        zone_name=zone_name,
        as_of=as_of * SECOND,
        stale_after=stale * SECOND,
        closures=closures.closure_intervals(rules, zone_name, (as_of - WEEK_S) * SECOND, as_of * SECOND),
    )


def spec_closures(rules, zone_name: str) -> list[tuple[int, int]]:
    """The closures as UTC seconds, converted on their own: a local moment by
    zoneinfo with fold=0 (as business hours are), an instant as it is."""
    zone = ZoneInfo(zone_name)
    out = []
    for rule in rules:
        if rule.local:
            start, end = (
                epoch_seconds((dt.datetime.fromordinal(o) + dt.timedelta(seconds=sec)).replace(tzinfo=zone).astimezone(UTC))
                for o, sec in (rule.start, rule.end)
            )
        else:
            start, end = rule.start // SECOND, rule.end // SECOND
        out.append((start, end))
    return out


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------


def clock(seconds: int) -> dt.time:
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)


# Local times of day, often near 01:00-03:00 where the zones' DST changes are.
times_of_day = st.one_of(st.integers(0, DAY_S - 1), st.integers(3600 - 60, 3 * 3600 + 60))


@st.composite
def intervals(draw) -> tuple[dt.time, dt.time]:
    start = draw(times_of_day)
    kind = draw(st.sampled_from(["any", "any", "any", "same", "23:59:59", "24:00", "near"]))
    if kind == "any":  # end < start is overnight
        end = draw(times_of_day)
    elif kind == "same":
        end = start
    elif kind == "23:59:59":
        end = DAY_S - 1
    elif kind == "24:00":
        end = 0
    else:  # a short interval, possibly across midnight
        end = (start + draw(st.integers(1, 4 * 3600))) % DAY_S
    return clock(start), clock(end)


@st.composite
def schedules(draw) -> list[HoursEntry]:
    entries = []
    for day in range(7):
        kind = draw(st.sampled_from(["missing", "closed", "hours", "hours", "hours"]))
        if kind == "closed":
            entries.append(HoursEntry(day, None, None, closed=True))
        elif kind == "hours":
            for start, end in draw(st.lists(intervals(), min_size=1, max_size=3)):
                entries.append(HoursEntry(day, start, end))
    return entries


@st.composite
def scenarios(draw, longest: int, max_polls: int):
    zone = draw(st.sampled_from(ZONES))
    entries = draw(schedules())
    stale = draw(st.sampled_from([7200, 7200, 7200, 3600, 600]))
    # The reference instant: often around one of the zone's DST changes.
    any_day = st.integers(*YEAR)
    base = draw(st.one_of(st.sampled_from(DST_CHANGES[zone]), any_day) if DST_CHANGES[zone] else any_day)
    as_of = base + draw(st.integers(-DAY_S, longest + DAY_S))
    scale = longest // DAY_S  # 1 for a day, 7 for a week
    gap = st.one_of(
        st.integers(1, 120),
        st.integers(1, 3600 * scale),
        st.sampled_from([stale - 1, stale, stale + 1]),
        st.integers(stale, 6 * 3600 * scale),
    )
    count = draw(st.one_of(st.sampled_from(range(max_polls // 3, max_polls + 1)), st.integers(0, 5)))
    gaps = draw(st.lists(gap, min_size=count, max_size=count))
    # Where the polls begin: usually before the window (the status carries in), sometimes
    # inside it (time before the first poll is not monitored), rarely at or after as_of.
    lead = draw(st.one_of(st.integers(0, 6 * 3600), st.integers(-longest - 3600, 6 * 3600)))
    first = as_of - longest - lead
    if draw(st.booleans()):
        # Forward from the first poll.
        times = [first]
        for g in gaps:
            times.append(times[-1] + g)
    else:
        # Backward from a poll near as_of, as far as the first poll (so the polls reach the
        # end of the window; they may not reach its start).
        times = [as_of + draw(st.integers(-3 * 3600, 3 * 3600))]
        for g in gaps:
            if times[-1] - g < first:
                break
            times.append(times[-1] - g)
    # Sometimes polls right at and after as_of.
    times += [as_of + x for x in draw(st.lists(st.integers(0, 3 * 3600), max_size=3))]
    times = sorted(set(times))
    status = draw(st.booleans())
    polls = []
    for at in times:
        polls.append((at, status))
        if draw(st.sampled_from([False, False, False, True])):
            status = not status
    return zone, entries, stale, as_of, polls


@st.composite
def closure_rules(draw, zone_name: str, as_of: int, longest: int) -> list[ClosureRule]:
    """0 to 3 closures around the window: local (often starting or ending near
    the DST hours) or instants, of any length up to two days, overlapping freely."""
    zone = ZoneInfo(zone_name)
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        start = as_of - draw(st.integers(-DAY_S, longest + DAY_S))
        length = draw(st.one_of(st.integers(1, 3 * 3600), st.integers(1, 2 * DAY_S)))
        if draw(st.booleans()):
            rules.append(ClosureRule(local=False, start=start * SECOND, end=(start + length) * SECOND))
            continue
        local_start = dt.datetime.fromtimestamp(start, UTC).astimezone(zone).replace(tzinfo=None)
        if draw(st.booleans()):  # a time of day where DST changes happen
            local_start = local_start.replace(hour=draw(st.integers(0, 3)), minute=draw(st.sampled_from([0, 30, 59])), second=0)
        local_end = local_start + dt.timedelta(seconds=length)
        rules.append(ClosureRule(local=True, start=closures.local_moment(local_start), end=closures.local_moment(local_end)))
    return rules


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@settings(max_examples=150, **SETTINGS)
@given(scenarios(longest=DAY_S, max_polls=60))
def test_hour_and_day_match_per_second_simulation(scenario):
    zone, entries, stale, as_of, polls = scenario
    got = engine(polls, entries, zone, as_of, stale)
    want = simulate(polls, entries, zone, as_of, stale, longest=DAY_S)
    assert (got.uptime_last_hour, got.downtime_last_hour) == tuple(x * SECOND for x in want[HOUR_S][:2])
    assert (got.uptime_last_day, got.downtime_last_day) == tuple(x * SECOND for x in want[DAY_S][:2])
    assert (got.no_signal_last_hour, got.no_signal_last_day) == (want[HOUR_S][2] * SECOND, want[DAY_S][2] * SECOND)


@settings(max_examples=30, **SETTINGS)
@given(scenarios(longest=WEEK_S, max_polls=150))
def test_all_windows_match_per_second_simulation(scenario):
    zone, entries, stale, as_of, polls = scenario
    got = engine(polls, entries, zone, as_of, stale)
    want = simulate(polls, entries, zone, as_of, stale, longest=WEEK_S)
    assert got == UptimeFigures(
        *(want[w][measure] * SECOND for measure in range(4) for w in (HOUR_S, DAY_S, WEEK_S))
    )


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), scenario=scenarios(longest=WEEK_S, max_polls=150))
def test_all_windows_with_closures_match_per_second_simulation(data, scenario):
    zone, entries, stale, as_of, polls = scenario
    rules = data.draw(closure_rules(zone, as_of, WEEK_S))
    got = engine(polls, entries, zone, as_of, stale, rules)
    want = simulate(polls, entries, zone, as_of, stale, longest=WEEK_S, closures=spec_closures(rules, zone))
    assert got == UptimeFigures(
        *(want[w][measure] * SECOND for measure in range(4) for w in (HOUR_S, DAY_S, WEEK_S))
    )


@settings(max_examples=250, **SETTINGS)
@given(
    entries=schedules(),
    zone=st.sampled_from(ZONES),
    base=st.one_of(st.sampled_from(sum(DST_CHANGES.values(), [])), st.integers(*YEAR)),
    offset=st.integers(-3 * DAY_S, 3 * DAY_S),
    length=st.integers(0, 8 * DAY_S),
)
def test_business_intervals_match_per_second_marks(entries, zone, base, offset, length):
    start = base + offset
    end = start + length
    flags = open_seconds(entries, zone, start, end)
    want = [(start + m.start(), start + m.end()) for m in re.finditer(rb"\x01+", bytes(flags))]
    hours = uptime.weekly_hours(entries)
    assert uptime.weekly_hours(in_seconds(entries)) == hours
    got = uptime.business_intervals(hours, zone, start * SECOND, end * SECOND)
    assert got == [(s * SECOND, e * SECOND) for s, e in want]


@given(st.lists(st.integers(min_value=-(10**9), max_value=2 * instants.WEEK), min_size=6, max_size=6))
def test_report_texts_equal_report_values_for_any_figures(values):
    figures = UptimeFigures(*values)
    assert uptime.report_texts(figures) == tuple(str(value) for value in uptime.report_values(figures))
