"""Instants: the timestamp forms devices and the Loop files use (core/instants.py)."""
import datetime as dt

import pytest

from core import instants
from core.instants import parse_utc_micros, parse_utc_timestamp

UTC = dt.timezone.utc


# --------------------------------------------------------------------------
# parse_utc_timestamp
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-22T12:09:39Z", dt.datetime(2023, 1, 22, 12, 9, 39, tzinfo=UTC)),
        ("2023-01-22T12:09:39.388884Z", dt.datetime(2023, 1, 22, 12, 9, 39, 388884, tzinfo=UTC)),
        ("2023-01-22T12:09:39+00:00", dt.datetime(2023, 1, 22, 12, 9, 39, tzinfo=UTC)),
        # An offset is converted to UTC.
        ("2023-01-22T12:09:39+05:30", dt.datetime(2023, 1, 22, 6, 39, 39, tzinfo=UTC)),
        ("2023-01-22T12:09:39-06:00", dt.datetime(2023, 1, 22, 18, 9, 39, tzinfo=UTC)),
        ("2023-01-22T23:30:00-02:00", dt.datetime(2023, 1, 23, 1, 30, tzinfo=UTC)),
        # No offset means UTC.
        ("2023-01-22T12:09:39", dt.datetime(2023, 1, 22, 12, 9, 39, tzinfo=UTC)),
        ("2023-01-22 12:09:39", dt.datetime(2023, 1, 22, 12, 9, 39, tzinfo=UTC)),
        # ISO 8601's basic format, down to the hour alone: an instant, not a date.
        ("20230122T120939Z", dt.datetime(2023, 1, 22, 12, 9, 39, tzinfo=UTC)),
        ("20230122T12", dt.datetime(2023, 1, 22, 12, tzinfo=UTC)),
        # Surrounding blanks are ignored.
        ("  2023-01-22T12:09:39Z\n", dt.datetime(2023, 1, 22, 12, 9, 39, tzinfo=UTC)),
    ],
)
def test_iso_timestamps(text, expected):
    parsed = parse_utc_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("fraction", "micro"),
    [
        ("", 0),
        (".3", 300000),
        (".38", 380000),
        (".388", 388000),
        (".3888", 388800),
        (".38888", 388880),
        (".388884", 388884),
        (".000001", 1),
    ],
)
def test_loop_form_with_0_to_6_fraction_digits(fraction, micro):
    parsed = parse_utc_timestamp(f"2023-01-22 12:09:39{fraction} UTC")
    assert parsed == dt.datetime(2023, 1, 22, 12, 9, 39, micro, tzinfo=UTC)
    assert parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yesterday",
        "2023-01-22",  # a date alone is not an instant
        "2023-01-22 UTC",
        "2023-01-22 12:09:39.1234567 UTC",  # 7 fraction digits
        "2023-01-22 12:09:39. UTC",
        "2023-01-22 12:09:39.388884 PST",
        "2023-01-22 12:09:39 utc ",  # the Loop suffix is upper case
        "2023-02-30 12:09:39 UTC",  # no such date
        "2023-01-22 25:00:00 UTC",
        "2023-01-22 12:60:00 UTC",
        "2023-02-30T12:09:39Z",
        "2023-01-22T25:00:00Z",
        "2023-01-22T12:09:39+25:00",
        "22/01/2023 12:09:39",
        "1674389379",
        # Valid text, but the instant is outside what a UTC datetime can hold.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_bad_timestamps(text):
    with pytest.raises(ValueError):
        parse_utc_timestamp(text)


@pytest.mark.parametrize("value", [None, 1674389379, 1674389379.5, ["2023-01-22T12:09:39Z"], {}])
def test_timestamp_must_be_a_string(value):
    with pytest.raises(ValueError, match="expected a timestamp string"):
        parse_utc_timestamp(value)


def test_bad_timestamp_error_says_what_is_expected():
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_utc_timestamp("not a time")
    with pytest.raises(ValueError, match="date alone"):
        parse_utc_timestamp("2023-01-22")
    with pytest.raises(ValueError, match="not a valid date"):
        parse_utc_timestamp("2023-02-30 12:00:00 UTC")


@pytest.mark.parametrize(
    "text", ["٢٠٢٣-01-22 12:09:39 UTC", "2023-01-22 ١٢:09:39 UTC", "2023-01-22 12:09:39.٣٨٨ UTC"]
)
def test_timestamps_take_ascii_digits_only(text):
    with pytest.raises(ValueError):
        parse_utc_timestamp(text)


@pytest.mark.parametrize(
    "text",
    [
        "2023-01-22 12:09:39.388884 UTC",
        "2023-01-22 12:09:39.38 UTC",
        "2023-01-22 12:09:39 UTC",
        "1969-12-31 23:59:59.5 UTC",
        "2024-02-29 23:59:59.999999 UTC",
        "2023-01-22T12:09:39+05:30",
        " 2023-01-22 12:09:39 UTC ",
    ],
)
def test_parse_utc_micros_is_parse_utc_timestamp_in_microseconds(text):
    assert parse_utc_micros(text) == instants.to_micros(parse_utc_timestamp(text))


@pytest.mark.parametrize(
    "text", ["2023-02-29 12:00:00 UTC", "2023-01-22 24:00:00 UTC", "2023-01-22 12:60:00 UTC", "2023-01-22 12:00:60 UTC", "", "x"]
)
def test_parse_utc_micros_refuses_what_parse_utc_timestamp_refuses(text):
    with pytest.raises(ValueError):
        parse_utc_timestamp(text)
    with pytest.raises(ValueError):
        parse_utc_micros(text)
