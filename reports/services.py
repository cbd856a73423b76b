"""Report generation: the engine over every visible store, streamed into a CSV file."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import tempfile
import uuid

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from stores.models import Store
from stores.selectors import store_uptime_inputs

from . import uptime
from .models import Report, ReportStatus

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


def _write_report(report: Report) -> None:
    as_of = uptime.to_micros(report.as_of)
    stale_after = settings.MONITOR_STALE_AFTER_MINUTES * uptime.MINUTE
    week_start = report.as_of - dt.timedelta(days=7)
    # Sorted here, not in SQL: database collations differ, code point order does not.
    stores = sorted(
        Store.objects.visible_to(report.requested_by).values_list("pk", "store_id", "timezone"),
        key=lambda row: row[1],
    )
    Report.objects.filter(pk=report.pk).update(stores_total=len(stores), stores_done=0)

    with tempfile.TemporaryFile(mode="w+b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(uptime.REPORT_COLUMNS)
        for offset in range(0, len(stores), REPORT_CHUNK_SIZE):
            chunk = stores[offset : offset + REPORT_CHUNK_SIZE]
            inputs = store_uptime_inputs(store_pks=[pk for pk, _, _ in chunk], start=week_start, end=report.as_of)
            for pk, store_id, zone_name in chunk:
                figures = uptime.store_uptime(
                    spans=inputs[pk].spans,
                    hours=inputs[pk].hours,
                    zone_name=zone_name,
                    as_of=as_of,
                    stale_after=stale_after,
                )
                writer.writerow((store_id, *uptime.report_values(figures)))
            Report.objects.filter(pk=report.pk).update(stores_done=offset + len(chunk))
        text.flush()
        raw.seek(0)
        report.file.save(f"report-{report.pk}.csv", File(raw), save=False)
        text.detach()
    Report.objects.filter(pk=report.pk).update(
        file=report.file.name, status=ReportStatus.COMPLETE, finished_at=timezone.now()
    )
