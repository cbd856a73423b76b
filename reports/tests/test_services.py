"""Report triggering and generation (reports/services.py), end to end through the database."""
import csv
import datetime as dt
import io
import re

import pytest
from django.utils import timezone

from reports import services as report_services

from core import uptime
from reports.models import Report, ReportChunk, ReportStatus
from reports.services import AsOfOutOfRange, report_generate, report_trigger
from stores.models import PollStatus, Store
from stores.hours import HoursInput
from stores.services import PollInput, polls_record, store_register
from stores.tests.factories import StatusSpanFactory, StoreFactory, organization_of

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)
ZEROS = ["0.00"] * 6
A, I = PollStatus.ACTIVE, PollStatus.INACTIVE


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def csv_text(report: Report) -> str:
    with report.file.open("rb") as handle:
        return handle.read().decode("utf-8")


def csv_rows(report: Report) -> list[list[str]]:
    text = csv_text(report)
    assert text.splitlines()[0] == HEADER
    return list(csv.reader(io.StringIO(text)))[1:]


def generate(user, as_of: dt.datetime) -> Report:
    report = Report.objects.create(requested_by=user, as_of=as_of)
    return report_generate(report_id=report.id)


def post_polls(store_id: str, *polls: tuple[dt.datetime, str]) -> None:
    outcomes = polls_record(
        polls=[PollInput(store_id, at, status) for at, status in polls], stores=Store.objects.all()
    )
    assert {outcome.http_status for outcome in outcomes} == {201}


# --------------------------------------------------------------------------
# report_trigger
# --------------------------------------------------------------------------


def test_trigger_records_a_running_report_as_of_now(owner, django_capture_on_commit_callbacks):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = report_trigger(user=owner)
    after = timezone.now()

    assert report.status == ReportStatus.RUNNING
    assert report.requested_by == owner
    assert before <= report.as_of <= after
    assert Report.objects.get(pk=report.pk).status == ReportStatus.RUNNING
    # Generation is queued only once the report row is committed.
    assert len(callbacks) == 1


def test_trigger_runs_the_generation_on_commit(owner, django_capture_on_commit_callbacks):
    StoreFactory(owner=owner, store_id="s-1")
    as_of = utc(2024, 1, 10, 20)
    with django_capture_on_commit_callbacks(execute=True):
        report = report_trigger(user=owner, as_of=as_of)

    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE
    assert report.as_of == as_of
    assert report.started_at is not None and report.finished_at is not None
    assert report.stores_total == report.stores_done == 1
    assert report.error == ""
    assert csv_rows(report) == [["s-1", *ZEROS]]


def test_trigger_as_of_in_the_future_is_refused(owner):
    with pytest.raises(AsOfOutOfRange):
        report_trigger(user=owner, as_of=timezone.now() + dt.timedelta(minutes=1))
    assert not Report.objects.exists()


def test_trigger_as_of_before_1970_is_refused(owner):
    # The first week of year 1 would have no week before it.
    for as_of in (dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.timezone.utc), dt.datetime(1, 1, 3, tzinfo=dt.timezone.utc)):
        with pytest.raises(AsOfOutOfRange):
            report_trigger(user=owner, as_of=as_of)
    assert not Report.objects.exists()


def test_trigger_as_of_now_and_as_of_1970_exactly_are_taken(owner):
    import time_machine

    with time_machine.travel("2024-01-10 12:00:00Z", tick=False):
        now = timezone.now()
        assert report_trigger(user=owner, as_of=now).as_of == now
    assert report_trigger(user=owner, as_of=dt.datetime(1970, 1, 1, tzinfo=UTC)).as_of == dt.datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------
# report_generate: the CSV
# --------------------------------------------------------------------------


@pytest.fixture
def hand_stores(owner):
    """Two stores whose figures are computed by hand below.

    hand-1, America/Chicago (UTC-6 in January), open 09:00-17:00 local
    (15:00-23:00 UTC) every day but Tuesday, which is closed. Polls (UTC):

        Thu 01-04 16:00 active, 17:00 active        span up 16:00, stale at 19:00
        Fri 01-05 22:00 inactive                    down until the next span
        Wed 01-10 15:00 active, 16:00 active        up 15:00-17:30
                  17:30 inactive, 18:30 inactive    down 17:30-19:15:20
                  19:15:20 active, 19:45 active     up 19:15:20 to as_of
                  20:00 inactive, 20:30 inactive    at or after as_of: ignored

    hand-2, Asia/Kolkata (UTC+5:30), open only on Wednesday, 00:00-23:59:59
    local, which is Tue 01-09 18:30 to Wed 01-10 18:30 UTC. Polls:

        Wed 01-10 10:00 inactive                    down 10:00-18:30 (8.5 h open)
                  18:30 active                      up, but Thursday local: closed
    """
    every_day_but_tuesday = [HoursInput(day, dt.time(9), dt.time(17)) for day in (0, 2, 3, 4, 5, 6)]
    store_register(
        organization=organization_of(owner),
        store_id="hand-1",
        timezone="America/Chicago",
        week=[*every_day_but_tuesday, HoursInput(1, closed=True)],
    )
    store_register(
        organization=organization_of(owner),
        store_id="hand-2",
        timezone="Asia/Kolkata",
        week=[
            HoursInput(2, dt.time(0), dt.time(23, 59, 59)),
            *(HoursInput(day, closed=True) for day in (0, 1, 3, 4, 5, 6)),
        ],
    )
    store_register(organization=organization_of(owner), store_id="hand-0-silent")
    post_polls(
        "hand-1",
        (utc(2024, 1, 4, 16), A),
        (utc(2024, 1, 4, 17), A),
        (utc(2024, 1, 5, 22), I),
        (utc(2024, 1, 10, 15), A),
        (utc(2024, 1, 10, 16), A),
        (utc(2024, 1, 10, 17, 30), I),
        (utc(2024, 1, 10, 18, 30), I),
        (utc(2024, 1, 10, 19, 15, 20), A),
        (utc(2024, 1, 10, 19, 45), A),
        (utc(2024, 1, 10, 20), I),
        (utc(2024, 1, 10, 20, 30), I),
    )
    post_polls("hand-2", (utc(2024, 1, 10, 10), I), (utc(2024, 1, 10, 18, 30), A))


def test_report_with_hand_computed_figures(owner, hand_stores):
    # As of Wed 2024-01-10 20:00 UTC (14:00 in Chicago). STALE_AFTER is 120 min.
    report = generate(owner, utc(2024, 1, 10, 20))

    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == (
        f"{HEADER}\r\n"
        "hand-0-silent,0.00,0.00,0.00,0.00,0.00,0.00\r\n"
        # hand-1:
        # last hour 19:00-20:00: up 19:15:20-20:00 = 44 min 40 s = 44.67 min;
        #   down 19:00-19:15:20 = 15.33 min.
        # last day (Tue 01-09 20:00 to Wed 20:00; Tuesday closed, so 15:00-20:00 Wed):
        #   up 2.5 h + 44:40 = 3.2444 h; down 17:30-19:15:20 = 1.7556 h.
        # last week (from Wed 01-03 20:00; nothing known before Thu 16:00):
        #   up Thu 16-19 (3 h) + 3.2444 h = 6.2444 h;
        #   down Thu 19-23 (4) + Fri 15-23 (8) + Sat, Sun, Mon (8 each) + Wed 1.7556 = 37.7556 h.
        "hand-1,44.67,3.24,6.24,15.33,1.76,37.76\r\n"
        # hand-2: open Tue 18:30 to Wed 18:30 UTC only: down 10:00-18:30 = 8.5 h;
        # the up time from 18:30 falls on a closed Thursday (local).
        "hand-2,0.00,0.00,0.00,0.00,8.50,8.50\r\n"
    )
    assert report.stores_total == report.stores_done == 3


def test_report_as_of_changes_the_windows(owner, hand_stores):
    # As of Wed 17:00 UTC: hand-1 last hour 16:00-17:00 is up (the 16:00 poll
    # vouches until 18:00); last day up 15:00-17:00 = 2 h; week adds Thu's 3 h;
    # down only before Wed: 36 h. hand-2: down 10:00-17:00 = 7 h.
    report = generate(owner, utc(2024, 1, 10, 17))
    assert csv_rows(report) == [
        ["hand-0-silent", *ZEROS],
        ["hand-1", "60.00", "2.00", "5.00", "0.00", "0.00", "36.00"],
        ["hand-2", "0.00", "0.00", "0.00", "60.00", "7.00", "7.00"],
    ]


def test_report_before_any_poll_is_all_zeros(owner, hand_stores):
    report = generate(owner, utc(2024, 1, 1))
    assert csv_rows(report) == [["hand-0-silent", *ZEROS], ["hand-1", *ZEROS], ["hand-2", *ZEROS]]


def test_report_contains_only_the_requesters_stores(owner, other_owner):
    StoreFactory(owner=owner, store_id="mine")
    StoreFactory(owner=other_owner, store_id="theirs")
    report = generate(owner, utc(2024, 1, 10))
    assert [row[0] for row in csv_rows(report)] == ["mine"]
    assert report.stores_total == 1


def test_superusers_report_contains_every_store(owner, other_owner, superuser):
    StoreFactory(owner=owner, store_id="mine")
    StoreFactory(owner=other_owner, store_id="theirs")
    report = generate(superuser, utc(2024, 1, 10))
    assert [row[0] for row in csv_rows(report)] == ["mine", "theirs"]


def test_report_of_a_user_without_stores_is_just_the_header(owner):
    report = generate(owner, utc(2024, 1, 10))
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == HEADER + "\r\n"
    assert report.stores_total == 0


def test_rows_are_sorted_by_store_id_as_text(owner):
    # Code point order, whatever the database's collation: digits, upper case, lower case.
    for store_id in ["b", "a", "B", "A", "9", "10", "a~1", "a_1", "a:1", "a.1", "a-1"]:
        StoreFactory(owner=owner, store_id=store_id)
    report = generate(owner, utc(2024, 1, 10))
    assert [row[0] for row in csv_rows(report)] == [
        "10", "9", "A", "B", "a", "a-1", "a.1", "a:1", "a_1", "a~1", "b"
    ]


def test_rows_from_before_the_id_rule_are_sorted_by_code_point_too(owner):
    # Sorted by the database ("C" collation on PostgreSQL, bytes on SQLite):
    # UTF-8's byte order is code point order, as Python sorts str.
    for store_id in ["é1", "z", "Z", "ä", "10", "a b"]:
        StoreFactory(owner=owner, store_id=store_id)
    report = generate(owner, utc(2024, 1, 10))
    assert [row[0] for row in csv_rows(report)] == sorted(["é1", "z", "Z", "ä", "10", "a b"])
    assert sorted(["é1", "z", "Z", "ä", "10", "a b"]) == ["10", "Z", "a b", "z", "ä", "é1"]


def test_chunks_are_planned_a_few_inserts_at_a_time_in_order(owner, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 2
    monkeypatch.setattr(report_services, "_CHUNKS_PER_INSERT", 2)
    for number in range(9):
        StoreFactory(owner=owner, store_id=f"c-{number}")
    report = generate(owner, utc(2024, 1, 10))
    assert report.stores_total == 9
    assert [row[0] for row in csv_rows(report)] == [f"c-{number}" for number in range(9)]


# What a spreadsheet reads as the start of a formula (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_no_cell_of_a_report_can_start_a_formula_or_break_a_row(owner, superuser):
    """Finding 2 of issue 9: ids such as =1+1 reached the staff's spreadsheets.
    Every cell a report writes, ids at the edges of the rule and figures of
    stores up, down and silent, is plain text: no formula trigger first, no
    line break, nothing to quote."""
    as_of = utc(2024, 1, 10, 12)
    store_ids = ["0", "9.9", "a-", "Z~_:.-", "x" * 64, "8419537941919820732", "d84a4552-3668-4075-ad1d-16840294f818"]
    for number, store_id in enumerate(store_ids):
        store_register(organization=organization_of(owner), store_id=store_id, week=[HoursInput(day, dt.time(8), dt.time(2)) for day in range(7)])
        post_polls(store_id, *[(as_of - dt.timedelta(hours=hours), (A, I)[(hours + number) % 2]) for hours in range(30, 0, -3)])
    report = generate(superuser, as_of)

    text = csv_text(report)
    lines = text.split("\r\n")
    assert lines[-1] == "" and len(lines) == len(store_ids) + 2  # CRLF ends, one line a row
    for line in lines[1:-1]:
        cells = line.split(",")
        assert len(cells) == 7 and not any('"' in cell or "\n" in cell for cell in cells)
        for cell in cells:
            assert cell and not cell.startswith(FORMULA_TRIGGERS), line
        assert all(re.fullmatch(r"[0-9]+\.[0-9]{2}", cell) for cell in cells[1:]), line
    assert sorted(line.split(",")[0] for line in lines[1:-1]) == sorted(store_ids)


def test_the_csv_writer_quotes_a_cell_holding_a_line_break():
    """The second wall, should a cell ever hold a CR or an LF: quoted, so the
    row stays one row (finding 3: a bare CR went out unquoted)."""
    out = io.StringIO()
    report_services.report_csv_writer(out).writerow(["\r=1+1", "a\nb", "1.00"])
    assert out.getvalue() == '"\r=1+1","a\nb",1.00\r\n'
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [["\r=1+1", "a\nb", "1.00"]]


def test_a_legacy_id_outside_the_rule_is_quoted_in_the_report(owner):
    """Lines are joined directly for ids by the rule; an id from before the
    rule that needs quoting still goes through the CSV writer."""
    for store_id in ("a\nb", "plain", 'q"x'):
        StoreFactory(owner=owner, store_id=store_id)
    report = generate(owner, utc(2024, 1, 10, 12))
    zeros = ",".join(ZEROS)
    assert csv_text(report) == f'{HEADER}\r\n"a\nb",{zeros}\r\nplain,{zeros}\r\n"q""x",{zeros}\r\n'
    with report.extended_file.open("rb") as handle:
        lines = handle.read().decode().split("\r\n")
    assert [line.split(",")[0] for line in lines[1:4]] == ['"a\nb"', "plain", '"q""x"']


def test_a_legacy_id_holding_a_comma_or_a_line_break_keeps_seven_columns(owner, settings):
    """An id from before the rule with a comma or a CRLF in it, quoted by the
    writer, is one cell of the seed file and of the extended file: the seed
    columns are cut from the right, past the extended figures, and the lines
    read as CSV (the comma used to shift the figures into the id's place)."""
    settings.MONITOR_REPORT_CHUNK_SIZE = 2  # chunks saved as rows, and a last one
    store_ids = ("a,b", "c\r\nd", "plain", "z,,")
    for store_id in store_ids:
        StoreFactory(owner=owner, store_id=store_id)
    report = generate(owner, utc(2024, 1, 10, 12))
    seed = list(csv.reader(io.StringIO(csv_text(report), newline="")))
    assert seed[1:] == [["a,b", *ZEROS], ["c\r\nd", *ZEROS], ["plain", *ZEROS], ["z,,", *ZEROS]]
    with report.extended_file.open("rb") as handle:
        extended = list(csv.reader(io.StringIO(handle.read().decode(), newline="")))
    assert [row[:7] for row in extended[1:]] == seed[1:]
    assert {len(row) for row in extended} == {7 + len(uptime.EXTENDED_COLUMNS)}


def test_report_is_written_in_chunks(owner, settings):
    settings.MONITOR_REPORT_CHUNK_SIZE = 2
    as_of = utc(2024, 1, 10, 12)
    for n in range(5):
        store = StoreFactory(owner=owner, store_id=f"s-{n}")
        # Up for the last 30 minutes of the window, in an always-open store.
        StatusSpanFactory(store=store, first_poll_at=as_of - dt.timedelta(minutes=30))
    report = generate(owner, as_of)
    assert report.stores_total == report.stores_done == 5
    assert csv_rows(report) == [[f"s-{n}", "30.00", "0.50", "0.50", "0.00", "0.00", "0.00"] for n in range(5)]
    assert not ReportChunk.objects.exists()  # a finished report keeps its file only


def test_generating_a_finished_report_again_does_nothing(owner):
    StoreFactory(owner=owner, store_id="s-1")
    report = generate(owner, utc(2024, 1, 10))
    StoreFactory(owner=owner, store_id="s-2")

    again = report_generate(report_id=report.id)

    assert again.status == ReportStatus.COMPLETE
    assert again.file.name == report.file.name
    assert again.finished_at == report.finished_at
    assert [row[0] for row in csv_rows(again)] == ["s-1"]


def test_generating_a_failed_report_again_does_nothing(owner):
    report = Report.objects.create(requested_by=owner, as_of=utc(2024, 1, 10), status=ReportStatus.FAILED, error="x")
    assert report_generate(report_id=report.id).status == ReportStatus.FAILED
    report.refresh_from_db()
    assert report.error == "x" and not report.file


def test_failure_marks_the_report_failed_with_the_reason(owner, monkeypatch, settings):
    settings.MONITOR_REPORT_CHUNK_MAX_ATTEMPTS = 3
    StoreFactory(owner=owner, store_id="s-1")
    calls = []

    def broken(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("engine exploded")

    monkeypatch.setattr("reports.figures.stores_uptime_array", broken)
    report = Report.objects.create(requested_by=owner, as_of=utc(2024, 1, 10))

    report = report_generate(report_id=report.id)

    assert report.status == ReportStatus.FAILED
    assert report.error == "RuntimeError: engine exploded (chunk 1 of 1, 3 attempts)"
    assert len(calls) == 3  # tried again at once, up to the last attempt
    assert report.finished_at is not None
    assert not report.file  # a report is complete or it is not
    assert not ReportChunk.objects.exists()


def test_failure_while_planning_marks_the_report_failed(owner, monkeypatch):
    def broken(report):
        raise RuntimeError("no stores for you")

    monkeypatch.setattr(report_services, "_plan", broken)
    report = Report.objects.create(requested_by=owner, as_of=utc(2024, 1, 10))

    with pytest.raises(RuntimeError):
        report_generate(report_id=report.id)

    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert report.error == "RuntimeError: no stores for you"
    assert not report.file


def test_failure_through_the_task_is_recorded(owner, monkeypatch, django_capture_on_commit_callbacks):
    StoreFactory(owner=owner, store_id="s-1")
    monkeypatch.setattr("reports.figures.stores_uptime_array", lambda **kwargs: 1 / 0)
    # The immediate task backend records the task's exception; the report says why.
    with django_capture_on_commit_callbacks(execute=True):
        report = report_trigger(user=owner, as_of=utc(2024, 1, 10))
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert report.error.startswith("ZeroDivisionError")
