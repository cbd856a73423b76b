from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts.api_views import GroupViewSet, MemberViewSet
from alerts.api_views import ChannelViewSet, IncidentViewSet
from stores.closure_api_views import ClosureViewSet
from reports.api_views import GetReportView, ReportViewSet, TriggerReportView
from stores.api_views import PollView, PollViewSet, RegisterStoreView, StoreViewSet

admin.site.site_header = "Store Monitor"
admin.site.site_title = "Store Monitor"
admin.site.index_title = "Stores, hours and reports"

router = DefaultRouter()
router.register("stores", StoreViewSet, basename="store")
router.register("polls", PollViewSet, basename="poll")
router.register("reports", ReportViewSet, basename="report")
router.register("groups", GroupViewSet, basename="group")
router.register("members", MemberViewSet, basename="member")
router.register("closures", ClosureViewSet, basename="closure")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("channels", ChannelViewSet, basename="channel")

urlpatterns = [
    # The seed's endpoints, at the root.
    path("register_store", RegisterStoreView.as_view(), name="register_store"),
    path("poll", PollView.as_view(), name="poll"),
    path("trigger_report", TriggerReportView.as_view(), name="trigger_report"),
    path("get_report", GetReportView.as_view(), name="get_report"),
    path("get_report/<str:report_id>", GetReportView.as_view(), name="get_report_by_id"),
    # The OpenAPI schema (generated from the views) and a Swagger UI page reading it.
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline: the CSP allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api/swagger_ui.html"),
        name="api_docs",
    ),
    path("api/", include(router.urls)),
    # The pages for people: /dashboard/ and /reports/.
    path("", include("reports.urls")),
    path("admin/", admin.site.urls),
]

# Errors outside the views: JSON on API paths, Django's HTML pages on the
# pages for people (/admin/, /dashboard/, /reports/): docs/errors.md.
handler400 = "common.errors.handler400"
handler403 = "common.errors.handler403"
handler404 = "common.errors.handler404"
handler500 = "common.errors.handler500"
