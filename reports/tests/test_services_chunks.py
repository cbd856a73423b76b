"""Reports computed in chunks (reports/services.py): the same CSV whatever the
chunk size, chunks delivered twice, workers that die, chunks that keep failing.

The immediate task backend runs each chunk's task inline when it is queued;
a worker "dying" is a BaseException the chunk code does not catch (as
SIGKILL gives it no chance to), leaving its chunk running with a lease.
"""
import datetime as dt
import io
import random
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from reports import services as report_services

from reports.models import ChunkState, Report, ReportChunk, ReportStatus
from reports.services import chunk_sizes_of_tail, chunk_store_pks, report_chunk_run, report_generate, report_trigger, reports_sweep
from stores.models import PollStatus, Store
from stores.tests.factories import BusinessHoursFactory, StatusSpanFactory, StoreFactory, organization_of

from .test_services import HEADER, csv_text

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
AS_OF = dt.datetime(2024, 3, 12, 15, tzinfo=UTC)  # two days after the US spring forward
# Code point order differs from most collations': digits, upper case, lower case, accents.
STORE_IDS = ["b", "a", "B", "10", "9", "é", "a-2", "a_1", "Z"]
ZONES = ["America/Chicago", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


class WorkerKilled(BaseException):
    """What SIGKILL looks like from inside: nothing is caught, nothing cleaned up."""


@pytest.fixture
def stores(owner):
    """Nine stores with mixed zones, hours (overnight, closed days) and spans
    (up, down, stale gaps, one never polled), seeded."""
    rng = random.Random(4)
    for n, store_id in enumerate(STORE_IDS):
        store = StoreFactory(owner=owner, store_id=store_id, timezone=ZONES[n % len(ZONES)])
        for day in rng.sample(range(7), rng.randrange(0, 7)):
            if rng.random() < 0.2:
                BusinessHoursFactory(
                    store=store, day_of_week=day, start_time_local=None, end_time_local=None, closed=True
                )
            else:
                start = dt.time(rng.randrange(24), rng.choice([0, 30]))
                end = dt.time(rng.randrange(24), rng.choice([0, 30, 59]))
                BusinessHoursFactory(store=store, day_of_week=day, start_time_local=start, end_time_local=end)
        if store_id == "Z":
            continue  # never polled: zeros
        at = AS_OF - dt.timedelta(days=8, minutes=rng.randrange(600))
        while at < AS_OF + dt.timedelta(hours=2):  # a few spans after as_of too: ignored
            length = dt.timedelta(minutes=rng.randrange(0, 600))
            status = PollStatus.ACTIVE if rng.random() < 0.7 else PollStatus.INACTIVE
            StatusSpanFactory(store=store, status=status, first_poll_at=at, last_poll_at=at + length)
            at += length + dt.timedelta(minutes=rng.randrange(1, 240))


def generate(owner) -> Report:
    report = Report.objects.create(requested_by=owner, as_of=AS_OF)
    return report_generate(report_id=report.id)


@pytest.fixture
def one_chunk_csv(owner, stores, settings) -> str:
    """The report computed in one chunk: what every chunking must give."""
    settings.MONITOR_REPORT_CHUNK_SIZE = 1000
    report = generate(owner)
    assert report.status == ReportStatus.COMPLETE
    text = csv_text(report)
    assert text.startswith(HEADER + "\r\n") and text.count("\n") == len(STORE_IDS) + 1
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == sorted(STORE_IDS)
    return text


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Chunk tasks are recorded instead of run: the test delivers them."""
    chunk_ids: list[int] = []
    monkeypatch.setattr(report_services, "report_chunk_run_task", SimpleNamespace(enqueue=chunk_ids.append))
    return chunk_ids


def kill_worker_in(monkeypatch, *, chunk_index: int, times: int | None = None) -> list[int]:
    """Make the worker computing chunk `chunk_index` die, `times` times (None: always)."""
    compute = report_services._chunk_rows
    deaths: list[int] = []

    def dying(claimed):
        index = ReportChunk.objects.get(pk=claimed.pk).index
        if index == chunk_index and (times is None or len(deaths) < times):
            deaths.append(claimed.attempt)
            raise WorkerKilled
        return compute(claimed)

    monkeypatch.setattr(report_services, "_chunk_rows", dying)
    return deaths


def after_lease(settings, now=None) -> dt.datetime:
    return (now or timezone.now()) + dt.timedelta(seconds=settings.MONITOR_REPORT_CHUNK_LEASE_SECONDS + 1)


# --------------------------------------------------------------------------
# Chunking gives the same file
# --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 5, 8, 9])
def test_chunked_report_is_the_one_chunk_report(owner, one_chunk_csv, settings, chunk_size):
    settings.MONITOR_REPORT_CHUNK_SIZE = chunk_size
    report = generate(owner)
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == one_chunk_csv  # byte for byte
    assert report.stores_total == report.stores_done == len(STORE_IDS)
    assert not ReportChunk.objects.exists()


def test_progress_counts_the_stores_of_done_chunks(owner, stores, settings, queued):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    report = generate(owner)
    assert (report.status, report.stores_done, report.stores_total) == (ReportStatus.RUNNING, 0, 9)
    assert list(ReportChunk.objects.values_list("index", "state")) == [(i, ChunkState.PENDING) for i in range(3)]
    # The last two chunks' worth (5 stores) cut in halves: chunk_sizes_of_tail.
    assert [len(c.store_pks) for c in ReportChunk.objects.order_by("index")] == [4, 3, 2]

    done = []
    for chunk_id in reversed(queued):  # in any order
        report_chunk_run(chunk_id=chunk_id)
        report.refresh_from_db()
        done.append(report.stores_done)
    assert done == [2, 5, 9]
    assert report.status == ReportStatus.COMPLETE


@pytest.mark.parametrize(
    ("count", "size", "sizes"),
    [
        # The 13,584 Loop stores in chunks of 2,000: 5 full chunks, then 3,584 in halves.
        (3_584, 2_000, [1_792, 896, 896]),
        # In chunks of 4,000 (the default): 2 full chunks, then 5,584 in halves.
        (5_584, 4_000, [2_792, 1_396, 1_396]),
        (4_000, 2_000, [2_000, 1_000, 1_000]),
        (2_001, 2_000, [1_001, 1_000]),
        (2_000, 2_000, [2_000]),  # one chunk stays one chunk
        (1, 2_000, [1]),
        (0, 2_000, []),
        (2, 1, [1, 1]),
    ],
)
def test_the_last_chunks_of_a_report_are_cut_in_halves(count, size, sizes):
    assert chunk_sizes_of_tail(count, size) == sizes


def test_the_13584_loop_stores_are_planned_as_five_full_chunks_then_halves():
    chunks = list(chunk_store_pks(iter(range(13_584)), 2_000))

    assert [len(pks) for pks in chunks] == [2_000] * 5 + [1_792, 896, 896]
    assert [pk for pks in chunks for pk in pks] == list(range(13_584))  # every store once, in order


def test_a_store_deleted_after_planning_is_left_out(owner, one_chunk_csv, settings, queued):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    report = generate(owner)
    Store.objects.get(organization=organization_of(owner), store_id="a-2").delete()
    for chunk_id in queued:
        report_chunk_run(chunk_id=chunk_id)
    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == "".join(line for line in one_chunk_csv.splitlines(True) if not line.startswith("a-2,"))


# --------------------------------------------------------------------------
# Duplicate delivery, one assembly
# --------------------------------------------------------------------------


def test_a_chunk_run_twice_counts_once_and_the_report_is_written_once(
    owner, one_chunk_csv, settings, queued, monkeypatch
):
    settings.MONITOR_REPORT_CHUNK_SIZE = 8  # nine stores: chunks of 5 and 4
    assemblies = []
    assemble = report_services._assemble
    monkeypatch.setattr(
        report_services, "_assemble", lambda report, *last: assemblies.append(report.pk) or assemble(report, *last)
    )
    report = generate(owner)
    first, second = queued

    assert report_chunk_run(chunk_id=first) == "done"
    assert report_chunk_run(chunk_id=first) == "skipped"
    report.refresh_from_db()
    assert report.stores_done == 5
    assert ReportChunk.objects.get(pk=first).rows.count("\n") == 5

    assert report_chunk_run(chunk_id=second) == "done, report written"
    assert report_chunk_run(chunk_id=second) == "skipped"
    assert report_chunk_run(chunk_id=first) == "skipped"
    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == one_chunk_csv
    assert assemblies == [report.pk]


def test_a_chunk_held_by_a_live_worker_is_not_run_again(owner, stores, queued):
    report = generate(owner)
    (chunk_id,) = queued
    claimed = report_services._chunk_claim(chunk_id)
    assert claimed.attempt == 1

    assert report_chunk_run(chunk_id=chunk_id) == "skipped"  # its lease runs
    assert ReportChunk.objects.get(pk=chunk_id).attempts == 1
    report.refresh_from_db()
    assert report.status == ReportStatus.RUNNING


def test_a_slow_worker_finishing_after_another_attempt_changes_nothing(owner, one_chunk_csv, queued):
    report = generate(owner)
    (chunk_id,) = queued
    slow = report_services._chunk_claim(chunk_id)
    ReportChunk.objects.filter(pk=chunk_id).update(lease_until=timezone.now() - dt.timedelta(seconds=1))

    assert report_chunk_run(chunk_id=chunk_id) == "done, report written"  # a second attempt takes it over
    rows = report_services._chunk_rows(slow)
    assert report_services._chunk_done(slow, rows) == "discarded: the report is finished"
    report.refresh_from_db()
    assert csv_text(report) == one_chunk_csv


# --------------------------------------------------------------------------
# Workers that die, chunks that fail
# --------------------------------------------------------------------------


def test_a_chunk_whose_worker_died_is_run_again_by_the_sweep(owner, one_chunk_csv, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 2
    deaths = kill_worker_in(monkeypatch, chunk_index=2, times=1)
    report = generate(owner)

    # Every other chunk is done; the dead worker's chunk is still "running", without rows.
    assert deaths == [1]
    report.refresh_from_db()
    assert (report.status, report.stores_done) == (ReportStatus.RUNNING, 7)
    lost = ReportChunk.objects.get(index=2)
    assert (lost.state, lost.attempts, lost.rows) == (ChunkState.RUNNING, 1, "")
    assert reports_sweep() == (0, 0, 0)  # its lease still runs: the worker may only be slow

    assert reports_sweep(now=after_lease(settings)) == (1, 0, 0)

    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == one_chunk_csv
    assert not ReportChunk.objects.exists()


def test_a_chunk_whose_worker_always_dies_fails_the_report(owner, stores, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    settings.MONITOR_REPORT_CHUNK_MAX_ATTEMPTS = 3
    deaths = kill_worker_in(monkeypatch, chunk_index=1)
    report = generate(owner)

    now = timezone.now()
    for attempt in (1, 2):
        now = after_lease(settings, now)
        assert reports_sweep(now=now) == (1, 0, 0)
    assert deaths == [1, 2, 3]
    assert reports_sweep(now=after_lease(settings, now)) == (0, 1, 0)

    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert report.error.startswith("Worker lost: chunk 2 of 3 was started 3 times")
    assert report.finished_at is not None
    assert not report.file
    assert not ReportChunk.objects.exists()


def test_a_chunk_that_fails_once_is_retried_at_once(owner, one_chunk_csv, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 3
    compute = report_services._chunk_rows
    failures = []

    def flaky(claimed):
        if not failures:
            failures.append(claimed.attempt)
            raise ConnectionError("database went away")
        return compute(claimed)

    monkeypatch.setattr(report_services, "_chunk_rows", flaky)
    report = generate(owner)
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == one_chunk_csv
    assert failures == [1]


def test_a_chunk_that_keeps_failing_fails_the_report_with_the_reason(owner, stores, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    settings.MONITOR_REPORT_CHUNK_MAX_ATTEMPTS = 2
    compute = report_services._chunk_rows

    def broken(claimed):
        if ReportChunk.objects.get(pk=claimed.pk).index == 2:
            raise ValueError("bad row")
        return compute(claimed)

    monkeypatch.setattr(report_services, "_chunk_rows", broken)
    report = generate(owner)
    assert report.status == ReportStatus.FAILED
    assert report.error == "ValueError: bad row (chunk 3 of 3, 2 attempts)"
    assert not report.file
    assert not ReportChunk.objects.exists()


# --------------------------------------------------------------------------
# Who sweeps
# --------------------------------------------------------------------------


def test_a_report_never_planned_is_planned_by_the_sweep(owner, one_chunk_csv, settings):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF)  # its planning task was lost
    assert reports_sweep() == (0, 0, 0)  # not yet: it may be waiting in the queue

    Report.objects.filter(pk=report.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    assert reports_sweep() == (0, 0, 1)
    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE
    assert csv_text(report) == one_chunk_csv


def test_polling_a_running_report_sweeps_it(owner, one_chunk_csv, api, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    kill_worker_in(monkeypatch, chunk_index=0, times=1)
    report = generate(owner)
    assert api.get("/get_report", {"report_id": str(report.id)}).status_code == 202

    ReportChunk.objects.filter(state=ChunkState.RUNNING).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    response = api.get("/get_report", {"report_id": str(report.id)})

    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == one_chunk_csv


def test_sweep_command(owner, stores, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    kill_worker_in(monkeypatch, chunk_index=0, times=1)
    report = generate(owner)
    ReportChunk.objects.filter(state=ChunkState.RUNNING).update(lease_until=timezone.now() - dt.timedelta(seconds=1))

    out = io.StringIO()
    call_command("reports_sweep", stdout=out)

    assert out.getvalue() == "Chunks queued again: 1; reports failed: 0; reports whose planning was queued again: 0.\n"
    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE


def test_trigger_queues_the_planning_and_a_watchdog_one_lease_later(
    owner, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DATABASE_TASKS
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        report = report_trigger(user=owner)

    tasks = {task.task_path.rsplit(".", 1)[1]: task for task in DBTaskResult.objects.all()}
    assert set(tasks) == {"report_generate_task", "report_watch_task"}
    assert tasks["report_generate_task"].args_kwargs["args"] == [str(report.id)]
    lease = dt.timedelta(seconds=settings.MONITOR_REPORT_CHUNK_LEASE_SECONDS)
    assert before + lease <= tasks["report_watch_task"].run_after <= timezone.now() + lease


def test_the_watchdog_sweeps_its_report_and_comes_back_while_it_runs(owner, stores, settings, monkeypatch):
    settings.MONITOR_REPORT_CHUNK_SIZE = 4
    kill_worker_in(monkeypatch, chunk_index=1, times=1)
    report = generate(owner)

    settings.TASKS = DATABASE_TASKS  # queued, not run: the watchdog can come back later
    report_services.report_watch(report_id=report.id)
    assert DBTaskResult.objects.get().task_path.endswith("report_watch_task")  # lease not expired: nothing to queue

    ReportChunk.objects.filter(state=ChunkState.RUNNING).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    report_services.report_watch(report_id=report.id)
    paths = sorted(task.task_path.rsplit(".", 1)[1] for task in DBTaskResult.objects.all())
    assert paths == ["report_chunk_run_task", "report_watch_task", "report_watch_task"]
    assert ReportChunk.objects.get(index=1).state == ChunkState.PENDING


def test_chunk_runs_sweep_for_lost_chunks_at_most_once_every_tenth_of_a_lease(owner, stores, settings, queued, monkeypatch):
    """A 60-second lease: a worker's chunks done 1 s apart sweep once; one
    done 6 s after that sweep sweeps again."""
    settings.MONITOR_REPORT_CHUNK_SIZE = 4  # nine stores: chunks of 4, 3 and 2
    settings.MONITOR_REPORT_CHUNK_LEASE_SECONDS = 60
    clock = [1000.0]
    monkeypatch.setattr(report_services, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(report_services, "_swept_at", -float("inf"))
    sweeps = []
    monkeypatch.setattr(report_services, "reports_sweep", lambda **kwargs: sweeps.append(clock[0]))
    report = generate(owner)
    first, second, third = queued

    assert report_chunk_run(chunk_id=first) == "done"
    clock[0] += 1
    assert report_chunk_run(chunk_id=second) == "done"
    assert sweeps == [1000.0]
    clock[0] += 5
    assert report_chunk_run(chunk_id=third) == "done, report written"
    assert sweeps == [1000.0, 1006.0]
    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE


def test_the_only_chunk_of_a_report_reads_no_other_chunks_lines(owner, stores, settings):
    """One chunk: its lines go into the files without a read of the (no) other chunks' rows."""
    settings.MONITOR_REPORT_CHUNK_SIZE = 1000
    report = Report.objects.create(requested_by=owner, as_of=AS_OF)

    with CaptureQueriesContext(connection) as queries:
        report = report_generate(report_id=report.id)

    assert report.status == ReportStatus.COMPLETE
    reads_of_lines = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SELECT") and '"rows"' in query["sql"]]
    assert reads_of_lines == []
    assert not ReportChunk.objects.filter(report=report).exists()


@pytest.mark.postgres
def test_chunk_lines_and_store_ids_are_stored_uncompressed_on_postgresql(owner):
    """They live while the report runs, written once and read once: compressing
    them cost PostgreSQL more than writing them (migration 0010)."""
    if connection.vendor != "postgresql":
        pytest.skip(f"storage options are PostgreSQL's; the database is {connection.vendor}")
    report = Report.objects.create(requested_by=owner, as_of=AS_OF)
    # Over the 2 kB from which PostgreSQL compresses a value, and as compressible as text gets.
    lines, store_pks = "1,2.00\r\n" * 2_000, [1] * 2_000
    chunk = ReportChunk.objects.create(report=report, index=0, store_pks=store_pks, rows=lines)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(rows), pg_column_size(rows), pg_column_compression(store_pks)"
            " FROM reports_reportchunk WHERE id = %s",
            [chunk.pk],
        )
        assert cursor.fetchone() == (None, len(lines), None)  # not compressed: its full length


@pytest.mark.postgres
def test_planning_reads_the_stores_in_code_point_order_through_an_index_on_postgresql(owner, stores, queued):
    """Not a sort of every store the report covers at each report (migration stores/0012)."""
    if connection.vendor != "postgresql":
        pytest.skip(f"the index is PostgreSQL's; the database is {connection.vendor}")
    report = Report.objects.create(requested_by=owner, as_of=AS_OF)
    with CaptureQueriesContext(connection) as queries:
        report_generate(report_id=report.id)
    [planning] = [query["sql"] for query in queries.captured_queries if 'COLLATE "C"' in query["sql"]]

    with connection.cursor() as cursor:
        # A few stores: a scan and a sort would cost less than the index; what
        # is asked here is whether the index can give this query's order (a
        # sort still happens, at its disabled cost, when nothing else can).
        for method in ("seqscan", "bitmapscan", "sort"):
            cursor.execute(f"SET LOCAL enable_{method} = off")
        cursor.execute(f"EXPLAIN {planning}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using stores_store_store_id_code_points" in plan, plan
    assert "Sort" not in plan, plan
