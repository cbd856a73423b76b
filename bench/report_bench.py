"""Benchmark of report generation: 2,000 stores in a warm process, then the Loop stores and 100,000 stores across worker processes.

Usage (from the project folder):

    .venv/bin/python bench/report_bench.py [--case warm] [--case loop] [--case 100k] [--stores N]
        [--workers 2] [--chunk-size N] [--worker-interval 1] [--runs 3] [--warm-runs 9]
        [--single-process] [--trace] [--profile] [--json PATH]
        [--closures | --no-closures] [--days 8] [--seed 1] [--database-url URL] [--keep]
        [--data-dir ../shared/data/loop-2023]

Without --case or --stores it runs the three standard cases, each in its own
process and database: the first 2,000 Loop stores, reports triggered in the
benchmark's own warm process (target: <= 0.055 s from trigger to CSV);
every store of the Loop data across workers (target: <= 0.3 s), and 100,000
stores (<= 2.5 s, each worker's peak RSS < 300 MB). The Loop case then times
the same report with closures (target: its median within 15 % of the
median without). --case 1m, asked for by name, times 1,000,000 stores
(<= 30 s, each worker's peak RSS < 300 MB) and states the database's size.
--json writes the Markdown section and the targets for bench/run.py.

What it does for a case, and why each step is there:

1. It drops and creates its own database (PostgreSQL by default), so figures
   never depend on, and never touch, a developer's data.
2. It creates the stores of the public Loop data (real timezones and business
   hours, from --data-dir) and, past that set or without it, synthetic stores.
3. It generates hourly polls for --days days ending at a fixed instant,
   compresses them into status spans with the span rule (core.spans,
   cross-checked against polls_record on a few stores), and bulk loads them
   (bench/dataset.py, which dashboard_bench.py loads its data with too).
4. It computes the report's files with reference_report: a slow, exact path
   written apart from the code it checks (ORM reads, pairwise interval
   arithmetic, Decimal text). Every report file any run writes is checked
   against it byte for byte (with closures, against a reference computed
   with them); a difference stops the benchmark, naming the first line.
5. The warm case (--case warm): --warm-runs reports triggered with
   report_trigger in this process with the immediate task backend (the
   planning, the chunk and the assembly inline), after one untimed run, each
   as of another minute; timed from the call to its return (the report
   Complete, both files written), with this process's CPU time, its
   PostgreSQL server process's CPU time and the time in the driver's
   execute. Then where the time goes, by phase (PhaseClock), and with
   --profile a cProfile of one run.
6. The other cases, --runs times: it starts --workers `manage.py task_worker`
   processes (real ones, TASK_BACKEND=database), waits until they are idle,
   triggers a report with reports.services.report_trigger (as the API does)
   and times it until the report is Complete, its CSV written (its
   finished_at, which the worker writing the files sets as it marks it
   complete; this process notices up to POLL_SECONDS later); then reads
   each worker's peak RSS and stops them. Fresh workers for each run: no run
   finds caches an earlier one warmed on the same data.
7. --single-process also times report_generate with every chunk inline, in
   a new process per run, with its peak RSS growth (--trace: tracemalloc
   peak; --profile: a cProfile).
8. With closures (by default for the Loop case; --closures for any other):
   it creates 12 organization-wide holidays that repeat every year (local
   dates, one of them inside the report's week) and a one-off closure of a
   few local hours on the week's last day for 2 % of the stores (listed
   stores, each open throughout those hours), with stores.services.
   closure_create as the API does; then times the report again exactly as in
   6 (and 7), and compares its CSV with the last one without closures: the
   same stores, some figures changed, and changed only for stores with
   closed time (and in the last day only for the listed stores).
9. It prints a Markdown section with a table of the figures, and the targets.

This is not a test: it is slow, needs a database server, and measures rather
than asserts (apart from sanity checks that make a wrong figure impossible to
miss). The Loop files are read in place, never copied into the project.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import harness  # first of the project's imports: it puts the project on sys.path
from core.instants import HOUR, to_micros
from dataset import StoreSpec, generate_spans, load_database, select_stores, vacuum_analyze, verify_compression

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from accounts.models import Organization

    from reports.models import Report

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_bench")
# The last day of the original Loop status data: a fixed instant, so two runs
# with the same seed load the same rows and compute the same report.
AS_OF = dt.datetime(2023, 1, 25, 18, 0, tzinfo=dt.timezone.utc)

# The standard cases and their targets (issue 4): the Loop stores, and 100,000;
# and the first 2,000 Loop stores in a warm process (the report-reads issue).
CASES = {"warm": 2_000, "loop": None, "100k": 100_000, "1m": 1_000_000}
# Without --case: the 1m case (half an hour, most of it making its data) is asked for by name.
DEFAULT_CASES = ("warm", "loop", "100k")
WARM_TARGET_SECONDS = 0.055
LOOP_TARGET_SECONDS = 0.3
LARGE_TARGET_RSS_MB = 300
# The cases across workers whose goal is a time and the worker RSS above.
LARGE_CASE_SECONDS = {"100k": 2.5, "1m": 30}
# With closures, the report may take at most this much longer than without (the 15 %).
CLOSURES_TARGET_RATIO = 1.15

# Closures for the run with closures: 12 holidays of every store of the
# organization, every year, as local dates (the end day included)...
HOLIDAYS = (
    ("2023-01-01", "New Year's Day"),
    ("2023-01-22", "Lunar New Year"),  # a Sunday in the report's week (as_of 25 January)
    ("2023-02-20", "Presidents' Day"),
    ("2023-04-09", "Easter Sunday"),
    ("2023-05-01", "Labour Day"),
    ("2023-05-29", "Memorial Day"),
    ("2023-06-19", "Juneteenth"),
    ("2023-07-04", "Independence Day"),
    ("2023-09-04", "Labor Day"),
    ("2023-11-23", "Thanksgiving Day"),
    ("2023-12-24", "Christmas Eve"),
    ("2023-12-25", "Christmas Day"),
)
# ...and one closure this week, a few local hours on the report's last day
# (Tuesday: day_of_week 1), for this share of the stores.
ONE_OFF = ("2023-01-24T10:00:00", "2023-01-24T14:00:00")
ONE_OFF_SHARE = 0.02

# How long a run may take before the benchmark gives up on it.
RUN_TIMEOUT_SECONDS = 600
# How often the benchmark looks at the report row while it runs.
POLL_SECONDS = 0.01

MB = 1_000_000
MIB = 1024 * 1024


def planned_chunks(stores: int, size: int) -> int:
    """How many chunks reports.services plans for `stores` stores (its
    chunk_store_pks). Where Django is set up: a case's own process, not the
    one that formats."""
    from reports.services import chunk_store_pks

    return sum(1 for _ in chunk_store_pks(iter(range(stores)), size))


class RunResult(NamedTuple):
    seconds: float
    rss_growth: int | None  # bytes of peak RSS growth; None when not measured
    traced_peak: int | None  # bytes; None when not traced
    profile: str  # cProfile listing; empty when not profiled


# --------------------------------------------------------------------------
# Reports in one process
# --------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux 4.0+), so that
    the peak after a run measures that run, not the start-up before it."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


class Expected(NamedTuple):
    """What a report over every store must be."""

    ids: list[str]  # every store's id
    csv: ReferenceCsv  # its files, from reference_report


def check_report(report: Report, expected: Expected) -> None:
    """The CSV has the report's columns and one row per store, in code point
    order, with week figures no larger than a week; both files are the
    reference's, byte for byte."""
    from core.uptime import REPORT_COLUMNS
    from reports.models import ReportStatus

    if report.status != ReportStatus.COMPLETE:
        raise SystemExit(f"report {report.pk} is {report.status}: {report.error}")
    with report.file.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(reader)
        rows = list(reader)
    if tuple(header) != REPORT_COLUMNS:
        raise SystemExit(f"unexpected CSV header {header}")
    ids = [row[0] for row in rows]
    if ids != sorted(expected.ids):
        raise SystemExit(f"CSV has {len(ids)} rows, expected one per store ({len(expected.ids)}) in store_id order")
    too_long = [row[0] for row in rows if float(row[3]) + float(row[6]) > 7 * 24]
    if too_long:
        raise SystemExit(f"{len(too_long)} stores have more than a week of up and down time, e.g. {too_long[0]}")
    check_against_reference(report, expected.csv)


# A report's figures by store_id: every column of its extended CSV (the seed
# columns, then no-signal, closed time and uptime percentages), as text.
Rows = dict[str, dict[str, str]]


def report_rows(report: Report) -> Rows:
    """The figures of a report's extended CSV, by store."""
    with report.extended_file.open("rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        return {row["store_id"]: row for row in reader}


def delete_files(report: Report) -> None:
    report.file.delete(save=False)
    if report.extended_file:
        report.extended_file.delete(save=False)


# --------------------------------------------------------------------------
# The reference: a slow, exact report that every report file is checked
# against, byte for byte
# --------------------------------------------------------------------------
#
# Written apart from the code it checks, in the plainest form: rows through
# the ORM (datetimes and times as Django gives them), the semantics of
# docs/semantics.md in pairwise interval arithmetic, and the figures' text
# through Decimal. Only closures are resolved by core.closures (read with
# stores.selectors.store_closure_rules), which this work does not touch.


class ReferenceCsv(NamedTuple):
    seed: bytes  # the report's `file`
    extended: bytes  # its `extended_file`


# A store's week as the reference reads it: seven lists of local (start, end) seconds.
ReferenceWeek = list[list[tuple[int, int]]]


def _seconds_of(time: dt.time) -> int:
    return time.hour * 3600 + time.minute * 60 + time.second


def _reference_week(rows: Sequence[tuple[int, dt.time | None, dt.time | None, bool]]) -> ReferenceWeek:
    """docs/semantics.md, section 2: a day with intervals has them; a day marked
    closed (and without intervals) has none; any other day is open all day.
    start == end is 24 hours; an end of 23:59:59 is midnight; an end before
    the start runs into the next day."""
    day_seconds = 24 * 3600
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    closed = set()
    for day, start, end, is_closed in rows:
        if is_closed:
            closed.add(day)
            continue
        assert start is not None and end is not None
        s, e = _seconds_of(start), _seconds_of(end)
        if e == s:
            e = s + day_seconds
        elif e == day_seconds - 1:
            e = day_seconds
        elif e < s:
            e += day_seconds
        days[day].append((s, e))
    return [days[day] if days[day] else ([] if day in closed else [(0, day_seconds)]) for day in range(7)]


def _union(intervals: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _minus(intervals: Sequence[tuple[int, int]], cuts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = list(intervals)
    for cs, ce in cuts:
        pieces = [p for s, e in pieces for p in ((s, min(e, cs)), (max(s, ce), e)) if p[0] < p[1]]
    return pieces


def _overlap(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], since: int) -> int:
    """Length of a ∩ b after `since`, each list's intervals disjoint."""
    total = 0
    for a_start, a_end in a:
        for b_start, b_end in b:
            length = min(a_end, b_end) - max(a_start, b_start, since)
            if length > 0:
                total += length
    return total


def _reference_business(week: ReferenceWeek, zone_name: str, start: int, end: int) -> list[tuple[int, int]]:
    """Business hours within [start, end), each local date's intervals read on
    that date with wall-clock arithmetic (fold 0)."""
    from zoneinfo import ZoneInfo

    from core.instants import from_micros

    zone = ZoneInfo(zone_name)
    day = from_micros(start).astimezone(zone).date() - dt.timedelta(days=3)
    last = from_micros(end).astimezone(zone).date()
    pieces = []
    while day <= last:
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
        for local_start, local_end in week[day.weekday()]:
            s = max(to_micros(midnight + dt.timedelta(seconds=local_start)), start)
            e = min(to_micros(midnight + dt.timedelta(seconds=local_end)), end)
            if s < e:
                pieces.append((s, e))
        day += dt.timedelta(days=1)
    return _union(pieces)


def reference_figures(
    spans: Sequence[tuple[bool, int, int]],
    week: ReferenceWeek,
    zone_name: str,
    closures: Sequence[tuple[int, int]],
    *,
    as_of: int,
    stale: int,
) -> tuple[int, ...]:
    """The twelve figures (docs/semantics.md, sections 3 to 7) in microseconds:
    up, down, no signal, closed; each for the last hour, day and week."""
    from core.instants import DAY, WEEK

    week_start = as_of - WEEK
    up, down, no_signal = [], [], []
    for index, (active, first, last) in enumerate(spans):
        following = min(spans[index + 1][1] if index + 1 < len(spans) else as_of, as_of)
        begin = max(first, week_start)
        expires = min(last + stale, following)  # an active status expires stale after its last poll
        if active:
            up.append((begin, expires))
            down.append((max(begin, expires), following))
        else:
            down.append((begin, following))
        no_signal.append((max(begin, expires), following))
    up = [(s, e) for s, e in up if s < e]
    down = [(s, e) for s, e in down if s < e]
    no_signal = [(s, e) for s, e in no_signal if s < e]
    if not up and not down:
        return (0,) * 12
    business = _reference_business(week, zone_name, week_start, as_of)
    open_hours = _minus(business, closures)
    monitored_from = min(s for s, _ in up + down)
    windows = (as_of - HOUR, as_of - DAY, week_start)
    closed = _minus(business, open_hours)
    return (
        *(_overlap(up, open_hours, since) for since in windows),
        *(_overlap(down, open_hours, since) for since in windows),
        *(_overlap(no_signal, open_hours, since) for since in windows),
        *(_overlap(closed, [(monitored_from, as_of)], since) for since in windows),
    )


def _reference_texts(figures: Sequence[int]) -> list[str]:
    """The CSV fields of the figures: minutes for the hour, hours for the day
    and week, rounded half up to hundredths; then the uptime percentages
    (empty when nothing was measured)."""
    from decimal import ROUND_HALF_UP, Decimal

    from core.instants import MINUTE

    hundredth = Decimal("0.01")
    units = (MINUTE, HOUR, HOUR) * 4
    texts = [str((Decimal(micros) / unit).quantize(hundredth, rounding=ROUND_HALF_UP)) for micros, unit in zip(figures, units)]
    for up, down in zip(figures[0:3], figures[3:6]):
        percent = (Decimal(100 * up) / (up + down)).quantize(hundredth, rounding=ROUND_HALF_UP) if up + down else ""
        texts.append(str(percent))
    return texts


def reference_report(as_of: dt.datetime) -> ReferenceCsv:
    """The files of a report over every store as of `as_of`, as a superuser
    (who sees every store) would get them."""
    from collections import defaultdict

    from core.closures import closure_intervals
    from core.instants import WEEK
    from core.uptime import EXTENDED_COLUMNS, REPORT_COLUMNS
    from stores.models import BusinessHours, PollStatus, StatusSpan, Store, stale_after
    from stores.selectors import store_closure_rules

    as_of_micros, stale = to_micros(as_of), stale_after()
    week_start = as_of_micros - WEEK
    stores = sorted(Store.objects.values_list("store_id", "pk", "timezone"))
    hours: dict[int, list[tuple[int, dt.time | None, dt.time | None, bool]]] = defaultdict(list)
    for store_pk, *row in BusinessHours.objects.values_list(
        "store_id", "day_of_week", "start_time_local", "end_time_local", "closed"
    ):
        hours[store_pk].append(tuple(row))  # type: ignore[arg-type]
    # Each store's last span starting before the week, then those starting in it.
    before: dict[int, tuple[bool, int, int]] = {}
    inside: dict[int, list[tuple[bool, int, int]]] = defaultdict(list)
    spans = StatusSpan.objects.filter(first_poll_at__lt=as_of).order_by("store_id", "first_poll_at")
    for store_pk, status, first_at, last_at in spans.values_list("store_id", "status", "first_poll_at", "last_poll_at").iterator(
        chunk_size=20_000
    ):
        span = (status == PollStatus.ACTIVE, to_micros(first_at), to_micros(last_at))
        if span[1] < week_start:
            before[store_pk] = span
        else:
            inside[store_pk].append(span)
    closure_rules: dict[int, Any] = {}
    pks = [pk for _, pk, _ in stores]
    for offset in range(0, len(pks), 2000):
        closure_rules.update(
            store_closure_rules(store_pks=pks[offset : offset + 2000], start=as_of - dt.timedelta(days=7), end=as_of)
        )
    seed, extended = io.StringIO(), io.StringIO()
    seed_writer, extended_writer = csv.writer(seed, lineterminator="\r\n"), csv.writer(extended, lineterminator="\r\n")
    seed_writer.writerow(REPORT_COLUMNS)
    extended_writer.writerow(REPORT_COLUMNS + EXTENDED_COLUMNS)
    for store_id, pk, zone_name in stores:
        store_spans = ([before[pk]] if pk in before else []) + inside.get(pk, [])
        closures = closure_intervals(closure_rules[pk], zone_name, week_start, as_of_micros)
        figures = reference_figures(
            store_spans, _reference_week(hours.get(pk, [])), zone_name, closures, as_of=as_of_micros, stale=stale
        )
        texts = _reference_texts(figures)
        seed_writer.writerow((store_id, *texts[:6]))
        extended_writer.writerow((store_id, *texts))
    return ReferenceCsv(seed.getvalue().encode(), extended.getvalue().encode())


def check_against_reference(report: Report, reference: ReferenceCsv) -> None:
    """Both files of the report equal the reference's, byte for byte; SystemExit
    naming the first line that differs otherwise."""
    for name, field, expected in (
        ("file", report.file, reference.seed),
        ("extended_file", report.extended_file, reference.extended),
    ):
        with field.open("rb") as file:
            written = file.read()
        if written != expected:
            got_lines, want_lines = written.split(b"\r\n"), expected.split(b"\r\n")
            line = next(
                (n for n, (a, b) in enumerate(zip(got_lines, want_lines)) if a != b), min(len(got_lines), len(want_lines))
            )
            got = got_lines[line] if line < len(got_lines) else b"(end of file)"
            want = want_lines[line] if line < len(want_lines) else b"(end of file)"
            raise SystemExit(
                f"report {report.pk}: its {name} differs from the reference at line {line + 1}: "
                f"{got.decode(errors='replace')!r}, expected {want.decode(errors='replace')!r}"
            )


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
    rss_before = harness.peak_rss()
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
    rss_after = harness.peak_rss()
    rss_growth = None
    if peak_reset and not measure.trace and rss_before is not None and rss_after is not None:
        rss_growth = rss_after - rss_before
    profile = ""
    if profiler is not None:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(measure.profile_top)
        profile = stream.getvalue()
    connection.close()
    return RunResult(seconds, rss_growth, traced_peak, profile)


def run_report(user: AbstractBaseUser, expected: Expected, measure: Measure) -> RunResult:
    """Create a report, generate it in a new process, check its CSV here."""
    from reports.models import Report

    report = Report.objects.create(requested_by=user, as_of=AS_OF)
    # spawn, not fork: a forked child would share the parent's memory (and
    # its open database connection).
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(measure_report, str(report.pk), measure).result()
    report.refresh_from_db()
    check_report(report, expected)
    delete_files(report)
    return result


# --------------------------------------------------------------------------
# Reports across worker processes
# --------------------------------------------------------------------------


class WorkersRun(NamedTuple):
    seconds: float  # from report_trigger to the report Complete, its CSV written
    worker_peak_rss: list[int | None]  # bytes, per worker process (from its start)
    load: float  # the machine's 1-minute load average just before the run
    cpu: float = 0.0  # CPU seconds the workers used over the run (less sensitive than `seconds` to other load)
    rows: Rows | None = None  # the report's figures (keep_rows), read after the timing


def run_with_workers(
    user: AbstractBaseUser, expected: Expected, args: argparse.Namespace, *, keep_rows: bool = False
) -> WorkersRun:
    """Trigger a report as the API does and wait for the workers to finish it.

    Fresh workers for each run, as for each single-process run: no run finds
    caches an earlier one warmed on the same data.
    """
    from django.test.utils import override_settings

    from reports.models import Report, ReportStatus
    from reports.services import report_trigger

    with (
        tempfile.TemporaryDirectory(prefix="report-bench-workers-") as log_dir,
        harness.task_workers(args.workers, interval=args.worker_interval, log_dir=Path(log_dir)) as workers,
        override_settings(TASKS=harness.DATABASE_TASKS),
    ):
        load = os.getloadavg()[0]
        cpu_before = sum(harness.process_cpu_seconds(worker.pid) for worker in workers)
        started = time.perf_counter()
        started_at = time.time()
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
        noticed = time.time()
        cpu = sum(harness.process_cpu_seconds(worker.pid) for worker in workers) - cpu_before
        peaks = [harness.peak_rss(worker.pid) for worker in workers]
    report.refresh_from_db()
    # Until the report's finished_at, which the worker writing its files sets
    # as it marks it complete (the same machine's clock): not until this
    # process's next look at it, up to POLL_SECONDS later.
    finished = report.finished_at.timestamp()
    if not started_at < finished <= noticed:
        raise SystemExit(f"report {report.pk} finished at {finished}, outside the run ({started_at} to {noticed})")
    seconds = finished - started_at
    check_report(report, expected)
    rows = report_rows(report) if keep_rows else None
    delete_files(report)
    return WorkersRun(seconds, peaks, load, cpu, rows)


def timed_worker_runs(
    user: AbstractBaseUser, expected: Expected, args: argparse.Namespace, *, keep_rows: bool = False
) -> list[WorkersRun]:
    """--runs reports across workers, printed as they finish; the figures of
    the last one kept when `keep_rows`."""
    runs: list[WorkersRun] = []
    for index in range(args.runs):
        run = run_with_workers(user, expected, args, keep_rows=keep_rows and index == args.runs - 1)
        runs.append(run)
        peaks = ", ".join(f"{peak / MB:.0f}" if peak is not None else "n/a" for peak in run.worker_peak_rss)
        print(
            f"  run {index + 1}: {run.seconds:.2f} s trigger to CSV ({run.cpu:.2f} CPU s in the workers); "
            f"peak RSS per worker MB: {peaks}; load average before: {run.load:.2f}",
            flush=True,
        )
    return runs


def timed_single_runs(user: AbstractBaseUser, expected: Expected, args: argparse.Namespace) -> list[RunResult]:
    """--runs reports in one new process each, every chunk inline."""
    single_runs: list[RunResult] = []
    for index in range(args.runs):
        single = run_report(user, expected, Measure())
        single_runs.append(single)
        rss = f"{single.rss_growth / MIB:.1f} MiB" if single.rss_growth is not None else "n/a"
        print(f"  run {index + 1}: {single.seconds:.2f} s, peak RSS growth {rss}", flush=True)
    return single_runs


# --------------------------------------------------------------------------
# A small report in a warm process
# --------------------------------------------------------------------------
#
# What one report costs a worker that is already up. This process (Django
# set up, its database connection open) triggers the report with
# report_trigger, as the API does, with the immediate task backend: the
# planning, the chunk (2,000 stores are one chunk at the default size) and
# the assembly all run inline inside the call, so its return is the report
# Complete with both files written. The first run is untimed (imports, the
# connection's first statements). Each run is as of another minute (AS_OF,
# then a minute earlier...): a worker's reports are each as of their own
# "now", so the engine's caches keyed by the report's instant start cold, as
# in production, while those keyed by dates stay warm.

# Runs timed by phase after the timed ones (PhaseClock), each phase's median kept.
PHASE_RUNS = 5


class WarmRun(NamedTuple):
    seconds: float  # report_trigger's call: the report Complete, its files written
    cpu: float  # this process's CPU seconds (user + system)
    db_wait: float  # seconds inside the driver's execute: the server's work and the round trips
    db_cpu: float  # CPU seconds of this connection's PostgreSQL server process (0 on SQLite)
    queries: int
    load: float  # the machine's 1-minute load average before the run


class QueryClock:
    """A connection.execute_wrapper counting the statements and the seconds
    spent executing them (a client-side cursor's execute returns once the
    whole result has arrived; turning it into Python rows comes after)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


def backend_pid() -> int | None:
    """The process id of this connection's PostgreSQL server process (None on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def scheduled_cpu_seconds(pid: int | None) -> float:
    """CPU seconds a process has run, in nanoseconds' precision (/proc/<pid>/schedstat;
    /proc/<pid>/stat counts in ticks of 10 ms, too coarse for a 50 ms report)."""
    if pid is None:
        return 0.0
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def warm_as_of(index: int) -> dt.datetime:
    return AS_OF - dt.timedelta(minutes=index)


def warm_run(user: AbstractBaseUser, expected: Expected, as_of: dt.datetime, pid: int | None) -> WarmRun:
    """Trigger one report and time it; then check both its files against the reference."""
    from django.db import connection

    from reports.services import report_trigger

    gc.collect()  # the garbage of the previous run and its check is not this run's
    clock = QueryClock()
    load = os.getloadavg()[0]
    db_cpu_before = scheduled_cpu_seconds(pid)
    cpu_before = time.process_time()
    with connection.execute_wrapper(clock):
        started = time.perf_counter()
        report = report_trigger(user=user, as_of=as_of)
        seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    db_cpu = scheduled_cpu_seconds(pid) - db_cpu_before
    report.refresh_from_db()
    check_report(report, expected)
    delete_files(report)
    return WarmRun(seconds, cpu, clock.seconds, db_cpu, clock.queries, load)


class PhaseClock:
    """Wall time by phase, each instant counted in the innermost phase running:
    wrapped functions and the database's statements (execute_wrapper) push
    their phase while they run."""

    def __init__(self, root: str) -> None:
        self.totals: dict[str, float] = {}
        self.stack = [root]
        self.mark = time.perf_counter()

    def _push(self, phase: str) -> None:
        now = time.perf_counter()
        top = self.stack[-1]
        self.totals[top] = self.totals.get(top, 0.0) + now - self.mark
        self.mark = now
        self.stack.append(phase)

    def _pop(self) -> None:
        now = time.perf_counter()
        top = self.stack.pop()
        self.totals[top] = self.totals.get(top, 0.0) + now - self.mark
        self.mark = now

    def wrap(self, function: Any, phase: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._push(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self._pop()

        return timed

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # A statement inside the reads is the reads' wait; any other is bookkeeping's.
        self._push(READS_WAIT if self.stack[-1] == READS else OTHER_WAIT)
        try:
            return execute(sql, params, many, context)
        finally:
            self._pop()

    def finish(self) -> dict[str, float]:
        self._pop()
        return self.totals


READS = "reads: rows into the engine's inputs (Python)"
READS_WAIT = "reads: database (execute: server work and transfer)"
ENGINE = "engine: store_weeks, stores_uptime_array and closure_intervals"
TEXTS = "figures to text: core.uptime_batch.figure_texts"
CHUNK = "chunk: store list, CSV lines from the texts"
ASSEMBLY = "assembly: the two CSV files from the chunk's lines"
STORAGE = "file storage: save, exists, delete"
OTHER_WAIT = "bookkeeping: database (report, chunk and task rows; execute)"
BOOKKEEPING = "bookkeeping: report, chunk and task rows (Python)"
PHASES = (READS_WAIT, READS, ENGINE, TEXTS, CHUNK, ASSEMBLY, STORAGE, OTHER_WAIT, BOOKKEEPING)


def warm_phases(user: AbstractBaseUser, as_of: dt.datetime) -> dict[str, float]:
    """One report's wall time by phase (PhaseClock), the functions of each
    phase wrapped for the run only. The wrappers cost about a microsecond a
    call (four calls per store), so the phases add up to a little more than a
    run without them."""
    from django.core.files.storage import FileSystemStorage
    from django.db import connection

    import core.uptime
    import reports.figures
    import reports.services

    clock = PhaseClock(BOOKKEEPING)
    patches: list[tuple[Any, str, str]] = [
        (reports.figures, "store_batch_inputs", READS),
        (core.uptime, "store_weeks", ENGINE),
        (reports.figures, "stores_uptime_array", ENGINE),
        (reports.figures, "closure_intervals", ENGINE),
        (reports.services, "figure_texts", TEXTS),
        (reports.services, "_chunk_rows", CHUNK),
        (reports.services, "_assemble", ASSEMBLY),
        (FileSystemStorage, "save", STORAGE),
        (FileSystemStorage, "exists", STORAGE),
        (FileSystemStorage, "delete", STORAGE),
    ]
    # What each owner itself defines (Storage, not FileSystemStorage, defines save): restored or removed after.
    saved = [(owner, name, vars(owner).get(name)) for owner, name, _ in patches]
    report = None
    try:
        for owner, name, phase in patches:
            setattr(owner, name, clock.wrap(getattr(owner, name), phase))
        gc.collect()
        with connection.execute_wrapper(clock):
            clock.mark = time.perf_counter()
            report = warm_report_trigger(user, as_of)
        totals = clock.finish()
    finally:
        for owner, name, original in saved:
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
    if report is not None:
        delete_files(report)
    return totals


def warm_report_trigger(user: AbstractBaseUser, as_of: dt.datetime) -> Report:
    from reports.services import report_trigger

    return report_trigger(user=user, as_of=as_of)


def warm_profile(user: AbstractBaseUser, as_of: dt.datetime, top: int) -> str:
    """A cProfile of one report, the functions with the most time of their own first."""
    profiler = cProfile.Profile()
    gc.collect()
    report = profiler.runcall(warm_report_trigger, user, as_of)
    delete_files(report)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    # Then the project's own functions by cumulative time: which of its phases the time above belongs to.
    stats.sort_stats("cumulative").print_stats(f"{re.escape(str(harness.PROJECT_DIR))}/(?!\\.venv)", 2 * top)
    return stream.getvalue()


def warm_benchmark(args: argparse.Namespace, stores: list[StoreSpec], label: str) -> Results:
    from django.conf import settings

    if settings.TASKS["default"]["BACKEND"] != "django_tasks.backends.immediate.ImmediateBackend":
        raise SystemExit("the warm-process runs need the immediate task backend (harness.setup_django sets it)")
    loaded = load_case(args, stores)
    chunk_size = args.chunk_size or settings.MONITOR_REPORT_CHUNK_SIZE
    pid = backend_pid()
    # Each run's own instant, and the reference's files for it.
    as_ofs = [warm_as_of(index) for index in range(args.warm_runs + 1)]
    ids = [spec.store_id for spec in stores]
    with harness.step(f"reference reports, one per run's instant ({len(as_ofs)})"):
        expected = {as_of: Expected(ids, reference_report(as_of)) for as_of in as_ofs}
    print(
        f"report of {len(stores):,} stores ({-(-len(stores) // chunk_size)} chunk of {chunk_size:,}) in this process "
        f"(immediate task backend), as of {as_ofs[0]:%H:%M} and each minute before; first run untimed; "
        "both files of every run checked byte for byte against the reference:"
    )
    warm_run(loaded.user, expected[as_ofs[0]], as_ofs[0], pid)
    runs: list[WarmRun] = []
    for index, as_of in enumerate(as_ofs[1:], start=1):
        run = warm_run(loaded.user, expected[as_of], as_of, pid)
        runs.append(run)
        print(
            f"  run {index}: {run.seconds * 1000:.1f} ms; CPU {run.cpu * 1000:.1f} ms here, "
            f"{run.db_cpu * 1000:.1f} ms in PostgreSQL; {run.queries} statements, {run.db_wait * 1000:.1f} ms in "
            f"execute; load average before: {run.load:.2f}",
            flush=True,
        )
    # Phases: the median of five runs, each as of an instant not used before.
    phase_runs = [warm_phases(loaded.user, warm_as_of(len(as_ofs) + index)) for index in range(PHASE_RUNS)]
    phases = {phase: statistics.median(run.get(phase, 0.0) for run in phase_runs) for phase in PHASES}
    print(f"\nwhere one report's time goes (median of {PHASE_RUNS} runs, phases timed by wrappers):")
    for phase in PHASES:
        print(f"  {phases[phase] * 1000:7.1f} ms  {phase}")
    print(f"  {sum(phases.values()) * 1000:7.1f} ms  in all")
    if args.profile:
        profile = warm_profile(loaded.user, warm_as_of(len(as_ofs) + PHASE_RUNS), args.profile_top)
        print(f"\ncProfile of one warm report, top {args.profile_top} functions by their own time:")
        print(profile)
    warm = {
        "stores": len(stores),
        "chunks": planned_chunks(len(stores), chunk_size),
        "runs": [run._asdict() for run in runs],
        "phases": phases,
        "database": harness.database_version(),
    }
    return Results(
        label=label,
        days=args.days,
        stores=len(stores),
        synthetic=sum(spec.synthetic for spec in stores),
        hours_rows=loaded.hours_rows,
        polls=loaded.polls,
        span_rows=loaded.span_rows,
        workers=0,
        chunk_size=chunk_size,
        chunks=warm["chunks"],
        worker_interval=0.0,
        runs=[run.seconds for run in runs],
        worker_peak_rss=[],
        loads=[run.load for run in runs],
        single_runs=[],
        traced_peak=None,
        warm=warm,
    )


# --------------------------------------------------------------------------
# Closures
# --------------------------------------------------------------------------


class ClosureSetup(NamedTuple):
    holidays: int  # organization-wide, every year
    holidays_in_week: list[str]  # "reason (date)" of those in the report's week
    one_off_stores: list[str]  # store_ids the one-off closure lists


def open_throughout(spec: StoreSpec, day_of_week: int, start: dt.time, end: dt.time) -> bool:
    """Whether one of the store's business hours rows covers [start, end)
    local on that day (a store without rows is open all week)."""
    if not spec.hours:
        return True
    return any(row.day_of_week == day_of_week and row.start <= start and end <= row.end for row in spec.hours)


def create_closures(organization: Organization, stores: Sequence[StoreSpec], seed: int) -> ClosureSetup:
    """The HOLIDAYS for every store of the organization, every year, and the
    ONE_OFF closure for ONE_OFF_SHARE of the stores (chosen among those whose
    business hours cover it), created as the API creates closures."""
    from core.closures import closure_period
    from stores.models import Closure, Store
    from stores.services import closure_create

    first_day, last_day = (AS_OF - dt.timedelta(days=7)).date(), AS_OF.date()
    in_week = []
    for day, reason in HOLIDAYS:
        closure_create(
            organization=organization,
            period=closure_period(day, day, every_year=True),
            reason=reason,
            created_by=None,
            every_year=True,
        )
        date = dt.date.fromisoformat(day).replace(year=AS_OF.year)
        if first_day <= date <= last_day:
            in_week.append(f"{reason} ({date:%d %B})")
    if not in_week:
        raise SystemExit("no holiday falls in the report's week: the closures would remove no time")

    start, end = (dt.datetime.fromisoformat(text) for text in ONE_OFF)
    if not first_day <= start.date() <= last_day:
        raise SystemExit(f"the one-off closure {ONE_OFF} is not in the report's week")
    eligible = [spec.store_id for spec in stores if open_throughout(spec, start.weekday(), start.time(), end.time())]
    count = max(1, round(ONE_OFF_SHARE * len(stores)))
    if len(eligible) < count:
        raise SystemExit(f"only {len(eligible)} stores are open throughout {ONE_OFF}; {count} wanted")
    listed = sorted(random.Random(seed).sample(eligible, count))
    closure_create(
        organization=organization,
        period=closure_period(*ONE_OFF),
        reason="Staff training",
        created_by=None,
        stores=list(Store.objects.filter(organization=organization, store_id__in=listed)),
    )
    vacuum_analyze(Closure, Closure.stores.through)
    return ClosureSetup(len(HOLIDAYS), in_week, listed)


def compare_with_closures(without: Rows, with_closures: Rows, listed: Sequence[str]) -> dict[str, Any]:
    """Check the report with closures against the one without: the same
    stores; figures changed for some, and only for stores with closed time;
    the last hour and day (which no holiday touches) changed only for the
    stores the one-off closure lists; never more up and down time in the week
    than without. Returns counts for the results."""
    from core.uptime import REPORT_COLUMNS

    if with_closures.keys() != without.keys():
        raise SystemExit(f"with closures the report has {len(with_closures):,} stores, without {len(without):,}")
    if any(float(row["closed_last_week"]) for row in without.values()):
        raise SystemExit("the report without closures has closed time")
    listed_set = set(listed)
    changed = [sid for sid, row in without.items() if any(row[c] != with_closures[sid][c] for c in REPORT_COLUMNS[1:])]
    closed_week = {sid for sid, row in with_closures.items() if float(row["closed_last_week"]) > 0}
    closed_day = {sid for sid, row in with_closures.items() if float(row["closed_last_day"]) > 0}
    closed_hour = {sid for sid, row in with_closures.items() if float(row["closed_last_hour"]) > 0}
    if not changed:
        raise SystemExit("the closures changed no store's figures")
    unexplained = [sid for sid in changed if sid not in closed_week]
    if unexplained:
        raise SystemExit(f"{len(unexplained)} stores without closed time have other figures, e.g. {unexplained[0]}")
    if not closed_day <= listed_set or not closed_hour <= listed_set:
        stray = sorted((closed_day | closed_hour) - listed_set)
        raise SystemExit(f"{len(stray)} stores outside the one-off closure are closed in the last day, e.g. {stray[0]}")
    recent = ("uptime_last_hour", "uptime_last_day", "downtime_last_hour", "downtime_last_day")
    moved = [
        sid
        for sid in without
        if sid not in listed_set and any(without[sid][c] != with_closures[sid][c] for c in recent)
    ]
    if moved:
        raise SystemExit(f"{len(moved)} stores outside the one-off closure changed in the last day, e.g. {moved[0]}")

    def week(row: dict[str, str]) -> float:
        return float(row["uptime_last_week"]) + float(row["downtime_last_week"])

    grown = [sid for sid, row in with_closures.items() if week(row) > week(without[sid]) + 0.02]  # rounding to 0.01 h
    if grown:
        raise SystemExit(f"{len(grown)} stores have more up and down time with closures, e.g. {grown[0]}")
    closed_hours = sorted(float(with_closures[sid]["closed_last_week"]) for sid in closed_week)
    return {
        "stores": len(with_closures),
        "changed": len(changed),
        "closed_in_week": len(closed_week),
        "listed_closed_in_day": len(closed_day & listed_set),
        "listed": len(listed_set),
        "closed_hours_median": statistics.median(closed_hours) if closed_hours else 0.0,
        "closed_hours_total": sum(closed_hours),
    }


# --------------------------------------------------------------------------
# A case
# --------------------------------------------------------------------------


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
    chunks: int  # as planned (planned_chunks)
    worker_interval: float
    runs: list[float]  # seconds, trigger to CSV
    worker_peak_rss: list[int]  # bytes, the largest worker's peak in each run
    loads: list[float]  # 1-minute load average before each run
    single_runs: list[RunResult]  # report_generate in one process; [] unless asked
    traced_peak: int | None  # bytes; None when not traced
    # The same runs after the closures were created; empty without closures.
    closures: dict[str, Any] | None = None  # ClosureSetup's and compare_with_closures' figures
    worker_cpu: Sequence[float] = ()  # CPU seconds of the workers in each run (both lists)
    closure_runs: Sequence[float] = ()
    closure_worker_cpu: Sequence[float] = ()
    closure_worker_peak_rss: Sequence[int] = ()
    closure_loads: Sequence[float] = ()
    closure_single_runs: Sequence[RunResult] = ()
    # The database's size after the load (PostgreSQL; 0 elsewhere), and its largest tables' (indexes included).
    database_bytes: int = 0
    table_bytes: dict[str, int] | None = None
    # The warm-process case's figures (WarmRun's by run, the phases); None for the other cases.
    warm: dict[str, Any] | None = None


def case_label(name: str | None, stores: int) -> str:
    return "Loop 2023 stores" if name == "loop" else f"{stores:,} stores"


def run_case(args: argparse.Namespace, name: str | None, count: int | None) -> Results:
    database = harness.BenchDatabase.from_url(args.database_url)
    if args.chunk_size:
        # Before Django reads its settings: this process, its workers and its
        # single-process runs all plan chunks of this size.
        os.environ["MONITOR_REPORT_CHUNK_SIZE"] = str(args.chunk_size)
    stores = select_stores(args.data_dir, count, args.seed)
    closures = args.closures if args.closures is not None else name == "loop"
    with harness.bench_database(database, keep=args.keep, media_prefix="report-bench-media-"):
        if name == "warm":
            return warm_benchmark(args, stores, f"{len(stores):,} Loop 2023 stores, warm process")
        return benchmark(args, stores, case_label(name, len(stores)), closures=closures)


class LoadedCase(NamedTuple):
    user: AbstractBaseUser  # a superuser: the report covers every store
    organization: Organization  # the stores'
    polls: int  # generated
    hours_rows: int
    span_rows: int


def load_case(args: argparse.Namespace, stores: Sequence[StoreSpec]) -> LoadedCase:
    """The stores, their business hours and --days of generated polls as spans, in the database."""
    from django.contrib.auth import get_user_model

    from accounts.models import Organization

    print(f"  database: {harness.database_version()}")
    hours = args.days * 24
    start = to_micros(AS_OF) - hours * HOUR

    with harness.step(f"generate {args.days} days of polls and compress them"):
        spans, polls_total = generate_spans(stores, seed=args.seed, start=start, hours=hours)
    span_total = sum(map(len, spans.values()))
    print(
        f"  polls generated: {polls_total:,}; span rows: {span_total:,}; polls per span: {polls_total / span_total:.1f}"
    )
    # The report covers the stores the user sees: a superuser sees them all.
    user = get_user_model().objects.create_superuser(username="bench", email="bench@example.com", password=None)
    organization = Organization.objects.create(name="bench")
    with harness.step("verify compression against polls_record"):
        verify_compression(organization, stores, spans, seed=args.seed, start=start, hours=hours)
    with harness.step("bulk load stores, hours and spans"):
        hours_rows, span_rows = load_database(organization, stores, spans)
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    return LoadedCase(user, organization, polls_total, hours_rows, span_rows)


def expected_report(stores: Sequence[StoreSpec]) -> Expected:
    with harness.step("reference report (the slow exact path every report file is checked against)"):
        return Expected([spec.store_id for spec in stores], reference_report(AS_OF))


def benchmark(args: argparse.Namespace, stores: list[StoreSpec], label: str, *, closures: bool = False) -> Results:
    from django.conf import settings

    user, organization, polls_total, hours_rows, span_rows = load_case(args, stores)
    database_bytes, table_bytes = database_sizes()
    expected = expected_report(stores)
    expected_ids = expected.ids
    chunk_size = args.chunk_size or settings.MONITOR_REPORT_CHUNK_SIZE

    print(
        f"report as of {AS_OF:%Y-%m-%d %H:%M} UTC over {len(expected_ids):,} stores, chunks of {chunk_size:,} "
        f"stores, {args.workers} task_worker processes (--interval {args.worker_interval}), fresh for each run:"
    )
    runs = timed_worker_runs(user, expected, args, keep_rows=closures)

    single_runs: list[RunResult] = []
    traced_peak = None
    if args.single_process:
        print("report_generate in one new process, every chunk inline:")
        single_runs = timed_single_runs(user, expected, args)
    if args.trace:
        traced = run_report(user, expected, Measure(trace=True))
        traced_peak = traced.traced_peak
        assert traced_peak is not None
        print(f"  traced run: tracemalloc peak {traced_peak / MIB:.1f} MiB ({traced.seconds:.2f} s under tracing)")
    if args.profile:
        profiled = run_report(user, expected, Measure(profile_top=args.profile_top))
        print(f"\ncProfile of one single-process report_generate run, top {args.profile_top} by cumulative time:")
        print(profiled.profile)

    closure_summary: dict[str, Any] | None = None
    closure_runs: list[WorkersRun] = []
    closure_single_runs: list[RunResult] = []
    if closures:
        with harness.step("create closures"):
            setup = create_closures(organization, stores, args.seed)
        one_off_start, one_off_end = (dt.datetime.fromisoformat(text) for text in ONE_OFF)
        one_off_hours = (one_off_end - one_off_start) / dt.timedelta(hours=1)
        print(
            f"  {setup.holidays} holidays of every store, every year ({len(setup.holidays_in_week)} in the week: "
            f"{', '.join(setup.holidays_in_week)}); one {one_off_hours:g} h closure {ONE_OFF[0]} – {ONE_OFF[1]} "
            f"local for {len(setup.one_off_stores):,} listed stores ({ONE_OFF_SHARE * 100:g} %)"
        )
        with harness.step("reference report with the closures"):
            expected = expected._replace(csv=reference_report(AS_OF))
        print("the same report with the closures, fresh workers for each run:")
        closure_runs = timed_worker_runs(user, expected, args, keep_rows=True)
        without_rows, with_rows = runs[-1].rows, closure_runs[-1].rows
        assert without_rows is not None and with_rows is not None
        compared = compare_with_closures(without_rows, with_rows, setup.one_off_stores)
        closure_summary = {"holidays": setup.holidays, "holidays_in_week": setup.holidays_in_week, **compared}
        print(
            f"  CSV against the run without: {compared['stores']:,} stores in both; {compared['changed']:,} with "
            f"changed figures, all of them with closed time ({compared['closed_in_week']:,} stores have some; median "
            f"{compared['closed_hours_median']:.2f} h in the week); {compared['listed_closed_in_day']:,} of the "
            f"{compared['listed']:,} listed stores closed in the last day, no other store changed there"
        )
        without_median = statistics.median(run.seconds for run in runs)
        with_median = statistics.median(run.seconds for run in closure_runs)
        without_cpu = statistics.median(run.cpu for run in runs)
        with_cpu = statistics.median(run.cpu for run in closure_runs)
        print(
            f"  median {with_median:.2f} s with closures, {without_median:.2f} s without: "
            f"ratio {with_median / without_median:.3f} (workers' CPU: {with_cpu:.2f} s against {without_cpu:.2f} s, "
            f"{with_cpu / without_cpu:.3f})",
            flush=True,
        )
        if args.single_process:
            print("report_generate with the closures in one new process, every chunk inline:")
            closure_single_runs = timed_single_runs(user, expected, args)
        if args.profile:
            profiled = run_report(user, expected, Measure(profile_top=args.profile_top))
            print(
                f"\ncProfile of one single-process report_generate run with the closures, top {args.profile_top} "
                "by cumulative time:"
            )
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
        chunks=planned_chunks(len(expected_ids), chunk_size),
        worker_interval=args.worker_interval,
        runs=[run.seconds for run in runs],
        worker_peak_rss=[max((peak or 0) for peak in run.worker_peak_rss) for run in runs],
        loads=[run.load for run in runs],
        single_runs=single_runs,
        traced_peak=traced_peak,
        closures=closure_summary,
        worker_cpu=[run.cpu for run in runs],
        closure_runs=[run.seconds for run in closure_runs],
        closure_worker_cpu=[run.cpu for run in closure_runs],
        closure_worker_peak_rss=[max((peak or 0) for peak in run.worker_peak_rss) for run in closure_runs],
        closure_loads=[run.load for run in closure_runs],
        closure_single_runs=closure_single_runs,
        database_bytes=database_bytes,
        table_bytes=table_bytes,
    )


def database_sizes() -> tuple[int, dict[str, int]]:
    """The database's size on disk and its four largest tables' (with their indexes); 0 and {} off PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0, {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        total = cursor.fetchone()[0]
        cursor.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY 2 DESC LIMIT 4"
        )
        return total, dict(cursor.fetchall())


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


def cpu_text(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "n/a"


def render(results: Sequence[Results], cases: Sequence[tuple[str | None, int | None]]) -> dict[str, Any]:
    """The Markdown section and the targets, for bench/run.py (and the terminal)."""
    lines: list[str] = []
    targets: list[harness.Target] = []
    for result in results:
        if result.warm is not None:
            warm_lines, warm_target = render_warm(result)
            lines += warm_lines
            targets.append(warm_target)
    across = [(case, result) for case, result in zip(cases, results) if result.warm is None]
    if across:
        worker_lines, worker_targets = render_workers([result for _, result in across], [case for case, _ in across])
        lines += worker_lines
        targets += worker_targets
    return {"title": "Report generation", "markdown": "\n".join(lines), "targets": targets}


def render_warm(result: Results) -> tuple[list[str], harness.Target]:
    """The warm-process case's section and its target."""
    assert result.warm is not None
    runs = [WarmRun(**run) for run in result.warm["runs"]]
    median = statistics.median(run.seconds for run in runs)
    phases: dict[str, float] = result.warm["phases"]
    lines = [
        "## Report generation in a warm process",
        "",
        f"`bench/report_bench.py --case warm`: a report over {result.stores:,} Loop 2023 stores (the first of the "
        f"Loop files; {result.hours_rows:,} business hours rows, {result.polls:,} polls generated over "
        f"{result.days} days, {result.span_rows:,} span rows; {result.warm['chunks']} chunk) on "
        f"{result.warm['database']}, triggered with `report_trigger` as the API does, in the benchmark's own "
        "process with the immediate task backend: planning, chunk and assembly run inline, so the call returns "
        "with the report Complete and both files written. The process is warm (Django set up, connection open, "
        "one untimed run first); each run is as of another minute, so the engine's caches keyed by the report's "
        "instant start cold. Both files of every run are checked byte for byte against a slow exact reference "
        "(`reference_report`: ORM reads, pairwise interval arithmetic, Decimal text). CPU here: this process's "
        "user + system time; in PostgreSQL: its server process's (/proc schedstat); execute: the time inside the "
        "driver's execute (the server's work and the transfer), of the wall time.",
        "",
        "| run | ms | CPU ms here | CPU ms in PostgreSQL | statements | execute ms | load average before |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {index} | {run.seconds * 1000:.1f} | {run.cpu * 1000:.1f} | {run.db_cpu * 1000:.1f} | {run.queries} "
            f"| {run.db_wait * 1000:.1f} | {run.load:.2f} |"
            for index, run in enumerate(runs, start=1)
        ),
        f"| median | {median * 1000:.1f} | {statistics.median(run.cpu for run in runs) * 1000:.1f} "
        f"| {statistics.median(run.db_cpu for run in runs) * 1000:.1f} | {statistics.median(run.queries for run in runs):.0f} "
        f"| {statistics.median(run.db_wait for run in runs) * 1000:.1f} | |",
        "",
        f"Where one report's time goes (median of {PHASE_RUNS} more runs; each instant counted in the innermost phase, "
        "timed by wrappers around the phases' functions and statements, which add a little):",
        "",
        "| phase | ms | share |",
        "|---|---:|---:|",
        *(
            f"| {phase} | {phases.get(phase, 0.0) * 1000:.1f} | {phases.get(phase, 0.0) / sum(phases.values()):.0%} |"
            for phase in PHASES
        ),
        f"| in all | {sum(phases.values()) * 1000:.1f} | |",
        "",
    ]
    target: harness.Target = {
        "target": f"report, {result.stores:,} generated Loop stores, trigger to CSV in a warm process",
        "goal": f"≤ {WARM_TARGET_SECONDS} s",
        "measured": f"{median:.3f} s (median of {len(runs)}; CPU {statistics.median(run.cpu for run in runs):.3f} s "
        f"here, {statistics.median(run.db_cpu for run in runs):.3f} s in PostgreSQL)",
        "met": median <= WARM_TARGET_SECONDS,
    }
    return lines, target


def gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB" if size else "—"


def render_workers(
    results: Sequence[Results], cases: Sequence[tuple[str | None, int | None]]
) -> tuple[list[str], list[harness.Target]]:
    """The section and targets of the cases run across workers."""
    first = results[0]
    lines = [
        "## Report generation across workers",
        "",
        f"`bench/report_bench.py`: a report over every store, as of {AS_OF:%Y-%m-%d %H:%M} UTC, with "
        f"{first.workers} `manage.py task_worker` processes (`--interval {first.worker_interval:g}`: the longest an idle "
        "worker waits before looking at the queue again, woken by NOTIFY as each task is queued; `CONN_MAX_AGE=600`) sharing its chunks; timed from "
        "`report_trigger` (as the API calls it) to the report Complete with its CSV written (its `finished_at`, set "
        "as the worker writing the files marks it complete; the benchmark looks every 10 ms), each run with "
        "freshly started workers; both files of every report checked byte for byte against `reference_report` "
        "(with closures, one computed with them). "
        "Peak RSS: each worker process's whole peak (VmHWM), Django included; the largest worker's. "
        f"The machine has {harness.cpu_count()} CPUs, shared by the workers, PostgreSQL and the benchmark; the "
        "1-minute load average before each run counts the benchmark's own earlier steps too, so only one well "
        "above 2 says that other work competed. "
        f"Data: {first.days} days of generated polls per store ending at as_of (hourly ±5 min, 2 % missed, "
        "outages), compressed into spans; the Loop stores keep their real timezones and business hours, the "
        "synthetic ones get US zones and Loop-like weeks.",
        "",
        "| stores | business hours rows | span rows | database size | workers × chunk | chunks | runs, s | median s "
        "| peak RSS per worker MB | load average before the runs |",
        "|---|---:|---:|---:|---|---:|---|---:|---:|---|",
    ]
    for result in results:
        synthetic = ""
        if result.synthetic:
            synthetic = f" ({result.stores - result.synthetic:,} Loop + {result.synthetic:,} synthetic)"
        chunks = result.chunks
        lines.append(
            f"| {result.label}: {result.stores:,}{synthetic} | {result.hours_rows:,} | {result.span_rows:,} "
            f"| {gib(result.database_bytes)} | {result.workers} × {result.chunk_size:,} | {chunks} | {', '.join(f'{s:.2f}' for s in result.runs)} "
            f"| {statistics.median(result.runs):.2f} | {max(result.worker_peak_rss) / MB:.0f} "
            f"| {', '.join(f'{load:.1f}' for load in result.loads)} |"
        )
    for result in results:
        if result.table_bytes:
            tables = ", ".join(f"`{name}` {gib(size)}" for name, size in result.table_bytes.items())
            lines += ["", f"Largest tables at {result.stores:,} stores (indexes included): {tables}."]
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
    with_closures = [result for result in results if result.closure_runs]
    if with_closures:
        one_off_start, one_off_end = (dt.datetime.fromisoformat(text) for text in ONE_OFF)
        summary = with_closures[0].closures or {}
        lines += [
            "",
            f"The same report with closures, timed the same way right after the runs above: {len(HOLIDAYS)} holidays "
            "of every store of the organization, every year, as local dates "
            f"({', '.join(summary.get('holidays_in_week', []))} in the report's week), and one closure of "
            f"{one_off_start:%d %B %H:%M}–{one_off_end:%H:%M} local (the last day) listing "
            f"{ONE_OFF_SHARE * 100:g} % of the stores, each open throughout it; created with "
            "`stores.services.closure_create`. The CSV is checked against the last run without: the same stores, "
            "figures changed only for stores with closed time, and in the last hour and day only for the listed "
            "ones. The workers' CPU seconds over each run (their user and system time, from /proc) show the same "
            "comparison less coloured by other work on the machine.",
            "",
            "| stores | runs without, s | median s | runs with closures, s | median s | with / without "
            "| workers' CPU s, without / with (medians) | stores changed | stores with closed time, median h "
            "| peak RSS per worker MB | load average before |",
            "|---|---|---:|---|---:|---:|---|---:|---|---:|---|",
        ]
        for result in with_closures:
            summary = result.closures or {}
            without, with_ = statistics.median(result.runs), statistics.median(result.closure_runs)
            lines.append(
                f"| {result.stores:,} | {', '.join(f'{s:.2f}' for s in result.runs)} | {without:.2f} "
                f"| {', '.join(f'{s:.2f}' for s in result.closure_runs)} | {with_:.2f} | {with_ / without:.3f} "
                f"| {cpu_text(result.worker_cpu)} / {cpu_text(result.closure_worker_cpu)} "
                f"| {summary.get('changed', 0):,} | {summary.get('closed_in_week', 0):,}, "
                f"{summary.get('closed_hours_median', 0):.2f} | {max(result.closure_worker_peak_rss) / MB:.0f} "
                f"| {', '.join(f'{load:.1f}' for load in result.closure_loads)} |"
            )
        single_closures = [result for result in with_closures if result.closure_single_runs and result.single_runs]
        for result in single_closures:
            without_single = statistics.median(RunResult(*run).seconds for run in result.single_runs)
            with_single = statistics.median(RunResult(*run).seconds for run in result.closure_single_runs)
            lines += [
                "",
                f"In one process, {result.stores:,} stores: {without_single:.2f} s without closures, "
                f"{with_single:.2f} s with (medians; {with_single / without_single:.3f}).",
            ]
    lines.append("")
    targets: list[harness.Target] = []
    for (name, _), result in zip(cases, results):
        median = statistics.median(result.runs)
        peak = max(result.worker_peak_rss)
        measured = f"{median:.2f} s (median of {len(result.runs)}; {result.workers} workers)"
        if name == "loop":
            targets.append(
                {
                    "target": f"Report, {result.stores:,} Loop stores",
                    "goal": f"≤ {LOOP_TARGET_SECONDS} s trigger to CSV",
                    "measured": measured,
                    "met": median <= LOOP_TARGET_SECONDS,
                }
            )
        elif name in LARGE_CASE_SECONDS:
            goal_seconds = LARGE_CASE_SECONDS[name]
            targets.append(
                {
                    "target": f"Report, {result.stores:,} stores",
                    "goal": f"≤ {goal_seconds} s, worker peak RSS < {LARGE_TARGET_RSS_MB} MB",
                    "measured": f"{measured}, worker RSS {peak / MB:.0f} MB",
                    "met": median <= goal_seconds and peak < LARGE_TARGET_RSS_MB * MB,
                }
            )
        if result.closure_runs:
            with_median = statistics.median(result.closure_runs)
            ratio = with_median / median
            stores = f"{result.stores:,} Loop stores" if name == "loop" else f"{result.stores:,} stores"
            targets.append(
                {
                    "target": f"Report, {stores} with closures",
                    "goal": f"within {CLOSURES_TARGET_RATIO - 1:.0%} of the run without".replace("%", " %"),
                    "measured": f"{with_median:.2f} s vs {median:.2f} s without (medians of "
                    f"{len(result.closure_runs)}): ×{ratio:.3f}",
                    "met": ratio <= CLOSURES_TARGET_RATIO,
                }
            )
    return lines, targets


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--case",
        dest="cases",
        action="append",
        choices=sorted(CASES),
        help="a standard case, repeatable (default warm, loop and 100k): warm = the first 2,000 Loop stores, "
        "reports triggered in this warm process (immediate task backend); loop = every store of the Loop data; "
        "100k = 100,000 stores (the Loop stores and synthetic ones); 1m = 1,000,000 stores, likewise",
    )
    parser.add_argument(
        "--stores",
        type=harness.positive_int,
        help="instead of the standard cases, one of this many stores (the Loop stores first, then synthetic ones)",
    )
    parser.add_argument(
        "--days", type=harness.positive_int, default=8, help="days of polls ending at as_of (default 8)"
    )
    parser.add_argument("--runs", type=harness.positive_int, default=3, help="timed report runs per case (default 3)")
    parser.add_argument(
        "--warm-runs",
        type=harness.positive_int,
        default=9,
        help="timed runs of the warm case, after one untimed (default 9)",
    )
    parser.add_argument("--workers", type=harness.positive_int, default=2, help="task_worker processes (default 2)")
    parser.add_argument(
        "--chunk-size", type=harness.positive_int, help="stores per chunk (default: the MONITOR_REPORT_CHUNK_SIZE setting)"
    )
    parser.add_argument(
        "--worker-interval",
        type=harness.positive_float,
        default=1.0,
        help="the longest an idle worker waits before it looks at the queue again (task_worker --interval; "
        "default 1, the worker's own: it is woken when a task is queued)",
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
    parser.add_argument(
        "--closures",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="then time the report again with closures: 12 yearly holidays of every store and a one-off closure of "
        "2 %% of the stores this week (default: for the Loop case only)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of a single-process run (and of one with the closures); in the warm case, "
        "of one warm run",
    )
    parser.add_argument(
        "--profile-top", type=harness.positive_int, default=15, help="functions in the profile (default 15)"
    )
    harness.add_data_dir_option(parser)
    harness.add_common_options(
        parser,
        default_database_url=DEFAULT_DATABASE_URL,
        seed_help="seed of every random choice",
        keep_help="keep the (last case's) database afterwards",
    )
    parser.add_argument("--case-json", type=Path, help=argparse.SUPPRESS)  # one case's figures, for the parent run
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.stores is not None and args.cases:
        raise SystemExit("give --case or --stores, not both")
    if args.stores is not None:
        cases: list[tuple[str | None, int | None]] = [(None, args.stores)]
    else:
        cases = [(name, CASES[name]) for name in (args.cases or DEFAULT_CASES)]

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
    for line in harness.target_lines(result["targets"]):
        print(line)
    if args.json:
        harness.json_write(args.json, title=result["title"], markdown=result["markdown"], targets=result["targets"])


def child_args(args: argparse.Namespace) -> list[str]:
    """The options a case's own process needs, from the parent's."""
    argv = ["--days", str(args.days), "--database-url", args.database_url, "--seed", str(args.seed)]
    argv += ["--runs", str(args.runs), "--workers", str(args.workers), "--worker-interval", str(args.worker_interval)]
    argv += ["--warm-runs", str(args.warm_runs)]
    argv += ["--data-dir", str(args.data_dir), "--profile-top", str(args.profile_top)]
    if args.chunk_size:
        argv += ["--chunk-size", str(args.chunk_size)]
    for flag in ("single_process", "profile", "keep"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    argv.append("--trace" if args.trace else "--no-trace")
    if args.closures is not None:
        argv.append("--closures" if args.closures else "--no-closures")
    return argv


if __name__ == "__main__":
    main()
