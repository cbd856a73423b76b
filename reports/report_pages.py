"""Server-rendered report pages for staff: the list with live progress, a form to
ask for a report, an HTML view of a finished one and its CSV download.

Thin views: who sees which report lives in `selectors.report_list`, making a
report in `services.report_trigger`, reading its CSV in `selectors.report_rows`.
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import StoreGroup
from accounts.selectors import groups_visible_to
from common.pages import admin_context
from core import uptime

from .downloads import report_csv_response
from .models import Report, ReportStatus
from .selectors import (
    COLUMN_SETS,
    FIGURE_COLUMNS,
    ReportFileMissing,
    ReportNotExtended,
    ReportFileUnreadable,
    ReportRow,
    report_list,
    report_progress,
    report_rows,
    report_rows_sorted,
)
from .page_limits import throttled_like_the_api
from .services import AsOfOutOfRange, TooManyRunningReports, report_trigger, report_watched, reports_sweep_watched

LIST_PAGE_SIZE = 25
DETAIL_PAGE_SIZE = 100
# One poll asks about at most a page of reports; more is a malformed request.
MAX_STATUS_IDS = 100
# The format of every instant on these pages (always UTC), in strftime and in
# Django's date filter, so rows the script updates read like the rendered ones.
INSTANT_STRFTIME = "%Y-%m-%d %H:%M:%S"

COLUMN_LABELS = {
    "store_id": "Store",
    "uptime_last_hour": "Uptime, last hour",
    "uptime_last_day": "Uptime, last day",
    "uptime_last_week": "Uptime, last week",
    "downtime_last_hour": "Downtime, last hour",
    "downtime_last_day": "Downtime, last day",
    "downtime_last_week": "Downtime, last week",
}
COLUMN_UNITS = {
    "uptime_last_hour": "min",
    "uptime_last_day": "h",
    "uptime_last_week": "h",
    "downtime_last_hour": "min",
    "downtime_last_day": "h",
    "downtime_last_week": "h",
}
# A week's worth of hours is easier to take in as days and hours.
DAYS_HOURS_COLUMNS = frozenset({"uptime_last_week", "downtime_last_week"})
DEFAULT_SORT = "store_id"


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def days_hours(hours: Decimal | int) -> str:
    """Hours as whole days and the remaining hours: 53.5 -> '2 d 5.5 h',
    5.5 -> '5.5 h', 0 -> '0 h', 24 -> '1 d 0 h'. Exact: no float rounding."""
    hours = Decimal(hours)
    if not hours.is_finite() or hours < 0:
        raise ValueError(f"expected a non-negative number of hours, got {hours}")
    days, rest = divmod(hours, 24)
    rest_text = _plain_decimal(rest)
    if days == 0:
        return f"{rest_text} h"
    return f"{int(days)} d {rest_text} h"


def _plain_decimal(value: Decimal) -> str:
    # format(..., "f") never gives an exponent (Decimal("1E+1") -> "10"); then drop trailing zeros.
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _utc_text(instant: dt.datetime | None) -> str:
    return instant.astimezone(dt.timezone.utc).strftime(INSTANT_STRFTIME) if instant else ""


# --------------------------------------------------------------------------
# The list and the form
# --------------------------------------------------------------------------


class UTCDateTimeField(forms.DateTimeField):
    """Reads a date and time without an offset as UTC, whatever time zone is active."""

    def to_python(self, value: Any) -> dt.datetime | None:
        with timezone.override(dt.timezone.utc):
            return super().to_python(value)


class ReportRequestForm(forms.Form):
    as_of = UTCDateTimeField(
        required=False,
        label="As of (UTC)",
        help_text="Optional: a past date and time, in UTC (not your local time). Empty means now.",
        # What <input type="datetime-local"> sends: no offset, seconds only if typed.
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    group = forms.ModelChoiceField(
        queryset=StoreGroup.objects.none(),
        required=False,
        empty_label="every store you see",
        label="Stores",
        help_text="Optional: only the stores of one group.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = groups_visible_to(user).select_related("organization").order_by("name")
        self.fields["group"].label_from_instance = lambda group: f"{group.name} ({group.organization.name})"
        # The browser refuses later values up front; the service still has the last word.
        self.fields["as_of"].widget.attrs["max"] = timezone.now().astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


def _render_list(request: HttpRequest, *, form: ReportRequestForm, status: int = 200) -> HttpResponse:
    reports = report_list(user=request.user)
    group = request.GET.get("group", "")
    if group.isdigit():
        reports = reports.filter(group_id=int(group))
    page = Paginator(reports, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "groups": form.fields["group"].queryset,
        "group_filter": group,
        **admin_context(request, title="Reports"),
        "form": form,
        "page": page,
        "page_numbers": list(page.paginator.get_elided_page_range(page.number)),
        "reports": page.object_list,
        "show_owner": request.user.is_superuser,
    }
    return render(request, "reports/report_list.html", context, status=status)


@login_required
@require_GET
def report_list_page(request: HttpRequest) -> HttpResponse:
    return _render_list(request, form=ReportRequestForm(user=request.user))


@login_required
@require_POST
@throttled_like_the_api
def report_create(request: HttpRequest) -> HttpResponse:
    form = ReportRequestForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            group = form.cleaned_data["group"]
            report = report_trigger(user=request.user, as_of=form.cleaned_data["as_of"], group=group)
        except AsOfOutOfRange:
            form.add_error("as_of", "Choose a date and time from 1970 on, not in the future (in UTC).")
        except TooManyRunningReports as exc:
            form.add_error(None, str(exc))
            response = _render_list(request, form=form, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            messages.success(request, f"Report as of {_utc_text(report.as_of)} UTC requested.")
            # POST/redirect/GET: reloading the list must not ask for another report.
            return redirect("report_pages:list")
    return _render_list(request, form=form, status=400)


def _status_entry(report: Report) -> dict[str, Any]:
    complete = report.status == ReportStatus.COMPLETE
    return {
        "id": str(report.id),
        "status": report.status,
        "stores_done": report.stores_done,
        "stores_total": report.stores_total,
        "error": report.error if report.status == ReportStatus.FAILED else "",
        "finished_at": _utc_text(report.finished_at),
        "detail_url": reverse("report_pages:detail", args=[report.id]),
        "download_url": reverse("report_pages:download", args=[report.id]) if complete else None,
    }


@login_required
@require_GET
def report_status(request: HttpRequest) -> JsonResponse:
    """Progress of the reports named by `?id=` (repeatable), or of the list's first page."""
    raw_ids = request.GET.getlist("id")
    if len(raw_ids) > MAX_STATUS_IDS:
        return JsonResponse({"error": f"Ask about at most {MAX_STATUS_IDS} reports."}, status=400)
    if raw_ids:
        try:
            ids = [uuid.UUID(raw) for raw in raw_ids]
        except ValueError:
            return JsonResponse({"error": "Every id must be a report id (a UUID)."}, status=400)
        reports = report_progress(user=request.user, report_ids=ids)
        if reports_sweep_watched(reports=reports):
            reports = report_progress(user=request.user, report_ids=ids)
    else:
        reports = list(report_list(user=request.user)[:LIST_PAGE_SIZE])
    # Reports the user may not see are left out, exactly like reports that do not exist.
    return JsonResponse({"reports": [_status_entry(report) for report in reports]})


# --------------------------------------------------------------------------
# One report
# --------------------------------------------------------------------------


class ColumnHeader(NamedTuple):
    name: str
    label: str
    unit: str
    sort_url: str
    aria_sort: str  # "ascending", "descending" or "" when not the sort column
    next_direction: str


class DisplayCell(NamedTuple):
    value: Decimal
    days_hours: str  # "" when the column has none


class DisplayRow(NamedTuple):
    store_id: str
    cells: tuple[DisplayCell, ...]


def _sort_params(query: Any) -> tuple[str, str]:
    # Unknown values fall back to the defaults: an old or hand-edited link still shows the report.
    sort = query.get("sort", DEFAULT_SORT)
    if sort not in uptime.REPORT_COLUMNS:
        sort = DEFAULT_SORT
    direction = query.get("dir", "")
    if direction not in ("asc", "desc"):
        direction = _first_direction(sort)
    return sort, direction


def _first_direction(column: str) -> str:
    # Store ids read A to Z; for figures the largest (the stores to look at) come first.
    return "asc" if column == "store_id" else "desc"


def _column_headers(sort: str, direction: str) -> list[ColumnHeader]:
    headers = []
    for name in uptime.REPORT_COLUMNS:
        if name == sort:
            next_direction = "asc" if direction == "desc" else "desc"
            aria_sort = "ascending" if direction == "asc" else "descending"
        else:
            next_direction, aria_sort = _first_direction(name), ""
        headers.append(
            ColumnHeader(
                name=name,
                label=COLUMN_LABELS[name],
                unit=COLUMN_UNITS.get(name, ""),
                sort_url="?" + urlencode({"sort": name, "dir": next_direction}),
                aria_sort=aria_sort,
                next_direction=next_direction,
            )
        )
    return headers


def _display_row(row: ReportRow) -> DisplayRow:
    return DisplayRow(
        store_id=row.store_id,
        cells=tuple(
            DisplayCell(value, days_hours(value) if column in DAYS_HOURS_COLUMNS else "")
            for column, value in zip(FIGURE_COLUMNS, row.figures)
        ),
    )


def _visible_report(request: HttpRequest, report_id: uuid.UUID) -> Report:
    # Another user's report is a 404, not a 403: its existence is not theirs to learn.
    report = report_watched(user=request.user, report_id=report_id)
    if report is None:
        raise Http404("No such report.")
    return report


@login_required
@require_GET
def report_detail(request: HttpRequest, report_id: uuid.UUID) -> HttpResponse:
    report = _visible_report(request, report_id)
    context: dict[str, Any] = {
        **admin_context(request, title=f"Report as of {_utc_text(report.as_of)} UTC"),
        "report": report,
        "show_owner": request.user.is_superuser,
        "rows": None,
    }
    if report.status == ReportStatus.COMPLETE:
        try:
            rows = report_rows(report=report)
        except ReportFileMissing:
            context["file_problem"] = "The report's CSV file is missing from storage."
        except ReportFileUnreadable:
            context["file_problem"] = "The report's CSV file could not be read."
        else:
            sort, direction = _sort_params(request.GET)
            ordered = report_rows_sorted(rows=rows, sort=sort, direction=direction)
            page: Page = Paginator(ordered, DETAIL_PAGE_SIZE).get_page(request.GET.get("page"))
            context.update(
                page=page,
                page_numbers=list(page.paginator.get_elided_page_range(page.number)),
                rows=[_display_row(row) for row in page.object_list],
                row_count=len(rows),
                headers=_column_headers(sort, direction),
                page_query=urlencode({"sort": sort, "dir": direction}) + "&",
            )
    return render(request, "reports/report_detail.html", context)


@login_required
@require_GET
def report_download(request: HttpRequest, report_id: uuid.UUID) -> HttpResponse:
    report = _visible_report(request, report_id)
    if report.status != ReportStatus.COMPLETE or not report.file:
        raise Http404("The report is not complete.")
    columns = request.GET.get("columns", "default")
    if columns not in COLUMN_SETS:
        return HttpResponse(f"columns must be one of {', '.join(COLUMN_SETS)}.", status=400, content_type="text/plain")
    try:
        return report_csv_response(report, columns=columns)
    except ReportFileMissing:
        raise Http404("The report's file is missing.") from None
    except ReportNotExtended:
        raise Http404("This report was made before the extended columns existed.") from None
