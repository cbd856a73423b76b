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


# The store id rule (docs/semantics.md, section 1): every id is safe as a URL
# path segment and as a CSV cell. The first character is a letter or digit,
# so no cell can start with a spreadsheet formula trigger (= + - @, a tab, a
# CR); nothing outside the set can break a CSV row, a path or a log line.
STORE_ID_MAX_LENGTH = 64
STORE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}"
_STORE_ID = re.compile(STORE_ID_PATTERN, re.ASCII)
_STORE_ID_CHARACTER = re.compile(r"[A-Za-z0-9._:~-]", re.ASCII)
STORE_ID_RULE = "1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit"


class InvalidStoreId(ValueError):
    """A store id outside the rule (STORE_ID_RULE); the message says the rule and what broke it."""


def is_store_id(text: str) -> bool:
    return _STORE_ID.fullmatch(text) is not None


def _store_id_fault(text: str) -> str:
    if not text:
        return "it is empty"
    if len(text) > STORE_ID_MAX_LENGTH:
        return f"it has {len(text)} characters"
    if _STORE_ID_CHARACTER.fullmatch(text[0]) is None or text[0] in "._:~-":
        return f"it starts with {text[0]!r}"
    bad = next(char for char in text if _STORE_ID_CHARACTER.fullmatch(char) is None)
    return f"it contains {bad!r}"


def clean_store_id(value: Any) -> str:
    """A store id by the rule: a string, or a JSON integer taken as its decimal
    text. ValueError for another type; InvalidStoreId for an id outside the rule."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("must be a string or an integer")
    text = str(value)
    if _STORE_ID.fullmatch(text) is None:
        raise InvalidStoreId(f"must be {STORE_ID_RULE} ({_store_id_fault(text)})")
    return text


def store_id_suggestion(text: str, *, taken: set[str]) -> str:
    """An id within the rule for an id outside it, unlike every id in `taken`:
    characters outside the set become "_", an id not starting with a letter or
    digit gets an "s" in front, and "~2", "~3"... tell clashes apart."""
    cleaned = "".join(char if _STORE_ID_CHARACTER.fullmatch(char) else "_" for char in text)
    if not cleaned or not cleaned[0].isascii() or not cleaned[0].isalnum():
        cleaned = "s" + cleaned
    cleaned = cleaned[:STORE_ID_MAX_LENGTH]
    candidate, number = cleaned, 1
    while candidate in taken:
        number += 1
        suffix = f"~{number}"
        candidate = cleaned[: STORE_ID_MAX_LENGTH - len(suffix)] + suffix
    return candidate
