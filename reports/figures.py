"""The engine's figures for many stores: for the CSV reports' chunks, and
for the dashboard, which keeps them on StoreFigures (refreshed in the
background, one refresh at a time for every process)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django_tasks import task

from common.bulk_writes import insert_rows
from common.expressions import InIntegers
from common.garbage_collection import cyclic_gc_paused
from core import instants, uptime
from core.closures import closure_intervals
from core.uptime_batch import stores_uptime_array
from stores.models import Store, stale_after
from stores.selectors import store_batch_inputs

from .models import FiguresRefresh, StoreFigures

if TYPE_CHECKING:  # numpy is imported by core.uptime_batch, which sets it up first
    import numpy as np

# Stores per bulk read in store_figure_batches: bounds memory whatever the number of stores.
READ_BATCH_SIZE = 2000


class StoreRow(NamedTuple):
    pk: int
    store_id: str
    timezone: str
    organization_id: int
    # Its StoreWeek's text, read with the row (None: no hours rows, open all week).
    week_text: str | None


# The fields of a StoreRow, as a values_list() reads them: the week by a join
# on its primary key, so the hours cost no query of their own.
STORE_ROW_FIELDS = ("pk", "store_id", "timezone", "organization_id", "week__text")


def store_figure_batches(*, stores: Sequence[StoreRow], as_of: dt.datetime) -> Iterator[tuple[Sequence[StoreRow], np.ndarray]]:
    """The engine's figures for the stores as of `as_of`, a batch at a time:
    the batch's stores in the given order, and their figures as
    core.uptime_batch.stores_uptime_array gives them (a row per store).

    Reads in batches (the spans and the closures: two to four queries each;
    the weeks come with the store rows), so memory stays bounded whatever
    the number of stores. The CSV reports and the dashboard both come from here.
    """
    as_of_micros = instants.to_micros(as_of)
    stale = stale_after()
    week_start = as_of - dt.timedelta(days=7)
    week_start_micros = as_of_micros - instants.WEEK
    for offset in range(0, len(stores), READ_BATCH_SIZE):
        batch = stores[offset : offset + READ_BATCH_SIZE]
        inputs = store_batch_inputs(
            store_pks=[row.pk for row in batch],
            start=week_start,
            end=as_of,
            organization_of={row.pk: row.organization_id for row in batch},
            week_text_of={row.pk: row.week_text for row in batch},
        )
        # A chain's stores share their week (one object per distinct week,
        # store_weekly_hours) and their closures' rules (one tuple,
        # store_closure_rules): each (week, zone, rules) is resolved once,
        # looked up by identity rather than by hashing the week, the rules and
        # the open times for every store (store_weeks' caches).
        closed_in: dict[tuple[str, int], Sequence[uptime.Interval]] = {}
        resolved: dict[tuple[int, str, int], tuple[uptime.WeekOpenTime, uptime.WeekOpenTime]] = {}
        weeks: list[tuple[uptime.WeekOpenTime, uptime.WeekOpenTime]] = []
        for row in batch:
            hours, rules = inputs.hours[row.pk], inputs.closures[row.pk]
            key = (id(hours), row.timezone, id(rules))
            store_week = resolved.get(key)
            if store_week is None:
                closures: Sequence[uptime.Interval] = ()
                if rules:
                    closures = closed_in.get(key[1:])
                    if closures is None:
                        closures = closed_in[key[1:]] = closure_intervals(
                            rules, row.timezone, week_start_micros, as_of_micros
                        )
                store_week = resolved[key] = uptime.store_weeks(hours, row.timezone, as_of_micros, closures)
            weeks.append(store_week)
        # The batch's stores measured together (core.uptime_batch): store_uptime's figures, in array operations.
        yield batch, stores_uptime_array(spans=inputs.spans, weeks=weeks, as_of=as_of_micros, stale_after=stale)


FIGURES_FIELDS = uptime.UptimeFigures._fields


def figures_as_of() -> dt.datetime | None:
    """When the dashboard figures were last computed (None: never)."""
    return StoreFigures.objects.aggregate(latest=Max("as_of"))["latest"]


def figures_max_age() -> dt.timedelta:
    return dt.timedelta(minutes=settings.MONITOR_DASHBOARD_REFRESH_MINUTES)


def figures_request_refresh(*, now: dt.datetime) -> dt.datetime | None:
    """Queue a refresh of the dashboard figures when they are older than the
    maximum age (figures_refresh_queue); returns their current as_of."""
    latest = figures_as_of()
    if latest is None or now - latest > figures_max_age():
        figures_refresh_queue(now=now)
    return latest


def figures_refresh_queue(*, now: dt.datetime, force: bool = False) -> bool:
    """Queue a refresh of the figures unless one is queued already; True when
    this call queued it. `force`: a person asked, so it runs even if the
    figures are fresh (a refresh already queued is made to run too).

    Across every process, through the FiguresRefresh row: its conditional
    UPDATE succeeds for one caller only. A refresh queued longer ago than the
    refresh period is taken for lost, and may be queued again.
    """
    _refresh_row()
    row = FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW)
    claimed = row.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - figures_max_age())).update(
        queued_at=now, forced=force
    )
    if claimed:
        transaction.on_commit(figures_refresh_task.enqueue)
        return True
    if force:
        row.update(forced=True)
    return False


def figures_refresh(
    *,
    as_of: dt.datetime | None = None,
    skip_if_fresh: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every store's dashboard figures as of `as_of` (default now),
    in this process (`manage.py figures_refresh`; the background refresh
    spreads the same batches over the workers: figures_refresh_task).

    The same computation as a CSV report, over all stores, written in bulk;
    returns the number of stores (0 when skipped because they are fresh, and
    no refresh was forced). Ends the queued refresh, if any. `progress` gets
    (stores done, stores) before the first batch of stores and after each.
    """
    as_of = as_of or timezone.now()
    try:
        if skip_if_fresh and _fresh(as_of):
            return 0
        return _figures_compute(as_of, progress)
    finally:
        _refresh_ended()


def _fresh(as_of: dt.datetime) -> bool:
    """Whether a background refresh may skip: figures younger than half the period, and nobody pressed Refresh."""
    if FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW, forced=True).exists():
        return False
    latest = figures_as_of()
    return latest is not None and as_of - latest <= figures_max_age() / 2


def _refresh_ended() -> None:
    FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW).update(queued_at=None, forced=False, batches_left=0)


FIGURES_ROW_FIELDS = ("store", "as_of", *FIGURES_FIELDS)


def _figures_write(rows: list[tuple[object, ...]]) -> None:
    # A batch's rows replaced in one short transaction, deleted then copied
    # in (insert_rows): an upsert through model instances spent two thirds
    # of a refresh preparing their values. Another refresh (the command
    # beside the task) writing the same stores waits for this batch to
    # commit, then deletes what it wrote: never a duplicate row.
    list(FiguresRefresh.objects.select_for_update().filter(pk=FiguresRefresh.ROW).values_list("pk"))
    StoreFigures.objects.filter(InIntegers("store_id", [row[0] for row in rows])).delete()
    insert_rows(StoreFigures, FIGURES_ROW_FIELDS, rows)


def _refresh_row() -> None:
    # The one row, made on first use; its lock orders the batches of refreshes running at once.
    FiguresRefresh.objects.bulk_create([FiguresRefresh(pk=FiguresRefresh.ROW)], ignore_conflicts=True)


def _batch_ranges() -> tuple[list[tuple[int, int]], int]:
    """Every store in batches of READ_BATCH_SIZE, as ranges of primary keys
    (first, last), and the number of stores: a batch task's arguments stay
    small whatever its size; a store added since has a later key and waits
    for the next refresh."""
    pks = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    ranges = [(pks[start], pks[min(start + READ_BATCH_SIZE, len(pks)) - 1]) for start in range(0, len(pks), READ_BATCH_SIZE)]
    return ranges, len(pks)


@cyclic_gc_paused()
def _batch_rows(as_of: dt.datetime, first_pk: int, last_pk: int) -> list[tuple[object, ...]]:
    """The StoreFigures rows (FIGURES_ROW_FIELDS) of the stores with primary keys in [first_pk, last_pk]."""
    found = Store.objects.filter(pk__gte=first_pk, pk__lte=last_pk).order_by("pk").values_list(*STORE_ROW_FIELDS)
    stores = [StoreRow(*values) for values in found]
    return [
        (row.pk, as_of, *figures)
        for batch, array in store_figure_batches(stores=stores, as_of=as_of)
        for row, figures in zip(batch, array.tolist())
    ]


def _figures_compute(as_of: dt.datetime, progress: Callable[[int, int], None] | None = None) -> int:
    ranges, stores = _batch_ranges()
    if progress is not None:
        progress(0, stores)
    _refresh_row()
    done = 0
    for first_pk, last_pk in ranges:
        rows = _batch_rows(as_of, first_pk, last_pk)
        if rows:  # none when the batch's stores were deleted meanwhile
            with transaction.atomic():
                _figures_write(rows)
        done += len(rows)
        if progress is not None:
            progress(done, stores)
    return done


@task()
def figures_refresh_task(force: bool = False) -> int:
    """The background refresh: skipped when the figures are fresh, unless
    forced; otherwise every store's figures as of now, in batches of
    READ_BATCH_SIZE stores queued as tasks of their own
    (figures_batch_task), so that every worker computes some, as the chunks
    of a report. The last batch done ends the queued refresh. Returns the
    number of stores (0 when skipped)."""
    as_of = timezone.now()
    ranges, stores = ([], 0) if _fresh(as_of) else _batch_ranges()
    if not ranges:
        _refresh_ended()
        return 0
    _refresh_row()
    FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW).update(batches_left=len(ranges))
    for first_pk, last_pk in ranges:
        figures_batch_task.enqueue(as_of=as_of.isoformat(), first_pk=first_pk, last_pk=last_pk)
    return stores


@task()
def figures_batch_task(as_of: str, first_pk: int, last_pk: int) -> int:
    """One batch of the background refresh: the figures of the stores whose
    primary keys are in [first_pk, last_pk], as of `as_of` (ISO 8601).
    Returns the number of stores."""
    rows = _batch_rows(dt.datetime.fromisoformat(as_of), first_pk, last_pk)
    with transaction.atomic():
        if rows:
            _figures_write(rows)
        refresh = FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW, batches_left__gt=0)
        refresh.update(batches_left=F("batches_left") - 1)
        # The last batch (in any order: they run at once) ends the refresh.
        FiguresRefresh.objects.filter(pk=FiguresRefresh.ROW, batches_left=0).update(queued_at=None, forced=False)
    return len(rows)
