"""Importing the Loop files: formats, bad rows by line number, idempotence, and exactly the
spans that posting the same polls one by one through the API gives."""
import datetime as dt
import io
import random
import re

import pytest
from django.core.management import call_command

from stores.loop_import import import_hours, import_status, import_timezones
from stores.models import BusinessHours, Store, StatusSpan
from stores.tests.factories import StoreFactory, organization_of

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


def write(path, text: str, *, bom: bool = False) -> str:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def spans_of(store_id: str) -> list[tuple]:
    return list(
        StatusSpan.objects.filter(store__store_id=store_id)
        .order_by("first_poll_at")
        .values_list("status", "first_poll_at", "last_poll_at", "poll_count")
    )


def test_timezones_create_and_update_stores(tmp_path, owner):
    StoreFactory(store_id="8139926242460185114", timezone="UTC")
    path = write(
        tmp_path / "timezones.csv",
        "store_id,timezone_str\n8139926242460185114,Asia/Beirut\n5415949628544298339,America/Boise\n"
        "1,Mars/Olympus\n,UTC\n",
    )
    summary = import_timezones(organization=organization_of(owner), path=path)
    assert (summary.read, summary.created, summary.updated, summary.refused) == (4, 1, 1, 2)
    assert [line for line, _ in summary.errors] == [4, 5]
    assert "Mars/Olympus" in summary.errors[0][1]
    assert Store.objects.get(store_id="8139926242460185114").timezone == "Asia/Beirut"
    assert Store.objects.get(store_id="5415949628544298339").organization == organization_of(owner)


@pytest.mark.parametrize("day_column", ["day", "dayOfWeek"])
def test_hours_with_either_day_column_and_a_bom(tmp_path, owner, day_column):
    path = write(
        tmp_path / "menu_hours.csv",
        f"store_id,{day_column},start_time_local,end_time_local\n"
        "a1b2c3d4-0000-4000-8000-000000000001,0,09:00:00,17:00:00\n"
        "a1b2c3d4-0000-4000-8000-000000000001,0,18:00:00,23:59:59\n"
        "a1b2c3d4-0000-4000-8000-000000000001,7,09:00:00,17:00:00\n"
        "a1b2c3d4-0000-4000-8000-000000000001,1,25:00:00,17:00:00\n",
        bom=True,
    )
    summary = import_hours(organization=organization_of(owner), path=path)
    assert (summary.read, summary.created, summary.refused) == (4, 1, 2)
    assert [line for line, _ in summary.errors] == [4, 5]
    store = Store.objects.get(store_id="a1b2c3d4-0000-4000-8000-000000000001")
    assert store.timezone == "America/Chicago"
    assert list(store.business_hours.values_list("day_of_week", "start_time_local", "end_time_local")) == [
        (0, dt.time(9), dt.time(17)),
        (0, dt.time(18), dt.time(23, 59, 59)),
    ]
    # Importing again replaces the store's hours instead of adding to them.
    import_hours(organization=organization_of(owner), path=path)
    assert BusinessHours.objects.filter(store=store).count() == 2


def random_polls(seed: int) -> list[tuple[str, dt.datetime, str]]:
    """Two stores, hourly-ish polls with outages and long silences, 2 to 6 fraction digits."""
    rng = random.Random(seed)
    polls = []
    for store_id in ("101", "202"):
        at = dt.datetime(2023, 1, 18, tzinfo=UTC)
        for _ in range(80):
            at += dt.timedelta(minutes=rng.choice([30, 55, 60, 61, 119, 120, 121, 300]), microseconds=rng.randint(0, 999_999))
            polls.append((store_id, at, "inactive" if rng.random() < 0.15 else "active"))
    return polls


def loop_text(polls) -> str:
    lines = ["store_id,status,timestamp_utc"]
    for index, (store_id, at, status) in enumerate(polls):
        digits = 2 + index % 5  # 2 to 6 fraction digits, truncated as in the Loop files
        fraction = f"{at.microsecond:06d}"[:digits]
        lines.append(f"{store_id},{status},{at:%Y-%m-%d %H:%M:%S}.{fraction} UTC")
    return "\n".join(lines) + "\n"


def truncated(at: dt.datetime, digits: int) -> dt.datetime:
    return at.replace(microsecond=int(f"{at.microsecond:06d}"[:digits].ljust(6, "0")))


def test_import_gives_exactly_the_spans_of_posting_polls_one_by_one(tmp_path, owner, api):
    polls = random_polls(seed=3)
    shuffled = polls[:]
    random.Random(1).shuffle(shuffled)  # the importer orders polls per store itself
    import_status(organization=organization_of(owner), path=write(tmp_path / "store_status.csv", loop_text(shuffled)))
    imported = {store_id: spans_of(store_id) for store_id in ("101", "202")}

    StatusSpan.objects.all().delete()
    Store.objects.all().delete()
    for store_id in ("101", "202"):
        assert api.post("/register_store", {"store_id": store_id}, format="json").status_code == 201
    # The same instants as the file gives them (its fraction digits), in time order.
    posted = sorted(
        (store_id, truncated(at, 2 + index % 5), status) for index, (store_id, at, status) in enumerate(shuffled)
    )
    for store_id, at, status in posted:
        response = api.post("/poll", {"id": store_id, "utc_timestamp": at.isoformat(), "status": status}, format="json")
        assert response.status_code == 201, response.json()
    assert {store_id: spans_of(store_id) for store_id in ("101", "202")} == imported
    assert sum(count for spans in imported.values() for *_, count in spans) == len(polls)


def test_import_after_posted_polls_extends_their_spans_as_posting_would(tmp_path, owner, api):
    """Stores that have spans already: the import skips what is not newer than
    each store's latest poll and extends the open span, as /poll would."""
    polls = sorted(random_polls(seed=4))
    for store_id in ("101", "202"):
        assert api.post("/register_store", {"store_id": store_id}, format="json").status_code == 201

    def post(selected) -> None:
        for store_id, at, status in selected:
            response = api.post("/poll", {"id": store_id, "utc_timestamp": at.isoformat(), "status": status}, format="json")
            assert response.status_code == 201, response.json()

    post(polls[:50] + polls[80:130])  # the first 50 polls of each store
    # The file holds every poll, in full microseconds: the posted ones again, then the rest.
    text = "store_id,status,timestamp_utc\n" + "".join(
        f"{store_id},{status},{at:%Y-%m-%d %H:%M:%S.%f} UTC\n" for store_id, at, status in reversed(polls)
    )
    summary = import_status(organization=organization_of(owner), path=write(tmp_path / "store_status.csv", text))
    assert (summary.created, summary.recorded, summary.skipped) == (0, 60, 100)
    imported = {store_id: spans_of(store_id) for store_id in ("101", "202")}

    StatusSpan.objects.all().delete()
    Store.objects.update(last_poll_at=None, last_status="")
    post(polls)
    assert {store_id: spans_of(store_id) for store_id in ("101", "202")} == imported
    assert Store.objects.get(store_id="101").last_poll_at == polls[79][1]


def test_a_status_file_with_a_byte_order_mark(tmp_path, owner):
    """As the public Loop 2024 status file starts: the mark is not part of the first column's name."""
    path = write(
        tmp_path / "store_status.csv",
        "store_id,status,timestamp_utc\n7,active,2024-10-03 23:33:20.412748 UTC\n7,inactive,2024-10-04 00:33:20 UTC\n",
        bom=True,
    )
    summary = import_status(organization=organization_of(owner), path=path)
    assert (summary.read, summary.refused, summary.recorded) == (2, 0, 2)
    assert [span[0] for span in spans_of("7")] == ["active", "inactive"]


def test_a_status_file_without_the_needed_columns_is_refused_whole(tmp_path, owner):
    path = write(tmp_path / "store_status.csv", "store_id,state,when\n1,active,2023-01-22 12:00:00 UTC\n")
    summary = import_status(organization=organization_of(owner), path=path)
    assert (summary.read, summary.refused, summary.recorded) == (0, 1, 0)
    assert "store_id, status and timestamp_utc" in summary.errors[0][1]
    assert not Store.objects.exists()


def test_importing_twice_changes_nothing(tmp_path, owner):
    path = write(tmp_path / "store_status.csv", loop_text(random_polls(seed=5)))
    first = import_status(organization=organization_of(owner), path=path)
    assert (first.created, first.recorded, first.skipped) == (2, 160, 0)
    before = {store_id: spans_of(store_id) for store_id in ("101", "202")}
    second = import_status(organization=organization_of(owner), path=path)
    assert (second.created, second.recorded, second.skipped) == (0, 0, 160)
    assert {store_id: spans_of(store_id) for store_id in ("101", "202")} == before


def test_bad_poll_rows_are_reported_by_line_and_the_rest_imported(tmp_path, owner):
    path = write(
        tmp_path / "store_status.csv",
        "store_id,status,timestamp_utc\n"
        "1,active,2023-01-22 12:09:39.388884 UTC\n"
        "1,sleeping,2023-01-22 13:09:39.38 UTC\n"
        "1,active,yesterday\n"
        ",active,2023-01-22 14:09:39 UTC\n"
        "1,inactive,2023-01-22 15:09:39.1 UTC\n",
    )
    summary = import_status(organization=organization_of(owner), path=path)
    assert (summary.read, summary.refused, summary.recorded) == (5, 3, 2)
    assert [line for line, _ in summary.errors] == [3, 4, 5]
    assert [span[0] for span in spans_of("1")] == ["active", "inactive"]


def test_command_imports_all_three_files_and_summarises(tmp_path, owner, capsys):
    timezones = write(tmp_path / "timezones.csv", "store_id,timezone_str\n7,Asia/Kolkata\n")
    hours = write(tmp_path / "menu_hours.csv", "store_id,day,start_time_local,end_time_local\n7,0,10:00:00,22:00:00\n8,1,x,y\n")
    status = write(tmp_path / "store_status.csv", "store_id,status,timestamp_utc\n7,active,2023-01-22 12:00:00 UTC\n9,active,2023-01-22 12:00:00 UTC\n")
    call_command("import_loop", "--timezones", str(timezones), "--hours", str(hours), "--status", str(status), "--organization", organization_of(owner).name)
    out = capsys.readouterr().out
    assert "timezones: 1 rows read, 1 stores created" in out
    assert "hours: 2 rows read, 0 stores created, 1 updated, 0 skipped, 1 refused" in out
    assert "line 3:" in out
    assert "status: 2 rows read, 1 stores created, 0 updated, 2 polls recorded, 0 skipped, 0 refused" in out
    assert Store.objects.get(store_id="7").timezone == "Asia/Kolkata"
    store_9 = Store.objects.get(store_id="9")
    assert store_9.timezone == "America/Chicago" and not store_9.business_hours.exists()


def test_import_in_small_store_groups_gives_the_same_spans(tmp_path, owner, monkeypatch):
    path = write(tmp_path / "store_status.csv", loop_text(random_polls(seed=6)))
    import_status(organization=organization_of(owner), path=path)
    whole = {store_id: spans_of(store_id) for store_id in ("101", "202")}
    StatusSpan.objects.all().delete()
    Store.objects.all().delete()
    # One store per transaction: groups are cut by store count as well as by polls.
    monkeypatch.setattr("stores.loop_import.STORE_BATCH", 1)
    summary = import_status(organization=organization_of(owner), path=path)
    assert summary.recorded == 160
    assert {store_id: spans_of(store_id) for store_id in ("101", "202")} == whole


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_command_draws_a_progress_bar_of_the_rows_only_on_a_terminal(tmp_path, owner, capsys):
    status = write(tmp_path / "store_status.csv", "store_id,status,timestamp_utc\n7,active,2023-01-22 12:00:00 UTC\n9,active,2023-01-22 12:00:00 UTC\n")
    command = ("import_loop", "--status", str(status), "--organization", organization_of(owner).name)
    # Not a terminal (a log file, cron, CI): the summary, and not a character more.
    call_command(*command)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == "status: 2 rows read, 2 stores created, 0 updated, 2 polls recorded, 0 skipped, 0 refused\n"

    terminal = FakeTerminal()
    out = io.StringIO()
    call_command(*command, stdout=out, stderr=terminal)
    bar = terminal.getvalue()
    assert "\r" in bar and "status: 100%" in bar and "2/2" in bar and "rows/s" in bar
    assert re.search(r"<\d\d:\d\d", bar)  # the time left
    assert out.getvalue() == "status: 2 rows read, 0 stores created, 0 updated, 0 polls recorded, 2 skipped, 0 refused\n"
