"""Closures: periods in which a store is not expected to be open
(docs/semantics.md, section 7). Pure Python, no Django.

A closure is given in local time, read in each store's own zone with the
same wall-clock rules as business hours (core.uptime), or as two instants,
the same for every store. A local closure may repeat every year on the same
local dates. This module turns a store's closures into sorted, disjoint UTC
intervals for a range of instants; the engine removes them from the store's
business hours before measuring anything (core.uptime.store_uptime).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from .instants import from_micros, to_micros
from .uptime import Interval, local_to_micros, merge, zone

# A local moment: (proleptic ordinal of the date, seconds after that local midnight).
LocalMoment = tuple[int, int]


class ClosureRule(NamedTuple):
    """One closure as stored: local moments, or instants in microseconds.

    Local: `start` and `end` are LocalMoments (end exclusive; a whole-day
    closure ends at the midnight after its last day). Instant: `start` and
    `end` are microseconds since the epoch. `every_year` (local only) repeats
    the closure on the same local dates in every year; one whose start or end
    falls on 29 February repeats in leap years only.
    """

    local: bool
    start: LocalMoment | int
    end: LocalMoment | int
    every_year: bool = False


def local_moment(moment: dt.datetime | dt.date) -> LocalMoment:
    """A naive local datetime (or a date: its midnight) as a LocalMoment."""
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is not None:
            raise ValueError("a local moment has no offset")
        return moment.toordinal(), moment.hour * 3600 + moment.minute * 60 + moment.second
    return moment.toordinal(), 0


def _shift_year(ordinal: int, years: int) -> int | None:
    """The same month and day `years` later, or None when it does not exist (29 February)."""
    day = dt.date.fromordinal(ordinal)
    try:
        return day.replace(year=day.year + years).toordinal()
    except ValueError:
        return None


def _local_occurrences(rule: ClosureRule, first_year: int, last_year: int) -> Iterable[tuple[LocalMoment, LocalMoment]]:
    (start_ordinal, start_seconds), (end_ordinal, end_seconds) = rule.start, rule.end
    if not rule.every_year:
        yield rule.start, rule.end
        return
    base_year = dt.date.fromordinal(start_ordinal).year
    # A year earlier too: an occurrence that starts in December reaches into January.
    for year in range(first_year - 1, last_year + 1):
        shifted_start = _shift_year(start_ordinal, year - base_year)
        shifted_end = _shift_year(end_ordinal, year - base_year)
        if shifted_start is None or shifted_end is None:
            continue
        yield (shifted_start, start_seconds), (shifted_end, end_seconds)


def closure_intervals(rules: Sequence[ClosureRule], zone_name: str, start: int, end: int) -> list[Interval]:
    """The store's closures within [start, end) as merged UTC intervals."""
    if end <= start or not rules:
        return []
    return list(_closure_intervals_shared(tuple(rules), zone_name, start, end))


@lru_cache(maxsize=4096)
def _closure_intervals_shared(rules: tuple[ClosureRule, ...], zone_name: str, start: int, end: int) -> tuple[Interval, ...]:
    # A chain's holidays are the same for its stores in one zone: resolved once per report.
    store_zone = zone(zone_name)
    first_year = from_micros(start).astimezone(store_zone).year
    last_year = from_micros(end).astimezone(store_zone).year
    pieces: list[Interval] = []
    for rule in rules:
        if not rule.local:
            occurrences = [(rule.start, rule.end)]
        else:
            occurrences = [
                (local_to_micros(zone_name, *local_start), local_to_micros(zone_name, *local_end))
                for local_start, local_end in _local_occurrences(rule, first_year, last_year)
            ]
        for s, e in occurrences:
            s = s if s > start else start
            e = e if e < end else end
            if s < e:
                pieces.append((s, e))
    return tuple(merge(pieces))


# --------------------------------------------------------------------------
# Closures as written (the API, the admin, import_closures)
# --------------------------------------------------------------------------

# A closure may be at most this long (a year, with 29 February).
LONGEST = dt.timedelta(days=366)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$", re.ASCII)
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$", re.ASCII)


class PeriodInvalid(ValueError):
    """A closure's period that cannot be used; `code` says why, the message how."""

    def __init__(self, message: str, code: str = "invalid", field: str = "end") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class ClosurePeriod(NamedTuple):
    """A closure's period, read: local moments (naive datetimes, end
    exclusive; `whole_days` when given as dates) or aware instants."""

    local: bool
    start: dt.datetime
    end: dt.datetime
    whole_days: bool = False


def _form(text: object, field: str) -> str:
    if not isinstance(text, str):
        raise PeriodInvalid("Expected a date (YYYY-MM-DD), a local time (YYYY-MM-DDTHH:MM[:SS]) or an instant with Z or an offset.", field=field)
    if _DATE.match(text):
        return "date"
    if _LOCAL.match(text):
        return "local"
    if _INSTANT.match(text):
        return "instant"
    raise PeriodInvalid(
        f"{text!r} is not a date (YYYY-MM-DD), a local time (YYYY-MM-DDTHH:MM[:SS]) or an instant with Z or an offset.",
        field=field,
    )


def closure_period(start: object, end: object, *, every_year: bool = False) -> ClosurePeriod:
    """Read a closure's start and end as written. Both in one form: dates
    (the end day included), local times without an offset (end excluded),
    or instants with Z or an offset (end excluded). PeriodInvalid otherwise,
    for an end not after the start, a closure over 366 days, or every_year
    with instants."""
    start_form, end_form = _form(start, "start"), _form(end, "end")
    if start_form != end_form:
        names = {"date": "date", "local": "local time", "instant": "instant"}
        raise PeriodInvalid(
            f"start is a {names[start_form]} and end a {names[end_form]}: give both in one form.",
            code="closure_forms_differ",
        )
    try:
        if start_form == "date":
            first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
            period = ClosurePeriod(True, dt.datetime.combine(first, dt.time()), dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1), True)
            if last < first:
                raise PeriodInvalid("end is before start (a date's end is the last day closed).", code="end_before_start")
        else:
            begin = dt.datetime.fromisoformat(start)
            finish = dt.datetime.fromisoformat(end)
            period = ClosurePeriod(start_form == "local", begin, finish)
            if finish <= begin:
                raise PeriodInvalid("end must be after start.", code="end_before_start")
    except ValueError as exc:
        if isinstance(exc, PeriodInvalid):
            raise
        raise PeriodInvalid(f"Not a valid date or time: {exc}.") from None
    if period.end - period.start > LONGEST:
        raise PeriodInvalid("A closure may last at most 366 days.", code="closure_too_long")
    if every_year and not period.local:
        raise PeriodInvalid(
            "every_year repeats local dates: give start and end as dates or local times, without an offset.",
            code="every_year_needs_local_time",
            field="every_year",
        )
    if not period.local and period.start.year < 1970:
        raise PeriodInvalid("Before 1970.", field="start")
    return period


def closure_rule(period: ClosurePeriod, every_year: bool = False) -> ClosureRule:
    """The engine's form of a period."""
    if period.local:
        return ClosureRule(True, local_moment(period.start), local_moment(period.end), every_year)
    return ClosureRule(False, to_micros(period.start), to_micros(period.end))
