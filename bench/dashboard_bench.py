"""Benchmark of the downtime dashboard pages at the scale of the Loop data set.

Usage (from the project folder):

    .venv/bin/python bench/dashboard_bench.py [--stores 10000] [--days 8] [--seed 1]
        [--database-url URL] [--repeat 10] [--warmup 2] [--owner-share half|all]
        [--target-ms 500] [--profile] [--profile-top 15] [--keep]
        [--results bench/RESULTS.md | --no-results] [--data-dir ../shared/data/loop-2023]

What it does, and why each step is there:

1. It builds its own database exactly as bench/report_bench.py does (with
   bench/harness.py and bench/dataset.py): the database is dropped and
   created (its name must contain "bench"), the Loop stores are created with
   their real timezones and business hours, hourly polls are generated,
   compressed into spans (cross-checked against polls_record) and bulk loaded.
   One difference: the polls end now, not at report_bench's fixed instant.
   The dashboard is live: a store's state comes from its last poll compared
   with the wall clock, and the figures are refreshed when older than
   MONITOR_DASHBOARD_REFRESH_MINUTES. With polls ending in 2023, every store
   would show "no signal" and every request would queue a refresh.
2. It times reports.figures.figures_refresh once: the background job that
   fills StoreFigures, which the dashboard sorts, filters and totals on.
3. It creates a superuser and a non-superuser owner. The owner owns half
   of the stores (every other one; the rest belong to a third user) or,
   with --owner-share all, all of them.
4. For each user, with django.test.Client (force_login, the whole middleware
   stack and template rendering, no network), it requests the dashboard
   pages: the default list (worst downtime this week first), page 100, sorted
   by store id, filtered by state=down, filtered by the most common time zone,
   a search for "12", and the detail page of the worst store. Each page is
   requested --warmup times untimed, then --repeat times timed; it reports the
   median and p95 in ms, the number of SQL queries and their time (captured
   with CaptureQueriesContext during the timed requests: its cursor wrapper
   costs microseconds per query), and checks the response (status 200, rows
   on the page).
5. Pages whose median is over --target-ms (or all, with --profile) get a
   cProfile listing of one request, their slowest queries and the
   PostgreSQL plan of the slowest.
6. It prints a Markdown table and writes it to --results under the heading
   "Dashboard, N stores" (replacing a section with the same heading), with
   the machine: CPUs, memory, PostgreSQL version, date.

The figures stay fresh during the timed requests (MONITOR_DASHBOARD_REFRESH_MINUTES
is raised for them): a page then costs what it costs between two refreshes, the
usual case. A request that finds the figures stale only queues a task (one
INSERT with the database backend), but this benchmark runs with the immediate
backend, which would run the whole refresh inside the request.

The test client keeps one database connection for all requests; a server with
CONN_MAX_AGE = 0 (the default) also opens one per request.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode

import harness  # first of the project's imports: it puts the project on sys.path
from core.instants import HOUR, to_micros
from dataset import StoreSpec, generate_spans, load_database, select_stores, vacuum_analyze, verify_compression

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.test import Client

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_dashboard_bench")
DEFAULT_STORES = 10_000
SEARCH = "12"
PAGE_NUMBER = 100
# Figures must not go stale while requests are timed (see the module docstring).
FRESH_FOR_MINUTES = 7 * 24 * 60
ROW_MARK = 'class="store-row"'
COUNT_PATTERN = re.compile(r"Page (\d+) of (\d+) \((\d+) stores\)")
SLOW_QUERIES = 3


class PageSpec(NamedTuple):
    label: str
    url: str
    detail_of: str | None = None  # store id, for a detail page


class PageResult(NamedTuple):
    label: str
    user: str
    url: str
    times: list[float]  # seconds, timed requests
    cpu_times: list[float]  # seconds of this process's CPU time (Python and libpq, not PostgreSQL), same requests
    queries: int  # per request (the most of the timed requests)
    sql_seconds: float  # median over the timed requests of the captured query time
    page: int | None  # the page number served (get_page serves the last for one past it)
    rows: int | None  # store rows on the page (None for a detail page)
    matching: int | None  # stores matching the page's filters
    slow_queries: list[tuple[float, str]]  # (seconds, SQL) of the slowest, from one timed request

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.times) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu_times) * 1000

    @property
    def p95_ms(self) -> float:
        # Linear interpolation between the order statistics; with 10 runs it
        # lies between the two slowest.
        if len(self.times) < 2:
            return self.times[0] * 1000
        return statistics.quantiles(self.times, n=20, method="inclusive")[18] * 1000


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def create_users(owner_share: str) -> tuple[AbstractBaseUser, AbstractBaseUser, AbstractBaseUser]:
    """A superuser, the owner the stores are loaded with, and the owner of the
    other half (unused with owner_share "all")."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    admin = users.create_superuser(username="bench-admin", email="admin@example.com", password=None)
    owner = users.create_user(username="bench-owner", email="owner@example.com", password=None)
    other = users.create_user(username="bench-other", email="other@example.com", password=None)
    return admin, owner, other


def split_ownership(other: AbstractBaseUser) -> int:
    """Give every other store (by primary key) to `other`; returns how many moved."""
    from django.db.models.functions import Mod

    from stores.models import Store

    return Store.objects.annotate(parity=Mod("pk", 2)).filter(parity=0).update(owner=other)


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def page_specs(user: AbstractBaseUser) -> list[PageSpec]:
    """The pages to time for a user; the timezone and detail store are chosen
    among the stores the user sees."""
    from django.db.models import Count

    from reports.models import StoreFigures
    from stores.models import Store

    visible = Store.objects.visible_to(user)
    zone = (
        visible.values("timezone").annotate(n=Count("pk")).order_by("-n", "timezone").values_list("timezone", flat=True)
    ).first()
    worst = (
        StoreFigures.objects.filter(store__in=visible)
        .order_by("-downtime_last_week", "store__store_id")
        .values_list("store__store_id", flat=True)
        .first()
    )
    if zone is None or worst is None:
        raise SystemExit(f"{user} sees no store with figures")
    return [
        PageSpec("default (downtime week desc)", "/dashboard/"),
        PageSpec(f"page {PAGE_NUMBER}", f"/dashboard/?page={PAGE_NUMBER}"),
        PageSpec("store_id asc", "/dashboard/?" + urlencode({"sort": "store_id", "dir": "asc"})),
        PageSpec("state=down", "/dashboard/?state=down"),
        PageSpec(f"timezone={zone}", "/dashboard/?" + urlencode({"timezone": zone})),
        PageSpec(f"search q={SEARCH}", "/dashboard/?" + urlencode({"q": SEARCH})),
        PageSpec("store detail (worst store)", f"/dashboard/stores/{worst}/", detail_of=worst),
    ]


def check_response(spec: PageSpec, response: Any) -> tuple[int | None, int | None, int | None]:
    """Status 200 and the expected rows; returns (page number, rows on the page, matching stores)."""
    if response.status_code != 200:
        raise SystemExit(f"{spec.url}: status {response.status_code}")
    html = response.content.decode()
    if spec.detail_of is not None:
        if spec.detail_of not in html:
            raise SystemExit(f"{spec.url}: the page does not show its store")
        return None, None, None
    rows = html.count(ROW_MARK)
    match = COUNT_PATTERN.search(html)
    if match is None:
        raise SystemExit(f"{spec.url}: no paginator line")
    number, _, matching = map(int, match.groups())
    from reports.dashboard_pages import PAGE_SIZE

    expected = max(0, min(PAGE_SIZE, matching - (number - 1) * PAGE_SIZE))
    if rows != expected or rows == 0:
        raise SystemExit(f"{spec.url}: {rows} rows on page {number} of {matching} stores, expected {expected} (> 0)")
    return number, rows, matching


def time_page(client: Client, user_label: str, spec: PageSpec, *, warmup: int, repeat: int) -> PageResult:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        check_response(spec, client.get(spec.url))
    times: list[float] = []
    cpu_times: list[float] = []
    query_counts: list[int] = []
    sql_times: list[float] = []
    slowest: list[tuple[float, str]] = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(spec.url)  # rendered: the content is complete
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
        number, rows, matching = check_response(spec, response)
        query_counts.append(len(captured.captured_queries))
        timed = [(float(query["time"]), query["sql"]) for query in captured.captured_queries]
        sql_times.append(sum(seconds for seconds, _ in timed))
        slowest = sorted(timed, key=lambda item: item[0], reverse=True)[:SLOW_QUERIES]
    return PageResult(
        spec.label,
        user_label,
        spec.url,
        times,
        cpu_times,
        max(query_counts),
        statistics.median(sql_times),
        number,
        rows,
        matching,
        slowest,
    )


def profile_page(client: Client, spec: PageSpec, top: int) -> str:
    profiler = cProfile.Profile()
    response = profiler.runcall(client.get, spec.url)
    check_response(spec, response)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    # The project's own functions (the cumulative listing's top is Django's request plumbing).
    stats.sort_stats("cumulative").print_stats(re.escape(str(harness.PROJECT_DIR)) + r"/(?!\.venv)", top)
    return stream.getvalue()


def explain(sql_text: str) -> str:
    """PostgreSQL's plan of a captured query (Django binds parameters client-side
    with psycopg 3 by default, so the captured text runs as is)."""
    from django.db import connection

    if connection.vendor != "postgresql" or not sql_text.lstrip().upper().startswith("SELECT"):
        return ""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text)
        return "\n".join(row[0] for row in cursor.fetchall())


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def markdown(
    *,
    stores: int,
    results: Sequence[PageResult],
    machine: harness.Machine,
    facts: dict[str, str],
    target_ms: float,
    repeat: int,
    warmup: int,
) -> str:
    lines = [
        f"## Dashboard, {stores:,} stores",
        "",
        f"Machine: {machine.cpus} CPUs (nproc), {machine.memory_gib:.1f} GiB memory, postgresql {machine.postgres}, "
        f"Python {machine.python}, Django {machine.django}; {machine.date:%Y-%m-%d %H:%M} UTC.",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
        "",
        f"`bench/dashboard_bench.py`: django.test.Client, {warmup} warm-up then {repeat} timed requests per page; "
        f"target {target_ms:.0f} ms per page (on the median). Queries and SQL time are per request (SQL: median "
        "of the captured query times); app CPU: median CPU time of the benchmark process (view, ORM, templates; "
        "not PostgreSQL's), less sensitive than wall time to other load on the machine.",
        "",
        "| page | user | stores matching | page no. | rows | median ms | p95 ms | min ms | app CPU ms "
        "| queries | SQL ms | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for result in results:
        matching = f"{result.matching:,}" if result.matching is not None else "—"
        rows = str(result.rows) if result.rows is not None else "—"
        number = str(result.page) if result.page is not None else "—"
        verdict = "ok" if result.median_ms <= target_ms else "**over**"
        lines.append(
            f"| {result.label} | {result.user} | {matching} | {number} | {rows} "
            f"| {result.median_ms:.0f} | {result.p95_ms:.0f} | {result.min_ms:.0f} | {result.cpu_ms:.0f} "
            f"| {result.queries} | {result.sql_seconds * 1000:.0f} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def write_results(path: Path, section: str) -> None:
    """Replace the section with the same heading, or append it."""
    heading = section.splitlines()[0]
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = text.find(heading + "\n")
    if start >= 0:
        following = text.find("\n## ", start + len(heading))
        end = len(text) if following < 0 else following + 1
        text = text[:start] + section + ("\n" + text[end:] if end < len(text) else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores",
        type=harness.positive_int,
        default=DEFAULT_STORES,
        help=f"number of stores (default {DEFAULT_STORES:,}); past the Loop set, synthetic stores are added",
    )
    parser.add_argument("--days", type=harness.positive_int, default=8, help="days of polls ending now (default 8)")
    parser.add_argument("--repeat", type=harness.positive_int, default=10, help="timed requests per page (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per page first (default 2)")
    parser.add_argument(
        "--owner-share",
        choices=("half", "all"),
        default="half",
        help="stores owned by the non-superuser owner (default half)",
    )
    parser.add_argument("--target-ms", type=float, default=500.0, help="target per page (default 500 ms)")
    parser.add_argument("--profile", action="store_true", help="profile every page, not only those over the target")
    parser.add_argument(
        "--profile-top", type=harness.positive_int, default=15, help="functions in a profile (default 15)"
    )
    harness.add_data_dir_option(parser)
    parser.add_argument(
        "--results",
        type=Path,
        default=harness.RESULTS_FILE,
        help=f"Markdown file (default {harness.RESULTS_FILE}; not written with --json)",
    )
    parser.add_argument("--no-results", dest="write_results", action="store_false", help="only print the table")
    harness.add_common_options(
        parser, default_database_url=DEFAULT_DATABASE_URL, seed_help="seed of every random choice"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    database = harness.BenchDatabase.from_url(args.database_url)
    if not database.is_postgresql:
        raise SystemExit("the dashboard benchmark runs on PostgreSQL")

    stores = select_stores(args.data_dir, args.stores, args.seed)

    # The test client's host.
    hosts = [host for host in os.environ.get("ALLOWED_HOSTS", "").split(",") if host]
    os.environ["ALLOWED_HOSTS"] = ",".join([*hosts, "testserver"])
    with harness.bench_database(database, keep=args.keep, media_prefix="dashboard-bench-media-"):
        section, results = benchmark(args, stores, harness.machine(database.server_conninfo()))
    print()
    print(section)
    if args.json:
        slowest = max(results, key=lambda result: result.median_ms)
        target: harness.Target = {
            "target": f"Dashboard pages, {len(stores):,} stores",
            "goal": f"< {args.target_ms:.0f} ms median per page",
            "measured": f"slowest median {slowest.median_ms:.0f} ms ({slowest.label}, {slowest.user})",
            "met": slowest.median_ms < args.target_ms,
        }
        harness.json_write(args.json, title="Dashboard", markdown=section, targets=[target])
    elif args.write_results:
        write_results(args.results, section)
        print(f"written to {args.results}")


def benchmark(
    args: argparse.Namespace, stores: list[StoreSpec], machine: harness.Machine
) -> tuple[str, list[PageResult]]:
    from django.db import connection
    from django.test import Client, override_settings
    from django.utils import timezone

    from reports.figures import figures_as_of, figures_refresh
    from reports.models import StoreFigures
    from stores.models import Store

    print(f"  database: postgresql {machine.postgres}")
    hours = args.days * 24
    # Polls end now (to the minute), so states and figures are those of a live dashboard.
    end = timezone.now().replace(second=0, microsecond=0)
    start = to_micros(end) - hours * HOUR

    with harness.step(f"generate {args.days} days of polls ending {end:%Y-%m-%d %H:%M} UTC and compress them"):
        spans, polls_total = generate_spans(stores, seed=args.seed, start=start, hours=hours)
    span_total = sum(map(len, spans.values()))
    print(f"  polls generated: {polls_total:,}; span rows: {span_total:,}")

    admin, owner, other = create_users(args.owner_share)
    with harness.step("verify compression against polls_record"):
        verify_compression(owner, stores, spans, seed=args.seed, start=start, hours=hours)
    with harness.step("bulk load stores, hours and spans"):
        hours_rows, span_rows = load_database(owner, stores, spans)
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    del spans
    if args.owner_share == "half":
        moved = split_ownership(other)
        vacuum_analyze(Store)
        print(f"  {owner.username} owns {len(stores) - moved:,} stores, {other.username} {moved:,}")

    started = time.perf_counter()
    refreshed = figures_refresh()
    refresh_seconds = time.perf_counter() - started
    print(f"figures_refresh: {refreshed:,} stores in {refresh_seconds:.2f} s")
    vacuum_analyze(StoreFigures)
    as_of = figures_as_of()
    if StoreFigures.objects.count() != len(stores):
        raise SystemExit("figures_refresh did not write one row per store")

    load_before = os.getloadavg()
    results: list[PageResult] = []
    profiles: list[tuple[PageResult, str, str]] = []
    with override_settings(MONITOR_DASHBOARD_REFRESH_MINUTES=FRESH_FOR_MINUTES):
        for user in (admin, owner):
            client = Client()
            client.force_login(user)
            label = "superuser" if user.is_superuser else f"owner ({args.owner_share})"
            for spec in page_specs(user):
                result = time_page(client, label, spec, warmup=args.warmup, repeat=args.repeat)
                results.append(result)
                print(
                    f"  {label:<13} {spec.label:<36} median {result.median_ms:7.1f} ms, p95 {result.p95_ms:7.1f} ms, "
                    f"min {result.min_ms:7.1f} ms, CPU {result.cpu_ms:6.1f} ms, "
                    f"{result.queries} queries ({result.sql_seconds * 1000:.1f} ms)",
                    flush=True,
                )
                if args.profile or result.median_ms > args.target_ms:
                    plan = explain(result.slow_queries[0][1]) if result.slow_queries else ""
                    profiles.append((result, profile_page(client, spec, args.profile_top), plan))
    load_after = os.getloadavg()
    if figures_as_of() != as_of:
        raise SystemExit("the figures were refreshed during the timed requests: the timings include a refresh")

    for result, listing, plan in profiles:
        print(f"\n### {result.label}, {result.user}: {result.url} (median {result.median_ms:.0f} ms)")
        print(
            f"\ncProfile of one request, top {args.profile_top} by cumulative time, by own time, "
            "then the project's own functions by cumulative time:"
        )
        print(listing)
        print(f"Slowest queries of one timed request ({result.queries} in all):")
        for seconds, text in result.slow_queries:
            print(f"  {seconds * 1000:.1f} ms: {text[:600]}")
        if plan:
            print("\nEXPLAIN ANALYZE of the slowest:")
            print(plan)

    facts = {
        "data": (
            f"{len(stores):,} stores ({len(stores) - sum(s.synthetic for s in stores):,} from loop-2023), "
            f"{hours_rows:,} business hours rows, {span_rows:,} spans from {polls_total:,} generated polls "
            f"({args.days} days ending at the start of the run)"
        ),
        "figures_refresh (the background job behind the dashboard)": f"{refresh_seconds:.2f} s for {refreshed:,} stores",
        "load average (1, 5, 15 min) before and after the timed requests": (
            f"{' / '.join(f'{x:.2f}' for x in load_before)}, {' / '.join(f'{x:.2f}' for x in load_after)} "
            f"({machine.cpus} CPUs; the run itself keeps about one busy)"
        ),
        "owner": (
            f"non-superuser owning {'half' if args.owner_share == 'half' else 'all'} of the stores "
            f"({Store.objects.filter(owner=owner).count():,})"
        ),
    }
    connection.close()
    section = markdown(
        stores=len(stores),
        results=results,
        machine=machine,
        facts=facts,
        target_ms=args.target_ms,
        repeat=args.repeat,
        warmup=args.warmup,
    )
    return section, results


if __name__ == "__main__":
    main()
