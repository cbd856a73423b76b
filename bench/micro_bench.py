"""The measurements behind the code: each choice whose comment cites bench/RESULTS.md, against its alternative.

Usage (from the project folder):

    .venv/bin/python bench/micro_bench.py [--values 50000] [--keys 1000] [--calls 200]
        [--update-rows 2000] [--insert-rows 50000] [--engine-stores 2000] [--repeats 5] [--seed 1]
        [--database-url URL] [--json PATH] [--keep]
    .venv/bin/python bench/micro_bench.py --engine-only [--engine-stores 2000] [--repeats 41] [--data-dir DIR]

What it compares (the code's way first, then the alternative):

1. common/expressions.py, EpochMicroseconds: reading --values timestamps as
   integers computed in SQL, versus as datetimes (a DateTimeField's
   values_list through the same plain cursor, so psycopg's loaders build
   them); wall time per value.
2. common/expressions.py, InIntegers.as_postgresql: filtering by --keys
   integer keys with the array as one text parameter ('{1,2,...}', built per
   query as the code builds it), versus the Python list for psycopg to dump;
   wall time per query.
3. core/instants.py: parse_utc_micros versus
   to_micros(parse_utc_timestamp(...)) on --values Loop-form timestamps
   ("2023-01-22 12:09:39.388884 UTC", eight days of them, as a poll file
   has); wall time per timestamp (pure Python: wall is CPU).
4. stores/device_keys.py: store_by_key_hash (raw SQL) versus
   Store.objects.filter(device_key_hash=...).first(); this process's CPU
   per lookup (the web server's share; PostgreSQL's is not counted).
5. stores/selectors.py: store_latest_spans for one store versus the ORM form
   it replaced (a Subquery over an OuterRef annotation: each store's span
   with the latest first_poll_at); CPU per call. Then PostgreSQL's own cost
   (EXPLAIN ANALYZE, planning + execution) of the one-store statement versus
   the general IN (...) statement, the latter given the store twice, the
   only way to make store_latest_spans emit it for one store.
6. common/bulk_writes.py: update_rows versus bulk_update of --update-rows
   spans (last_poll_at, poll_count), each run committed; and insert_rows
   (COPY) versus bulk_create (batches of bulk_writes.INSERT_BATCH, the
   instances built from the same rows inside the timing, as insert_rows'
   own fallback does) of --insert-rows spans, each run in a transaction
   rolled back afterwards, and the table vacuumed (untimed) before the next;
   wall time per run.
7. core/uptime.py, store_uptime: the figures of --engine-stores stores by
   lookups in each (week, zone) pair's cumulative open time (WeekOpenTime),
   versus core.uptime_reference.store_uptime_reference, which intersects the
   status intervals with the open hours (the form it replaced); CPU per
   store. Each pair's business hours and open time are built in the untimed
   first run, as a report builds them once for all the pair's stores. The
   stores are as a report reads them: the Loop stores' hours and zones from
   --data-dir (then synthetic ones, as bench/dataset.py makes them), eight
   days of hourly polls from the poll generator compressed into spans by
   the span rule, the last span before the week and those inside it. Then
   again with closures: the Lunar New Year holiday (a local day of the week)
   for every store and a four-hour closure for 2 % of them, as
   bench/report_bench.py creates them. The figures of the two ways are
   compared on every store before anything is timed. Pure Python: no
   database; with --engine-only nothing else is measured, and many short
   repetitions (--repeats 41) see through a busy machine's noise best.

How: its own throwaway database (dropped and created; the name must contain
"bench"), with an organization, --keys stores and --values spans. Each comparison
runs both ways once untimed, then --repeats repetitions of each, alternating
which goes first, with a garbage collection (untimed) before each; a
repetition is --calls calls for the per-call rows and one run otherwise. The
figure is the median repetition, per operation. The two ways of a row are
checked to give the same answer before they are timed.

No targets: these figures explain code choices; bench/run.py lists the
section without pass/fail rows. The lines printed while measuring give
every repetition, and the fastest and median of each way.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import harness  # first of the project's imports: it puts the project on sys.path

if TYPE_CHECKING:
    from core.uptime import Interval, Span, UptimeFigures, WeeklyHours

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_micro_bench")
TITLE = "Measurements behind the code"
ORGANIZATION = "micro-bench"
# Seeded spans start here, one an hour per store; inserted ones a year later,
# so they never collide with them on (store, first_poll_at).
SEEDED_FROM = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
INSERTED_FROM = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
# Loop-form timestamps are spread over eight days, as in a week's poll file.
LOOP_FROM = dt.datetime(2023, 1, 18, tzinfo=dt.timezone.utc)
LOOP_DAYS = 8
EXPLAIN_RUNS = 50
# The engine's stores (comparison 8): report_bench's report instant and
# holiday, and MONITOR_STALE_AFTER_MINUTES' default.
ENGINE_AS_OF = dt.datetime(2023, 1, 25, 18, 0, tzinfo=dt.timezone.utc)
ENGINE_POLL_DAYS = 8
ENGINE_STALE_MINUTES = 120
ENGINE_HOLIDAY = dt.date(2023, 1, 22)
ENGINE_ONE_OFF = (dt.datetime(2023, 1, 24, 10), dt.datetime(2023, 1, 24, 14))
ENGINE_ONE_OFF_SHARE = 0.02
SPAN_FIELDS = ("store", "status", "first_poll_at", "last_poll_at", "poll_count")
UPDATED_FIELDS = ("last_poll_at", "poll_count")

# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

WALL = "wall"
CPU = "CPU"
SERVER = "PostgreSQL"  # the way's run() returns the seconds PostgreSQL reports
CLOCKS: dict[str, Callable[[], float]] = {WALL: time.perf_counter, CPU: time.process_time}


class Way(NamedTuple):
    label: str
    run: Callable[[], Any]


class Comparison(NamedTuple):
    claim: str
    where: str
    unit: str  # what one operation is: "value", "query", "lookup", "call", "run"
    clock: str  # WALL, CPU or SERVER
    ours: Way  # the code's way
    other: Way  # the alternative it was chosen over
    ops: int = 1  # operations per run() call
    calls: int = 1  # run() calls per repetition
    before: Callable[[], None] | None = None  # untimed, before each repetition
    around: Callable[[], AbstractContextManager[Any]] = nullcontext  # entered untimed around each repetition


class Figure(NamedTuple):
    comparison: Comparison
    ours: list[float]  # seconds per operation, one per repetition
    other: list[float]

    @property
    def ratio(self) -> float:
        """How many times the alternative's cost the code's way's is (above 1: the code's way is cheaper)."""
        return statistics.median(self.other) / statistics.median(self.ours)


def repetition(comparison: Comparison, way: Way) -> float:
    """Seconds per operation of one repetition of one way."""
    if comparison.before is not None:
        comparison.before()
    # Garbage left by the other way must not be collected on this one's time.
    gc.collect()
    with comparison.around():
        if comparison.clock == SERVER:
            spent = sum(way.run() for _ in range(comparison.calls))
        else:
            clock = CLOCKS[comparison.clock]
            started = clock()
            for _ in range(comparison.calls):
                way.run()
            spent = clock() - started
    return spent / (comparison.calls * comparison.ops)


def measure(comparison: Comparison, repeats: int) -> Figure:
    """Both ways once untimed (caches, first connection use), then `repeats`
    repetitions each, alternating which goes first so that neither always
    runs right after the other's garbage or in the same phase of other load."""
    with comparison.around():
        comparison.ours.run()
        comparison.other.run()
    ours: list[float] = []
    other: list[float] = []
    for index in range(repeats):
        pair = [(comparison.ours, ours), (comparison.other, other)]
        for way, figures in pair if index % 2 == 0 else reversed(pair):
            figures.append(repetition(comparison, way))
    return Figure(comparison, ours, other)


def same(label: str, ours: object, other: object) -> None:
    """The two ways of a row must answer alike, or the comparison means nothing."""
    if ours != other:
        raise SystemExit(f"{label}: the two ways disagree:\n  {str(ours)[:300]}\n  {str(other)[:300]}")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


class Seeded(NamedTuple):
    store_pks: list[int]
    store_ids: list[str]
    key_hashes: list[str]
    spans: int


def seed_data(keys: int, values: int, rng: random.Random) -> Seeded:
    """An organization, `keys` stores of it with device key hashes, `values`
    spans spread over them (one an hour per store, microseconds random), loaded with COPY."""
    from django.db import transaction

    from accounts.models import Organization
    from accounts.secrets import new_secret
    from common.bulk_writes import insert_rows
    from dataset import vacuum_analyze
    from stores.models import PollStatus, StatusSpan, Store

    organization = Organization.objects.create(name=ORGANIZATION)
    last_poll = dt.datetime(2023, 1, 25, 23, 59, 1, 123456, tzinfo=dt.timezone.utc)
    with transaction.atomic():
        stores = Store.objects.bulk_create(
            Store(
                organization=organization,
                store_id=f"micro-{index:05d}",
                timezone="America/New_York",
                device_key_hash=new_secret()[1],
                last_poll_at=last_poll,
                last_status=PollStatus.ACTIVE,
            )
            for index in range(keys)
        )
        store_pks = [store.pk for store in stores]
        insert_rows(StatusSpan, SPAN_FIELDS, span_rows(store_pks, values, SEEDED_FROM, rng))
    vacuum_analyze(Store, StatusSpan)
    return Seeded(store_pks, [store.store_id for store in stores], [store.device_key_hash for store in stores], values)


def span_rows(
    store_pks: Sequence[int], count: int, start: dt.datetime, rng: random.Random
) -> list[tuple[int, str, dt.datetime, dt.datetime, int]]:
    """`count` span rows, round-robin over the stores, an hour apart within a store."""
    rows = []
    for index in range(count):
        hour, store = divmod(index, len(store_pks))
        first = start + dt.timedelta(hours=hour, microseconds=rng.randrange(600_000_000))
        last = first + dt.timedelta(microseconds=rng.randrange(3_000_000_000))
        status = "active" if rng.random() < 0.9 else "inactive"
        rows.append((store_pks[store], status, first, last, rng.randint(1, 20)))
    return rows


def loop_timestamps(count: int, rng: random.Random) -> list[str]:
    """Loop-form timestamps ("2023-01-22 12:09:39.388884 UTC") over LOOP_DAYS days."""
    span = LOOP_DAYS * 86_400_000_000
    return [
        (LOOP_FROM + dt.timedelta(microseconds=rng.randrange(span))).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        for _ in range(count)
    ]


# --------------------------------------------------------------------------
# The comparisons
# --------------------------------------------------------------------------


def timestamps_read(seeded: Seeded) -> Comparison:
    from common.expressions import EpochMicroseconds
    from core.instants import to_micros
    from stores.models import StatusSpan
    from stores.selectors import _rows  # the plain cursor the selectors read through

    spans = StatusSpan.objects.order_by("pk")
    as_integers = spans.values_list(EpochMicroseconds("first_poll_at"))
    as_datetimes = spans.values_list("first_poll_at")
    same("timestamps", _rows(as_integers), [(to_micros(at),) for (at,) in _rows(as_datetimes)])
    return Comparison(
        f"Reading {seeded.spans:,} timestamps",
        "`common/expressions.py` EpochMicroseconds",
        "value",
        WALL,
        Way("integers computed in SQL (EpochMicroseconds)", lambda: _rows(as_integers)),
        Way("datetimes (psycopg's loaders), not yet integers", lambda: _rows(as_datetimes)),
        ops=seeded.spans,
    )


def keys_filter(seeded: Seeded, calls: int) -> Comparison:
    from django.db import connection

    from common.expressions import InIntegers
    from stores.models import Store

    keys = list(seeded.store_pks)
    # InIntegers' own statement, counted so that few rows come back: the rows
    # would cost both ways alike and hide the difference.
    queryset = Store.objects.filter(InIntegers("pk", keys)).order_by().values_list("pk")
    inner, params = queryset.query.sql_with_params()
    statement = f"SELECT count(*) FROM ({inner}) AS matching"
    if params != ("{" + ",".join(map(str, keys)) + "}",):
        raise SystemExit(f"InIntegers.as_postgresql no longer sends one array literal: {statement[:200]}")

    def query(param: object) -> int:
        with connection.cursor() as cursor:
            cursor.execute(statement, [param])
            return int(cursor.fetchone()[0])

    # The literal is built per query, as InIntegers.as_postgresql builds it.
    def as_text() -> int:
        return query("{" + ",".join(map(str, keys)) + "}")

    def as_list() -> int:
        return query(keys)

    same("key filter", as_text(), as_list())
    same("key filter count", as_text(), len(keys))
    return Comparison(
        f"Filtering by {len(keys):,} integer keys",
        "`common/expressions.py` InIntegers.as_postgresql",
        "query",
        WALL,
        Way("`= ANY(%s::bigint[])`, the array as text", as_text),
        Way("the same with a Python list (psycopg dumps it)", as_list),
        calls=calls,
    )


def timestamps_parse(values: int, rng: random.Random) -> Comparison:
    from core.instants import parse_utc_micros, parse_utc_timestamp, to_micros

    texts = loop_timestamps(values, rng)

    def fast() -> list[int]:
        return [parse_utc_micros(text) for text in texts]

    def general() -> list[int]:
        return [to_micros(parse_utc_timestamp(text)) for text in texts]

    same("Loop timestamps", fast(), general())
    return Comparison(
        f"Parsing {values:,} Loop-form timestamps",
        "`core/instants.py` parse_utc_micros",
        "timestamp",
        WALL,
        Way("parse_utc_micros", fast),
        Way("to_micros(parse_utc_timestamp(...))", general),
        ops=values,
    )


def key_lookup(seeded: Seeded, calls: int) -> Comparison:
    from stores.device_keys import store_by_key_hash
    from stores.models import Store

    raw_hashes, orm_hashes = itertools.cycle(seeded.key_hashes), itertools.cycle(seeded.key_hashes)
    for key_hash in seeded.key_hashes[:20]:
        raw, orm = store_by_key_hash(key_hash), Store.objects.filter(device_key_hash=key_hash).first()
        same("device key lookup", raw and raw.pk, orm and orm.pk)
    return Comparison(
        "Device key lookup",
        "`stores/device_keys.py` store_by_key_hash",
        "lookup",
        CPU,
        Way("raw SQL through `Store.objects.raw`", lambda: store_by_key_hash(next(raw_hashes))),
        Way(
            "`Store.objects.filter(device_key_hash=...).first()`",
            lambda: Store.objects.filter(device_key_hash=next(orm_hashes)).first(),
        ),
        calls=calls,
    )


def latest_spans_orm(store_pks: Sequence[int]) -> dict[int, Any]:
    """The ORM form store_latest_spans replaced: for each store, its span with
    the latest first_poll_at, through a Subquery over an OuterRef annotation."""
    from django.db.models import OuterRef, Subquery

    from stores.models import StatusSpan, Store

    latest = StatusSpan.objects.filter(store=OuterRef("pk")).order_by("-first_poll_at").values("pk")[:1]
    span_ids = Store.objects.filter(pk__in=store_pks).annotate(span_id=Subquery(latest)).values("span_id")
    return {span.store_id: span for span in StatusSpan.objects.filter(pk__in=Subquery(span_ids))}


def latest_span(seeded: Seeded, calls: int) -> Comparison:
    from stores.selectors import store_latest_spans

    raw_pks, orm_pks = itertools.cycle(seeded.store_pks), itertools.cycle(seeded.store_pks)
    for pk in seeded.store_pks[:20]:
        raw, orm = store_latest_spans(store_pks=[pk]), latest_spans_orm([pk])
        same("latest span", {key: span.pk for key, span in raw.items()}, {key: span.pk for key, span in orm.items()})
    return Comparison(
        "Latest span of one store",
        "`stores/selectors.py` store_latest_spans",
        "call",
        CPU,
        Way("one-store SQL statement through `raw()`", lambda: store_latest_spans(store_pks=[next(raw_pks)])),
        Way("ORM: Subquery over an OuterRef annotation", lambda: latest_spans_orm([next(orm_pks)])),
        calls=calls,
    )


def captured_statement(call: Callable[[], object]) -> str:
    """The last statement a call ran, its parameters bound (Django binds them
    client-side with psycopg 3, so the text runs as is)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        call()
    return str(queries.captured_queries[-1]["sql"])


def explain_seconds(statement: str) -> float:
    """PostgreSQL's planning + execution time of a statement, in seconds
    (EXPLAIN ANALYZE without per-node timing, which would inflate both)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + statement)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return (plan[0]["Planning Time"] + plan[0]["Execution Time"]) / 1000


def latest_span_database(seeded: Seeded) -> Comparison:
    from stores.selectors import store_latest_spans

    pk = seeded.store_pks[len(seeded.store_pks) // 2]
    one = captured_statement(lambda: store_latest_spans(store_pks=[pk]))
    general = captured_statement(lambda: store_latest_spans(store_pks=[pk, pk]))
    if " IN (" not in general or " IN (" in one:
        raise SystemExit(f"store_latest_spans' statements changed:\n  {one[:200]}\n  {general[:200]}")
    return Comparison(
        "Latest span of one store, in PostgreSQL",
        "`stores/selectors.py` store_latest_spans",
        "statement",
        SERVER,
        Way("one-store statement (`ORDER BY ... LIMIT 1`)", lambda: explain_seconds(one)),
        Way("the general `IN (...)` statement, the store given twice", lambda: explain_seconds(general)),
        calls=EXPLAIN_RUNS,
    )


def spans_update(rows: int) -> Comparison:
    from django.db import transaction

    from common.bulk_writes import update_rows
    from stores.models import StatusSpan

    spans = list(StatusSpan.objects.order_by("pk")[:rows])

    def advance() -> None:
        # New values for every repetition: each one writes changed rows.
        for span in spans:
            span.last_poll_at += dt.timedelta(seconds=1)
            span.poll_count += 1

    def ours() -> None:
        with transaction.atomic():
            update_rows(StatusSpan, spans, UPDATED_FIELDS)

    def django() -> None:
        with transaction.atomic():
            StatusSpan.objects.bulk_update(spans, UPDATED_FIELDS)

    advance()
    ours()
    written = list(StatusSpan.objects.order_by("pk").values_list(*UPDATED_FIELDS)[:rows])
    same("span update", written, [(span.last_poll_at, span.poll_count) for span in spans])
    return Comparison(
        f"Updating {rows:,} spans (2 fields)",
        "`common/bulk_writes.py` update_rows",
        "run",
        WALL,
        Way("update_rows: `UPDATE ... FROM (VALUES ...)`", ours),
        Way("Django's `bulk_update` (CASE WHEN per row and field)", django),
        before=advance,
    )


def spans_insert(seeded: Seeded, rows: int, rng: random.Random) -> Comparison:
    from django.db import transaction

    from common.bulk_writes import INSERT_BATCH, insert_rows
    from dataset import vacuum_analyze
    from stores.models import StatusSpan

    new_rows = span_rows(seeded.store_pks, rows, INSERTED_FROM, rng)
    attnames = [StatusSpan._meta.get_field(name).attname for name in SPAN_FIELDS]

    def rolled_back(insert: Callable[[], int]) -> int:
        # Rolled back, so that every run inserts the same rows into the same table.
        with transaction.atomic():
            count = insert()
            transaction.set_rollback(True)
        return count

    def ours() -> int:
        return rolled_back(lambda: insert_rows(StatusSpan, SPAN_FIELDS, new_rows))

    def django() -> int:
        return rolled_back(
            lambda: len(
                StatusSpan.objects.bulk_create(
                    [StatusSpan(**dict(zip(attnames, row))) for row in new_rows], batch_size=INSERT_BATCH
                )
            )
        )

    inserted = ours()
    same("span insert", inserted, django())
    same("span insert count", inserted, rows)
    return Comparison(
        f"Inserting {rows:,} spans",
        "`common/bulk_writes.py` insert_rows",
        "run",
        WALL,
        Way("insert_rows: `COPY ... FROM STDIN`", ours),
        Way(f"Django's `bulk_create`, batches of {INSERT_BATCH:,}", django),
        # The rolled-back rows are dead tuples: cleared, so that every run
        # inserts into the same table.
        before=lambda: vacuum_analyze(StatusSpan),
    )


# --------------------------------------------------------------------------
# The engine (pure Python, no database)
# --------------------------------------------------------------------------


class EngineStore(NamedTuple):
    """One store's inputs to store_uptime, as reports/figures.py passes them."""

    spans: list[Span]
    hours: WeeklyHours
    zone_name: str
    closures: list[Interval]


def engine_stores(count: int, data_dir: Path, seed: int) -> tuple[list[EngineStore], list[EngineStore]]:
    """`count` stores as a report reads them, without closures and with them
    (module docstring, 8). Equal weeks are one object, as
    stores.selectors.store_weekly_hours gives them."""
    from core import closures, uptime
    from core.instants import HOUR, MINUTE, WEEK, to_micros
    from dataset import compress, select_stores
    from stores.poll_generator import generate_polls, store_rng

    as_of = to_micros(ENGINE_AS_OF)
    week_start = as_of - WEEK
    polls_per_store = ENGINE_POLL_DAYS * 24  # hourly
    stale = ENGINE_STALE_MINUTES * MINUTE
    holiday = closures.ClosureRule(
        True, closures.local_moment(ENGINE_HOLIDAY), closures.local_moment(ENGINE_HOLIDAY + dt.timedelta(days=1)), True
    )
    one_off = closures.ClosureRule(True, *(closures.local_moment(moment) for moment in ENGINE_ONE_OFF))
    rng = random.Random(f"{seed}/engine")
    weeks: dict[WeeklyHours, WeeklyHours] = {}
    plain: list[EngineStore] = []
    closed: list[EngineStore] = []
    for spec in select_stores(data_dir, count, seed):
        week = uptime.weekly_hours(uptime.HoursEntry(row.day_of_week, row.start, row.end) for row in spec.hours)
        week = weeks.setdefault(week, week)
        polls = generate_polls(store_rng(seed, spec.store_id), as_of - polls_per_store * HOUR, polls_per_store)
        spans = [uptime.Span(row.active, row.first_poll, row.last_poll) for row in compress(polls, stale)]
        # stores.selectors.store_spans: the last span starting before the week, and those inside it.
        before = [span for span in spans if span.first_poll < week_start][-1:]
        spans = before + [span for span in spans if week_start <= span.first_poll < as_of]
        rules = [holiday, one_off] if rng.random() < ENGINE_ONE_OFF_SHARE else [holiday]
        plain.append(EngineStore(spans, week, spec.timezone, []))
        closed.append(
            EngineStore(spans, week, spec.timezone, closures.closure_intervals(rules, spec.timezone, week_start, as_of))
        )
    return plain, closed


def engine_figures(stores: Sequence[EngineStore], label: str) -> Comparison:
    from core import uptime
    from core.instants import MINUTE, to_micros
    from core.uptime_reference import store_uptime_reference

    as_of = to_micros(ENGINE_AS_OF)
    stale = ENGINE_STALE_MINUTES * MINUTE

    def run(figures: Callable[..., UptimeFigures]) -> list[UptimeFigures]:
        return [
            figures(
                spans=store.spans,
                hours=store.hours,
                zone_name=store.zone_name,
                as_of=as_of,
                stale_after=stale,
                closures=store.closures,
            )
            for store in stores
        ]

    same(f"store_uptime {label}", run(uptime.store_uptime), run(store_uptime_reference))
    weeks = len({(store.hours, store.zone_name) for store in stores})
    spans = sum(len(store.spans) for store in stores) / len(stores)
    return Comparison(
        f"Figures of {len(stores):,} stores ({weeks:,} weeks and zones, {spans:.1f} spans a store), {label}",
        "`core/uptime.py` store_uptime",
        "store",
        CPU,
        Way("lookups in the pair's cumulative open time (WeekOpenTime)", lambda: run(uptime.store_uptime)),
        Way(
            "status intervals intersected with the open hours (core.uptime_reference)",
            lambda: run(store_uptime_reference),
        ),
        ops=len(stores),
    )


def engine_builders(args: argparse.Namespace) -> list[tuple[str, Callable[[], Comparison]]]:
    with harness.step(f"make {args.engine_stores:,} stores' engine inputs"):
        plain, closed = engine_stores(args.engine_stores, args.data_dir, args.seed)
    return [
        ("engine figures", lambda: engine_figures(plain, "no closures")),
        ("engine figures, closures", lambda: engine_figures(closed, "a holiday for every store")),
    ]


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def per_op(seconds: float, unit: str) -> str:
    """Seconds per operation, in the unit that keeps it readable."""
    for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {suffix}/{unit}"
    return f"{seconds * 1e9:.3g} ns/{unit}"


def markdown(figures: Sequence[Figure], args: argparse.Namespace, where: str, load: Sequence[float]) -> str:
    """The section: `where` says what the rows ran on (the database and its data)."""
    lines = [
        f"## {TITLE}",
        "",
        f"`bench/micro_bench.py`: each row times the code's way against the alternative it was chosen over, "
        f"side by side in one process {where}; both ways run once untimed, then {args.repeats} repetitions "
        "each, alternating which goes "
        f"first; a figure is the median repetition per operation (per-call rows: {args.calls} calls a "
        "repetition), and the two ways are checked to give the same answer first. Clock: wall (time.perf_counter); "
        "CPU: this process's CPU time (time.process_time), the web server's share without PostgreSQL's; "
        f"PostgreSQL: planning + execution time from EXPLAIN ANALYZE ({EXPLAIN_RUNS} runs a repetition). "
        "Ratio: the alternative's figure over the code's, above 1 when the code's way is cheaper. "
        f"Load average (1, 5, 15 min) before the measurements: {' / '.join(f'{value:.2f}' for value in load)} "
        f"on {harness.cpu_count()} CPUs.",
        "",
        "| claim | where | the code's way | the alternative | clock | code's way | alternative | ratio |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for figure in figures:
        c = figure.comparison
        lines.append(
            f"| {c.claim} | {c.where} | {c.ours.label} | {c.other.label} | {c.clock} "
            f"| {per_op(statistics.median(figure.ours), c.unit)} | {per_op(statistics.median(figure.other), c.unit)} "
            f"| {figure.ratio:.2f}× |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def measure_all(builders: Sequence[tuple[str, Callable[[], Comparison]]], repeats: int) -> list[Figure]:
    figures = []
    for label, build in builders:
        with harness.step(label):
            figure = measure(build(), repeats)
        figures.append(figure)
        c = figure.comparison
        print(
            f"  {c.clock}: {', '.join(per_op(s, c.unit) for s in figure.ours)} | "
            f"{', '.join(per_op(s, c.unit) for s in figure.other)}\n"
            f"  fastest {per_op(min(figure.ours), c.unit)} | {per_op(min(figure.other), c.unit)}, ratio "
            f"{min(figure.other) / min(figure.ours):.2f}; median {per_op(statistics.median(figure.ours), c.unit)} | "
            f"{per_op(statistics.median(figure.other), c.unit)}, ratio {figure.ratio:.2f}",
            flush=True,
        )
    return figures


def benchmark(args: argparse.Namespace) -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("these measurements are of PostgreSQL code paths (COPY, arrays, FOR UPDATE): use PostgreSQL")
    database = harness.database_version()
    rng = random.Random(args.seed)
    with harness.step(f"create {args.keys:,} stores and {args.values:,} spans"):
        seeded = seed_data(args.keys, args.values, rng)
    engine = engine_builders(args)
    load = os.getloadavg()
    builders: list[tuple[str, Callable[[], Comparison]]] = [
        ("timestamps read", lambda: timestamps_read(seeded)),
        ("integer keys", lambda: keys_filter(seeded, args.calls)),
        ("timestamps parsed", lambda: timestamps_parse(args.values, rng)),
        ("device key lookup", lambda: key_lookup(seeded, args.calls)),
        ("latest span, CPU", lambda: latest_span(seeded, args.calls)),
        ("latest span, PostgreSQL", lambda: latest_span_database(seeded)),
        ("span update", lambda: spans_update(args.update_rows)),
        ("span insert", lambda: spans_insert(seeded, args.insert_rows, rng)),
        *engine,
    ]
    figures = measure_all(builders, args.repeats)
    data = f"{seeded.spans:,} spans over {len(seeded.store_pks):,} stores; the engine's rows without it"
    where = f"on {database} ({data})"
    return markdown(figures, args, where, load)


def engine_benchmark(args: argparse.Namespace) -> str:
    """Comparison 8 alone: no database."""
    engine = engine_builders(args)
    load = os.getloadavg()
    figures = measure_all(engine, args.repeats)
    return markdown(figures, args, "(the engine alone, no database)", load)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--values",
        type=harness.positive_int,
        default=50_000,
        help="spans seeded, timestamps read from them, and Loop timestamps parsed (default 50,000)",
    )
    parser.add_argument(
        "--keys", type=harness.positive_int, default=1000, help="stores, and integer keys filtered by (default 1,000)"
    )
    parser.add_argument(
        "--calls", type=harness.positive_int, default=200, help="calls per repetition of the per-call rows (default 200)"
    )
    parser.add_argument(
        "--update-rows", type=harness.positive_int, default=2000, help="spans updated per run (default 2,000)"
    )
    parser.add_argument(
        "--insert-rows", type=harness.positive_int, default=50_000, help="spans inserted per run (default 50,000)"
    )
    parser.add_argument(
        "--engine-stores",
        type=harness.positive_int,
        default=2000,
        help="stores whose figures the engine computes per repetition (default 2,000)",
    )
    parser.add_argument(
        "--engine-only",
        action="store_true",
        help="only the engine's comparison (8), without a database",
    )
    parser.add_argument(
        "--repeats", type=harness.positive_int, default=5, help="timed repetitions of each way (default 5)"
    )
    harness.add_data_dir_option(parser)
    harness.add_common_options(
        parser, default_database_url=DEFAULT_DATABASE_URL, seed_help="seed of the generated spans and timestamps"
    )
    args = parser.parse_args(argv)
    if args.update_rows > args.values:
        parser.error("--update-rows cannot exceed --values (the spans seeded)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.engine_only:
        section = engine_benchmark(args)
    else:
        database = harness.BenchDatabase.from_url(args.database_url)
        with harness.bench_database(database, keep=args.keep, media_prefix="micro-bench-media-"):
            section = benchmark(args)
    if args.json:
        harness.json_write(args.json, title=TITLE, markdown=section, targets=[])
        print(f"wrote {args.json}")
    else:
        print()
        print(section)


if __name__ == "__main__":
    main()
