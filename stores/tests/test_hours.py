"""The rules of a written schedule (stores/hours.py): times, entries, whole weeks."""
import datetime as dt

import pytest

from stores.hours import HoursInput, local_time, parse_local_time, week_problems, week_representation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00", (dt.time(0, 0), False)),
        ("09:30", (dt.time(9, 30), False)),
        ("9:30", (dt.time(9, 30), False)),
        ("17:00:00", (dt.time(17, 0), False)),
        ("23:59", (dt.time(23, 59), False)),
        ("23:59:59", (dt.time(23, 59, 59), False)),
        (" 08:15:05 ", (dt.time(8, 15, 5), False)),
        # Fractions of a second are accepted and dropped.
        ("12:30:00.5", (dt.time(12, 30), False)),
        # 24:00 is the midnight ending the day: returned as 00:00, flagged.
        ("24:00", (dt.time(0, 0), True)),
        ("24:00:00", (dt.time(0, 0), True)),
    ],
)
def test_local_times(text, expected):
    assert parse_local_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "25:00",
        "24:01",
        "24:00:01",
        "12:60",
        "12:30:60",
        "23:59:99",
        "",
        "noon",
        "9",
        "930",
        "12:5",
        "123:00",
        "-1:00",
        "12:00 PM",
        "12.30",
    ],
)
def test_bad_local_times(text):
    with pytest.raises(ValueError):
        parse_local_time(text)


@pytest.mark.parametrize("text", ["24:01", "24:30", "12:60", "12:30:60", "25:00"])
def test_times_out_of_range_say_the_ranges(text):
    with pytest.raises(ValueError, match=r"^hours run 00-23 \(or 24:00\), minutes and seconds 00-59$"):
        parse_local_time(text)


@pytest.mark.parametrize("value", [None, 930, 9.5, ["09:30"]])
def test_local_time_must_be_a_string(value):
    with pytest.raises(ValueError):
        parse_local_time(value)



@pytest.mark.parametrize("text", ["٠٩:٣٠", "09:٣٠", "０９:３０"])
def test_local_times_take_ascii_digits_only(text):
    with pytest.raises(ValueError):
        parse_local_time(text)


# --------------------------------------------------------------------------
# local_time: a start or an end
# --------------------------------------------------------------------------


def test_24_00_ends_an_interval_as_00_00_and_never_starts_one():
    assert local_time("24:00", is_end=True) == dt.time(0)
    with pytest.raises(ValueError, match="24:00 can only end an interval."):
        local_time("24:00", is_end=False)
    assert local_time("00:00", is_end=False) == dt.time(0)


# --------------------------------------------------------------------------
# Entries and weeks
# --------------------------------------------------------------------------


def test_week_problems():
    nine, five = dt.time(9), dt.time(17)
    good = [HoursInput(0, nine, five), HoursInput(0, dt.time(18), dt.time(0)), HoursInput(6, closed=True)]
    assert week_problems(week=good) == []
    both = [HoursInput(1, nine, five), HoursInput(1, closed=True)]
    assert week_problems(week=both) == ["Day 1 is both closed and open."]
    assert week_problems(week=[HoursInput(2, nine, None)]) == [
        "Day 2: give a start and an end time, or mark the day closed."
    ]
    assert week_problems(week=[HoursInput(3, nine, five, closed=True)]) == [
        "Day 3: a closed day has no start or end time."
    ]
    assert week_problems(week=[HoursInput(7, nine, five)]) == ["Day 7 is not 0 (Monday) to 6 (Sunday)."]


def test_week_representation_shows_every_day_with_24_00_for_a_midnight_end():
    class Row:
        def __init__(self, day, start=None, end=None, closed=False):
            self.day_of_week, self.start_time_local, self.end_time_local, self.closed = day, start, end, closed

    rows = [Row(0, dt.time(18), dt.time(0)), Row(0, dt.time(9), dt.time(12)), Row(6, closed=True), Row(2, dt.time(0), dt.time(0))]
    days = week_representation(rows)
    assert [day["state"] for day in days] == ["open", "open_all_day", "open", "open_all_day", "open_all_day", "open_all_day", "closed"]
    assert days[0]["intervals"] == [
        {"start_time_local": "09:00:00", "end_time_local": "12:00:00"},
        {"start_time_local": "18:00:00", "end_time_local": "24:00:00"},
    ]
    # 00:00-00:00 is open 24 hours from midnight: its end is not written as 24:00.
    assert days[2]["intervals"] == [{"start_time_local": "00:00:00", "end_time_local": "00:00:00"}]

