"""Report generation: the engine over every visible store, in chunks that
several task workers compute in parallel, assembled into one CSV file.

A report's life (each step a task, run by `manage.py task_worker`):

1. `report_trigger` records the report and queues its planning, and a
   watchdog that comes back while the report runs (`report_watch`).
2. `report_generate` plans it: the requester's stores in CSV order, cut into
   chunks of MONITOR_REPORT_CHUNK_SIZE stores, and one task per chunk, queued
   in the same transaction (the task queue is a table of the same database).
3. `report_chunk_run` claims a chunk for a lease, computes its CSV lines, and
   saves them in the transaction that marks the chunk done. Whoever finishes
   the last chunk writes the file: the header and the chunks' lines in
   order (the last chunk's straight from memory, never saved), byte for byte
   what one pass over the stores would write. Then the report is Complete
   and its chunks are deleted.
4. A chunk that raises is queued again at once; one whose worker died keeps
   an expired lease until `reports_sweep` queues it again. After
   MONITOR_REPORT_CHUNK_MAX_ATTEMPTS attempts the report is Failed with the
   reason, and no file: a report is complete or it is not.

Every transaction that changes a report's chunks first locks the report's
row, then the chunks' rows: one order, so no deadlock, and the transaction
that marks the last chunk done sees every other chunk done (exactly one
assembles).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from itertools import islice, repeat
from typing import Any, NamedTuple, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files import File
from django.db import connections, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Collate
from django.utils import timezone
from django_tasks import task

from accounts.models import Organization, Role, StoreGroup
from accounts.selectors import group_for, organization_for
from core import uptime
from core.uptime_batch import figure_texts
from common.expressions import InIntegers
from common.garbage_collection import cyclic_gc_paused
from stores.models import Store
from stores.store_ids import is_store_id

from .figures import STORE_ROW_FIELDS, StoreRow, store_figure_batches
from .models import ChunkState, Report, ReportChunk, ReportStatus
from .selectors import report_list

logger = logging.getLogger(__name__)

# Who claimed a chunk, for the admin and the logs.
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
PLAN_REQUEUED = "store-monitor:report-plan-requeued:{}"


class AsOfOutOfRange(ValueError):
    """A report's instant in the future, or before 1970 (no poll is that old,
    and the week before an instant of year 1 is not a date at all)."""


EARLIEST_AS_OF = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class ReportStorageUnavailable(Exception):
    """The report's file could not be written (disk full, missing or read-only);
    the message is the report's failure reason."""


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MONITOR_REPORT_CHUNK_LEASE_SECONDS)


class TooManyRunningReports(Exception):
    """The user has MONITOR_MAX_RUNNING_REPORTS reports running already."""

    # Seconds to wait before asking again: reports finish in seconds
    # (bench/RESULTS.md has the figures).
    retry_after = 5

    def __init__(self, running: int) -> None:
        super().__init__(
            f"You have {running} reports running, the most at once (MONITOR_MAX_RUNNING_REPORTS); "
            "ask for another when one of them has finished."
        )


def report_limits(*, user, organization: str | None, group: str | None) -> dict[str, Any]:
    """report_trigger's organization and group from their names, among those
    the user sees (accounts.selectors' refusals otherwise)."""
    limits: dict[str, Any] = {}
    if organization is not None:
        limits["organization"] = organization_for(user, organization, role=Role.VIEWER)
    if group is not None:
        limits["group"] = group_for(user, group, organization=limits.get("organization"))
    return limits


def report_trigger(
    *,
    user,
    as_of: dt.datetime | None = None,
    organization: Organization | None = None,
    group: StoreGroup | None = None,
) -> Report:
    """Record a report request and queue its generation. The report covers
    the stores the user sees (StoreQuerySet.visible_to) when it is planned,
    limited to `organization` and `group` when given.

    AsOfOutOfRange for an instant in the future or before 1970;
    TooManyRunningReports when the user has MONITOR_MAX_RUNNING_REPORTS
    running (0: no limit). The user's row is locked while counting, so two
    requests at once cannot both take the last place.
    """
    now = timezone.now()
    if as_of is None:
        as_of = now
    elif as_of > now:
        raise AsOfOutOfRange("as_of must not be in the future")
    elif as_of < EARLIEST_AS_OF:
        raise AsOfOutOfRange("as_of must not be before 1970: no poll is that old")
    limit = settings.MONITOR_MAX_RUNNING_REPORTS
    with transaction.atomic():
        if limit:
            list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
            running = Report.objects.filter(requested_by=user, status=ReportStatus.RUNNING).count()
            if running >= limit:
                raise TooManyRunningReports(running)
        report = Report.objects.create(
            requested_by=user, as_of=as_of, organization=organization, group=group, group_name=group.name if group else ""
        )
        # Queue after the report row is committed, so a worker always finds it.
        transaction.on_commit(lambda: _queue_generation(str(report.id)))
    return report


def _queue_generation(report_id: str) -> None:
    report_generate_task.enqueue(report_id)
    _watch_later(report_id)


def report_generate(*, report_id: uuid.UUID | str) -> Report:
    """Plan the report's chunks and queue one task per chunk (with the
    immediate task backend they run here and now).

    Idempotent: a report already planned or finished is left alone. On an
    error while planning the report is marked failed with the reason.
    """
    try:
        with transaction.atomic():
            report = _locked_report(report_id, with_requester=True)
            if report.status == ReportStatus.RUNNING and not report.chunks.exists():
                _plan(report)
    except Exception as exc:
        logger.exception("report %s failed", report_id)
        Report.objects.filter(pk=report_id, status=ReportStatus.RUNNING).update(
            status=ReportStatus.FAILED, error=_reason(exc), finished_at=timezone.now()
        )
        raise
    return Report.objects.select_related("requested_by").get(pk=report_id)


def _locked_report(report_id: uuid.UUID | str, *, with_requester: bool = False) -> Report:
    reports = Report.objects.select_for_update(of=("self",))  # the report's row, not its requester's
    return (reports.select_related("requested_by") if with_requester else reports).get(pk=report_id)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _plan(report: Report) -> None:
    if report.group_name and report.group_id is None:
        _fail(report, f"The group {report.group_name!r} this report was limited to was deleted before it started.")
        return
    visible = Store.objects.visible_to(report.requested_by)
    if report.organization_id is not None:
        visible = visible.filter(organization_id=report.organization_id)
    if report.group_id is not None:
        visible = visible.filter(groups=report.group_id)
    ordered = visible.order_by(_code_point_order("store_id", connections[visible.db].vendor)).values_list("pk", flat=True)
    size = settings.MONITOR_REPORT_CHUNK_SIZE
    chunks, total = _chunks_create(report, ordered.iterator(chunk_size=size), size)
    report.stores_total, report.stores_done, report.started_at = total, 0, timezone.now()
    report.save(update_fields=["stores_total", "stores_done", "started_at"])
    if not chunks:
        _assemble_or_fail(report)
        return
    # Queued inside this transaction: a worker sees the tasks and the chunks
    # together, or neither. Queued after every chunk exists, so that a chunk
    # run inline (immediate backend) cannot take itself for the last one.
    for chunk_pk in chunks:
        report_chunk_run_task.enqueue(chunk_pk)


def _code_point_order(field: str, vendor: str) -> Collate | F:
    """A text column in code point order (Python's order of str), whatever the
    database's collation: PostgreSQL's "C" collation compares the UTF-8 bytes,
    which orders code points the same; SQLite compares the bytes already."""
    if vendor == "postgresql":
        return Collate(field, "C")
    return F(field)


# Chunks written per insert while planning: the store ids stream in, so a
# million stores' never sit in one process's memory at once.
_CHUNKS_PER_INSERT = 50


def _chunks_create(report: Report, store_pks: Iterator[int], size: int) -> tuple[list[int], int]:
    """The report's chunks (chunk_store_pks), in the order given; (their ids in order, the number of stores)."""
    ids: list[int] = []
    total = 0
    chunks = (
        ReportChunk(report=report, index=index, store_pks=pks)
        for index, pks in enumerate(chunk_store_pks(store_pks, size))
    )
    while batch := list(islice(chunks, _CHUNKS_PER_INSERT)):
        ids += [chunk.pk for chunk in ReportChunk.objects.bulk_create(batch)]
        total += sum(len(chunk.store_pks) for chunk in batch)
    return ids, total


def chunk_store_pks(store_pks: Iterator[int], size: int) -> Iterator[list[int]]:
    """The store ids of each chunk, in the order given: `size` at a time,
    the last two chunks' worth held back until the ids run out and cut by
    chunk_sizes_of_tail. Streams: at most three chunks' ids held at once."""
    held: list[int] = []
    while pks := list(islice(store_pks, size)):
        held += pks
        if len(held) > 2 * size:
            yield held[:size]
            del held[:size]
    for length in chunk_sizes_of_tail(len(held), size):
        yield held[:length]
        del held[:length]


def chunk_sizes_of_tail(count: int, size: int) -> list[int]:
    """How a report's last `count` stores (at most two chunks' worth) are
    cut: in halves, until what is left is at most half a chunk. Chunks
    run in the order planned, a worker taking the next when it is free; with
    the smaller ones last, the workers finish closer together (the 13,584
    Loop stores on 2 workers, chunks of 4,000: 4,000 x 2, 2,792, 1,396 and
    1,396, rather than 4,000 x 3 and 1,584, whose last chunk ran alone). A
    report of at most one chunk stays one chunk."""
    if count <= size:
        return [count] if count else []
    sizes = []
    while True:
        half = -(-count // 2)
        sizes.append(half)
        count -= half
        if count <= size // 2:
            break
    if count:
        sizes.append(count)
    return sizes


# --------------------------------------------------------------------------
# Chunks
# --------------------------------------------------------------------------


def report_csv_writer(out: TextIO) -> Any:
    """The report's CSV dialect: RFC 4180's CRLF line ends, so the writer
    quotes any field holding a CR or an LF and no cell can break a row
    (store ids cannot hold either; this is the second wall)."""
    return csv.writer(out, lineterminator="\r\n")


class ClaimedChunk(NamedTuple):
    pk: int
    report_id: uuid.UUID
    attempt: int
    store_pks: list[int]
    as_of: dt.datetime


# When this process's chunks last swept for lost ones (time.monotonic()).
_swept_at = -math.inf


def report_chunk_run(*, chunk_id: int) -> str:
    """Compute one chunk of a report; the last chunk done writes the report.

    Safe to run twice (a task delivered again, or queued again by the sweep
    while the first worker was only slow): a chunk that is done, or held by
    another worker whose lease runs, is skipped. Returns what it did.
    """
    claimed = _chunk_claim(chunk_id)
    if claimed is None:
        return "skipped"
    try:
        rows = _chunk_rows(claimed)
    except Exception as exc:
        logger.exception("report chunk %s failed (attempt %s)", chunk_id, claimed.attempt)
        _chunk_failed(claimed, exc)
        raise  # the task's result records the traceback too
    outcome = _chunk_done(claimed, rows)
    # A live worker looks after the dead: cheap (two indexed queries) when
    # none is, and at most once every tenth of a lease, so that a worker
    # running many chunks does not pay for it on each.
    global _swept_at
    now = time.monotonic()
    if now - _swept_at >= _lease().total_seconds() / 10:
        _swept_at = now
        reports_sweep()
    return outcome


def _chunk_claim(chunk_id: int) -> ClaimedChunk | None:
    now = timezone.now()
    with transaction.atomic():
        locked = _locked_chunk(chunk_id, with_stores=True)
        if locked is None:
            return None
        report, chunk = locked
        if chunk.state == ChunkState.DONE:
            return None
        if chunk.state == ChunkState.RUNNING:
            if chunk.lease_until is not None and chunk.lease_until > now:
                return None  # another worker is on it
            if chunk.attempts >= settings.MONITOR_REPORT_CHUNK_MAX_ATTEMPTS:
                _fail(report, _lost_reason(report, chunk))
                return None
        chunk.state = ChunkState.RUNNING
        chunk.attempts += 1
        chunk.lease_until = now + _lease()
        chunk.worker = WORKER_NAME
        chunk.save(update_fields=["state", "attempts", "lease_until", "worker"])
        return ClaimedChunk(chunk.pk, report.pk, chunk.attempts, chunk.store_pks, report.as_of)


def _locked_chunk(
    chunk_id: int, *, report_id: uuid.UUID | None = None, with_stores: bool = False
) -> tuple[Report, ReportChunk] | None:
    """A chunk of a running report and its report, both locked, the report
    first; None when the report is over (its chunks are deleted then). The
    chunk's stores are read only when asked for, its rows never."""
    if report_id is None:
        # The chunk's report found and locked in one statement.
        of_chunk = ReportChunk.objects.filter(pk=chunk_id).values("report_id")
        report = Report.objects.select_for_update(of=("self",)).filter(pk=Subquery(of_chunk)).first()
        if report is None:
            return None
    else:
        report = _locked_report(report_id)
    chunks = ReportChunk.objects.select_for_update().defer("rows", *(() if with_stores else ("store_pks",)))
    chunk = chunks.filter(pk=chunk_id).first()
    if chunk is None or report.status != ReportStatus.RUNNING:
        return None
    return report, chunk


@cyclic_gc_paused()
def _chunk_rows(chunk: ClaimedChunk) -> str:
    """The chunk's CSV lines, as the file has them."""
    # Opaque: planned as an index scan without weighing each of the chunk's keys.
    keys = InIntegers("pk", chunk.store_pks, opaque=True)
    found = Store.objects.filter(keys).order_by().values_list(*STORE_ROW_FIELDS)
    # Each row made a StoreRow in C (StoreRow._make less its Python frame).
    by_pk = {row.pk: row for row in map(tuple.__new__, repeat(StoreRow), found)}
    # A store deleted since the report was planned is left out.
    stores = [by_pk[pk] for pk in chunk.store_pks if pk in by_pk]
    lines = []
    for batch, figures in store_figure_batches(stores=stores, as_of=chunk.as_of):
        # A column of texts per figure (report_texts' six, then extended_texts' nine).
        for fields in zip([row.store_id for row in batch], *figure_texts(figures)):
            # The figures' texts never need quoting, nor does an id by the store
            # id rule: joined directly, the line is what the writer would write,
            # for a fifth of its work (2,000 lines: 10 million instructions
            # against 47 million, under cachegrind). The writer quotes any other
            # id (rows from before the rule).
            lines.append(",".join(fields) + "\r\n" if is_store_id(fields[0]) else _csv_line(fields))
    return "".join(lines)


def _csv_line(fields: Sequence[str]) -> str:
    text = io.StringIO()
    report_csv_writer(text).writerow(fields)
    return text.getvalue()


def _chunk_done(claimed: ClaimedChunk, rows: str) -> str:
    with transaction.atomic():
        locked = _locked_chunk(claimed.pk, report_id=claimed.report_id)
        if locked is None:
            return "discarded: the report is finished"
        report, chunk = locked
        if chunk.state == ChunkState.DONE:
            # Our lease expired and another attempt finished first: same rows.
            return "discarded: done by another attempt"
        others = report.chunks.exclude(pk=chunk.pk).aggregate(
            all=Count("pk"), unfinished=Count("pk", filter=~Q(state=ChunkState.DONE))
        )
        if not others["unfinished"]:
            # The last chunk: its lines go straight into the files, not
            # through its row (written, read back and deleted for nothing).
            # _assemble sets stores_done. The only chunk: no other lines to read.
            if not _assemble_or_fail(report, LastChunk(chunk.index, rows, alone=not others["all"])):
                return "done, report failed: no storage for its file"
            return "done, report written"
        chunk.state, chunk.rows, chunk.lease_until = ChunkState.DONE, rows, None
        chunk.finished_at = timezone.now()
        chunk.save(update_fields=["state", "rows", "lease_until", "finished_at"])
        Report.objects.filter(pk=report.pk).update(stores_done=F("stores_done") + len(claimed.store_pks))
        return "done"


def _chunk_failed(claimed: ClaimedChunk, exc: Exception) -> None:
    """Queue the chunk again, or fail the report after the last attempt."""

    with transaction.atomic():
        locked = _locked_chunk(claimed.pk, report_id=claimed.report_id)
        if locked is None:
            return
        report, chunk = locked
        # Only the attempt that holds the chunk decides what happens to it.
        if chunk.state != ChunkState.RUNNING or chunk.attempts != claimed.attempt:
            return
        chunk.error = _reason(exc)
        if chunk.attempts >= settings.MONITOR_REPORT_CHUNK_MAX_ATTEMPTS:
            _fail(report, f"{chunk.error} ({_chunk_label(report, chunk)}, {chunk.attempts} attempts)")
            return
        chunk.state, chunk.lease_until = ChunkState.PENDING, None
        chunk.save(update_fields=["state", "lease_until", "error"])
        report_chunk_run_task.enqueue(chunk.pk)


def _chunk_label(report: Report, chunk: ReportChunk) -> str:
    count = report.chunks.count()
    return f"chunk {chunk.index + 1} of {count}"


def _lost_reason(report: Report, chunk: ReportChunk) -> str:
    reason = (
        f"Worker lost: {_chunk_label(report, chunk)} was started {chunk.attempts} times and its worker "
        f"stopped each time without finishing (lease of {settings.MONITOR_REPORT_CHUNK_LEASE_SECONDS} s "
        f"expired; last worker {chunk.worker or 'unknown'})"
    )
    return f"{reason}; earlier error: {chunk.error}" if chunk.error else reason


def _fail(report: Report, reason: str) -> None:
    """Mark a locked running report failed; its chunks go."""
    logger.error("report %s failed: %s", report.pk, reason)
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.FAILED, error=reason[:2000], finished_at=timezone.now()
    )
    report.chunks.all().delete()


class LastChunk(NamedTuple):
    """The chunk whose lines finish a report, not saved in its row."""

    index: int
    rows: str
    alone: bool = False  # the report's only chunk


def _assemble_or_fail(report: Report, last: LastChunk | None = None) -> bool:
    """Write the report's file, or fail the report when storage cannot take
    it: retrying would compute every chunk again for the same full disk."""
    try:
        _assemble(report, last)
    except ReportStorageUnavailable as exc:
        _fail(report, str(exc))
        return False
    return True


def _assemble(report: Report, last: LastChunk | None = None) -> None:
    """Write the files of a locked report whose chunks are all done (`last`
    given: all but that one, whose lines it holds): the header, then each
    chunk's lines in order; the seed's seven columns in `file`, every column
    in `extended_file`. Then the report is complete.

    ReportStorageUnavailable when a file cannot be written, and then no part
    of either is left in storage."""
    storage = report.file.storage
    names = {
        kind: report.file.field.generate_filename(report, f"report-{report.pk}{suffix}.csv")
        for kind, suffix in (("file", ""), ("extended_file", "-extended"))
    }
    saved: dict[str, str] = {}
    try:
        with tempfile.TemporaryFile(mode="w+b") as seed_raw, tempfile.TemporaryFile(mode="w+b") as all_raw:
            seed = io.TextIOWrapper(seed_raw, encoding="utf-8", newline="")
            every = io.TextIOWrapper(all_raw, encoding="utf-8", newline="")
            report_csv_writer(seed).writerow(uptime.REPORT_COLUMNS)
            report_csv_writer(every).writerow(uptime.REPORT_COLUMNS + uptime.EXTENDED_COLUMNS)
            for rows in _chunks_lines(report, last):
                every.write(rows)
                seed.write(_seed_columns(rows))
            for kind, text, raw in (("file", seed, seed_raw), ("extended_file", every, all_raw)):
                text.flush()
                raw.seek(0)
                # What an attempt that died while writing left: the names are this report's.
                _delete_quietly(storage, names[kind])
                saved[kind] = storage.save(names[kind], File(raw))
                text.detach()
    except OSError as exc:
        logger.error("report %s: its files could not be written to %s", report.pk, names["file"], exc_info=True)
        for name in names.values():  # a storage that fails mid-file leaves the part written
            _delete_quietly(storage, name)
        raise ReportStorageUnavailable(f"report storage unavailable: {exc.strerror or exc}") from exc
    report.file.name, report.extended_file.name = saved["file"], saved["extended_file"]
    Report.objects.filter(pk=report.pk).update(
        **saved,
        status=ReportStatus.COMPLETE,
        stores_done=F("stores_total"),
        finished_at=timezone.now(),
    )
    report.chunks.all().delete()


def _chunks_lines(report: Report, last: LastChunk | None) -> Iterator[str]:
    """Each chunk's lines (every column) in index order, one chunk's in memory at a time; `last`'s as given."""
    if last is not None and last.alone:
        yield last.rows
        return
    saved = report.chunks.order_by("index")
    if last is not None:
        saved = saved.exclude(index=last.index)
    for index, rows in saved.values_list("index", "rows").iterator(chunk_size=4):
        if last is not None and last.index < index:
            yield last.rows
            last = None
        yield rows
    if last is not None:
        yield last.rows


# The extended figures, last on each line, never hold a comma, a quote or a
# line break: the seed columns are what comes before them.
_EXTENDED_FIELDS = len(uptime.EXTENDED_COLUMNS)


def _seed_columns(rows: str) -> str:
    if '"' in rows:
        # An id from before the store id rule, quoted by the writer: it may
        # hold a comma or a line break, so the lines are read as CSV.
        text = io.StringIO()
        writer = report_csv_writer(text)
        for fields in csv.reader(io.StringIO(rows, newline="")):
            writer.writerow(fields[: len(fields) - _EXTENDED_FIELDS])
        return text.getvalue()
    return "".join(line.rsplit(",", _EXTENDED_FIELDS)[0] + "\r\n" for line in rows.split("\r\n") if line)


def _delete_quietly(storage, name: str) -> None:
    try:
        if storage.exists(name):
            storage.delete(name)
    except OSError:
        logger.warning("could not delete %s from report storage", name, exc_info=True)


# --------------------------------------------------------------------------
# Lost workers
# --------------------------------------------------------------------------


class SweepOutcome(NamedTuple):
    requeued: int  # chunks queued again
    failed: int  # reports failed after their last attempt
    replanned: int  # reports whose planning was queued again


def reports_sweep(
    *, now: dt.datetime | None = None, report_ids: Sequence[uuid.UUID | str] | None = None
) -> SweepOutcome:
    """Queue again the chunks whose worker died (lease expired), or fail their
    report after the last attempt; queue again the planning of reports not
    planned one lease after they were asked for. Only `report_ids` if given.

    django-tasks-db does not retry a task whose worker died (SIGKILL, OOM,
    a lost machine): the task stays "running" for ever. This is what notices.
    Cheap when there is nothing to do: two indexed queries.
    """
    now = now or timezone.now()
    expired = ReportChunk.objects.filter(state=ChunkState.RUNNING, lease_until__lt=now)
    unplanned = Report.objects.filter(status=ReportStatus.RUNNING, created_at__lt=now - _lease()).filter(
        ~Exists(ReportChunk.objects.filter(report=OuterRef("pk")))
    )
    if report_ids is not None:
        expired = expired.filter(report_id__in=report_ids)
        unplanned = unplanned.filter(pk__in=report_ids)
    requeued = failed = replanned = 0
    for report_id in set(expired.values_list("report_id", flat=True)):
        with transaction.atomic():
            report = _locked_report(report_id)
            if report.status != ReportStatus.RUNNING:
                continue
            lost = list(report.chunks.select_for_update().filter(state=ChunkState.RUNNING, lease_until__lt=now))
            given_up = next((c for c in lost if c.attempts >= settings.MONITOR_REPORT_CHUNK_MAX_ATTEMPTS), None)
            if given_up is not None:
                _fail(report, _lost_reason(report, given_up))
                failed += 1
                continue
            for chunk in lost:
                logger.warning("report %s chunk %s: worker %s lost, queued again", report.pk, chunk.index, chunk.worker)
                chunk.state, chunk.lease_until = ChunkState.PENDING, None
                chunk.error = chunk.error or f"worker {chunk.worker} lost (lease expired)"
                chunk.save(update_fields=["state", "lease_until", "error"])
            # Queued once every lost chunk is pending: a chunk run inline
            # (immediate backend) must not find the others still lost.
            for chunk in lost:
                report_chunk_run_task.enqueue(chunk.pk)
            requeued += len(lost)
    for report_id in unplanned.values_list("pk", flat=True):
        # Planning is idempotent; the flag keeps one process from queueing it
        # on every sweep while it waits in the queue.
        if cache.add(PLAN_REQUEUED.format(report_id), True, timeout=_lease().total_seconds()):
            logger.warning("report %s not planned yet: planning queued again", report_id)
            report_generate_task.enqueue(str(report_id))
            replanned += 1
    return SweepOutcome(requeued, failed, replanned)


def report_watched(*, user, report_id: uuid.UUID) -> Report | None:
    """The report, if the user may see it (None: no such report, or not
    theirs: the same answer). Looking at a running report also gets it going
    again when a worker died (reports_sweep_watched)."""
    report = report_list(user=user).filter(pk=report_id).first()
    if report is not None and reports_sweep_watched(reports=[report]):
        report.refresh_from_db()
    return report


def reports_sweep_watched(*, reports: Sequence[Report]) -> bool:
    """Sweep those of the reports that are running, as their progress is
    polled: whoever watches a report also gets it going again when a worker
    died. True when the sweep changed anything (read them again)."""
    running = [report.pk for report in reports if report.status == ReportStatus.RUNNING]
    return bool(running) and any(reports_sweep(report_ids=running))


def report_watch(*, report_id: uuid.UUID | str) -> None:
    """Sweep one report; while it runs, come back one lease later. Lets the
    workers themselves recover a chunk whose worker died, with no other
    process running."""
    reports_sweep(report_ids=[report_id])
    if Report.objects.filter(pk=report_id, status=ReportStatus.RUNNING).exists():
        _watch_later(str(report_id))


def _watch_later(report_id: str) -> None:
    # The immediate backend (tests, scripts) cannot defer a task, nor lose a worker.
    if report_watch_task.get_backend().supports_defer:
        report_watch_task.using(run_after=timezone.now() + _lease()).enqueue(report_id)


# --------------------------------------------------------------------------
# Tasks: each runs the service it is named after, in `manage.py task_worker`
# (or inline with TASK_BACKEND=immediate). Defined beside their services,
# which queue them: no module of tasks importing services that import it.
# --------------------------------------------------------------------------


@task()
def report_generate_task(report_id: str) -> None:
    report_generate(report_id=report_id)


@task()
def report_chunk_run_task(chunk_id: int) -> str:
    return report_chunk_run(chunk_id=chunk_id)


@task()
def report_watch_task(report_id: str) -> None:
    report_watch(report_id=report_id)
