"""Reads for the report pages: which reports a user sees, and a finished report's rows."""
from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import IO, NamedTuple

from django.db.models import QuerySet

from core import uptime

from .models import Report, ReportStatus

# The figure columns, in CSV order; the first CSV column is the store id.
FIGURE_COLUMNS: tuple[str, ...] = uptime.REPORT_COLUMNS[1:]
SORT_DIRECTIONS = ("asc", "desc")


class ReportFileMissing(Exception):
    """The report says complete, but its CSV is not in storage (deleted by hand, or another disk)."""


class ReportFileUnreadable(Exception):
    """The stored CSV is not what report generation writes."""


class ReportRow(NamedTuple):
    store_id: str
    figures: tuple[Decimal, ...]  # in FIGURE_COLUMNS order

    def value(self, column: str) -> str | Decimal:
        if column == "store_id":
            return self.store_id
        return self.figures[FIGURE_COLUMNS.index(column)]


def report_list(*, user) -> QuerySet[Report]:
    """The user's reports (every report for a superuser), newest first."""
    # The id breaks ties so pages stay stable between two reports created in the same instant.
    return (
        Report.objects.visible_to(user)
        .select_related("requested_by", "organization", "group")
        .order_by("-created_at", "-id")
    )


def report_progress(*, user, report_ids: Iterable[uuid.UUID]) -> list[Report]:
    """Those of the given reports the user may see, with only what a progress poll needs."""
    return list(
        report_list(user=user)
        .filter(pk__in=list(report_ids))
        .select_related(None)
        .only("id", "status", "stores_done", "stores_total", "error", "finished_at", "created_at")
    )


def report_csv_file(*, report: Report, columns: str = "default") -> IO[bytes]:
    """The open CSV file of a complete report, with the seed's columns or
    (columns="extended") every column; ReportFileMissing when it is not in
    storage, ReportNotExtended for the extended file of a report made before it."""
    if columns not in COLUMN_SETS:
        raise ValueError(f"unknown columns {columns!r}")
    stored = report.extended_file if columns == "extended" else report.file
    if not stored:
        raise ReportNotExtended(report.pk)
    try:
        return stored.open("rb")
    except FileNotFoundError:
        raise ReportFileMissing(stored.name) from None


# ?columns=: the seed's seven columns, or those and the extended ones.
COLUMN_SETS = ("default", "extended")


class ReportNotExtended(Exception):
    """The report was made before the extended columns existed: it has no such file."""


def report_rows(*, report: Report) -> list[ReportRow]:
    """The rows of a complete report's CSV, in file order (by store id).

    The file is read whole: a row is about 60 bytes, so even the Loop data's
    14k stores make under a megabyte, and sorting needs every row anyway.
    """
    if report.status != ReportStatus.COMPLETE or not report.file:
        raise ValueError("only a complete report has rows")
    with report_csv_file(report=report) as handle:
        data = handle.read()
    try:
        return _parsed_rows(data.decode("utf-8"))
    except (UnicodeDecodeError, csv.Error) as exc:
        # A file generation did not write (edited, or from an older writer).
        raise ReportFileUnreadable(str(exc)) from None


def _parsed_rows(text: str) -> list[ReportRow]:
    # strict: a stray quote or line break is an error, not a guess.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader, None)
    if tuple(header or ()) != uptime.REPORT_COLUMNS:
        raise ReportFileUnreadable(f"unexpected header: {header!r}")
    rows = []
    for line_number, record in enumerate(reader, start=2):
        if len(record) != len(uptime.REPORT_COLUMNS):
            raise ReportFileUnreadable(f"line {line_number}: {len(record)} fields")
        try:
            figures = tuple(Decimal(value) for value in record[1:])
        except InvalidOperation:
            raise ReportFileUnreadable(f"line {line_number}: not a number") from None
        # NaN would make sorting raise; generation never writes it.
        if not all(figure.is_finite() for figure in figures):
            raise ReportFileUnreadable(f"line {line_number}: not a finite number")
        rows.append(ReportRow(record[0], figures))
    return rows


def report_rows_sorted(*, rows: list[ReportRow], sort: str, direction: str) -> list[ReportRow]:
    """Rows ordered by one column; equal figures stay in store id order, whichever the direction."""
    if sort not in uptime.REPORT_COLUMNS:
        raise ValueError(f"unknown column {sort!r}")
    if direction not in SORT_DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    # Two stable sorts: by store id ascending first, then by the column, so ties
    # keep a predictable order even when the column is sorted descending.
    by_store = sorted(rows, key=lambda row: row.store_id)
    if sort == "store_id":
        return by_store[::-1] if direction == "desc" else by_store
    return sorted(by_store, key=lambda row: row.value(sort), reverse=direction == "desc")
