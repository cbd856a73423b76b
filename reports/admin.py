"""Reports in the admin: read only. They are asked for from the report pages
or the API, which run the report task; owners see the ones they asked for."""
from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from common.admin import NotFoundOutsideQuerysetMixin
from common.ownership import is_visible_to, sees_everything

from .models import Report, ReportChunk, ReportStatus


class ReportChunkInline(admin.TabularInline):
    """A running report's chunks: which worker holds which, and why one was retried."""

    model = ReportChunk
    fields = ["index", "state", "attempts", "worker", "lease_until", "finished_at", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "as_of",
        "requested_by",
        "progress",
        "created_at",
        "started_at",
        "finished_at",
        "download",
    ]
    list_filter = ["status"]
    inlines = [ReportChunkInline]
    list_select_related = ["requested_by"]
    # The file is served by /get_report/<id> (which checks who may see it),
    # not from MEDIA_URL: show that link instead of the file field.
    fields = [*list_display[:-1], "error", "download"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        return super().get_queryset(request).visible_to(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        visible = obj is None or is_visible_to(obj, request.user)
        return super().has_view_permission(request, obj) and visible

    def get_list_filter(self, request: HttpRequest) -> list[str]:
        # The filter lists every user: for superusers only.
        return [*self.list_filter, "requested_by"] if sees_everything(request.user) else self.list_filter

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False

    @admin.display(description="stores done")
    def progress(self, report: Report) -> str:
        return f"{report.stores_done}/{report.stores_total}"

    @admin.display(description="CSV")
    def download(self, report: Report) -> str:
        if report.status != ReportStatus.COMPLETE:
            return "-"
        return format_html('<a href="{}">Download</a>', reverse("get_report_by_id", args=[str(report.pk)]))
