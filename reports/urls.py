"""The pages for people: the downtime dashboard (/dashboard/) and the report
pages (/reports/, namespace report_pages). The API's addresses are in
monitor_project/urls.py, with the other apps'."""
from django.urls import include, path

from . import dashboard_pages, report_pages

report_patterns = (
    [
        path("", report_pages.report_list_page, name="list"),
        path("create", report_pages.report_create, name="create"),
        path("status.json", report_pages.report_status, name="status"),
        path("<uuid:report_id>/", report_pages.report_detail, name="detail"),
        path("<uuid:report_id>/download", report_pages.report_download, name="download"),
    ],
    "report_pages",
)

urlpatterns = [
    path("", dashboard_pages.front_door, name="front_door"),
    path("dashboard/", dashboard_pages.store_list, name="dashboard"),
    path("dashboard/refresh", dashboard_pages.refresh, name="dashboard_refresh"),
    path(
        "dashboard/incidents/<int:incident_id>/acknowledge",
        dashboard_pages.incident_acknowledge_page,
        name="dashboard_incident_acknowledge",
    ),
    path("dashboard/stores/<str:store_id>/", dashboard_pages.store_detail, name="dashboard_store"),
    path("reports/", include(report_patterns)),
]
