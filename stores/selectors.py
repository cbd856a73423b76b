"""Reads of stores, hours and spans, in bulk: a constant number of queries per call.

A report reads a few rows for each of thousands of stores, so these skip
what the ORM spends per row: queries are built with the ORM but run on a
plain (client-side) cursor, without server-side cursor round trips, model
instances or per-value converters; instants and times arrive as integers
(common.expressions), and the store keys go as one parameter (InIntegers).
A report's two big reads come as one row per store: its business hours as
one text, and on PostgreSQL its spans as arrays in the binary format
(common.binary_reads).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from itertools import repeat
from operator import add
from typing import NamedTuple

from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import OuterRef, Q, QuerySet, Subquery

from common.binary_reads import POSTGRES_EPOCH_MICROS, integer_rows
from common.expressions import EpochMicroseconds, InIntegers
from core import uptime
from core.closures import ClosureRule, local_moment
from core.instants import to_micros
from core.uptime_batch import SpanColumns, span_columns, span_columns_of_lists

from .models import Closure, PollStatus, Store, StatusSpan, StoreWeek


class UptimeInputs(NamedTuple):
    """What the engine needs of one store."""

    hours: uptime.WeeklyHours
    spans: list[uptime.Span]
    # Its closures, as rules (core.closures resolves them in its zone).
    closures: tuple[ClosureRule, ...] = ()


def _rows(queryset: QuerySet) -> list[tuple]:
    """The rows of a values_list queryset as the database driver gives them.

    Only for columns whose raw values are what the caller wants: integers,
    text, booleans (0/1 on SQLite). Callers bound the number of rows.
    """
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@lru_cache(maxsize=8192)
def _seconds_of_text(text: str) -> int:
    # Whole seconds: the engine ignores fractions (uptime.local_interval).
    # Cached: the rows a worker meets share their times of day.
    return int(text[0:2]) * 3600 + int(text[3:5]) * 60 + int(text[6:8])


@lru_cache(maxsize=16_384)
def _week_of_text(text: str) -> uptime.WeeklyHours:
    # Rows come in the table's order, which differs between stores with the
    # same week (13,584 Loop stores: 10,614 texts, 1,840 weeks): each text is
    # put in order once, and the same week resolves once (_week_of_rows).
    return _week_of_rows(";".join(sorted(text.split(";"))))


@lru_cache(maxsize=4096)
def _week_of_rows(text: str) -> uptime.WeeklyHours:
    # Chains share schedules: a week resolves once per distinct week, and a
    # warm worker's next report finds it resolved.
    rows = list(map(_row_of_text, text.split(";")))
    intervals = [(day, interval) for day, interval in rows if interval is not None]
    return uptime.week_of_intervals(intervals, [day for day, interval in rows if interval is None])


@lru_cache(maxsize=65_536)
def _row_of_text(row: str) -> tuple[int, tuple[int, int] | None]:
    """One row of a StoreWeek text: its day and local interval, or the day
    alone (None) when it is marked closed. Cached: weeks share their rows
    (a report chunk of 2,000 synthetic stores: 12,000 rows, 2,200 distinct)."""
    if len(row) == 1:  # the day alone (one digit, 0-6): marked closed
        return int(row), None
    day, start, end = row.split(",")
    return int(day), uptime.local_interval(_seconds_of_text(start), _seconds_of_text(end))


def store_weekly_hours(*, store_pks: Sequence[int]) -> dict[int, uptime.WeeklyHours]:
    """Resolved weekly hours of each store (stores without rows are open all week).

    Read as each store's one StoreWeek row, which the database keeps (its
    rows joined into one text): the database reads one row a store instead
    of aggregating its six or so, and a week already seen costs one cache
    lookup."""
    rows = StoreWeek.objects.filter(InIntegers("store_id", store_pks, opaque=True)).order_by().values_list("store_id", "text")
    return weekly_hours_of_texts(dict(_rows(rows)), store_pks=store_pks)


def weekly_hours_of_texts(texts: Mapping[int, str | None], *, store_pks: Sequence[int]) -> dict[int, uptime.WeeklyHours]:
    """store_weekly_hours from StoreWeek texts the caller has read (by store
    pk; a store missing or None has no rows: open all week)."""
    weeks: dict[int, uptime.WeeklyHours] = {}
    for pk in store_pks:
        text = texts.get(pk)
        weeks[pk] = uptime.ALWAYS_OPEN if text is None else _week_of_text(text)
    return weeks


def store_spans(*, store_pks: Sequence[int], start: dt.datetime, end: dt.datetime) -> dict[int, list[uptime.Span]]:
    """The spans that decide each store's status within [start, end): those
    starting inside it, and the last one starting before it (its status, or
    its expiry, carries into the range), in order.

    PostgreSQL: one query, a row per store with its spans as arrays
    (_spans_as_arrays). SQLite, which has neither arrays nor LATERAL: two
    queries of a row per span, the same spans. (Joined with OR, the two
    conditions made PostgreSQL scan the whole table instead of the index.)"""
    db = StatusSpan.objects.db
    if connections[db].vendor == "postgresql":
        return _spans_as_arrays(connections[db], store_pks, start, end)
    # The span before the range, as three lookups per store in the (store,
    # first poll) index: joining span ids back to the table instead made
    # PostgreSQL hash the whole span table for every batch of stores.
    last_before = StatusSpan.objects.filter(store=OuterRef("pk"), first_poll_at__lt=start).order_by("-first_poll_at")
    previous = (
        Store.objects.filter(InIntegers("pk", store_pks))
        .order_by()
        .annotate(
            span_status=Subquery(last_before.values("status")[:1]),
            span_first=Subquery(last_before.values(first=EpochMicroseconds("first_poll_at"))[:1]),
            span_last=Subquery(last_before.values(last=EpochMicroseconds("last_poll_at"))[:1]),
        )
        .values_list("pk", "span_status", "span_first", "span_last")
    )
    inside = (
        StatusSpan.objects.filter(InIntegers("store_id", store_pks), first_poll_at__gte=start, first_poll_at__lt=end)
        .order_by("store_id", "first_poll_at")
        .values_list("store_id", "status", EpochMicroseconds("first_poll_at"), EpochMicroseconds("last_poll_at"))
    )
    spans: dict[int, list[uptime.Span]] = {pk: [] for pk in store_pks}
    active = PollStatus.ACTIVE.value
    Span = uptime.Span
    # The span before the range comes first in its store's list, then the
    # ones inside it in order.
    for store_pk, status, first, last in _rows(previous):
        if status is not None:  # None: no span before the range
            spans[store_pk].append(Span(status == active, first, last))
    for store_pk, status, first, last in _rows(inside):
        spans[store_pk].append(Span(status == active, first, last))
    return spans


def _spans_as_arrays(
    db: BaseDatabaseWrapper, store_pks: Sequence[int], start: dt.datetime, end: dt.datetime
) -> dict[int, list[uptime.Span]]:
    """store_spans on PostgreSQL, from _span_array_rows."""
    spans: dict[int, list[uptime.Span]] = {pk: [] for pk in store_pks}
    # All in C: tuple.__new__ makes each Span (what Span._make does, less its
    # Python frame), operator.add shifts the instants to 1970.
    make, span_type, epoch = tuple.__new__, repeat(uptime.Span), repeat(POSTGRES_EPOCH_MICROS)
    for store_pk, actives, firsts, lasts in _span_array_rows(db, store_pks, start, end):
        if actives is not None:  # None: no span at all
            spans[store_pk] = list(map(make, span_type, zip(actives, map(add, firsts, epoch), map(add, lasts, epoch))))
    return spans


def _span_array_rows(
    db: BaseDatabaseWrapper, store_pks: Sequence[int], start: dt.datetime, end: dt.datetime
) -> list[tuple[int, list[bool] | None, list[int] | None, list[int] | None]]:
    """For each store, its spans from the last one starting before `start`
    (two descents of the (store, first poll) index: one for that span's
    start, one for the range) aggregated into three arrays (None: no span),
    read in the binary format with the instants as integers since 2000
    (common.binary_reads). A report's 2,000 stores then cost 2,000 rows of
    arrays parsed in C, not 13,000 rows of Python values: 77 million
    instructions against 123 million (cachegrind), and about half the
    server's time (the span before the range was three subqueries a store)."""
    quote = db.ops.quote_name
    table = quote(StatusSpan._meta.db_table)
    store, status, first, last = (
        quote(StatusSpan._meta.get_field(name).column) for name in ("store", "status", "first_poll_at", "last_poll_at")
    )
    # Aggregated from a subquery in first-poll order, with no join at the
    # aggregate's level: PostgreSQL keeps that order (array_agg's own ORDER BY
    # would sort every store's rows again).
    statement = f"""
        SELECT k.pk, s.actives, s.firsts, s.lasts
        FROM unnest(%s::bigint[]) AS k(pk)
        CROSS JOIN LATERAL (
            SELECT array_agg(o.{status} = %s) AS actives, array_agg(o.{first}) AS firsts, array_agg(o.{last}) AS lasts
            FROM (
                SELECT span.{status}, span.{first}, span.{last}
                FROM {table} span
                WHERE span.{store} = k.pk AND span.{first} < %s AND span.{first} >= COALESCE(
                    (SELECT before.{first} FROM {table} before
                     WHERE before.{store} = k.pk AND before.{first} < %s
                     ORDER BY before.{first} DESC LIMIT 1),
                    %s)
                ORDER BY span.{first}
            ) o
        ) s
    """
    # In key order, not the caller's (a report's is its stores' id order): the
    # index descents then walk the (store, first poll) index and the spans'
    # pages in order instead of at random. Callers look rows up by key.
    keys = "{" + ",".join(map(str, sorted(map(int, store_pks)))) + "}"
    return integer_rows(db, statement, [keys, PollStatus.ACTIVE.value, end, start, start])  # type: ignore[return-value]


def store_span_columns(*, store_pks: Sequence[int], start: dt.datetime, end: dt.datetime) -> SpanColumns:
    """store_spans laid end to end in the order of `store_pks` (core.uptime_batch),
    for measuring many stores at once: on PostgreSQL the arrays of
    _span_array_rows joined straight into numpy's, with no Span made."""
    db = StatusSpan.objects.db
    if connections[db].vendor != "postgresql":
        spans = store_spans(store_pks=store_pks, start=start, end=end)
        return span_columns([spans[pk] for pk in store_pks])
    rows = _span_array_rows(connections[db], store_pks, start, end)
    # A store without any span has a row of NULL arrays: left out, as an unknown key.
    found = {pk: (actives, firsts, lasts) for pk, actives, firsts, lasts in rows if actives is not None}
    none: tuple[list[bool], list[int], list[int]] = ([], [], [])
    lengths, actives, firsts, lasts = [], [], [], []
    for pk in store_pks:
        active, first, last = found.get(pk, none)
        lengths.append(len(active))
        actives += active
        firsts += first
        lasts += last
    return span_columns_of_lists(lengths, actives, firsts, lasts, shift=POSTGRES_EPOCH_MICROS)


def store_uptime_inputs(
    *,
    store_pks: Sequence[int],
    start: dt.datetime,
    end: dt.datetime,
    organization_of: Mapping[int, int] | None = None,
) -> dict[int, UptimeInputs]:
    """Hours, spans and closures for many stores in at most seven queries (six
    on PostgreSQL); `organization_of` (store pk to organization id), when the
    caller has read it, spares the closures' read of the store rows."""
    hours = store_weekly_hours(store_pks=store_pks)
    spans = store_spans(store_pks=store_pks, start=start, end=end)
    closures = store_closure_rules(store_pks=store_pks, start=start, end=end, organization_of=organization_of)
    return {pk: UptimeInputs(hours[pk], spans[pk], closures[pk]) for pk in store_pks}


class BatchInputs(NamedTuple):
    """What the engine's batch form (core.uptime_batch) needs of many stores."""

    hours: dict[int, uptime.WeeklyHours]
    # Their spans end to end, in the order the stores were asked for.
    spans: SpanColumns
    closures: dict[int, tuple[ClosureRule, ...]]


def store_batch_inputs(
    *,
    store_pks: Sequence[int],
    start: dt.datetime,
    end: dt.datetime,
    organization_of: Mapping[int, int] | None = None,
    week_text_of: Mapping[int, str | None] | None = None,
) -> BatchInputs:
    """store_uptime_inputs for measuring the stores together: the same reads,
    the spans as columns (store_span_columns). `week_text_of` (store pk to
    its StoreWeek text), when the caller read it with the stores, spares
    the hours' read."""
    if week_text_of is None:
        hours = store_weekly_hours(store_pks=store_pks)
    else:
        hours = weekly_hours_of_texts(week_text_of, store_pks=store_pks)
    return BatchInputs(
        hours,
        store_span_columns(store_pks=store_pks, start=start, end=end),
        store_closure_rules(store_pks=store_pks, start=start, end=end, organization_of=organization_of),
    )


def _local_text(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# Local times are read in zones up to 14 hours from UTC: a day's slack each side.
LOCAL_SLACK = dt.timedelta(days=1)


def closures_touching(start: dt.datetime, end: dt.datetime) -> Q:
    """Closures that may touch [start, end) in some zone (every-year ones always may)."""
    return (
        Q(every_year=True)
        | Q(start_at__isnull=False, start_at__lt=end, end_at__gt=start)
        | Q(start_at__isnull=True, start_local__lt=_local_text(end + LOCAL_SLACK), end_local__gt=_local_text(start - LOCAL_SLACK))
    )


def closures_covering(store: Store) -> Q:
    """The closures that cover a store: listing it, of one of its groups, or of its whole organization."""
    return Q(organization_id=store.organization_id) & (
        Q(stores_given=True, pk__in=Closure.stores.through.objects.filter(store_id=store.pk).values("closure_id"))
        | Q(stores_given=False, group_id__in=Store.groups.through.objects.filter(store_id=store.pk).values("storegroup_id"))
        | Q(stores_given=False, group__isnull=True)
    )


def closure_rule(
    *, start_local: str, end_local: str, start_at: int | dt.datetime | None, end_at: int | dt.datetime | None, every_year: bool
) -> ClosureRule:
    """A closure's period as the engine takes it (instants in microseconds or datetimes)."""
    if start_at is not None:
        if isinstance(start_at, dt.datetime):
            start_at, end_at = to_micros(start_at), to_micros(end_at)
        return ClosureRule(False, start_at, end_at)
    return ClosureRule(
        True,
        local_moment(dt.datetime.fromisoformat(start_local)),
        local_moment(dt.datetime.fromisoformat(end_local)),
        bool(every_year),
    )


class CoveringClosure(NamedTuple):
    """A closure covering a store: its id, its period as a rule, its reason."""

    pk: int
    rule: ClosureRule
    reason: str


def store_closures(
    *,
    store_pks: Sequence[int],
    start: dt.datetime,
    end: dt.datetime,
    organization_of: Mapping[int, int] | None = None,
) -> dict[int, list[CoveringClosure]]:
    """The closures covering each store that may touch [start, end), in at
    most four queries (three with `organization_of`, each store's
    organization id): a closure covers the stores it lists, or its group's
    stores, or every store of its organization (read now, so a store added
    to a group later is covered too). Stores with the same closures may
    share one list: read them, do not change them."""
    found: dict[int, list[CoveringClosure]] = {pk: [] for pk in store_pks}
    if not store_pks:
        return found
    organizations: Collection[int] | QuerySet
    if organization_of is None:
        # The stores' organizations as a subquery: most organizations have no
        # closure in the range, and then no store row comes back to Python.
        organizations = Store.objects.filter(InIntegers("pk", store_pks)).order_by().values("organization_id")
    else:
        organizations = set(organization_of.values())
    closures = _rows(
        Closure.objects.filter(organization_id__in=organizations)
        .filter(closures_touching(start, end))
        .order_by("pk")
        .values_list(
            "pk", "organization_id", "group_id", "stores_given", "start_local", "end_local",
            EpochMicroseconds("start_at"), EpochMicroseconds("end_at"), "every_year", "reason",
        )
    )
    if not closures:
        return found
    if organization_of is None:
        organization_of = dict(_rows(Store.objects.filter(InIntegers("pk", store_pks)).order_by().values_list("pk", "organization_id")))
    by_organization: dict[int, list[CoveringClosure]] = defaultdict(list)
    by_group: dict[int, list[CoveringClosure]] = defaultdict(list)
    listed: dict[int, CoveringClosure] = {}
    for pk, organization_id, group_id, stores_given, start_local, end_local, start_at, end_at, every_year, reason in closures:
        rule = closure_rule(start_local=start_local, end_local=end_local, start_at=start_at, end_at=end_at, every_year=every_year)
        closure = CoveringClosure(pk, rule, reason)
        if stores_given:
            listed[pk] = closure
        elif group_id is not None:
            by_group[group_id].append(closure)
        else:
            by_organization[organization_id].append(closure)
    # The stores of an organization share its list (store_closure_rules
    # resolves it once); a store's list is copied when its own closures join.
    none: list[CoveringClosure] = []
    for pk in store_pks:
        found[pk] = by_organization.get(organization_of.get(pk), none)
    if by_group:
        memberships = Store.groups.through.objects.filter(InIntegers("store_id", store_pks), storegroup_id__in=list(by_group))
        for store_pk, group_id in _rows(memberships.order_by().values_list("store_id", "storegroup_id")):
            found[store_pk] = [*found[store_pk], *by_group[group_id]]
    if listed:
        links = Closure.stores.through.objects.filter(InIntegers("store_id", store_pks), closure_id__in=list(listed))
        for closure_pk, store_pk in _rows(links.order_by().values_list("closure_id", "store_id")):
            found[store_pk] = [*found[store_pk], listed[closure_pk]]
    return found


def store_closure_rules(
    *,
    store_pks: Sequence[int],
    start: dt.datetime,
    end: dt.datetime,
    organization_of: Mapping[int, int] | None = None,
) -> dict[int, tuple[ClosureRule, ...]]:
    """store_closures as the engine takes them: each store's rules, sorted,
    so that stores with the same closures share one tuple and one resolution per zone."""
    covering = store_closures(store_pks=store_pks, start=start, end=end, organization_of=organization_of)
    # By the list's identity: stores sharing one (store_closures) share its
    # rules, sorted once (covering keeps every list alive meanwhile).
    resolved: dict[int, tuple[ClosureRule, ...]] = {}
    # Most stores have none: one shared empty tuple, and only the others looked at.
    rules_of: dict[int, tuple[ClosureRule, ...]] = dict.fromkeys(covering, ())
    for pk, closures in covering.items():
        if closures:
            rules = resolved.get(id(closures))
            if rules is None:
                rules = resolved[id(closures)] = tuple(sorted({closure.rule for closure in closures}))
            rules_of[pk] = rules
    return rules_of


def store_latest_spans(*, store_pks: Sequence[int]) -> dict[int, StatusSpan]:
    """Each store's latest span (the one a newer poll may extend), by store
    pk; polls_record and the Loop import read them in their transactions.

    Written in SQL: building and compiling the ORM's form of the same
    statement (a Subquery over an OuterRef annotation) was a large share of a
    single poll's CPU in the web server (bench/RESULTS.md).
    """
    if not store_pks:
        return {}
    quote = connection.ops.quote_name
    spans, stores = quote(StatusSpan._meta.db_table), quote(Store._meta.db_table)
    span_pk, span_store, span_first = (
        quote(StatusSpan._meta.get_field(name).column) for name in ("id", "store", "first_poll_at")
    )
    store_pk = quote(Store._meta.pk.column)
    columns = ", ".join(f"{spans}.{quote(field.column)}" for field in StatusSpan._meta.concrete_fields)
    if len(store_pks) == 1:
        # A device's poll: this simpler statement costs PostgreSQL less.
        statement = f"SELECT {columns} FROM {spans} WHERE {span_store} = %s ORDER BY {span_first} DESC LIMIT 1"
    else:
        # The ORM's statement: for each store, its span with the latest start.
        statement = (
            f"SELECT {columns} FROM {spans} WHERE {spans}.{span_pk} IN ("
            f"SELECT (SELECT latest.{span_pk} FROM {spans} latest WHERE latest.{span_store} = {stores}.{store_pk}"
            f" ORDER BY latest.{span_first} DESC LIMIT 1)"
            f" FROM {stores} WHERE {stores}.{store_pk} IN ({', '.join(['%s'] * len(store_pks))}))"
        )
    # raw(), not a bare cursor: it applies the fields' converters (SQLite returns naive datetimes).
    return {span.store_id: span for span in StatusSpan.objects.raw(statement, list(store_pks))}
