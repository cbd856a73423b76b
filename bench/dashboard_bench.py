"""Benchmark of the downtime dashboard pages at the scale of the Loop data set.

Usage (from the project folder):

    .venv/bin/python bench/dashboard_bench.py [--stores 10000] [--days 8] [--seed 1]
        [--database-url URL] [--repeat 10] [--warmup 2]
        [--target-ms 500] [--viewer-target-ms 150] [--profile] [--profile-top 15] [--keep]
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
   The stores are loaded into one organization, made with its admin
   (bench/dataset.py create_owner, as `manage.py create_owner` does).
2. It times the refresh of StoreFigures, which the dashboard sorts, filters
   and totals on: the background refresh as the Refresh button queues it
   (figures_refresh_queue, forced), run by --workers `manage.py task_worker`
   processes (figures_refresh_task queues a task per batch of stores, as a
   report queues its chunks), from queueing to the last batch done; then
   reports.figures.figures_refresh in this process (`manage.py
   figures_refresh`) as of the same instant, which must leave every store's
   figures exactly as the batches wrote them. The target is the background
   refresh's.
3. It puts every other store (by primary key; 5,000 of 10,000) into a group
   named "half", with one bulk insert into the stores-groups table, and
   makes three users: a superuser, the organization's admin (every store),
   and a viewer limited to the group "half" (accounts.services.member_add):
   the access rule's three paths (stores.models StoreQuerySet.visible_to).
4. For each user, with django.test.Client (force_login, the whole middleware
   stack and template rendering, no network), it requests the dashboard
   pages: the default list (worst downtime this week first), page 100, sorted
   by store id, filtered by state=down, filtered by the most common time zone,
   a search for "12", filtered by the group "half", and the detail page of
   the worst store. Each page is requested --warmup times untimed, then
   --repeat times timed; it reports the median, p95, min and max in ms, the
   number of SQL queries and their time (captured with CaptureQueriesContext
   during the timed requests: its cursor wrapper costs microseconds per
   query), and checks the response (status 200, rows on the page).
5. Query counts: one request per page kind and user, under
   CaptureQueriesContext; then it adds 10 stores and 3 groups (some of the
   new stores in "half" and in the new groups; the viewer then limited to
   "half" and one new group) and counts again. The counts must be the same
   for the group-scoped viewer as for the admin, and the same before and
   after for every user (constant in the number of stores and groups): if
   not, the benchmark prints the table and fails (exit status 1), writing
   no results.
6. Pages whose median is over --target-ms (the viewer's list pages: over
   --viewer-target-ms), or all with --profile, get a cProfile listing of one
   request, their slowest queries and the PostgreSQL plan of the slowest.
7. It prints a Markdown section (the timings, then the query counts) and
   writes it to --results under the heading "Dashboard, N stores"
   (replacing a section with the same heading), with the machine: CPUs,
   memory, PostgreSQL version, date; with --json, the section and the
   targets for bench/run.py.

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
from dataset import (
    StoreSpec,
    create_owner,
    generate_spans,
    load_database,
    select_stores,
    vacuum_analyze,
    verify_compression,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.test import Client

    from accounts.models import Membership, Organization, StoreGroup

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_dashboard_bench")
DEFAULT_STORES = 10_000
SEARCH = "12"
PAGE_NUMBER = 100
# Figures must not go stale while requests are timed (see the module docstring).
FRESH_FOR_MINUTES = 7 * 24 * 60
ROW_MARK = 'class="store-row"'
COUNT_PATTERN = re.compile(r"Page (\d+) of (\d+) \((\d+) stores\)")
SLOW_QUERIES = 3
# The group the viewer is limited to: every other store by primary key.
HALF_GROUP = "half"
# Added before the query counts are taken again: they must not change.
EXTRA_STORES = 10
EXTRA_GROUPS = 3
# The target for the group-scoped viewer's list pages, at 10,000 stores.
VIEWER_TARGET_MS = 150.0
REFRESH_TARGET_SECONDS = 5.0
# The users, in the order they are timed and listed.
SUPERUSER, ADMIN, VIEWER = "superuser", "org admin", f"viewer ({HALF_GROUP})"
USERS = (SUPERUSER, ADMIN, VIEWER)
DETAIL = "detail"


class PageSpec(NamedTuple):
    label: str
    url: str
    kind: str  # the same for every user (the label may name a user's own timezone)
    detail_of: str | None = None  # store id, for a detail page


class PageResult(NamedTuple):
    label: str
    kind: str
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
    def is_list(self) -> bool:
        return self.kind != DETAIL

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.times) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.times) * 1000

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


class BenchUsers(NamedTuple):
    superuser: AbstractBaseUser
    admin: AbstractBaseUser  # the organization's admin: every store
    viewer: AbstractBaseUser  # a viewer limited to the group "half"
    membership: Membership  # the viewer's
    organization: Organization
    half: StoreGroup

    def by_label(self) -> dict[str, AbstractBaseUser]:
        return {SUPERUSER: self.superuser, ADMIN: self.admin, VIEWER: self.viewer}


class QueryCheck(NamedTuple):
    """Queries of one request per page kind and user, before and after adding stores and groups."""

    kinds: list[str]
    labels: dict[str, str]  # kind -> a label to show
    before: dict[str, dict[str, int]]  # user -> kind -> queries
    after: dict[str, dict[str, int]]
    stores_before: int
    stores_after: int
    groups_before: int
    groups_after: int
    viewer_stores_before: int
    viewer_stores_after: int

    def problems(self) -> list[str]:
        found = []
        for kind in self.kinds:
            for when, counts in (("before", self.before), ("after", self.after)):
                if counts[VIEWER][kind] != counts[ADMIN][kind]:
                    found.append(
                        f"{self.labels[kind]}: {counts[VIEWER][kind]} queries for the viewer, "
                        f"{counts[ADMIN][kind]} for the admin ({when} adding stores and groups)"
                    )
            for user in USERS:
                if self.before[user][kind] != self.after[user][kind]:
                    found.append(
                        f"{self.labels[kind]}, {user}: {self.before[user][kind]} queries at "
                        f"{self.stores_before:,} stores and {self.groups_before} group(s), "
                        f"{self.after[user][kind]} at {self.stores_after:,} and {self.groups_after}"
                    )
        return found

    def summary(self) -> str:
        """E.g. "list pages 13, detail 10 (every user ...)", for the targets table."""
        list_counts = sorted({self.before[user][kind] for user in USERS for kind in self.kinds if kind != DETAIL})
        detail = sorted({self.before[user][DETAIL] for user in USERS})

        def span(values: list[int]) -> str:
            return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"

        equal = all(
            counts[VIEWER][kind] == counts[ADMIN][kind] for counts in (self.before, self.after) for kind in self.kinds
        )
        constant = all(self.before[user][kind] == self.after[user][kind] for user in USERS for kind in self.kinds)
        return (
            f"list pages {span(list_counts)}, detail {span(detail)} queries; "
            f"{'viewer = admin on every page' if equal else '**viewer ≠ admin**'}; "
            f"{'unchanged' if constant else '**changed**'} with +{self.stores_after - self.stores_before} "
            f"stores, +{self.groups_after - self.groups_before} groups"
        )


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def create_admins() -> tuple[AbstractBaseUser, AbstractBaseUser, Organization]:
    """A superuser, and an owner: the admin of the organization the stores are loaded into."""
    from django.contrib.auth import get_user_model

    superuser = get_user_model().objects.create_superuser(
        username="bench-superuser", email="superuser@example.com", password=None
    )
    owner = create_owner("bench-owner")
    return superuser, owner.user, owner.organization


def create_half_group(organization: Organization) -> tuple[StoreGroup, int]:
    """The group "half": every other store of the organization by primary key,
    in one bulk insert into the stores-groups table; returns it and its size."""
    from django.db import transaction

    from accounts.services import group_create
    from common.bulk_writes import insert_rows
    from stores.models import Store

    group = group_create(organization=organization, name=HALF_GROUP)
    pks = list(Store.objects.filter(organization=organization).order_by("pk").values_list("pk", flat=True))[::2]
    with transaction.atomic():
        count = insert_rows(Store.groups.through, ("store", "storegroup"), ((pk, group.pk) for pk in pks))
    return group, count


def create_viewer(organization: Organization, half: StoreGroup) -> Membership:
    """A viewer of the organization limited to the group "half", as an admin adds one."""
    from accounts.models import Membership, Role, StoreGroup
    from accounts.services import member_add
    from stores.models import Store

    membership, _ = member_add(organization=organization, username="bench-viewer", role=Role.VIEWER, groups=[half])
    vacuum_analyze(Store.groups.through, StoreGroup, Membership, Membership.groups.through)
    return membership


def add_stores_and_groups(users: BenchUsers) -> None:
    """EXTRA_STORES stores and EXTRA_GROUPS groups more, through the services:
    each new store in one new group, the first half of them in "half" too;
    the viewer is then limited to "half" and the first new group."""
    from django.db import transaction

    from accounts.services import group_create, membership_change
    from stores.services import store_register

    with transaction.atomic():
        extra = [
            group_create(organization=users.organization, name=f"extra-{index + 1}") for index in range(EXTRA_GROUPS)
        ]
        for index in range(EXTRA_STORES):
            groups = [extra[index % EXTRA_GROUPS]] + ([users.half] if index < EXTRA_STORES // 2 else [])
            store_register(
                organization=users.organization,
                store_id=f"bench-extra-{index:02d}",
                timezone="America/New_York",
                groups=groups,
            )
        membership_change(membership=users.membership, groups=[users.half, extra[0]])


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def page_specs(user: AbstractBaseUser, half: StoreGroup) -> list[PageSpec]:
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
        PageSpec("default (downtime week desc)", "/dashboard/", "default"),
        PageSpec(f"page {PAGE_NUMBER}", f"/dashboard/?page={PAGE_NUMBER}", "page"),
        PageSpec("store_id asc", "/dashboard/?" + urlencode({"sort": "store_id", "dir": "asc"}), "sort"),
        PageSpec("state=down", "/dashboard/?state=down", "state"),
        PageSpec(f"timezone={zone}", "/dashboard/?" + urlencode({"timezone": zone}), "timezone"),
        PageSpec(f"search q={SEARCH}", "/dashboard/?" + urlencode({"q": SEARCH}), "search"),
        PageSpec(f"group={HALF_GROUP}", "/dashboard/?" + urlencode({"group": half.pk}), "group"),
        PageSpec("store detail (worst store)", f"/dashboard/stores/{worst}/", DETAIL, detail_of=worst),
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
        label=spec.label,
        kind=spec.kind,
        user=user_label,
        url=spec.url,
        times=times,
        cpu_times=cpu_times,
        queries=max(query_counts),
        sql_seconds=statistics.median(sql_times),
        page=number,
        rows=rows,
        matching=matching,
        slow_queries=slowest,
    )


def count_queries(client: Client, spec: PageSpec) -> int:
    """The SQL queries of one request for the page (checked as the timed ones are)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(spec.url)
    check_response(spec, response)
    return len(captured.captured_queries)


def query_counts(clients: dict[str, tuple[Client, list[PageSpec]]]) -> dict[str, dict[str, int]]:
    """user -> page kind -> queries of one request."""
    return {
        user: {spec.kind: count_queries(client, spec) for spec in specs} for user, (client, specs) in clients.items()
    }


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


def target_for(result: PageResult, args: argparse.Namespace) -> float:
    """The page's target: the viewer's list pages have the issue's, tighter one."""
    return args.viewer_target_ms if result.user == VIEWER and result.is_list else args.target_ms


def query_table(check: QueryCheck) -> list[str]:
    grown = f"+{check.stores_after - check.stores_before} stores, +{check.groups_after - check.groups_before} groups"
    lines = [
        f"Queries per request (one request per page and user, CaptureQueriesContext): at {check.stores_before:,} "
        f"stores and {check.groups_before} group (the viewer limited to it: {check.viewer_stores_before:,} stores), "
        f"then with {grown} ({check.stores_after:,} stores, {check.groups_after} groups; the viewer limited to 2 "
        f"groups: {check.viewer_stores_after:,} stores). The benchmark fails if the viewer's count differs from "
        "the admin's or a count changes.",
        "",
        f"| page | {' | '.join(USERS)} | {' | '.join(f'{user}, {grown}' for user in USERS)} | same |",
        f"|---|{'---:|' * (2 * len(USERS))}:---:|",
    ]
    problems = check.problems()
    for kind in check.kinds:
        same = all(
            counts[user][kind] == check.before[ADMIN][kind]
            for counts in (check.before, check.after)
            for user in (ADMIN, VIEWER)
        ) and check.before[SUPERUSER][kind] == check.after[SUPERUSER][kind]
        cells = [str(check.before[user][kind]) for user in USERS] + [str(check.after[user][kind]) for user in USERS]
        lines.append(f"| {check.labels[kind]} | {' | '.join(cells)} | {'yes' if same else '**no**'} |")
    if problems:
        lines += ["", *(f"- **{problem}**" for problem in problems)]
    return lines


def markdown(
    *,
    stores: int,
    results: Sequence[PageResult],
    check: QueryCheck,
    machine: harness.Machine,
    facts: dict[str, str],
    args: argparse.Namespace,
) -> str:
    lines = [
        f"## Dashboard, {stores:,} stores",
        "",
        f"Machine: {machine.cpus} CPUs (nproc), {machine.memory_gib:.1f} GiB memory, postgresql {machine.postgres}, "
        f"Python {machine.python}, Django {machine.django}; {machine.date:%Y-%m-%d %H:%M} UTC.",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
        "",
        f"`bench/dashboard_bench.py`: django.test.Client, {args.warmup} warm-up then {args.repeat} timed requests "
        f"per page; target {args.target_ms:.0f} ms per page, {args.viewer_target_ms:.0f} ms for the group-scoped "
        "viewer's list pages (on the median). Queries and SQL time are per request (SQL: median "
        "of the captured query times); app CPU: median CPU time of the benchmark process (view, ORM, templates; "
        "not PostgreSQL's), less sensitive than wall time to other load on the machine.",
        "",
        "| page | user | stores matching | page no. | rows | median ms | p95 ms | min ms | max ms | app CPU ms "
        "| queries | SQL ms | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for result in results:
        matching = f"{result.matching:,}" if result.matching is not None else "—"
        rows = str(result.rows) if result.rows is not None else "—"
        number = str(result.page) if result.page is not None else "—"
        target = target_for(result, args)
        verdict = f"ok (< {target:.0f})" if result.median_ms <= target else f"**over** {target:.0f}"
        lines.append(
            f"| {result.label} | {result.user} | {matching} | {number} | {rows} "
            f"| {result.median_ms:.0f} | {result.p95_ms:.0f} | {result.min_ms:.0f} | {result.max_ms:.0f} "
            f"| {result.cpu_ms:.0f} | {result.queries} | {result.sql_seconds * 1000:.0f} | {verdict} |"
        )
    lines += ["", *query_table(check)]
    return "\n".join(lines) + "\n"


class RefreshTimes(NamedTuple):
    background: float  # queued (forced) to the last batch done, on the workers
    in_process: float  # figures_refresh in this process, as of the same instant
    stores: int
    workers: int


def time_refreshes(stores: int, *, workers: int, interval: float) -> RefreshTimes:
    """The background refresh run by `workers` task_worker processes, queued as
    the Refresh button queues it and timed to its last batch done; then
    figures_refresh in this process as of the same instant, timed, which
    must leave every store's figures as the batches wrote them."""
    import tempfile

    from django.test.utils import override_settings
    from django.utils import timezone

    from reports.figures import FIGURES_FIELDS, figures_refresh, figures_refresh_queue
    from reports.models import FiguresRefresh, StoreFigures

    def written() -> dict[int, tuple[Any, ...]]:
        rows = StoreFigures.objects.values_list("store_id", "as_of", *FIGURES_FIELDS)
        return {row[0]: row[1:] for row in rows.iterator(chunk_size=10_000)}

    with (
        tempfile.TemporaryDirectory(prefix="dashboard-bench-workers-") as log_dir,
        harness.task_workers(workers, interval=interval, log_dir=Path(log_dir)) as processes,
        override_settings(TASKS=harness.DATABASE_TASKS),
    ):
        queued = FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW, queued_at__isnull=False)
        started = time.perf_counter()
        # Autocommit: on_commit queues figures_refresh_task at once.
        if not figures_refresh_queue(now=timezone.now(), force=True):
            raise SystemExit("a figures refresh was queued already")
        while queued.exists():
            if time.perf_counter() - started > 600:
                raise SystemExit("the background figures refresh still runs after 600 s")
            if all(process.poll() is not None for process in processes):
                logs = "\n".join(path.read_text(errors="replace")[-2000:] for path in Path(log_dir).iterdir())
                raise SystemExit(f"every worker exited:\n{logs}")
            time.sleep(0.02)
        background = time.perf_counter() - started
    batches = written()
    instants = {values[0] for values in batches.values()}
    if len(batches) != stores or len(instants) != 1:
        raise SystemExit(f"the background refresh wrote {len(batches):,} rows as of {len(instants)} instants")
    started = time.perf_counter()
    figures_refresh(as_of=instants.pop())
    in_process = time.perf_counter() - started
    if written() != batches:
        raise SystemExit("the background refresh's figures differ from figures_refresh's as of the same instant")
    return RefreshTimes(background, in_process, stores, workers)


def targets(
    stores: int, results: Sequence[PageResult], check: QueryCheck, args: argparse.Namespace, refresh: RefreshTimes
) -> list[harness.Target]:
    slowest = max(results, key=lambda result: result.median_ms)
    viewer_lists = [result for result in results if result.user == VIEWER and result.is_list]
    viewer_slowest = max(viewer_lists, key=lambda result: result.median_ms)
    return [
        {
            "target": f"Dashboard pages, {stores:,} stores",
            "goal": f"< {args.target_ms:.0f} ms median per page",
            "measured": f"slowest median {slowest.median_ms:.0f} ms ({slowest.label}, {slowest.user})",
            "met": slowest.median_ms < args.target_ms,
        },
        {
            "target": f"Dashboard list pages of a viewer limited to a group of {check.viewer_stores_before:,} stores, "
            f"{stores:,} stores",
            "goal": f"< {args.viewer_target_ms:.0f} ms median per page",
            "measured": f"slowest median {viewer_slowest.median_ms:.0f} ms ({viewer_slowest.label})",
            "met": viewer_slowest.median_ms < args.viewer_target_ms,
        },
        {
            "target": f"Dashboard figures refresh in the background, {stores:,} stores, {refresh.workers} workers",
            "goal": f"≤ {args.refresh_target_s:g} s",
            "measured": f"{refresh.background:.2f} s (figures_refresh in one process: {refresh.in_process:.2f} s)",
            "met": refresh.background <= args.refresh_target_s,
        },
        {
            "target": "Dashboard queries per page",
            "goal": "the same for a group-scoped viewer as for an admin; constant in the number of stores and groups",
            "measured": check.summary(),
            "met": not check.problems(),
        },
    ]


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
    parser.add_argument("--target-ms", type=float, default=500.0, help="target per page (default 500 ms)")
    parser.add_argument(
        "--viewer-target-ms",
        type=float,
        default=VIEWER_TARGET_MS,
        help=f"target for the group-scoped viewer's list pages (default {VIEWER_TARGET_MS:.0f} ms)",
    )
    parser.add_argument(
        "--refresh-target-s",
        type=float,
        default=REFRESH_TARGET_SECONDS,
        help=f"target for the background refresh of every store's figures (default {REFRESH_TARGET_SECONDS:g} s)",
    )
    parser.add_argument(
        "--workers", type=harness.positive_int, default=2, help="task_worker processes for the background refresh (default 2)"
    )
    parser.add_argument(
        "--worker-interval",
        type=float,
        default=1.0,
        help="the longest an idle worker waits before it looks at the queue again (task_worker --interval; "
        "default 1, the worker's own: it is woken when a task is queued)",
    )
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
    args = parser.parse_args(argv)
    if args.stores < 2:
        parser.error("--stores must be at least 2 (the viewer sees every other store)")
    return args


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
        section, results, check, refresh = benchmark(args, stores, harness.machine(database.server_conninfo()))
    print()
    print(section)
    goals = targets(len(stores), results, check, args, refresh)
    for line in harness.target_lines(goals):
        print(line)
    problems = check.problems()
    if problems:
        # Loudly, and before any result is written: a count that grows with the data is a bug to fix first.
        raise SystemExit(
            "FAILED: the query counts differ (no results written):\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    if args.json:
        harness.json_write(args.json, title="Dashboard", markdown=section, targets=goals)
    elif args.write_results:
        write_results(args.results, section)
        print(f"written to {args.results}")


def benchmark(
    args: argparse.Namespace, stores: list[StoreSpec], machine: harness.Machine
) -> tuple[str, list[PageResult], QueryCheck, RefreshTimes]:
    from django.db import connection
    from django.test import Client, override_settings
    from django.utils import timezone

    from accounts.models import StoreGroup
    from reports.figures import figures_as_of
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

    superuser, admin, organization = create_admins()
    with harness.step("verify compression against polls_record"):
        verify_compression(organization, stores, spans, seed=args.seed, start=start, hours=hours)
    with harness.step("bulk load stores, hours and spans"):
        hours_rows, span_rows = load_database(organization, stores, spans)
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    del spans
    with harness.step(f"group {HALF_GROUP!r} (every other store) and its viewer"):
        half, in_half = create_half_group(organization)
        membership = create_viewer(organization, half)
    users = BenchUsers(superuser, admin, membership.user, membership, organization, half)
    viewer_sees = Store.objects.visible_to(users.viewer).count()
    print(
        f"  {organization.name!r}: {len(stores):,} stores, its admin {admin.username} sees "
        f"{Store.objects.visible_to(admin).count():,}; group {HALF_GROUP!r} {in_half:,} stores; "
        f"{users.viewer.username} (viewer limited to it) sees {viewer_sees:,}"
    )
    if viewer_sees != in_half:
        raise SystemExit(f"the viewer sees {viewer_sees:,} stores, its group holds {in_half:,}")

    refresh = time_refreshes(len(stores), workers=args.workers, interval=args.worker_interval)
    print(
        f"figures refresh: {refresh.background:.2f} s in the background ({refresh.workers} workers), "
        f"{refresh.in_process:.2f} s in one process (figures_refresh), the same figures"
    )
    vacuum_analyze(StoreFigures)
    as_of = figures_as_of()
    if StoreFigures.objects.count() != len(stores):
        raise SystemExit("figures_refresh did not write one row per store")

    load_before = os.getloadavg()
    results: list[PageResult] = []
    profiles: list[tuple[PageResult, str, str]] = []
    clients: dict[str, tuple[Client, list[PageSpec]]] = {}
    with override_settings(MONITOR_DASHBOARD_REFRESH_MINUTES=FRESH_FOR_MINUTES):
        for label, user in users.by_label().items():
            client = Client()
            client.force_login(user)
            specs = page_specs(user, half)
            clients[label] = (client, specs)
            for spec in specs:
                result = time_page(client, label, spec, warmup=args.warmup, repeat=args.repeat)
                results.append(result)
                print(
                    f"  {label:<13} {spec.label:<36} median {result.median_ms:7.1f} ms, p95 {result.p95_ms:7.1f} ms, "
                    f"min {result.min_ms:7.1f} ms, max {result.max_ms:7.1f} ms, CPU {result.cpu_ms:6.1f} ms, "
                    f"{result.queries} queries ({result.sql_seconds * 1000:.1f} ms)",
                    flush=True,
                )
                if args.profile or result.median_ms > target_for(result, args):
                    plan = explain(result.slow_queries[0][1]) if result.slow_queries else ""
                    profiles.append((result, profile_page(client, spec, args.profile_top), plan))
        load_after = os.getloadavg()
        if figures_as_of() != as_of:
            raise SystemExit("the figures were refreshed during the timed requests: the timings include a refresh")

        # Query counts: the same pages (same URLs) before and after adding stores and groups.
        stores_before, groups_before = Store.objects.count(), StoreGroup.objects.count()
        with harness.step("count queries, one request per page and user"):
            before = query_counts(clients)
        with harness.step(f"add {EXTRA_STORES} stores and {EXTRA_GROUPS} groups, count again"):
            add_stores_and_groups(users)
            viewer_after = Store.objects.visible_to(users.viewer).count()
            after = query_counts(clients)
    specs = clients[ADMIN][1]
    check = QueryCheck(
        kinds=[spec.kind for spec in specs],
        labels={spec.kind: spec.label if spec.kind != "timezone" else "timezone=(most common)" for spec in specs},
        before=before,
        after=after,
        stores_before=stores_before,
        stores_after=Store.objects.count(),
        groups_before=groups_before,
        groups_after=StoreGroup.objects.count(),
        viewer_stores_before=viewer_sees,
        viewer_stores_after=viewer_after,
    )
    for user in USERS:
        print(
            f"  {user:<13} queries "
            + ", ".join(f"{kind} {before[user][kind]}→{after[user][kind]}" for kind in check.kinds)
        )

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
        "figures refresh (the background job behind the dashboard)": (
            f"{refresh.background:.2f} s for {refresh.stores:,} stores on {refresh.workers} `task_worker` processes "
            f"(--interval {args.worker_interval:g}), from queueing to the last batch done; `figures_refresh` in one "
            f"process, as of the same instant: {refresh.in_process:.2f} s, the same figures for every store"
        ),
        "load average (1, 5, 15 min) before and after the timed requests": (
            f"{' / '.join(f'{x:.2f}' for x in load_before)}, {' / '.join(f'{x:.2f}' for x in load_after)} "
            f"({machine.cpus} CPUs; the run itself keeps about one busy)"
        ),
        "users": (
            f"{SUPERUSER}; {ADMIN}: the admin of the organization holding every store ({len(stores):,}); "
            f"{VIEWER}: a viewer limited to the group {HALF_GROUP!r}, every other store by primary key "
            f"({in_half:,})"
        ),
    }
    connection.close()
    section = markdown(stores=len(stores), results=results, check=check, machine=machine, facts=facts, args=args)
    return section, results, check, refresh


if __name__ == "__main__":
    main()
