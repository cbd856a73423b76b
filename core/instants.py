"""Instants as integers: microseconds since the Unix epoch (UTC), the units
of durations, and the text forms devices and the Loop files give instants in.

Pure Python, no Django. The engine (core.uptime) and the span rule
(core.spans) compute on these integers, so every sum is exact.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_MICROSECOND = dt.timedelta(microseconds=1)


def to_micros(instant: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: the engine takes aware (UTC) instants only")
    return (instant - EPOCH) // _ONE_MICROSECOND


def from_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


# The Loop form: "2023-01-22 12:09:39.388884 UTC", with 0 to 6 fraction digits.
# re.ASCII: \d must not match other scripts' digits.
_LOOP_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? UTC$", re.ASCII)
_LOCAL_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?$", re.ASCII)


def parse_utc_timestamp(text: str) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 (Z or an offset; no offset means UTC)
    or the Loop form. Raises ValueError with a reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a timestamp string")
    text = text.strip()
    match = _LOOP_TIMESTAMP.match(text)
    if match:
        year, month, day, hour, minute, second, fraction = match.groups()
        micro = int((fraction or "0").ljust(6, "0"))
        try:
            return dt.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=dt.timezone.utc
            )
        except ValueError as exc:
            raise ValueError(f"not a valid date and time: {exc}") from None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith("offset must be"):  # e.g. +25:00
            raise ValueError("the UTC offset must be between -23:59 and +23:59") from None
        if " must be in " in reason or " out of range " in reason:  # e.g. 25:00, February 30th
            raise ValueError(f"not a valid date and time: {reason}") from None
        raise ValueError(
            "expected ISO 8601 (e.g. 2023-01-22T12:09:39Z) or '2023-01-22 12:09:39.388884 UTC'"
        ) from None
    if len(text) <= 10:  # a bare date is not an instant
        raise ValueError("expected a date and a time, not a date alone")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.timezone.utc)
    try:
        return parsed.astimezone(dt.timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ValueError("the instant is outside the years 1 to 9999 in UTC") from None


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@lru_cache(maxsize=4096)
def _day_micros(year: int, month: int, day: int) -> int:
    # A poll file has few distinct days and millions of rows: build each date once.
    return (dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL) * DAY


def parse_utc_micros(text: str) -> int:
    """parse_utc_timestamp's instant as microseconds since the epoch, faster
    on the Loop form, which the bulk import parses by the million
    (bench/RESULTS.md)."""
    match = _LOOP_TIMESTAMP.match(text) if isinstance(text, str) else None
    if match is None:
        return to_micros(parse_utc_timestamp(text))
    year, month, day, hour, minute, second, fraction = match.groups()
    hour, minute, second = int(hour), int(minute), int(second)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("not a valid date and time: hours run 00-23, minutes and seconds 00-59")
    try:
        day_start = _day_micros(int(year), int(month), int(day))
    except ValueError as exc:
        raise ValueError(f"not a valid date and time: {exc}") from None
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return day_start + (hour * 3600 + minute * 60 + second) * SECOND + micro
