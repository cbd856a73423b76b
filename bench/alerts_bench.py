"""Benchmark of one monitor_alerts pass: 100,000 stores, 2 % of them in trouble.

Usage (from the project folder):

    .venv/bin/python bench/alerts_bench.py [--stores 100000] [--trouble-share 0.02]
        [--days 7] [--first-runs 3] [--runs 5] [--step-minutes 2]
        [--reminder-runs 3] [--profile] [--profile-top 25] [--seed 1]
        [--database-url URL] [--keep] [--json PATH]
        [--data-dir ../shared/data/loop-2023]

Target (issue 13): one `manage.py monitor_alerts` pass
(alerts.services.alerts_evaluate) over 100,000 stores with 2 % in trouble
under 1 s on PostgreSQL, once their incidents are open (the steady pass,
which the loop runs every MONITOR_ALERT_EVERY_SECONDS); the first pass, which
opens them, and the reminder pass, which reminds of them an hour later, are
reported too (figures, not targets).

What it does, and why each step is there:

1. It drops and creates its own PostgreSQL database (figures never depend
   on, and never touch, a developer's data), with an owner and its
   organization (bench/dataset.py create_owner), and one active webhook
   channel of that organization (alerts.notifications.channel_create), so
   that every opening and reminder writes its Notification row, as soon as
   an organization has a channel. Its URL (hooks.example.com) is never
   called: channel_create runs under MONITOR_WEBHOOK_ALLOW_PRIVATE, which
   skips the address check and with it the DNS lookup (no network needed).
   Tasks: the harness sets TASK_BACKEND=immediate for every benchmark, which
   would deliver each notification inline, in the pass, on commit; this one
   runs under TASKS = the database backend instead (harness.DATABASE_TASKS,
   what production's scripts/serve and the settings' default use), so each
   notification's delivery task is enqueued as in production, a
   django_tasks_db row written by the pass (its cost measured), and, no
   worker running, never run: nothing is delivered.
2. Stores: the Loop stores (real zones and hours, from --data-dir) and
   synthetic ones past them (bench/dataset.py select_stores).
3. Polls: --days days of hourly polls per store ending at NOW, a fixed
   instant, from the generator of `manage.py generate_polls` (jitter, missed
   polls, outages of 1-4 polls) for all but the last TAIL_SLOTS hours; those
   last polls are written by the benchmark at one minute of each hour
   between 5 and 55: active for the stores that are up, and the last two or
   three inactive for the stores in trouble (--trouble-share of them, drawn
   among the stores whose business hours, as the engine reads them, cover
   [NOW - 3 h, NOW + 2 h] throughout: past the reminder pass of step 7). So
   at NOW every store that is up had its latest poll, active, under an hour
   before, and every store in trouble has been inactive inside its business
   hours for 65 minutes to 3 hours: past the grace period, with no other
   store a candidate (alert_candidates picks exactly the stores in
   trouble). The polls are compressed into spans with the span rule
   (core.spans, as polls_record writes them) and bulk loaded with COPY;
   Store.last_poll_at / last_status are those of each store's last span,
   incident_open false. Then VACUUM ANALYZE.
4. The first pass, `alerts_evaluate(now=NOW)`, timed --first-runs times
   (between runs the incidents, notifications and task rows are deleted and
   incident_open cleared, untimed, then VACUUM ANALYZE): it must pick
   exactly the stores in trouble and open one incident for each, and
   nothing else, and write exactly one `incident.opened` notification per
   incident (NOW is inside their business hours), each with its delivery
   task row, not run.
5. One more first pass under django.test.utils.CaptureQueriesContext
   (untimed): its queries, by kind. It leaves the incidents open.
6. VACUUM ANALYZE (as autovacuum would after the new rows), then --runs
   steady passes at NOW + k × --step-minutes (k = 1, 2, ...; `now` passed
   explicitly; all before the reminders are due): the same candidates,
   nothing opened or resolved, no notification written, and each open
   incident's business downtime brought up to date. Then one more under
   CaptureQueriesContext (untimed) for its queries.
7. The reminder pass: --reminder-runs timed passes at REMIND_AT = NOW +
   MONITOR_ALERT_REMIND_MINUTES (60 unless set) + 1 minute, the incidents
   announced at NOW and not acknowledged: each writes exactly one
   `incident.reminder` notification (and its task row) per open incident,
   opens and resolves nothing, and brings the downtime up to date (a steady
   pass's work, plus the reminders and their tasks). All runs
   at the same instant, each from the same state: before each, untimed, the
   open incidents' notified_at and business downtime are put back as the
   steady passes left them, the reminders and their task rows deleted, then
   VACUUM ANALYZE. (Runs a remind period apart would need fresh polls: by
   NOW + 2 h every store's latest poll is past the stale period, and every
   store would be a candidate.) REMIND_AT must be before the latest polls
   of the stores that are up go stale (NOW - 55 min + MONITOR_STALE_AFTER,
   so NOW + 65 min by default) and inside the stores in trouble's hours
   (NOW + 2 h): checked. Then one more under CaptureQueriesContext
   (untimed), from the same state.
8. With --profile, or when the median of a kind of pass is 1 s or more: a
   cProfile of one more pass of that kind (the first after a reset, between
   4 and 5; a steady one after 6; a reminder one after 7, from the same
   state), printed.
9. A Markdown section and the target, for bench/run.py (--json).

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
import secrets
import statistics
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import harness  # first of the project's imports: it puts the project on sys.path
from core import uptime
from core.instants import HOUR, MINUTE, to_micros
from dataset import SpanRow, StoreSpec, compress, create_owner, load_database, select_stores, vacuum_analyze
from stores.poll_generator import Poll, generate_polls, store_rng

if TYPE_CHECKING:
    from accounts.models import Organization
    from alerts.models import Channel, Incident

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
# began at most TAIL_SLOTS hours before; the steady passes come after NOW, in
# the hour after it, and the reminder pass a remind period and a minute after it).
OPEN_BEFORE = TAIL_SLOTS * HOUR
OPEN_AFTER = 2 * HOUR
# The latest poll of a store that is up is this long before NOW at most (the
# tail polls are at minute 5 to 55 of each hour): it goes stale, and the store
# becomes a candidate, MONITOR_STALE_AFTER_MINUTES after that.
LATEST_POLL_AGE = 55 * MINUTE
# The bench organization's channel: never called (no worker runs the tasks).
CHANNEL_NAME = "bench"
CHANNEL_URL = "https://hooks.example.com/bench"


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
    notifications: int = 0  # written by the pass (check_outbox: one per incident, each with its task row)


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
    """Back to before the first pass: no incident, no notice, no notification,
    no task row, no flag (untimed)."""
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Flapping, Incident, Notification
    from stores.models import Store

    Notification.objects.all().delete()
    DBTaskResult.objects.all().delete()
    Incident.objects.all().delete()
    Flapping.objects.all().delete()
    Store.objects.filter(incident_open=True).update(incident_open=False)
    vacuum_analyze(Incident, Notification, DBTaskResult, Flapping, Store)


# --------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------


def bench_channel(organization: Organization) -> Channel:
    """The organization's one active webhook channel, made by the service that
    makes channels. Its address check resolves the URL's host (DNS):
    MONITOR_WEBHOOK_ALLOW_PRIVATE skips the check, so no network is needed.
    The URL is never called: no worker runs the delivery tasks."""
    from django.test.utils import override_settings

    from alerts.models import ChannelKind
    from alerts.notifications import channel_create

    with override_settings(MONITOR_WEBHOOK_ALLOW_PRIVATE=True):
        return channel_create(
            organization=organization,
            kind=ChannelKind.WEBHOOK,
            name=CHANNEL_NAME,
            url=CHANNEL_URL,
            secret=secrets.token_urlsafe(32),
        )


def task_backend_check() -> str:
    """The delivery task's backend must be the database one (enqueue writes a
    row, nothing runs): the immediate one would deliver inside the pass."""
    from django_tasks_db.backend import DatabaseBackend

    from alerts.notifications import notification_deliver_task

    backend = notification_deliver_task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        raise SystemExit(f"the delivery task's backend is {type(backend).__name__}, expected the database one")
    return f"{type(backend).__module__}.{type(backend).__name__}"


class Outbox(NamedTuple):
    """What the outbox held at some moment: its notifications (up to this pk) and its task rows."""

    last_notification: int
    tasks: frozenset[str]  # DBTaskResult ids


def outbox_now() -> Outbox:
    from django.db.models import Max
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Notification

    last = Notification.objects.aggregate(last=Max("pk"))["last"] or 0
    return Outbox(int(last), frozenset(str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)))


def check_outbox(before: Outbox, *, event: str | None, incidents: set[int], channel: int, label: str) -> int:
    """What a pass wrote since `before`: one pending `event` notification to the
    bench's channel per incident of `incidents` (none if event is None), each
    with exactly one delivery task row, enqueued and not run. Returns how many."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Notification, NotificationStatus
    from alerts.notifications import notification_deliver_task

    expected = incidents if event is not None else set()
    written = list(
        Notification.objects.filter(pk__gt=before.last_notification).values_list(
            "pk", "event", "incident_id", "channel_id", "status"
        )
    )
    task_rows = DBTaskResult.objects.values_list("pk", "args_kwargs", "status", "task_path")
    tasks = [(args_kwargs, status, path) for pk, args_kwargs, status, path in task_rows if str(pk) not in before.tasks]
    problems = []
    notified = [incident for _, _, incident, _, _ in written]
    if len(notified) != len(expected) or set(notified) != expected:
        problems.append(
            f"{len(written):,} notifications on {len(set(notified)):,} incidents, "
            f"expected one {event or 'none'} on each of {len(expected):,}"
        )
    pending = NotificationStatus.PENDING
    if any(kind != event or to != channel or status != pending for _, kind, _, to, status in written):
        problems.append(f"a notification other than a pending {event} to the bench channel")
    queued = sorted(args_kwargs["args"][0] for args_kwargs, _, _ in tasks)
    if queued != sorted(pk for pk, *_ in written):
        problems.append(f"{len(queued):,} delivery tasks queued for {len(written):,} notifications, expected one each")
    path_expected = notification_deliver_task.module_path
    if any(status != TaskResultStatus.READY or path != path_expected for _, status, path in tasks):
        problems.append("a task row that is not a delivery task waiting to run (has a worker run it?)")
    if problems:
        raise SystemExit(f"{label}: " + "; ".join(problems))
    return len(written)


def open_incidents_state() -> list[Incident]:
    """The open incidents' notified_at and business downtime, for reset_reminders."""
    from alerts.models import Incident

    return list(Incident.objects.open().only("pk", "notified_at", "business_downtime_seconds").order_by("pk"))


def reset_reminders(state: list[Incident], kept: Outbox) -> None:
    """Back to after the steady passes (untimed): the open incidents'
    notified_at and business downtime as `state` has them, and no notification
    or task row written since `kept`; then VACUUM ANALYZE."""
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Incident, Notification
    from common.bulk_writes import update_rows

    Notification.objects.filter(pk__gt=kept.last_notification).delete()
    DBTaskResult.objects.exclude(pk__in=list(kept.tasks)).delete()
    update_rows(Incident, state, ["notified_at", "business_downtime_seconds"])
    vacuum_analyze(Incident, Notification, DBTaskResult)


def check_notified(moment: dt.datetime, label: str) -> None:
    """Every open incident was announced, or reminded of, at `moment`."""
    from alerts.models import Incident

    stale = Incident.objects.open().exclude(notified_at=moment).count()
    if stale:
        raise SystemExit(f"{label}: {stale:,} open incidents not notified at {moment.isoformat()}")


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
    reminder: list[Pass]
    first_queries: Queries
    steady_queries: Queries
    reminder_queries: Queries
    downtime_first: int  # seconds, sum over the open incidents after the first passes
    downtime_steady: int  # ... after the steady passes
    downtime_reminder: int  # ... after a reminder pass
    step_minutes: float
    remind_minutes: int  # MONITOR_ALERT_REMIND_MINUTES: the reminder pass is at NOW + this + 1 min
    task_backend: str  # the delivery task's backend, dotted path
    loads: tuple[float, float, float]  # 1-minute load average before the first, steady and reminder passes
    first_profile: str  # cProfile listings; empty unless profiled
    profile: str
    reminder_profile: str


def benchmark(args: argparse.Namespace, stores: list[StoreSpec]) -> Results:
    from django.conf import settings

    from alerts.models import Incident, NotificationEvent
    from stores.models import Store, stale_after

    print(f"  database: {harness.database_version()}")
    now_micros = to_micros(NOW)
    remind_minutes = settings.MONITOR_ALERT_REMIND_MINUTES
    if not remind_minutes:
        raise SystemExit("MONITOR_ALERT_REMIND_MINUTES is 0 (no reminders): the reminder pass needs them")
    remind_at = NOW + dt.timedelta(minutes=remind_minutes + 1)
    step = dt.timedelta(minutes=args.step_minutes)
    # The steady passes (and a profiled one) come before the reminders are due;
    # the reminder pass before the latest polls of the stores that are up go
    # stale, and inside the business hours of those in trouble.
    if NOW + (args.runs + 2) * step >= NOW + dt.timedelta(minutes=remind_minutes):
        raise SystemExit(
            f"the steady passes must all come before the reminders are due (NOW + {remind_minutes} min): "
            "fewer --runs or a smaller --step-minutes"
        )
    if to_micros(remind_at) >= now_micros - LATEST_POLL_AGE + stale_after():
        raise SystemExit(
            f"the reminder pass at NOW + {remind_minutes + 1} min would find the latest polls stale "
            f"(MONITOR_STALE_AFTER_MINUTES {settings.MONITOR_STALE_AFTER_MINUTES}, latest polls up to "
            f"{LATEST_POLL_AGE // MINUTE} min before NOW): a shorter MONITOR_ALERT_REMIND_MINUTES"
        )
    if to_micros(remind_at) >= now_micros + OPEN_AFTER:
        raise SystemExit(f"the reminder pass at NOW + {remind_minutes + 1} min is past the stores' open window")
    task_backend = task_backend_check()
    print(f"  delivery tasks: {task_backend} (enqueued, never run: no worker)")
    hours = args.days * 24
    start = now_micros - hours * HOUR
    with harness.step(f"choose {args.trouble_share * 100:g} % of the stores to be in trouble at NOW"):
        troubled, eligible = choose_troubled(stores, args.trouble_share, args.seed, now_micros)
    print(
        f"  {len(troubled):,} stores in trouble, drawn among {eligible:,} open throughout "
        f"NOW - {OPEN_BEFORE // HOUR} h .. NOW + {OPEN_AFTER // HOUR} h"
    )
    with harness.step(f"generate {args.days} days of polls and compress them"):
        spans, polls_total = generate_spans(stores, troubled, seed=args.seed, start=start, hours=hours)
    span_total = sum(map(len, spans.values()))
    print(f"  polls: {polls_total:,}; span rows: {span_total:,}; polls per span: {polls_total / span_total:.1f}")

    owner = create_owner("alerts-bench")
    channel = bench_channel(owner.organization).pk
    print(f"  notification channel: one active webhook ({CHANNEL_URL}, never called)")
    with harness.step("bulk load stores, hours and spans"):
        hours_rows, span_rows = load_database(owner.organization, stores, spans)
    del spans
    print(f"  rows: {len(stores):,} stores, {hours_rows:,} business hours, {span_rows:,} spans")
    troubled_pks = set(Store.objects.filter(store_id__in=troubled).values_list("pk", flat=True))
    down = Store.objects.filter(last_status="inactive").count()
    if down != len(troubled) or len(troubled_pks) != len(troubled):
        raise SystemExit(f"{down:,} stores have an inactive latest poll, expected the {len(troubled):,} in trouble")

    def open_incident_pks() -> set[int]:
        return set(Incident.objects.open().values_list("pk", flat=True))

    def first_checked(result: Pass, before: Outbox, label: str) -> Pass:
        """A first pass's checks: its counts, its incidents, one announcement each, all at NOW."""
        check_pass(result, len(troubled), first=True)
        check_incidents(troubled_pks, NOW)
        written = check_outbox(
            before, event=NotificationEvent.OPENED, incidents=open_incident_pks(), channel=channel, label=label
        )
        check_notified(NOW, label)
        return result._replace(notifications=written)

    from django.db import connection

    connection.ensure_connection()  # not part of the first pass's cost
    print(f"first pass, alerts_evaluate(now={NOW:%Y-%m-%d %H:%M} UTC), from no incident:")
    first: list[Pass] = []
    first_load = os.getloadavg()[0]
    for index in range(args.first_runs):
        if index:
            reset_incidents()
        before = outbox_now()
        result = first_checked(run_pass(NOW), before, f"first pass, run {index + 1}")
        first.append(result)
        print(
            f"  run {index + 1}: {result.seconds:.3f} s; {result.candidates:,} candidates, {result.opened:,} opened, "
            f"{result.notifications:,} notifications (and delivery tasks) written",
            flush=True,
        )
    first_profile = ""
    if args.profile or statistics.median(run.seconds for run in first) >= TARGET_SECONDS:
        reset_incidents()
        before = outbox_now()
        result, first_profile = profiled_pass(NOW, args.profile_top)
        first_checked(result, before, "profiled first pass")
        print(f"\ncProfile of one first pass ({result.seconds:.3f} s under the profiler), top {args.profile_top}:")
        print(first_profile)
    reset_incidents()
    before = outbox_now()
    result, first_queries = captured_pass(NOW)
    first_checked(result, before, "captured first pass")
    downtime_first = check_incidents(troubled_pks, NOW)
    print(
        f"  under CaptureQueriesContext: {first_queries.count:,} queries, {first_queries.sql_seconds:.3f} s in SQL "
        f"of {first_queries.seconds:.3f} s: {kinds_text(first_queries)}"
    )

    # The incidents, notifications and task rows are new rows: fresh
    # statistics, as autovacuum would leave them.
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Notification

    vacuum_analyze(Incident, Notification, DBTaskResult, Store)
    print(f"steady passes, now = NOW + k × {args.step_minutes:g} min, the incidents open:")
    steady: list[Pass] = []
    steady_load = os.getloadavg()[0]
    moment = NOW
    for index in range(args.runs):
        moment += step
        before = outbox_now()
        result = run_pass(moment)
        check_pass(result, len(troubled), first=False)
        check_outbox(before, event=None, incidents=set(), channel=channel, label=f"steady pass, run {index + 1}")
        steady.append(result)
        print(
            f"  run {index + 1} (NOW + {(moment - NOW) / dt.timedelta(minutes=1):g} min): {result.seconds:.3f} s; "
            f"{result.candidates:,} candidates, {result.opened} opened, {result.resolved} resolved",
            flush=True,
        )
    moment += step
    before = outbox_now()
    result, steady_queries = captured_pass(moment)
    check_pass(result, len(troubled), first=False)
    check_outbox(before, event=None, incidents=set(), channel=channel, label="captured steady pass")
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
        before = outbox_now()
        result, profile = profiled_pass(moment, args.profile_top)
        check_pass(result, len(troubled), first=False)
        check_outbox(before, event=None, incidents=set(), channel=channel, label="profiled steady pass")
        print(f"\ncProfile of one steady pass ({result.seconds:.3f} s under the profiler), top {args.profile_top}:")
        print(profile)

    # Every reminder pass starts from the state the steady passes left.
    state, kept = open_incidents_state(), outbox_now()
    incident_pks = {incident.pk for incident in state}

    def reminder_checked(result: Pass, label: str) -> tuple[Pass, int]:
        """A reminder pass's checks: its counts, one reminder per open incident,
        all at REMIND_AT; and the open incidents' downtime."""
        check_pass(result, len(troubled), first=False)
        downtime = check_incidents(troubled_pks, remind_at)
        written = check_outbox(
            kept, event=NotificationEvent.REMINDER, incidents=incident_pks, channel=channel, label=label
        )
        check_notified(remind_at, label)
        if downtime <= downtime_steady:
            raise SystemExit(f"{label}: the open incidents' business downtime was not brought up to date")
        return result._replace(notifications=written), downtime

    print(
        f"reminder passes, now = NOW + {remind_minutes + 1} min (MONITOR_ALERT_REMIND_MINUTES {remind_minutes} + 1), "
        "the incidents announced at NOW (each run from the state the steady passes left):"
    )
    reminder: list[Pass] = []
    reset_reminders(state, kept)
    reminder_load = os.getloadavg()[0]
    for index in range(args.reminder_runs):
        if index:
            reset_reminders(state, kept)
        result, _ = reminder_checked(run_pass(remind_at), f"reminder pass, run {index + 1}")
        reminder.append(result)
        print(
            f"  run {index + 1}: {result.seconds:.3f} s; {result.candidates:,} candidates, {result.opened} opened, "
            f"{result.notifications:,} reminders (and delivery tasks) written",
            flush=True,
        )
    reminder_profile = ""
    if args.profile or statistics.median(run.seconds for run in reminder) >= TARGET_SECONDS:
        reset_reminders(state, kept)
        result, reminder_profile = profiled_pass(remind_at, args.profile_top)
        reminder_checked(result, "profiled reminder pass")
        print(f"\ncProfile of one reminder pass ({result.seconds:.3f} s under the profiler), top {args.profile_top}:")
        print(reminder_profile)
    reset_reminders(state, kept)
    result, reminder_queries = captured_pass(remind_at)
    _, downtime_reminder = reminder_checked(result, "captured reminder pass")
    print(
        f"  under CaptureQueriesContext: {reminder_queries.count:,} queries, {reminder_queries.sql_seconds:.3f} s "
        f"in SQL of {reminder_queries.seconds:.3f} s: {kinds_text(reminder_queries)}"
    )
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
        reminder=reminder,
        first_queries=first_queries,
        steady_queries=steady_queries,
        reminder_queries=reminder_queries,
        downtime_first=downtime_first,
        downtime_steady=downtime_steady,
        downtime_reminder=downtime_reminder,
        step_minutes=args.step_minutes,
        remind_minutes=remind_minutes,
        task_backend=task_backend,
        loads=(first_load, steady_load, reminder_load),
        first_profile=first_profile,
        profile=profile,
        reminder_profile=reminder_profile,
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
        f"| {label} | {last.candidates:,} | {last.opened:,} | {last.resolved:,} | {last.notifications:,} "
        f"| {', '.join(f'{s:.3f}' for s in times)} | {statistics.median(times):.3f} | {load:.1f} | {queries.count:,} "
        f"| {queries.sql_seconds:.3f} of {queries.seconds:.3f} | {kinds_text(queries)} |"
    )


def render(result: Results) -> dict[str, Any]:
    """The Markdown section and the target, for bench/run.py (and the terminal)."""
    first = [run.seconds for run in result.first]
    steady = [run.seconds for run in result.steady]
    reminder = [run.seconds for run in result.reminder]
    first_median, steady_median = statistics.median(first), statistics.median(steady)
    reminder_median = statistics.median(reminder)
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
        f"{result.eligible:,} stores whose business hours cover NOW - {OPEN_BEFORE // HOUR} h to "
        f"NOW + {OPEN_AFTER // HOUR} h; compressed into "
        f"spans ({result.hours_rows:,} business hours rows, {result.span_rows:,} span rows). "
        "The organization has one active webhook channel, so each announcement and reminder writes a "
        f"notification; its delivery task is enqueued on commit with the database backend (`{result.task_backend}`, "
        "as in production: one task row each), and never run (no worker). "
        "The first pass starts from no incident (between its runs the incidents, notifications and task rows are "
        f"deleted, untimed); the steady passes come {result.step_minutes:g} minutes apart after it, every incident "
        "open, each bringing the open incidents' business downtime up to date; the reminder passes are at NOW + "
        f"{result.remind_minutes + 1} min (MONITOR_ALERT_REMIND_MINUTES + 1), each from the state the steady "
        "passes left (the incidents' announcement time and downtime put back, the reminders and their task rows "
        "deleted, untimed): the steady pass's work plus one reminder per open incident. Every pass is checked: "
        "candidates are exactly the stores in trouble, the first opens one incident for each of them and writes "
        "one `incident.opened` notification each, a steady one opens, resolves and notifies nothing, a reminder "
        "one writes one `incident.reminder` notification per open incident; every notification has its task row. "
        "Queries: one more pass of each kind under `CaptureQueriesContext` (untimed); SQL time as Django's "
        "debug cursor measures it (the round trips included). "
        f"The machine has {harness.cpu_count()} CPUs, shared by the benchmark and PostgreSQL (and anything else "
        "running): a load average well above that says other work competed.",
        "",
        "| pass | candidates | opened | resolved | notifications | runs, s | median s | load average before "
        "| queries | SQL s of the pass's s (under the capture) | queries by kind (SQL s) |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
        table_row("first (opens the incidents)", result.first, result.first_queries, result.loads[0]),
        table_row("steady (incidents open)", result.steady, result.steady_queries, result.loads[1]),
        table_row(
            "reminders due (incidents open an hour)", result.reminder, result.reminder_queries, result.loads[2]
        ),
        "",
    ]
    targets: list[harness.Target] = [
        {
            "target": f"monitor_alerts pass, {result.stores:,} stores, {share:g} % in trouble",
            "goal": f"< {TARGET_SECONDS:g} s (steady pass)",
            "measured": f"{steady_median:.3f} s (median of {len(steady)}); first pass {first_median:.3f} s "
            f"(median of {len(first)}, {result.first[-1].opened:,} opened); reminder pass {reminder_median:.3f} s "
            f"(median of {len(reminder)}, {result.reminder[-1].notifications:,} reminders)",
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
        help="minutes between steady passes' `now` (default 2; all of them must come before the reminders are "
        "due, within the hour after NOW)",
    )
    parser.add_argument(
        "--reminder-runs",
        type=harness.positive_int,
        default=3,
        help="timed reminder passes, all at NOW + MONITOR_ALERT_REMIND_MINUTES + 1 min (default 3)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of a first, a steady and a reminder pass even if they take under 1 s",
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
    # The reminders are due an hour after NOW by default (MONITOR_ALERT_REMIND_MINUTES,
    # checked again once the settings are read).
    if (args.runs + 3) * args.step_minutes >= HOUR / MINUTE:
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
        from django.test.utils import override_settings

        # The harness sets TASK_BACKEND=immediate (delivery inline, on commit);
        # here the delivery tasks are queued as in production, and not run.
        with override_settings(TASKS=harness.DATABASE_TASKS):
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
