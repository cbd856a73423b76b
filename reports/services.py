"""Report generation: the engine over every visible store, streamed into a CSV file."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from stores.models import Store
from stores.selectors import store_uptime_inputs

from . import uptime
from .models import Report, ReportStatus, StoreFigures

logger = logging.getLogger(__name__)

# Stores per bulk read: bounds worker memory, and progress is saved per chunk.
REPORT_CHUNK_SIZE = 2000


class AsOfInFuture(ValueError):
    pass


def report_trigger(*, user, as_of: dt.datetime | None = None) -> Report:
    """Record a report request and queue its generation."""
    from .tasks import generate_report  # tasks import this module

    now = timezone.now()
    if as_of is None:
        as_of = now
    elif as_of > now:
        raise AsOfInFuture("as_of must not be in the future")
    report = Report.objects.create(requested_by=user, as_of=as_of)
    # Queue after the report row is committed, so a worker always finds it.
    transaction.on_commit(lambda: generate_report.enqueue(str(report.id)))
    return report


def report_generate(*, report_id: uuid.UUID | str) -> Report:
    """Compute the report's CSV. On any error the report is marked failed with
    the reason, and no file is attached: a report is complete or it is not."""
    report = Report.objects.select_related("requested_by").get(pk=report_id)
    if report.status != ReportStatus.RUNNING:
        return report  # already finished: a retried task must not redo it
    Report.objects.filter(pk=report.pk).update(started_at=timezone.now())
    try:
        _write_report(report)
    except Exception as exc:
        logger.exception("report %s failed", report.pk)
        Report.objects.filter(pk=report.pk).update(
            status=ReportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    report.refresh_from_db()
    return report


class StoreRow(NamedTuple):
    pk: int
    store_id: str
    timezone: str


def store_figures(
    *, stores: Sequence[StoreRow], as_of: dt.datetime, on_chunk: Callable[[int], None] | None = None
) -> Iterator[tuple[StoreRow, uptime.UptimeFigures]]:
    """The engine's figures for each store, in the given order, as of `as_of`.

    Reads in chunks (four queries each), so memory stays bounded whatever the
    number of stores; `on_chunk` gets the number of stores done after each.
    The CSV reports and the dashboard both come from here.
    """
    as_of_micros = uptime.to_micros(as_of)
    stale_after = settings.MONITOR_STALE_AFTER_MINUTES * uptime.MINUTE
    week_start = as_of - dt.timedelta(days=7)
    for offset in range(0, len(stores), REPORT_CHUNK_SIZE):
        chunk = stores[offset : offset + REPORT_CHUNK_SIZE]
        inputs = store_uptime_inputs(store_pks=[row.pk for row in chunk], start=week_start, end=as_of)
        for row in chunk:
            yield row, uptime.store_uptime(
                spans=inputs[row.pk].spans,
                hours=inputs[row.pk].hours,
                zone_name=row.timezone,
                as_of=as_of_micros,
                stale_after=stale_after,
            )
        if on_chunk is not None:
            on_chunk(offset + len(chunk))


def _write_report(report: Report) -> None:
    # Sorted here, not in SQL: database collations differ, code point order does not.
    stores = sorted(
        (
            StoreRow(*values)
            for values in Store.objects.visible_to(report.requested_by).values_list("pk", "store_id", "timezone")
        ),
        key=lambda row: row.store_id,
    )
    Report.objects.filter(pk=report.pk).update(stores_total=len(stores), stores_done=0)

    def progress(done: int) -> None:
        Report.objects.filter(pk=report.pk).update(stores_done=done)

    with tempfile.TemporaryFile(mode="w+b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(uptime.REPORT_COLUMNS)
        for row, figures in store_figures(stores=stores, as_of=report.as_of, on_chunk=progress):
            writer.writerow((row.store_id, *uptime.report_values(figures)))
        text.flush()
        raw.seek(0)
        report.file.save(f"report-{report.pk}.csv", File(raw), save=False)
        text.detach()
    Report.objects.filter(pk=report.pk).update(
        file=report.file.name, status=ReportStatus.COMPLETE, finished_at=timezone.now()
    )


FIGURES_FIELDS = uptime.UptimeFigures._fields
FIGURES_REFRESH_QUEUED = "store-monitor:figures-refresh-queued"


def figures_as_of() -> dt.datetime | None:
    """When the dashboard figures were last computed (None: never)."""
    return StoreFigures.objects.aggregate(latest=Max("as_of"))["latest"]


def figures_max_age() -> dt.timedelta:
    return dt.timedelta(minutes=settings.MONITOR_DASHBOARD_REFRESH_MINUTES)


def figures_request_refresh(*, now: dt.datetime) -> dt.datetime | None:
    """Queue a refresh of the dashboard figures when they are older than the
    maximum age; returns their current as_of.

    A cache key keeps one process from queueing a refresh per page view while
    one is pending; across processes a few may be queued, which is harmless:
    each refresh first checks whether another has just run.
    """
    from .tasks import refresh_figures  # tasks import this module

    latest = figures_as_of()
    max_age = figures_max_age()
    if latest is None or now - latest > max_age:
        if cache.add(FIGURES_REFRESH_QUEUED, True, timeout=max_age.total_seconds()):
            transaction.on_commit(refresh_figures.enqueue)
    return latest


def figures_refresh(*, as_of: dt.datetime | None = None, skip_if_fresh: bool = False) -> int:
    """Recompute every store's dashboard figures as of `as_of` (default now).

    The same computation as a CSV report, over all stores, written in bulk;
    returns the number of stores (0 when skipped because they are fresh).
    """
    as_of = as_of or timezone.now()
    if skip_if_fresh:
        latest = figures_as_of()
        if latest is not None and as_of - latest <= figures_max_age() / 2:
            return 0
    stores = [StoreRow(*values) for values in Store.objects.values_list("pk", "store_id", "timezone")]
    batch: list[StoreFigures] = []

    def flush() -> None:
        StoreFigures.objects.bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["store"],
            update_fields=["as_of", *FIGURES_FIELDS],
            batch_size=500,
        )
        batch.clear()

    for row, figures in store_figures(stores=stores, as_of=as_of):
        batch.append(StoreFigures(store_id=row.pk, as_of=as_of, **figures._asdict()))
        if len(batch) >= REPORT_CHUNK_SIZE:
            flush()
    if batch:
        flush()
    cache.delete(FIGURES_REFRESH_QUEUED)
    return len(stores)
