"""Reads of stores, hours and spans, in bulk: a constant number of queries per call."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from django.db.models import OuterRef, Subquery

from reports import uptime

from .expressions import EpochMicroseconds, SecondsOfDay
from .models import BusinessHours, PollStatus, Store, StatusSpan


class UptimeInputs(NamedTuple):
    """What the engine needs of one store."""

    hours: uptime.WeeklyHours
    spans: list[uptime.Span]


def store_weekly_hours(*, store_pks: Sequence[int]) -> dict[int, uptime.WeeklyHours]:
    """Resolved weekly hours of each store (stores without rows are open all week)."""
    entries: dict[int, list[uptime.HoursEntry]] = defaultdict(list)
    rows = BusinessHours.objects.filter(store_id__in=store_pks).values_list(
        "store_id",
        "day_of_week",
        SecondsOfDay("start_time_local"),
        SecondsOfDay("end_time_local"),
        "closed",
    )
    for store_pk, day, start, end, closed in rows.iterator(chunk_size=5000):
        entries[store_pk].append(uptime.HoursEntry(day, start, end, closed))
    return {pk: uptime.weekly_hours(entries.get(pk, ())) for pk in store_pks}


def store_spans(*, store_pks: Sequence[int], start: dt.datetime, end: dt.datetime) -> dict[int, list[uptime.Span]]:
    """The spans that decide each store's status within [start, end): those
    starting inside it, and the last one starting before it (its status, or
    its expiry, carries into the range). Two queries: joined with OR, the two
    conditions made PostgreSQL scan the whole table instead of the index."""
    columns = ("store_id", "status", EpochMicroseconds("first_poll_at"), EpochMicroseconds("last_poll_at"))
    last_before = (
        StatusSpan.objects.filter(store=OuterRef("pk"), first_poll_at__lt=start)
        .order_by("-first_poll_at")
        .values("pk")[:1]
    )
    previous_ids = Store.objects.filter(pk__in=store_pks).annotate(span_id=Subquery(last_before)).values("span_id")
    previous = StatusSpan.objects.filter(pk__in=Subquery(previous_ids)).values_list(*columns)
    inside = (
        StatusSpan.objects.filter(store_id__in=store_pks, first_poll_at__gte=start, first_poll_at__lt=end)
        .order_by("store_id", "first_poll_at")
        .values_list(*columns)
    )
    spans: dict[int, list[uptime.Span]] = {pk: [] for pk in store_pks}
    active = PollStatus.ACTIVE
    # The span before the range comes first in its store's list, then the
    # ones inside it in order.
    for rows in (previous, inside):
        for store_pk, status, first, last in rows.iterator(chunk_size=5000):
            spans[store_pk].append(uptime.Span(status == active, first, last))
    return spans


def store_uptime_inputs(
    *, store_pks: Sequence[int], start: dt.datetime, end: dt.datetime
) -> dict[int, UptimeInputs]:
    """Hours and spans for many stores in four queries."""
    hours = store_weekly_hours(store_pks=store_pks)
    spans = store_spans(store_pks=store_pks, start=start, end=end)
    return {pk: UptimeInputs(hours[pk], spans[pk]) for pk in store_pks}
