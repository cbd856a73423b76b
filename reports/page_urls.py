"""Report pages for staff: /reports/ (namespace report_pages)."""
from django.urls import path

from . import report_pages

app_name = "report_pages"

urlpatterns = [
    path("", report_pages.report_list_page, name="list"),
    path("create", report_pages.report_create, name="create"),
    path("status.json", report_pages.report_status, name="status"),
    path("<uuid:report_id>/", report_pages.report_detail, name="detail"),
    path("<uuid:report_id>/download", report_pages.report_download, name="download"),
]
