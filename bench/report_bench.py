"""Benchmark of report generation: the Loop stores, and 100,000 stores, across worker processes.

Usage (from the project folder):

    .venv/bin/python bench/report_bench.py [--case loop] [--case 100k] [--stores N]
        [--workers 2] [--chunk-size N] [--worker-interval 0.1] [--runs 3]
        [--single-process] [--trace] [--profile] [--json PATH]
        [--days 8] [--seed 1] [--database-url URL] [--keep]
        [--data-dir ../shared/data/loop-2023]

Without --case or --stores it runs both standard cases, each in its own
process and database: every store of the Loop data (target: < 3 s from
trigger to CSV), and 100,000 stores (< 20 s, each worker's peak RSS
< 300 MB). --json writes the Markdown section and the targets for
bench/run.py.

What it does for a case, and why each step is there:

1. It drops and creates its own database (PostgreSQL by default), so figures
   never depend on, and never touch, a developer's data.
2. It creates the stores of the public Loop data (real timezones and business
   hours, from --data-dir) and, past that set or without it, synthetic stores.
3. It generates hourly polls for --days days ending at a fixed instant,
   compresses them into status spans with the rule of stores.services
   (cross-checked against polls_record on a few stores), and bulk loads them.
4. --runs times: it starts --workers `manage.py db_worker` processes (real
   ones, TASK_BACKEND=database), waits until they are idle, triggers a report
   with reports.services.report_trigger (as the API does) and times it until
   the report is Complete, its CSV written; then reads each worker's peak
   RSS and stops them. Fresh workers for each run: no run finds caches an
   earlier one warmed on the same data.
5. --single-process also times report_generate with every chunk inline, in
   a new process per run, with its peak RSS growth (--trace: tracemalloc
   peak; --profile: a cProfile). Each report's CSV is checked: one row per
   store, in order.
6. It prints a Markdown section with a table of the figures, and the targets.

This is not a test: it is slow, needs a database server, and measures rather
than asserts (apart from sanity checks that make a wrong figure impossible to
miss). The Loop files are read in place, never copied into the project.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import datetime as dt
import gc
import hashlib
import io
import json
import multiprocessing
import os
import pstats
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from reports.models import Report

BASE_DIR = Path(__file__).resolve().parent.parent
# Run as `python bench/report_bench.py`, sys.path[0] is bench/: the project's
# apps and settings must be importable.
sys.path.insert(0, str(BASE_DIR))
# The uptime engine is pure Python, without Django: importable before setup.
from core.instants import from_micros, to_micros
# The poll generator of `manage.py generate_polls` (hourly, ±5 min, 2 % missed, outages).
from stores.poll_generator import Poll, generate_polls, store_rng
from stores.span_compression import encode_poll, spans_apply

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/store_monitor_bench"
# The public Loop 2023 files sit beside the project, in ../shared/data/ (never committed).
DEFAULT_DATA_DIR = BASE_DIR.parent / "shared" / "data" / "loop-2023"
# The last day of the original Loop status data: a fixed instant, so two runs
# with the same seed load the same rows and compute the same report.
AS_OF = dt.datetime(2023, 1, 25, 18, 0, tzinfo=dt.timezone.utc)
# The Loop convention for a store missing from timezones.csv.
LOOP_DEFAULT_TIMEZONE = "America/Chicago"
# Synthetic stores get one of these, uniformly: US zones with and without DST,
# whole-hour and unusual rules (Phoenix, Indiana), and both oceans.
US_TIMEZONES = (
    "America/New_York",
    "America/Detroit",
    "America/Indiana/Indianapolis",
    "America/Chicago",
    "America/Denver",
    "America/Boise",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)

MICROS_PER_SECOND = 1_000_000
MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND
MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE
# Stores whose polls are also fed through polls_record, to prove the bulk
# loader writes exactly the spans the service would have written.
VERIFY_SAMPLE = 5

MIB = 1024 * 1024


# --------------------------------------------------------------------------
# Data shapes
# --------------------------------------------------------------------------


class HoursRow(NamedTuple):
    """One row of a store's weekly schedule, kept as the source gives it."""

    day_of_week: int
    start: dt.time
    end: dt.time


@dataclass
class StoreSpec:
    store_id: str
    timezone: str
    hours: list[HoursRow] = field(default_factory=list)
    synthetic: bool = False


class SpanRow(NamedTuple):
    """A status span before it is written: instants in microseconds since the epoch."""

    active: bool
    first_poll: int
    last_poll: int
    poll_count: int


class RunResult(NamedTuple):
    seconds: float
    rss_growth: int | None  # bytes of peak RSS growth; None when not measured
    traced_peak: int | None  # bytes; None when not traced
    profile: str  # cProfile listing; empty when not profiled


# --------------------------------------------------------------------------
# Database lifecycle (before Django is set up)
# --------------------------------------------------------------------------


def database_config(url: str) -> dict[str, Any]:
    import environ  # django-environ: the parser settings.py uses, so both read the URL alike

    config: dict[str, Any] = environ.Env.db_url_config(url)
    name = str(config.get("NAME") or "")
    # The database is dropped without asking: refuse any name that does not
    # say it is a benchmark's, so a mistyped URL cannot destroy real data.
    if "bench" not in Path(name).name:
        raise SystemExit(f"refusing to drop and recreate {name!r}: the database name must contain 'bench'")
    return config


def _admin_connection(config: dict[str, Any]) -> psycopg.Connection[Any]:
    params = {
        "host": config.get("HOST"),
        "port": config.get("PORT"),
        "user": config.get("USER"),
        "password": config.get("PASSWORD"),
    }
    # CREATE/DROP DATABASE cannot run inside the database itself, nor in a transaction.
    conninfo = make_conninfo(dbname="postgres", **{k: str(v) for k, v in params.items() if v})
    return psycopg.connect(conninfo, autocommit=True)


def recreate_database(config: dict[str, Any]) -> None:
    if config["ENGINE"] == "django.db.backends.sqlite3":
        drop_database(config)
        return
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"unsupported database engine {config['ENGINE']}: use PostgreSQL or SQLite")
    with _admin_connection(config) as conn:
        name = sql.Identifier(config["NAME"])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(config: dict[str, Any]) -> None:
    if config["ENGINE"] == "django.db.backends.sqlite3":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config['NAME']}{suffix}").unlink(missing_ok=True)
        return
    with _admin_connection(config) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(config["NAME"])))


def setup_django(database_url: str, media_root: str) -> None:
    # Settings read the environment once, at import: everything is set before
    # django.setup(). Assignments, not setdefault: the benchmark's database
    # must win over a DATABASE_URL exported in the shell.
    os.environ["DJANGO_SETTINGS_MODULE"] = "monitor_project.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
    os.environ["TASK_BACKEND"] = "immediate"
    # Production conditions: DEBUG would also record every query in memory.
    os.environ["DEBUG"] = "false"
    # Report CSVs go to a throwaway folder, not the project's media/.
    os.environ["MEDIA_ROOT"] = media_root
    # A developer's .env (DEBUG, stale period...) must not change the figures;
    # an explicit ENV_FILE, or MONITOR_* variables in the environment, still apply.
    os.environ.setdefault("ENV_FILE", os.devnull)
    # Not a line per task from django_tasks; warnings and errors still show.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The benchmarks speak plain HTTP (the test client, gunicorn on
    # 127.0.0.1): no redirect to HTTPS, which DEBUG off turns on.
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    # No static files are collected: pages name them without the manifest,
    # and WhiteNoise finds an empty STATIC_ROOT (none would be warned about).
    os.environ["STATIC_MANIFEST"] = "false"
    static_root = Path(media_root) / "static"
    static_root.mkdir(exist_ok=True)
    os.environ["STATIC_ROOT"] = str(static_root)
    # The ingestion benchmark posts ~7 polls a second with each device key
    # (450/s over 64 stores), far over a real device's rate: no API rate
    # limits, unless the environment sets them.
    os.environ.setdefault("MONITOR_THROTTLE_DEVICE", "none")
    os.environ.setdefault("MONITOR_THROTTLE_OWNER", "none")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --------------------------------------------------------------------------
# Stores and schedules
# --------------------------------------------------------------------------


def load_loop_stores(data_dir: Path) -> list[StoreSpec]:
    """Stores of timezones.csv, then those only in menu_hours.csv (Loop default
    timezone), each with its menu_hours rows; [] when the folder is missing."""
    timezones_csv, hours_csv = data_dir / "timezones.csv", data_dir / "menu_hours.csv"
    if not timezones_csv.is_file() or not hours_csv.is_file():
        return []
    stores: dict[str, StoreSpec] = {}
    with timezones_csv.open(newline="", encoding="utf-8-sig") as file:
        for row in csv.DictReader(file):
            stores[row["store_id"]] = StoreSpec(row["store_id"], row["timezone_str"])
    with hours_csv.open(newline="", encoding="utf-8-sig") as file:
        for row in csv.DictReader(file):
            spec = stores.get(row["store_id"])
            if spec is None:
                spec = stores[row["store_id"]] = StoreSpec(row["store_id"], LOOP_DEFAULT_TIMEZONE)
            # loop-2023 names the column `day`, loop-2024 `dayOfWeek`.
            day = int(row.get("day") or row["dayOfWeek"])
            start = dt.time.fromisoformat(row["start_time_local"])
            end = dt.time.fromisoformat(row["end_time_local"])
            spec.hours.append(HoursRow(day, start, end))
    return list(stores.values())


def _clock(rng: random.Random, low_hour: int, high_hour: int) -> int:
    """A random time of day in half hours between the two hours, as minutes."""
    return rng.randrange(low_hour * 2, high_hour * 2 + 1) * 30


def _day_intervals(rng: random.Random) -> list[tuple[dt.time, dt.time]]:
    """One day's hours, in the shapes restaurants have (and the engine must handle)."""
    kind = rng.random()
    if kind < 0.05:  # open all day, written the Loop way
        return [(dt.time(0, 0), dt.time(23, 59, 59))]
    if kind < 0.20:  # lunch and dinner
        lunch = _clock(rng, 10, 12)
        dinner = _clock(rng, 16, 18)
        return [
            (_minutes_to_time(lunch), _minutes_to_time(lunch + _clock(rng, 2, 4))),
            (_minutes_to_time(dinner), _minutes_to_time(dinner + _clock(rng, 4, 6))),
        ]
    start = _clock(rng, 6, 12)
    end = start + _clock(rng, 8, 16)
    if end >= 24 * 60:
        # Past midnight: most close at the end of the day, some overnight
        # (end before start), a shape the Loop data lacks but stores have.
        if rng.random() < 0.7:
            return [(_minutes_to_time(start), dt.time(23, 59, 59))]
        end = min(end, 24 * 60 + 3 * 60)
    return [(_minutes_to_time(start), _minutes_to_time(end))]


def _minutes_to_time(minutes: int) -> dt.time:
    minutes %= 24 * 60
    return dt.time(minutes // 60, minutes % 60)


def synthetic_schedule(rng: random.Random) -> list[HoursRow]:
    """A random week shaped like the Loop data: about a fifth of the stores
    have no rows (open all week); the others have the same hours most days,
    with different weekend hours and a few days left out (open all day)."""
    if rng.random() < 0.18:
        return []
    weekday = _day_intervals(rng)
    weekend = _day_intervals(rng) if rng.random() < 0.3 else weekday
    rows: list[HoursRow] = []
    for day in range(7):
        if rng.random() < 0.08:
            continue
        rows.extend(HoursRow(day, start, end) for start, end in (weekend if day >= 5 else weekday))
    return rows


def synthetic_stores(count: int, taken: set[str], seed: int) -> list[StoreSpec]:
    """Stores with random 63-bit integer ids (like the Loop ids, so sorting and
    lengths behave alike), random schedules and random US timezones."""
    rng = random.Random(f"{seed}/synthetic")
    stores: list[StoreSpec] = []
    while len(stores) < count:
        store_id = str(rng.getrandbits(63))
        if store_id in taken:
            continue
        taken.add(store_id)
        stores.append(StoreSpec(store_id, rng.choice(US_TIMEZONES), synthetic_schedule(rng), synthetic=True))
    return stores


def select_stores(data_dir: Path, count: int | None, seed: int) -> list[StoreSpec]:
    real = load_loop_stores(data_dir)
    if count is None:
        if not real:
            raise SystemExit(f"no Loop data in {data_dir}: give --stores N to benchmark synthetic stores")
        return real
    if count <= len(real):
        return real[:count]
    return real + synthetic_stores(count - len(real), {spec.store_id for spec in real}, seed)


# --------------------------------------------------------------------------
# Polls and spans
# --------------------------------------------------------------------------


def compress(polls: Sequence[Poll], stale_after: int) -> list[SpanRow]:
    """Spans of time-ordered polls, by the rule of stores.services.polls_record
    (stores.span_compression, which the Loop import uses too)."""
    result = spans_apply(
        polls=[encode_poll(at, active) for at, active in polls], open_span=None, latest=None, stale_after=stale_after
    )
    return [SpanRow(span.active, span.first, span.last, span.count) for span in result.new]


def verify_compression(owner: AbstractBaseUser, samples: Sequence[tuple[list[Poll], list[SpanRow]]]) -> None:
    """Feed sample stores' polls through the real service and compare its spans
    with the loader's, in a transaction that is rolled back."""
    from django.db import transaction

    from stores.models import PollStatus, Store
    from stores.services import PollInput, polls_record

    with transaction.atomic():
        for index, (polls, expected) in enumerate(samples):
            store = Store.objects.create(
                store_id=f"bench-verify-{index}",
                owner=owner,
                device_key_hash=hashlib.sha256(f"bench-verify-{index}".encode()).hexdigest(),
            )
            inputs = [
                PollInput(store.store_id, from_micros(at), PollStatus.ACTIVE if active else PollStatus.INACTIVE)
                for at, active in polls
            ]
            polls_record(polls=inputs, stores=Store.objects.filter(pk=store.pk))
            written = [
                SpanRow(status == PollStatus.ACTIVE, to_micros(first), to_micros(last), count)
                for status, first, last, count in store.spans.order_by("first_poll_at").values_list(
                    "status", "first_poll_at", "last_poll_at", "poll_count"
                )
            ]
            if written != expected:
                raise SystemExit(f"span compression differs from polls_record for sample store {index}")
        transaction.set_rollback(True)


# --------------------------------------------------------------------------
# Bulk load
# --------------------------------------------------------------------------


def load_database(
    owner: AbstractBaseUser, stores: Sequence[StoreSpec], spans: dict[str, list[SpanRow]]
) -> tuple[int, int]:
    """Stores (with their latest poll), business hours and spans; returns the
    numbers of hours rows and span rows written."""
    from django.db import connection, transaction
    from django.utils import timezone

    from stores.models import BusinessHours, PollStatus, StatusSpan, Store
    from stores.row_insert import insert_rows

    def status(active: bool) -> str:
        return PollStatus.ACTIVE.value if active else PollStatus.INACTIVE.value

    now = timezone.now()

    def store_rows() -> Iterator[tuple[object, ...]]:
        for spec in stores:
            latest = spans[spec.store_id][-1] if spans[spec.store_id] else None
            yield (
                spec.store_id,
                owner.pk,
                spec.timezone,
                # Unique and deterministic; no device ever posts with it.
                hashlib.sha256(spec.store_id.encode()).hexdigest(),
                from_micros(latest.last_poll) if latest else None,
                status(latest.active) if latest else "",
                now,
                now,
            )

    with transaction.atomic():
        insert_rows(
            Store,
            (
                "store_id",
                "owner",
                "timezone",
                "device_key_hash",
                "last_poll_at",
                "last_status",
                "created_at",
                "updated_at",
            ),
            store_rows(),
        )
        pks = dict(Store.objects.values_list("store_id", "pk"))
        hours_rows = insert_rows(
            BusinessHours,
            ("store", "day_of_week", "start_time_local", "end_time_local", "closed"),
            ((pks[spec.store_id], row.day_of_week, row.start, row.end, False) for spec in stores for row in spec.hours),
        )
        span_rows = insert_rows(
            StatusSpan,
            ("store", "status", "first_poll_at", "last_poll_at", "poll_count"),
            (
                (
                    pks[spec.store_id],
                    status(span.active),
                    from_micros(span.first_poll),
                    from_micros(span.last_poll),
                    span.poll_count,
                )
                for spec in stores
                for span in spans[spec.store_id]
            ),
        )
    # Fresh planner statistics and visibility map, as autovacuum would have
    # left them on a live database: without them the first reports would
    # measure a cold, unanalysed table rather than the code.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (Store, BusinessHours, StatusSpan):
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        else:
            cursor.execute("ANALYZE")
    return hours_rows, span_rows


# --------------------------------------------------------------------------
# Report runs
# --------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """The process's peak resident set size.

    On Linux, VmHWM: the counter ru_maxrss reads, but without what ru_maxrss
    adds from before exec. A spawned child is forked from this benchmark and
    then execs, so its ru_maxrss starts at the parent's peak (hundreds of MB
    after generating the polls) and would hide the report's growth.
    """
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024  # bytes on macOS, KiB elsewhere


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux 4.0+), so that
    the peak after a run measures that run, not the start-up before it."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


def check_report(report: Report, expected_ids: Sequence[str]) -> None:
    """The CSV has the report's columns and one row per store, in code point
    order, with week figures no larger than a week."""
    from reports.models import ReportStatus
    from core.uptime import REPORT_COLUMNS

    if report.status != ReportStatus.COMPLETE:
        raise SystemExit(f"report {report.pk} is {report.status}: {report.error}")
    with report.file.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(reader)
        rows = list(reader)
    if tuple(header) != REPORT_COLUMNS:
        raise SystemExit(f"unexpected CSV header {header}")
    ids = [row[0] for row in rows]
    if ids != sorted(expected_ids):
        raise SystemExit(f"CSV has {len(ids)} rows, expected one per store ({len(expected_ids)}) in store_id order")
    too_long = [row[0] for row in rows if float(row[3]) + float(row[6]) > 7 * 24]
    if too_long:
        raise SystemExit(f"{len(too_long)} stores have more than a week of up and down time, e.g. {too_long[0]}")


class Measure(NamedTuple):
    """What one report run is measured with (all in the run's own process)."""

    trace: bool = False  # tracemalloc: its hooks slow allocation several-fold, so not timed
    profile_top: int = 0  # cProfile, printing this many functions; 0 for none


def measure_report(report_id: str, measure: Measure) -> RunResult:
    """Generate one report in this (freshly spawned) process and measure it.

    A fresh process per run, as a task worker starting on it: the runs are
    independent (no caches warmed by an earlier run), and the growth of peak
    RSS is the report's own, not hidden by memory the data generator freed
    (Python keeps freed memory, so the parent's RSS would not grow).
    """
    import django

    django.setup()  # the parent's environment variables select the same settings
    from django.db import connection

    from reports.services import report_generate

    connection.ensure_connection()  # not part of the report's cost
    gc.collect()
    peak_reset = reset_peak_rss()
    rss_before = peak_rss_bytes()
    if measure.trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if measure.profile_top else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.runcall(report_generate, report_id=report_id)
    else:
        report_generate(report_id=report_id)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if measure.trace else None
    tracemalloc.stop()
    # Without the reset, the delta would only show growth past the peak of
    # django.setup(); with tracing, it would include tracemalloc's own tables.
    rss_growth = peak_rss_bytes() - rss_before if peak_reset and not measure.trace else None
    profile = ""
    if profiler is not None:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(measure.profile_top)
        profile = stream.getvalue()
    connection.close()
    return RunResult(seconds, rss_growth, traced_peak, profile)


def run_report(user: AbstractBaseUser, expected_ids: Sequence[str], measure: Measure) -> RunResult:
    """Create a report, generate it in a new process, check its CSV here."""
    from reports.models import Report

    report = Report.objects.create(requested_by=user, as_of=AS_OF)
    # spawn, not fork: a forked child would share the parent's memory (and
    # its open database connection).
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(measure_report, str(report.pk), measure).result()
    report.refresh_from_db()
    check_report(report, expected_ids)
    report.file.delete(save=False)
    return result


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Reports across worker processes
# --------------------------------------------------------------------------


DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# How long a run may take before the benchmark gives up on it.
RUN_TIMEOUT_SECONDS = 600
# How often the benchmark looks at the report row while it runs.
POLL_SECONDS = 0.01
WORKER_APPLICATION_NAME = "report-bench-worker"


def process_peak_rss(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of another process, in bytes; None when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def worker_database_url(url: str) -> str:
    """The benchmark's database URL with the workers' application_name, by
    which wait_until_connected finds them in pg_stat_activity."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return url
    query = [*urllib.parse.parse_qsl(parts.query), ("application_name", WORKER_APPLICATION_NAME)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def wait_until_connected(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    """Until every worker has set Django up and polls the queue: its database
    connection shows in pg_stat_activity. (SQLite: a fixed pause.)"""
    from django.db import connection

    if connection.vendor != "postgresql":
        time.sleep(3)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"worker {process.pid} exited with {process.returncode} while starting")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [WORKER_APPLICATION_NAME],
            )
            if cursor.fetchone()[0] >= len(processes):
                return
        time.sleep(0.05)
    raise SystemExit(f"workers not connected after {timeout} s")


@contextlib.contextmanager
def worker_processes(args: argparse.Namespace, log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`manage.py db_worker` processes on the benchmark's database (the
    environment setup_django left), started and idle; stopped afterwards."""
    env = {
        **os.environ,
        "TASK_BACKEND": "database",
        "DATABASE_URL": worker_database_url(os.environ["DATABASE_URL"]),
        # Keep the connection: with 0 (Django's default) a worker reconnects
        # (a new PostgreSQL server process) at every look at the queue and after every task.
        "CONN_MAX_AGE": "600",
    }
    command = [
        sys.executable,
        str(BASE_DIR / "manage.py"),
        "db_worker",
        "--interval",
        str(args.worker_interval),
        "--no-startup-delay",
        "--verbosity",
        "0",
    ]
    logs = [open(log_dir / f"worker-{index}.log", "wb") for index in range(args.workers)]
    processes = [
        subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
    ]
    try:
        wait_until_connected(processes)
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()  # graceful: an idle worker exits at once
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


class WorkersRun(NamedTuple):
    seconds: float  # from report_trigger to the report Complete, its CSV written
    worker_peak_rss: list[int | None]  # bytes, per worker process (from its start)
    load: float  # the machine's 1-minute load average just before the run


def run_with_workers(user: AbstractBaseUser, expected_ids: Sequence[str], args: argparse.Namespace) -> WorkersRun:
    """Trigger a report as the API does and wait for the workers to finish it.

    Fresh workers for each run, as for each single-process run: no run finds
    caches an earlier one warmed on the same data.
    """
    from django.test.utils import override_settings

    from reports.models import Report, ReportStatus
    from reports.services import report_trigger

    with tempfile.TemporaryDirectory(prefix="report-bench-workers-") as log_dir:
        with worker_processes(args, Path(log_dir)) as workers, override_settings(TASKS=DATABASE_TASKS):
            load = os.getloadavg()[0]
            started = time.perf_counter()
            # Autocommit: on_commit queues the planning task at once.
            report = report_trigger(user=user, as_of=AS_OF)
            status = Report.objects.filter(pk=report.pk).values_list("status", flat=True)
            while status.get() == ReportStatus.RUNNING:
                if time.perf_counter() - started > RUN_TIMEOUT_SECONDS:
                    raise SystemExit(f"report {report.pk} still running after {RUN_TIMEOUT_SECONDS} s")
                if all(worker.poll() is not None for worker in workers):
                    logs = "\n".join(path.read_text(errors="replace")[-2000:] for path in Path(log_dir).iterdir())
                    raise SystemExit(f"every worker exited:\n{logs}")
                time.sleep(POLL_SECONDS)
            seconds = time.perf_counter() - started
            peaks = [process_peak_rss(worker.pid) for worker in workers]
    report.refresh_from_db()
    check_report(report, expected_ids)
    report.file.delete(save=False)
    return WorkersRun(seconds, peaks, load)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    print(f"{label}...", end=" ", flush=True)
    started = time.perf_counter()
    yield
    print(f"{time.perf_counter() - started:.1f} s", flush=True)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


# The standard cases and their targets (issue 4): the Loop stores, and 100,000.
CASES = {"loop": None, "100k": 100_000}
LOOP_TARGET_SECONDS = 3
LARGE_STORES = 100_000
LARGE_TARGET_SECONDS = 20
LARGE_TARGET_RSS_MB = 300
MB = 1_000_000


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--case",
        dest="cases",
        action="append",
        choices=sorted(CASES),
        help="a standard case, repeatable (default both): loop = every store of the Loop data; "
        "100k = 100,000 stores (the Loop stores and synthetic ones)",
    )
    parser.add_argument(
        "--stores",
        type=positive_int,
        help="instead of the standard cases, one of this many stores (the Loop stores first, then synthetic ones)",
    )
    parser.add_argument("--days", type=positive_int, default=8, help="days of polls ending at as_of (default 8)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"database to drop, create and use; its name must contain 'bench' (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    parser.add_argument("--runs", type=positive_int, default=3, help="timed report runs per case (default 3)")
    parser.add_argument("--workers", type=positive_int, default=2, help="db_worker processes (default 2)")
    parser.add_argument(
        "--chunk-size", type=positive_int, help="stores per chunk (default: MONITOR_REPORT_CHUNK_SIZE, 2,000)"
    )
    parser.add_argument(
        "--worker-interval",
        type=positive_float,
        default=0.1,
        help="seconds an idle worker waits before it looks at the queue again (db_worker --interval; default 0.1)",
    )
    parser.add_argument(
        "--single-process",
        action="store_true",
        help="also time report_generate in one process, every chunk inline (the immediate task backend)",
    )
    parser.add_argument(
        "--trace",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also measure the tracemalloc peak of a single-process run (about six times as slow)",
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of a single-process run")
    parser.add_argument("--profile-top", type=positive_int, default=15, help="functions in the profile (default 15)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the Loop CSV files")
    parser.add_argument("--json", type=Path, help="write the section and the targets here (for bench/run.py)")
    parser.add_argument("--keep", action="store_true", help="keep the (last case's) database afterwards")
    parser.add_argument("--case-json", type=Path, help=argparse.SUPPRESS)  # one case's figures, for the parent run
    return parser.parse_args(argv)


class Results(NamedTuple):
    label: str
    days: int
    stores: int
    synthetic: int
    hours_rows: int
    polls: int
    span_rows: int
    workers: int
    chunk_size: int
    worker_interval: float
    runs: list[float]  # seconds, trigger to CSV
    worker_peak_rss: list[int]  # bytes, the largest worker's peak in each run
    loads: list[float]  # 1-minute load average before each run
    single_runs: list[RunResult]  # report_generate in one process; [] unless asked
    traced_peak: int | None  # bytes; None when not traced


def case_label(name: str | None, stores: int) -> str:
    return "Loop 2023 stores" if name == "loop" else f"{stores:,} stores"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.stores is not None and args.cases:
        raise SystemExit("give --case or --stores, not both")
    if args.stores is not None:
        cases: list[tuple[str | None, int | None]] = [(None, args.stores)]
    else:
        cases = [(name, CASES[name]) for name in (args.cases or list(CASES))]

    if len(cases) == 1 or args.case_json:
        name, count = cases[0]
        results = [run_case(args, name, count)]
    else:
        # One process per case: each sets Django up on its own fresh database.
        results = []
        with tempfile.TemporaryDirectory(prefix="report-bench-") as folder:
            for name, _ in cases:
                out = Path(folder) / f"{name}.json"
                print(f"== case {name}", flush=True)
                subprocess.run(
                    [sys.executable, __file__, *child_args(args), "--case", str(name), "--case-json", str(out)],
                    check=True,
                )
                results.append(Results(**json.loads(out.read_text())))
    if args.case_json:
        args.case_json.write_text(json.dumps(results[0]._asdict()))
        return
    result = render(results, cases)
    print()
    print(result["markdown"])
    for target in result["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        print(f"{target['target']}: {target['measured']} (goal {target['goal']}): {verdict}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


def child_args(args: argparse.Namespace) -> list[str]:
    """The options a case's own process needs, from the parent's."""
    argv = ["--days", str(args.days), "--database-url", args.database_url, "--seed", str(args.seed)]
    argv += ["--runs", str(args.runs), "--workers", str(args.workers), "--worker-interval", str(args.worker_interval)]
    argv += ["--data-dir", str(args.data_dir), "--profile-top", str(args.profile_top)]
    if args.chunk_size:
        argv += ["--chunk-size", str(args.chunk_size)]
    for flag in ("single_process", "profile", "keep"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    argv.append("--trace" if args.trace else "--no-trace")
    return argv


def run_case(args: argparse.Namespace, name: str | None, count: int | None) -> Results:
    config = database_config(args.database_url)
    if args.chunk_size:
        # Before Django reads its settings: this process, its workers and its
        # single-process runs all plan chunks of this size.
        os.environ["MONITOR_REPORT_CHUNK_SIZE"] = str(args.chunk_size)
    with step("select stores"):
        stores = select_stores(args.data_dir, count, args.seed)
    synthetic = sum(spec.synthetic for spec in stores)
    print(f"  {len(stores):,} stores ({len(stores) - synthetic:,} from {args.data_dir}, {synthetic:,} synthetic)")
    with bench_database(config, args.database_url, keep=args.keep, media_prefix="report-bench-media-"):
        return benchmark(args, stores, case_label(name, len(stores)))


@contextlib.contextmanager
def bench_database(config: dict[str, Any], database_url: str, *, keep: bool, media_prefix: str) -> Iterator[None]:
    """A fresh, migrated database with Django set up on it and report files in a
    temporary folder; dropped afterwards unless `keep`."""
    with step("create database"):
        recreate_database(config)
    media = tempfile.TemporaryDirectory(prefix=media_prefix)
    try:
        with step("migrate"):
            setup_django(database_url, media.name)
        yield
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not keep:
            drop_database(config)
        media.cleanup()


def benchmark(args: argparse.Namespace, stores: list[StoreSpec], label: str) -> Results:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    print(f"  database: {connection.vendor} {'.'.join(map(str, connection.get_database_version()))}")
    stale_after = settings.MONITOR_STALE_AFTER_MINUTES * MICROS_PER_MINUTE
    start = to_micros(AS_OF) - args.days * 24 * MICROS_PER_HOUR

    polls_total = 0
    spans: dict[str, list[SpanRow]] = {}
    with step(f"generate {args.days} days of polls and compress them"):
        for spec in stores:
            polls = generate_polls(store_rng(args.seed, spec.store_id), start, args.days * 24)
            polls_total += len(polls)
            spans[spec.store_id] = compress(polls, stale_after)
    span_total = sum(map(len, spans.values()))
    print(
        f"  polls generated: {polls_total:,}; span rows: {span_total:,}; polls per span: {polls_total / span_total:.1f}"
    )

    user = get_user_model().objects.create_superuser(username="bench", email="bench@example.com", password=None)
    with step("verify compression against polls_record"):
        # The stores with the most spans among the first ones: gaps, outages and cuts.
        sample = sorted(stores[:500], key=lambda spec: len(spans[spec.store_id]), reverse=True)[:VERIFY_SAMPLE]
        verify_compression(
            user,
            [
                (generate_polls(store_rng(args.seed, spec.store_id), start, args.days * 24), spans[spec.store_id])
                for spec in sample
            ],
        )
    with step("bulk load stores, hours and spans"):
        hours_rows, span_rows = load_database(user, stores, spans)
    del spans  # the workers, not this process, are measured; still, no need to hold it
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    expected_ids = [spec.store_id for spec in stores]
    chunk_size = args.chunk_size or settings.MONITOR_REPORT_CHUNK_SIZE

    print(
        f"report as of {AS_OF:%Y-%m-%d %H:%M} UTC over {len(expected_ids):,} stores, chunks of {chunk_size:,} "
        f"stores, {args.workers} db_worker processes (--interval {args.worker_interval}), fresh for each run:"
    )
    runs: list[WorkersRun] = []
    for index in range(args.runs):
        run = run_with_workers(user, expected_ids, args)
        runs.append(run)
        peaks = ", ".join(f"{peak / MB:.0f}" if peak is not None else "n/a" for peak in run.worker_peak_rss)
        print(
            f"  run {index + 1}: {run.seconds:.2f} s trigger to CSV; peak RSS per worker MB: {peaks}; "
            f"load average before: {run.load:.2f}",
            flush=True,
        )

    single_runs: list[RunResult] = []
    traced_peak = None
    if args.single_process:
        print("report_generate in one new process, every chunk inline:")
        for index in range(args.runs):
            run = run_report(user, expected_ids, Measure())
            single_runs.append(run)
            rss = f"{run.rss_growth / MIB:.1f} MiB" if run.rss_growth is not None else "n/a"
            print(f"  run {index + 1}: {run.seconds:.2f} s, peak RSS growth {rss}", flush=True)
    if args.trace:
        traced = run_report(user, expected_ids, Measure(trace=True))
        traced_peak = traced.traced_peak
        assert traced_peak is not None
        print(f"  traced run: tracemalloc peak {traced_peak / MIB:.1f} MiB ({traced.seconds:.2f} s under tracing)")
    if args.profile:
        profiled = run_report(user, expected_ids, Measure(profile_top=args.profile_top))
        print(f"\ncProfile of one single-process report_generate run, top {args.profile_top} by cumulative time:")
        print(profiled.profile)
    return Results(
        label=label,
        days=args.days,
        stores=len(expected_ids),
        synthetic=sum(spec.synthetic for spec in stores),
        hours_rows=hours_rows,
        polls=polls_total,
        span_rows=span_rows,
        workers=args.workers,
        chunk_size=chunk_size,
        worker_interval=args.worker_interval,
        runs=[run.seconds for run in runs],
        worker_peak_rss=[max((peak or 0) for peak in run.worker_peak_rss) for run in runs],
        loads=[run.load for run in runs],
        single_runs=single_runs,
        traced_peak=traced_peak,
    )


def render(results: Sequence[Results], cases: Sequence[tuple[str | None, int | None]]) -> dict[str, Any]:
    """The Markdown section and the targets, for bench/run.py (and the terminal)."""
    first = results[0]
    lines = [
        "## Report generation across workers",
        "",
        f"`bench/report_bench.py`: a report over every store, as of {AS_OF:%Y-%m-%d %H:%M} UTC, with "
        f"{first.workers} `manage.py db_worker` processes (`--interval {first.worker_interval}`: how long an idle "
        "worker waits before looking at the queue again; `CONN_MAX_AGE=600`) sharing its chunks; timed from "
        "`report_trigger` (as the API calls it) to the report Complete with its CSV written, each run with "
        "freshly started workers. "
        "Peak RSS: each worker process's whole peak (VmHWM), Django included; the largest worker's. "
        f"The machine has {os.cpu_count()} CPUs, shared by the workers, PostgreSQL and the benchmark; the "
        "1-minute load average before each run counts the benchmark's own earlier steps too, so only one well "
        "above 2 says that other work competed. "
        f"Data: {first.days} days of generated polls per store ending at as_of (hourly ±5 min, 2 % missed, "
        "outages), compressed into spans; the Loop stores keep their real timezones and business hours, the "
        "synthetic ones get US zones and Loop-like weeks.",
        "",
        "| stores | business hours rows | span rows | workers × chunk | chunks | runs, s | median s "
        "| peak RSS per worker MB | load average before the runs |",
        "|---|---:|---:|---|---:|---|---:|---:|---|",
    ]
    for result in results:
        synthetic = ""
        if result.synthetic:
            synthetic = f" ({result.stores - result.synthetic:,} Loop + {result.synthetic:,} synthetic)"
        chunks = -(-result.stores // result.chunk_size)
        lines.append(
            f"| {result.label}: {result.stores:,}{synthetic} | {result.hours_rows:,} | {result.span_rows:,} "
            f"| {result.workers} × {result.chunk_size:,} | {chunks} | {', '.join(f'{s:.2f}' for s in result.runs)} "
            f"| {statistics.median(result.runs):.2f} | {max(result.worker_peak_rss) / MB:.0f} "
            f"| {', '.join(f'{load:.1f}' for load in result.loads)} |"
        )
    singles = [result for result in results if result.single_runs]
    if singles:
        lines += [
            "",
            "The same reports in one process, every chunk inline (`report_generate` with the immediate task "
            "backend, a new process per run):",
            "",
            "| stores | runs, s | median s | peak RSS growth MiB | tracemalloc peak MiB |",
            "|---|---|---:|---:|---:|",
        ]
        for result in singles:
            single = [RunResult(*run) for run in result.single_runs]  # tuples again after JSON
            times = [run.seconds for run in single]
            growth = [run.rss_growth for run in single if run.rss_growth is not None]
            traced = f"{result.traced_peak / MIB:.1f}" if result.traced_peak is not None else "n/a"
            growth_text = f"{statistics.median(growth) / MIB:.1f}" if growth else "n/a"
            lines.append(
                f"| {result.stores:,} | {', '.join(f'{s:.2f}' for s in times)} | {statistics.median(times):.2f} "
                f"| {growth_text} | {traced} |"
            )
    lines.append("")
    targets = []
    for (name, _), result in zip(cases, results):
        median = statistics.median(result.runs)
        peak = max(result.worker_peak_rss)
        measured = f"{median:.2f} s (median of {len(result.runs)}; {result.workers} workers)"
        if name == "loop":
            targets.append(
                {
                    "target": f"Report, {result.stores:,} Loop stores",
                    "goal": f"< {LOOP_TARGET_SECONDS} s trigger to CSV",
                    "measured": measured,
                    "met": median < LOOP_TARGET_SECONDS,
                }
            )
        elif name == "100k":
            targets.append(
                {
                    "target": f"Report, {result.stores:,} stores",
                    "goal": f"< {LARGE_TARGET_SECONDS} s, worker RSS < {LARGE_TARGET_RSS_MB} MB",
                    "measured": f"{measured}, worker RSS {peak / MB:.0f} MB",
                    "met": median < LARGE_TARGET_SECONDS and peak < LARGE_TARGET_RSS_MB * MB,
                }
            )
    return {"title": "Report generation", "markdown": "\n".join(lines), "targets": targets}


if __name__ == "__main__":
    main()
