"""Parsing of the text forms devices and the Loop files use for store ids and times."""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from reports import uptime

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
    return (dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL) * uptime.DAY


def parse_utc_micros(text: str) -> int:
    """parse_utc_timestamp's instant as microseconds since the epoch, about
    ten times faster on the Loop form (the bulk import parses millions)."""
    match = _LOOP_TIMESTAMP.match(text) if isinstance(text, str) else None
    if match is None:
        return uptime.to_micros(parse_utc_timestamp(text))
    year, month, day, hour, minute, second, fraction = match.groups()
    hour, minute, second = int(hour), int(minute), int(second)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("not a valid date and time: hours run 00-23, minutes and seconds 00-59")
    try:
        day_start = _day_micros(int(year), int(month), int(day))
    except ValueError as exc:
        raise ValueError(f"not a valid date and time: {exc}") from None
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return day_start + (hour * 3600 + minute * 60 + second) * uptime.SECOND + micro


def parse_local_time(text: str) -> tuple[dt.time, bool]:
    """A schedule time "HH:MM" or "HH:MM:SS"; "24:00" is accepted as the
    midnight ending the day. Returns the time (24:00 as 00:00) and whether it
    was written as 24:00."""
    if not isinstance(text, str):
        raise ValueError("expected a time string such as 09:30 or 23:59:59")
    match = _LOCAL_TIME.match(text.strip())
    if not match:
        raise ValueError("expected a time such as 09:30 or 23:59:59")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if (hour, minute, second) == (24, 0, 0):
        return dt.time(0, 0), True
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("hours run 00-23 (or 24:00), minutes and seconds 00-59")
    return dt.time(hour, minute, second), False


# Store.store_id's max_length.
STORE_ID_MAX_LENGTH = 64


def clean_store_id(value: Any) -> str:
    """A store id is a string of 1 to 64 characters (no NUL, no unpaired surrogate); a JSON
    integer is taken as its decimal text."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be a string or an integer")
    text = str(value)
    if not text.strip():
        raise ValueError("must not be empty")
    if len(text) > STORE_ID_MAX_LENGTH:
        raise ValueError(f"must be at most {STORE_ID_MAX_LENGTH} characters")
    # Neither database takes these: a lone surrogate (JSON's "\ud800") is not
    # UTF-8 at all, and PostgreSQL text cannot hold NUL.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain surrogate characters (unpaired \\uD800-\\uDFFF)") from None
    return text
