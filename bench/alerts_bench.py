"""Benchmark of one monitor_alerts pass: 100,000 stores, 2 % of them in trouble.

Usage (from the project folder):

    .venv/bin/python bench/alerts_bench.py [--stores 100000] [--trouble-share 0.02]
        [--days 7] [--first-runs 3] [--runs 5] [--step-minutes 2]
        [--profile] [--profile-top 25] [--seed 1] [--database-url URL] [--keep]
        [--json PATH] [--data-dir ../shared/data/loop-2023]

Target (issue 13): one `manage.py monitor_alerts` pass
(alerts.services.alerts_evaluate) over 100,000 stores with 2 % in trouble
under 1 s on PostgreSQL, once their incidents are open (the steady pass,
which the loop runs every MONITOR_ALERT_EVERY_SECONDS); the first pass, which
opens them, is reported too.

What it does, and why each step is there:

1. It drops and creates its own PostgreSQL database (figures never depend
   on, and never touch, a developer's data), with an owner and its
   organization (bench/dataset.py create_owner).
2. Stores: the Loop stores (real zones and hours, from --data-dir) and
   synthetic ones past them (bench/dataset.py select_stores).
3. Polls: --days days of hourly polls per store ending at NOW, a fixed
   instant, from the generator of `manage.py generate_polls` (jitter, missed
   polls, outages of 1-4 polls) for all but the last TAIL_SLOTS hours; those
   last polls are written by the benchmark at one minute of each hour
   between 5 and 55: active for the stores that are up, and the last two or
   three inactive for the stores in trouble (--trouble-share of them, drawn
   among the stores whose business hours, as the engine reads them, cover
   [NOW - 3 h, NOW + 1 h] throughout). So at NOW every store that is up had
   its latest poll, active, under an hour before, and every store in trouble
   has been inactive inside its business hours for 65 minutes to 3 hours:
   past the grace period, with no other store a candidate (alert_candidates
   picks exactly the stores in trouble). The polls are compressed into spans
   with the span rule (core.spans, as polls_record writes them) and bulk
   loaded with COPY; Store.last_poll_at / last_status are those of each
   store's last span, incident_open false. Then VACUUM ANALYZE.
4. The first pass, `alerts_evaluate(now=NOW)`, timed --first-runs times
   (between runs the incidents are deleted and incident_open cleared,
   untimed, then VACUUM ANALYZE): it must pick exactly the stores in trouble
   and open one incident for each, and nothing else.
5. One more first pass under django.test.utils.CaptureQueriesContext
   (untimed): its queries, by kind. It leaves the incidents open.
6. VACUUM ANALYZE (as autovacuum would after the new rows), then --runs
   steady passes at NOW + k × --step-minutes (k = 1, 2, ...; `now` passed
   explicitly): the same candidates, nothing opened or resolved, and each
   open incident's business downtime brought up to date. Then one more under
   CaptureQueriesContext (untimed) for its queries.
7. With --profile, or when the median of a kind of pass is 1 s or more: a
   cProfile of one more pass of that kind (the first after a reset, between
   4 and 5; a steady one after 6), printed.
8. A Markdown section and the target, for bench/run.py (--json).

This is not a test: it is slow, needs a database server, and measures rather
than asserts (apart from sanity checks that make a wrong figure impossible to
miss).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import logging
import os
import pstats
import random
import re
import statistics
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import harness  # first of the project's imports: it puts the project on sys.path
from core import uptime
from core.instants import HOUR, MINUTE, to_micros
from dataset import SpanRow, StoreSpec, compress, create_owner, load_database, select_stores, vacuum_analyze
from stores.poll_generator import Poll, generate_polls, store_rng

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_alerts_bench")
TITLE = "Incident pass (monitor_alerts)"
# A fixed instant (the report benchmark's as_of: a Wednesday, midday in the US
# zones), so that two runs with the same seed load the same rows.
NOW = dt.datetime(2023, 1, 25, 18, 0, tzinfo=dt.timezone.utc)
STORES = 100_000
TROUBLE_SHARE = 0.02
TARGET_SECONDS = 1.0
# The last hours of polls, written by the benchmark rather than the generator.
TAIL_SLOTS = 3
# A store in trouble is open throughout this window around NOW (its trouble
# began at most TAIL_SLOTS hours before; the steady passes come after NOW).
OPEN_BEFORE = TAIL_SLOTS * HOUR
OPEN_AFTER = HOUR


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def week_of(spec: StoreSpec) -> uptime.WeeklyHours:
    """A store's week as the engine resolves it (no rows: open all week)."""
    return uptime.weekly_hours(uptime.HoursEntry(row.day_of_week, row.start, row.end) for row in spec.hours)


def open_around_now(spec: StoreSpec, now: int) -> bool:
    """Whether the store's business hours cover [now - OPEN_BEFORE, now + OPEN_AFTER) throughout."""
    window = (now - OPEN_BEFORE, now + OPEN_AFTER)
    return uptime.open_intervals(week_of(spec), spec.timezone, *window) == [window]


def choose_troubled(stores: Sequence[StoreSpec], share: float, seed: int, now: int) -> tuple[set[str], int]:
    """`share` of the stores, drawn among those open around NOW; and how many were eligible."""
    eligible = [spec.store_id for spec in stores if open_around_now(spec, now)]
    count = round(share * len(stores))
    if len(eligible) < count:
        raise SystemExit(f"only {len(eligible):,} stores are open around NOW; {count:,} wanted in trouble")
    return set(random.Random(f"{seed}/trouble").sample(eligible, count)), len(eligible)


def store_polls(spec: StoreSpec, *, seed: int, start: int, hours: int, troubled: bool) -> list[Poll]:
    """Generated hourly polls from `start`, then TAIL_SLOTS written ones ending
    before NOW: all active, or (in trouble) the last two or three inactive."""
    rng = store_rng(seed, spec.store_id)
    polls = generate_polls(rng, start, hours - TAIL_SLOTS)
    tail_start = start + (hours - TAIL_SLOTS) * HOUR
    minute = rng.randint(5, 55) * MINUTE
    down = rng.randint(2, TAIL_SLOTS) if troubled else 0
    polls.extend((tail_start + slot * HOUR + minute, slot < TAIL_SLOTS - down) for slot in range(TAIL_SLOTS))
    return polls


def generate_spans(
    stores: Sequence[StoreSpec], troubled: set[str], *, seed: int, start: int, hours: int
) -> tuple[dict[str, list[SpanRow]], int]:
    """Each store's spans, by the span rule, and the number of polls."""
    from stores.models import stale_after

    stale = stale_after()
    spans: dict[str, list[SpanRow]] = {}
    polls_total = 0
    for spec in stores:
        polls = store_polls(spec, seed=seed, start=start, hours=hours, troubled=spec.store_id in troubled)
        polls_total += len(polls)
        spans[spec.store_id] = compress(polls, stale)
    return spans, polls_total


class Pass(NamedTuple):
    """One timed pass and what it reported."""

    now: str  # ISO instant
    seconds: float
    candidates: int
    opened: int
    resolved: int
    flapping: int


def run_pass(now: dt.datetime) -> Pass:
    """alerts_evaluate(now=now), timed. Reads only the summary's four counts,
    by name: other fields (notifications...) are ignored."""
    from alerts.services import alerts_evaluate

    gc.collect()
    started = time.perf_counter()
    summary = alerts_evaluate(now=now)
    seconds = time.perf_counter() - started
    return Pass(
        now.isoformat(),
        seconds,
        summary.candidates,
        summary.opened,
        summary.resolved,
        summary.flapping,
    )


def check_pass(result: Pass, troubled: int, *, first: bool) -> None:
    """Candidates are exactly the stores in trouble; the first pass opens one
    incident for each, a later one none; nothing resolves, nothing flaps."""
    expected_opened = troubled if first else 0
    problems = []
    if result.candidates != troubled:
        problems.append(f"{result.candidates:,} candidates, expected {troubled:,} (the stores in trouble)")
    if result.opened != expected_opened:
        problems.append(f"{result.opened:,} opened, expected {expected_opened:,}")
    if result.resolved or result.flapping:
        problems.append(f"{result.resolved:,} resolved and {result.flapping:,} flapping, expected none")
    if problems:
        kind = "first" if first else "steady"
        raise SystemExit(f"{kind} pass at {result.now}: " + "; ".join(problems))


def check_incidents(troubled_pks: set[int], now: dt.datetime) -> int:
    """The open incidents are those of the stores in trouble, one each, all
    opened by NOW, with incident_open set on exactly those stores; returns the
    sum of their business downtime, in seconds."""
    from django.db.models import Q, Sum

    from alerts.models import Incident
    from stores.models import Store

    open_incidents = Incident.objects.open()
    stores = list(open_incidents.values_list("store_id", flat=True))
    if len(stores) != len(set(stores)) or set(stores) != troubled_pks:
        raise SystemExit(
            f"{len(stores):,} open incidents on {len(set(stores)):,} stores; expected one on each of the "
            f"{len(troubled_pks):,} stores in trouble ({len(set(stores) - troubled_pks):,} others)"
        )
    flagged = set(Store.objects.filter(incident_open=True).values_list("pk", flat=True))
    if flagged != troubled_pks:
        raise SystemExit(f"incident_open set on {len(flagged):,} stores, expected the {len(troubled_pks):,} in trouble")
    if open_incidents.filter(Q(opened_at__gt=now) | Q(business_downtime_seconds__lte=0)).exists():
        raise SystemExit("an open incident opened after its pass, or without business downtime")
    if Incident.objects.exclude(resolved_at__isnull=True).exists():
        raise SystemExit("a resolved incident: no store recovered")
    return int(open_incidents.aggregate(total=Sum("business_downtime_seconds"))["total"] or 0)


def reset_incidents() -> None:
    """Back to before the first pass: no incident, no notice, no flag (untimed)."""
    from alerts.models import Flapping, Incident
    from stores.models import Store

    Incident.objects.all().delete()
    Flapping.objects.all().delete()
    Store.objects.filter(incident_open=True).update(incident_open=False)
    vacuum_analyze(Incident, Flapping, Store)


_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', re.IGNORECASE)


def query_kind(sql: str) -> str:
    """A query's statement and first table: 'SELECT stores_store', 'SAVEPOINT'..."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    if verb in {"SAVEPOINT", "RELEASE", "ROLLBACK"}:
        return verb
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


class Queries(NamedTuple):
    count: int
    sql_seconds: float  # the queries' own time (round trips included), as the debug cursor times them
    seconds: float  # the pass, wall time (under the capture)
    kinds: list[tuple[str, int, float]]  # (kind, queries, SQL seconds), most frequent first


class QueryDurations(logging.Handler):
    """Each query's SQL and duration as django.db.backends logs it while
    queries are recorded: the query log keeps times rounded to the
    millisecond, and most of these queries take less."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.queries.append((str(getattr(record, "sql", "")), float(getattr(record, "duration", 0.0))))


def captured_pass(now: dt.datetime) -> tuple[Pass, Queries]:
    """One pass with its queries recorded (untimed: the capture adds overhead)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Django keeps the last 9,000 queries (queries_limit): a first pass makes
    # more, and a log already full would leave the capture empty.
    saved = connection.queries_log
    connection.queries_log = deque(maxlen=1_000_000)
    logger = logging.getLogger("django.db.backends")
    level, propagate = logger.level, logger.propagate
    durations = QueryDurations()
    logger.addHandler(durations)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # not to the console
    try:
        with CaptureQueriesContext(connection) as context:
            result = run_pass(now)
        count = len(context.captured_queries)  # read from the log: before it is put back
    finally:
        connection.queries_log = saved
        logger.removeHandler(durations)
        logger.setLevel(level)
        logger.propagate = propagate
    if len(durations.queries) != count:
        raise SystemExit(f"{count:,} queries captured, {len(durations.queries):,} logged")
    kinds: Counter[str] = Counter()
    kind_seconds: Counter[str] = Counter()
    for sql, seconds in durations.queries:
        kind = query_kind(sql)
        kinds[kind] += 1
        kind_seconds[kind] += seconds
    sql_seconds = sum(kind_seconds.values())
    by_kind = [(kind, count, kind_seconds[kind]) for kind, count in kinds.most_common()]
    return result, Queries(count, sql_seconds, result.seconds, by_kind)


def profiled_pass(now: dt.datetime, top: int) -> tuple[Pass, str]:
    """One pass under cProfile: the top functions by cumulative and by own time."""
    from alerts.services import alerts_evaluate

    profiler = cProfile.Profile()
    started = time.perf_counter()
    summary = profiler.runcall(alerts_evaluate, now=now)
    seconds = time.perf_counter() - started
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    result = Pass(now.isoformat(), seconds, summary.candidates, summary.opened, summary.resolved, summary.flapping)
    return result, stream.getvalue()


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


class Results(NamedTuple):
    stores: int
    synthetic: int
    days: int
    troubled: int
    eligible: int  # stores open throughout the window around NOW
    hours_rows: int
    polls: int
    span_rows: int
    first: list[Pass]
    steady: list[Pass]
    first_queries: Queries
    steady_queries: Queries
    downtime_first: int  # seconds, sum over the open incidents after the first passes
    downtime_steady: int  # ... after the steady passes
    step_minutes: float
    loads: tuple[float, float]  # 1-minute load average before the first and before the steady passes
    first_profile: str  # cProfile listings; empty unless profiled
    profile: str


def benchmark(args: argparse.Namespace, stores: list[StoreSpec]) -> Results:
    from stores.models import Store

    print(f"  database: {harness.database_version()}")
    now_micros = to_micros(NOW)
    hours = args.days * 24
    start = now_micros - hours * HOUR
    with harness.step(f"choose {args.trouble_share * 100:g} % of the stores to be in trouble at NOW"):
        troubled, eligible = choose_troubled(stores, args.trouble_share, args.seed, now_micros)
    print(f"  {len(troubled):,} stores in trouble, drawn among {eligible:,} open throughout NOW - 3 h .. NOW + 1 h")
    with harness.step(f"generate {args.days} days of polls and compress them"):
        spans, polls_total = generate_spans(stores, troubled, seed=args.seed, start=start, hours=hours)
    span_total = sum(map(len, spans.values()))
    print(f"  polls: {polls_total:,}; span rows: {span_total:,}; polls per span: {polls_total / span_total:.1f}")

    owner = create_owner("alerts-bench")
    with harness.step("bulk load stores, hours and spans"):
        hours_rows, span_rows = load_database(owner.organization, stores, spans)
    del spans
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    troubled_pks = set(Store.objects.filter(store_id__in=troubled).values_list("pk", flat=True))
    down = Store.objects.filter(last_status="inactive").count()
    if down != len(troubled) or len(troubled_pks) != len(troubled):
        raise SystemExit(f"{down:,} stores have an inactive latest poll, expected the {len(troubled):,} in trouble")

    from django.db import connection

    connection.ensure_connection()  # not part of the first pass's cost
    print(f"first pass, alerts_evaluate(now={NOW:%Y-%m-%d %H:%M} UTC), from no incident:")
    first: list[Pass] = []
    first_load = os.getloadavg()[0]
    for index in range(args.first_runs):
        if index:
            reset_incidents()
        result = run_pass(NOW)
        check_pass(result, len(troubled), first=True)
        check_incidents(troubled_pks, NOW)
        first.append(result)
        print(
            f"  run {index + 1}: {result.seconds:.3f} s; {result.candidates:,} candidates, {result.opened:,} opened",
            flush=True,
        )
    first_profile = ""
    if args.profile or statistics.median(run.seconds for run in first) >= TARGET_SECONDS:
        reset_incidents()
        result, first_profile = profiled_pass(NOW, args.profile_top)
        check_pass(result, len(troubled), first=True)
        print(f"\ncProfile of one first pass ({result.seconds:.3f} s under the profiler), top {args.profile_top}:")
        print(first_profile)
    reset_incidents()
    result, first_queries = captured_pass(NOW)
    check_pass(result, len(troubled), first=True)
    downtime_first = check_incidents(troubled_pks, NOW)
    print(
        f"  under CaptureQueriesContext: {first_queries.count:,} queries, {first_queries.sql_seconds:.3f} s in SQL "
        f"of {first_queries.seconds:.3f} s: {kinds_text(first_queries)}"
    )

    # The incidents are new rows: fresh statistics, as autovacuum would leave them.
    from alerts.models import Incident

    vacuum_analyze(Incident, Store)
    step = dt.timedelta(minutes=args.step_minutes)
    print(f"steady passes, now = NOW + k × {args.step_minutes:g} min, the incidents open:")
    steady: list[Pass] = []
    steady_load = os.getloadavg()[0]
    moment = NOW
    for index in range(args.runs):
        moment += step
        result = run_pass(moment)
        check_pass(result, len(troubled), first=False)
        steady.append(result)
        print(
            f"  run {index + 1} (NOW + {(moment - NOW) / dt.timedelta(minutes=1):g} min): {result.seconds:.3f} s; "
            f"{result.candidates:,} candidates, {result.opened} opened, {result.resolved} resolved",
            flush=True,
        )
    moment += step
    result, steady_queries = captured_pass(moment)
    check_pass(result, len(troubled), first=False)
    downtime_steady = check_incidents(troubled_pks, moment)
    print(
        f"  under CaptureQueriesContext: {steady_queries.count:,} queries, {steady_queries.sql_seconds:.3f} s in SQL "
        f"of {steady_queries.seconds:.3f} s: {kinds_text(steady_queries)}"
    )
    if downtime_steady <= downtime_first:
        raise SystemExit("the steady passes did not bring the open incidents' business downtime up to date")
    print(
        f"  open incidents' business downtime: {downtime_first / 3600:,.1f} h after the first pass, "
        f"{downtime_steady / 3600:,.1f} h after the steady ones"
    )

    median = statistics.median(run.seconds for run in steady)
    profile = ""
    if args.profile or median >= TARGET_SECONDS:
        moment += step
        result, profile = profiled_pass(moment, args.profile_top)
        check_pass(result, len(troubled), first=False)
        print(f"\ncProfile of one steady pass ({result.seconds:.3f} s under the profiler), top {args.profile_top}:")
        print(profile)
    return Results(
        stores=len(stores),
        synthetic=sum(spec.synthetic for spec in stores),
        days=args.days,
        troubled=len(troubled),
        eligible=eligible,
        hours_rows=hours_rows,
        polls=polls_total,
        span_rows=span_rows,
        first=first,
        steady=steady,
        first_queries=first_queries,
        steady_queries=steady_queries,
        downtime_first=downtime_first,
        downtime_steady=downtime_steady,
        step_minutes=args.step_minutes,
        loads=(first_load, steady_load),
        first_profile=first_profile,
        profile=profile,
    )


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


def kinds_text(queries: Queries, top: int = 8) -> str:
    """The most frequent kinds of query, each with its count and SQL time."""
    return ", ".join(f"{kind} × {count:,} ({seconds:.3f} s)" for kind, count, seconds in queries.kinds[:top])


def table_row(label: str, runs: Sequence[Pass], queries: Queries, load: float) -> str:
    last, times = runs[-1], [run.seconds for run in runs]
    return (
        f"| {label} | {last.candidates:,} | {last.opened:,} | {last.resolved:,} "
        f"| {', '.join(f'{s:.3f}' for s in times)} | {statistics.median(times):.3f} | {load:.1f} | {queries.count:,} "
        f"| {queries.sql_seconds:.3f} of {queries.seconds:.3f} | {kinds_text(queries)} |"
    )


def render(result: Results) -> dict[str, Any]:
    """The Markdown section and the target, for bench/run.py (and the terminal)."""
    first = [run.seconds for run in result.first]
    steady = [run.seconds for run in result.steady]
    first_median, steady_median = statistics.median(first), statistics.median(steady)
    share = result.troubled / result.stores * 100
    synthetic = ""
    if result.synthetic:
        synthetic = f" ({result.stores - result.synthetic:,} Loop + {result.synthetic:,} synthetic)"
    lines = [
        f"## {TITLE}",
        "",
        "`bench/alerts_bench.py`: one pass of `manage.py monitor_alerts` (`alerts.services.alerts_evaluate`, "
        f"`now` passed explicitly) over {result.stores:,} stores{synthetic}, {result.troubled:,} of them "
        f"({share:g} %) in trouble at NOW = {NOW:%Y-%m-%d %H:%M} UTC. Data: "
        f"{result.days} days of generated hourly polls per store ending at NOW (±5 min, 2 % missed, outages), "
        "the last three hours written by the benchmark: active for the stores that are up (latest poll 5-55 "
        "minutes before NOW), the last two or three inactive for those in trouble, drawn among the "
        f"{result.eligible:,} stores whose business hours cover NOW - 3 h to NOW + 1 h; compressed into "
        f"spans ({result.hours_rows:,} business hours rows, {result.span_rows:,} span rows). "
        "The first pass starts from no incident (between its runs the incidents are deleted, untimed); the "
        f"steady passes come {result.step_minutes:g} minutes apart after it, every incident open, each bringing "
        "the open incidents' business downtime up to date. Every pass is checked: candidates are exactly the "
        "stores in trouble, the first opens one incident for each of them, a steady one opens and resolves none. "
        "Queries: one more pass of each kind under `CaptureQueriesContext` (untimed); SQL time as Django's "
        "debug cursor measures it (the round trips included). "
        f"The machine has {harness.cpu_count()} CPUs, shared by the benchmark and PostgreSQL (and anything else "
        "running): a load average well above that says other work competed.",
        "",
        "| pass | candidates | opened | resolved | runs, s | median s | load average before | queries "
        "| SQL s of the pass's s (under the capture) | queries by kind (SQL s) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
        table_row("first (opens the incidents)", result.first, result.first_queries, result.loads[0]),
        table_row("steady (incidents open)", result.steady, result.steady_queries, result.loads[1]),
        "",
    ]
    targets: list[harness.Target] = [
        {
            "target": f"monitor_alerts pass, {result.stores:,} stores, {share:g} % in trouble",
            "goal": f"< {TARGET_SECONDS:g} s (steady pass)",
            "measured": f"{steady_median:.3f} s (median of {len(steady)}); first pass {first_median:.3f} s "
            f"(median of {len(first)}, {result.first[-1].opened:,} opened)",
            "met": steady_median < TARGET_SECONDS,
        }
    ]
    return {"title": TITLE, "markdown": "\n".join(lines), "targets": targets}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores",
        type=harness.positive_int,
        default=STORES,
        help=f"stores: the Loop ones, then synthetic (default {STORES:,})",
    )
    parser.add_argument(
        "--trouble-share",
        type=float,
        default=TROUBLE_SHARE,
        help=f"share of the stores in trouble at NOW (default {TROUBLE_SHARE})",
    )
    parser.add_argument(
        "--days",
        type=harness.positive_int,
        default=7,
        help="days of polls ending at NOW (default 7: the week the pass reads)",
    )
    parser.add_argument("--first-runs", type=harness.positive_int, default=3, help="timed first passes (default 3)")
    parser.add_argument("--runs", type=harness.positive_int, default=5, help="timed steady passes (default 5)")
    parser.add_argument(
        "--step-minutes",
        type=harness.positive_float,
        default=2,
        help="minutes between steady passes' `now` (default 2; all of them must stay within the hour after NOW)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of a first and a steady pass even if they take under 1 s",
    )
    parser.add_argument(
        "--profile-top", type=harness.positive_int, default=25, help="functions in the profile (default 25)"
    )
    harness.add_data_dir_option(parser)
    harness.add_common_options(
        parser, default_database_url=DEFAULT_DATABASE_URL, seed_help="seed of every random choice"
    )
    args = parser.parse_args(argv)
    if not 0 < args.trouble_share < 1:
        parser.error("--trouble-share must be between 0 and 1")
    if (args.runs + 3) * args.step_minutes >= OPEN_AFTER / MINUTE:
        parser.error(
            "the steady passes must all fall within the hour after NOW: fewer --runs or a smaller --step-minutes"
        )
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    database = harness.BenchDatabase.from_url(args.database_url)
    if not database.is_postgresql:
        raise SystemExit("the target is on PostgreSQL: give a postgres:// --database-url")
    stores = select_stores(args.data_dir, args.stores, args.seed)
    with harness.bench_database(database, keep=args.keep, media_prefix="alerts-bench-media-"):
        results = benchmark(args, stores)
    rendered = render(results)
    print()
    print(rendered["markdown"])
    for line in harness.target_lines(rendered["targets"]):
        print(line)
    if args.json:
        harness.json_write(
            args.json, title=rendered["title"], markdown=rendered["markdown"], targets=rendered["targets"]
        )


if __name__ == "__main__":
    main()
