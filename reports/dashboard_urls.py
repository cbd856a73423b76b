"""The downtime dashboard: /dashboard/."""
from django.urls import path

from . import dashboard

urlpatterns = [
    path("", dashboard.store_list, name="dashboard"),
    path("refresh", dashboard.refresh, name="dashboard_refresh"),
    path("stores/<str:store_id>/", dashboard.store_detail, name="dashboard_store"),
]
