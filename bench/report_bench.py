"""Benchmark of report generation at the scale of the Loop data set.

Usage (from the project folder):

    .venv/bin/python bench/report_bench.py [--stores N] [--days 8] [--seed 1]
        [--database-url URL] [--runs 3] [--no-trace] [--profile] [--keep]
        [--data-dir ../shared/data/loop-2023]

What it does, and why each step is there:

1. It drops and creates its own database (PostgreSQL by default), so figures
   never depend on, and never touch, a developer's data.
2. It creates the stores of the public Loop data (real timezones and business
   hours, from --data-dir) and, past that set or without it, synthetic stores.
3. It generates hourly polls for --days days ending at a fixed instant,
   compresses them into status spans with the rule of stores.services
   (cross-checked against polls_record on a few stores), and bulk loads them.
4. It times reports.services.report_generate over all stores, --runs times,
   each in a new process (as a task worker would run it), with the growth of
   peak RSS; a separate run measures the tracemalloc peak (tracing slows the
   code too much to time it), and --profile prints a cProfile of another.
   Each report's CSV is checked: one row per store.
5. It prints a Markdown table of the figures.

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
import multiprocessing
import os
import pstats
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import Model

    from reports.models import Report

BASE_DIR = Path(__file__).resolve().parent.parent
# Run as `python bench/report_bench.py`, sys.path[0] is bench/: the project's
# apps and settings must be importable.
sys.path.insert(0, str(BASE_DIR))
# The uptime engine is pure Python, without Django: importable before setup.
from reports.uptime import from_micros, to_micros
# The poll generator of `manage.py generate_polls` (hourly, ±5 min, 2 % missed, outages).
from stores.poll_generator import Poll, generate_polls, store_rng

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

# Rows per bulk_create batch on databases without COPY (Django lowers it
# further where the backend limits query parameters, as SQLite does).
BULK_BATCH = 10_000
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
    """Spans of time-ordered polls, by the rule of stores.services.polls_record:
    a poll extends the open span if it has the same status and comes less than
    `stale_after` after the span's last poll; otherwise it opens a new span."""
    spans: list[SpanRow] = []
    if not polls:
        return spans
    first, active = polls[0]
    last, count = first, 1
    for at, status in polls[1:]:
        if status == active and at - last < stale_after:
            last = at
            count += 1
        else:
            spans.append(SpanRow(active, first, last, count))
            first, last, active, count = at, at, status, 1
    spans.append(SpanRow(active, first, last, count))
    return spans


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


def bulk_insert(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Insert rows of the given field values: COPY on PostgreSQL (several times
    faster than INSERTs at millions of rows), bulk_create elsewhere."""
    from django.db import connection

    meta = model._meta
    count = 0
    if connection.vendor == "postgresql":
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table),
            sql.SQL(", ").join(sql.Identifier(meta.get_field(name).column) for name in fields),
        )
        connection.ensure_connection()
        # COPY is not in the ORM: use the psycopg connection under Django's
        # (in its transaction, as the rest of the load).
        with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    attnames = [meta.get_field(name).attname for name in fields]
    batch: list[Model] = []
    for row in rows:
        batch.append(model(**dict(zip(attnames, row))))
        if len(batch) >= BULK_BATCH:
            count += len(model._default_manager.bulk_create(batch, batch_size=BULK_BATCH))
            batch.clear()
    count += len(model._default_manager.bulk_create(batch, batch_size=BULK_BATCH))
    return count


def load_database(
    owner: AbstractBaseUser, stores: Sequence[StoreSpec], spans: dict[str, list[SpanRow]]
) -> tuple[int, int]:
    """Stores (with their latest poll), business hours and spans; returns the
    numbers of hours rows and span rows written."""
    from django.db import connection, transaction
    from django.utils import timezone

    from stores.models import BusinessHours, PollStatus, StatusSpan, Store

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
        bulk_insert(
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
        hours_rows = bulk_insert(
            BusinessHours,
            ("store", "day_of_week", "start_time_local", "end_time_local", "closed"),
            ((pks[spec.store_id], row.day_of_week, row.start, row.end, False) for spec in stores for row in spec.hours),
        )
        span_rows = bulk_insert(
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
    from reports.uptime import REPORT_COLUMNS

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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores",
        type=positive_int,
        help="number of stores (default: every store of the Loop data); past the Loop set, synthetic stores are added",
    )
    parser.add_argument("--days", type=positive_int, default=8, help="days of polls ending at as_of (default 8)")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"database to drop, create and use; its name must contain 'bench' (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    parser.add_argument("--runs", type=positive_int, default=3, help="timed report runs (default 3)")
    parser.add_argument(
        "--no-trace",
        dest="trace",
        action="store_false",
        help="skip the tracemalloc run (it takes about six times as long as a timed run)",
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one report run")
    parser.add_argument("--profile-top", type=positive_int, default=15, help="functions in the profile (default 15)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the Loop CSV files")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


class Results(NamedTuple):
    stores: int
    hours_rows: int
    polls: int
    span_rows: int
    runs: list[RunResult]
    traced_peak: int | None  # bytes; None when not traced


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    config = database_config(args.database_url)

    with step("select stores"):
        stores = select_stores(args.data_dir, args.stores, args.seed)
    synthetic = sum(spec.synthetic for spec in stores)
    print(f"  {len(stores):,} stores ({len(stores) - synthetic:,} from {args.data_dir}, {synthetic:,} synthetic)")

    with bench_database(config, args.database_url, keep=args.keep, media_prefix="report-bench-media-"):
        results = benchmark(args, stores)
    print_table(results)


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


def benchmark(args: argparse.Namespace, stores: list[StoreSpec]) -> Results:
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
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    expected_ids = [spec.store_id for spec in stores]

    print(
        f"report_generate as of {AS_OF:%Y-%m-%d %H:%M} UTC over {len(expected_ids):,} stores, each run in a new process:"
    )
    runs: list[RunResult] = []
    for index in range(args.runs):
        run = run_report(user, expected_ids, Measure())
        runs.append(run)
        rss = f"{run.rss_growth / MIB:.1f} MiB" if run.rss_growth is not None else "n/a"
        print(f"  run {index + 1}: {run.seconds:.2f} s, peak RSS growth {rss}", flush=True)
    times = [run.seconds for run in runs]
    print(f"  wall time: min {min(times):.2f} s, median {statistics.median(times):.2f} s")
    traced_peak = None
    if args.trace:
        traced = run_report(user, expected_ids, Measure(trace=True))
        traced_peak = traced.traced_peak
        assert traced_peak is not None
        print(f"  traced run: tracemalloc peak {traced_peak / MIB:.1f} MiB ({traced.seconds:.2f} s under tracing)")
    if args.profile:
        profiled = run_report(user, expected_ids, Measure(profile_top=args.profile_top))
        print(f"\ncProfile of one report_generate run, top {args.profile_top} by cumulative time:")
        print(profiled.profile)
    return Results(len(expected_ids), hours_rows, polls_total, span_rows, runs, traced_peak)


def print_table(results: Results) -> None:
    times = [run.seconds for run in results.runs]
    rss = [run.rss_growth for run in results.runs if run.rss_growth is not None]
    rss_text = f"{statistics.median(rss) / MIB:.1f}" if rss else "n/a"
    traced_text = f"{results.traced_peak / MIB:.1f}" if results.traced_peak is not None else "n/a"
    print()
    print(
        "| stores | hours rows | polls | span rows | polls/span | report s (min) | report s (median) "
        "| tracemalloc peak MiB | peak RSS growth MiB (median) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {results.stores:,} | {results.hours_rows:,} | {results.polls:,} | {results.span_rows:,} "
        f"| {results.polls / results.span_rows:.1f} | {min(times):.2f} | {statistics.median(times):.2f} "
        f"| {traced_text} | {rss_text} |"
    )


if __name__ == "__main__":
    main()
