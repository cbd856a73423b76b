from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from reports.views import GetReportView, ReportViewSet, TriggerReportView
from stores.views import PollView, PollViewSet, RegisterStoreView, StoreViewSet

admin.site.site_header = "Store Monitor"
admin.site.site_title = "Store Monitor"
admin.site.index_title = "Stores, hours and reports"

router = DefaultRouter()
router.register("stores", StoreViewSet, basename="store")
router.register("polls", PollViewSet, basename="poll")
router.register("reports", ReportViewSet, basename="report")

urlpatterns = [
    # The seed's endpoints, at the root.
    path("register_store", RegisterStoreView.as_view(), name="register_store"),
    path("poll", PollView.as_view(), name="poll"),
    path("trigger_report", TriggerReportView.as_view(), name="trigger_report"),
    path("get_report", GetReportView.as_view(), name="get_report"),
    path("get_report/<str:report_id>", GetReportView.as_view(), name="get_report_by_id"),
    path("api/", include(router.urls)),
    path("api-auth/", include("rest_framework.urls")),
    path("dashboard/", include("reports.dashboard_urls")),
    path("reports/", include("reports.page_urls")),
    path("admin/", admin.site.urls),
]
