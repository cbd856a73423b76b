"""The OpenAPI schema of /api/incidents/. Nothing here runs on a request."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view

from common.openapi import BODY_ERRORS, REQUEST_ERRORS, error_responses

from .serializers import AcknowledgeSerializer, IncidentSerializer

incident_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["incidents"],
        summary="Incidents of the stores you see, newest first",
        parameters=[
            OpenApiParameter("open", str, enum=["true", "false"], description="Only open (true) or resolved (false) ones."),
            OpenApiParameter("store_id", str, description="Only this store's."),
            OpenApiParameter("group", str, description="Only those of this group's stores."),
            OpenApiParameter("since", str, description="Only those opened at or after this date or instant."),
        ],
        responses={200: IncidentSerializer(many=True), **error_responses(400, *REQUEST_ERRORS)},
    ),
    retrieve=extend_schema(
        tags=["incidents"],
        summary="One incident",
        responses={200: IncidentSerializer, **error_responses(*REQUEST_ERRORS, (404, "No such incident."))},
    ),
    acknowledge=extend_schema(
        tags=["incidents"],
        summary="Acknowledge an open incident (managers and admins)",
        description="Reminders stop; `note` (optional) says what is being done.",
        request=AcknowledgeSerializer,
        responses={
            200: IncidentSerializer,
            **error_responses(
                *BODY_ERRORS, *REQUEST_ERRORS, (404, "No such incident."), (409, "It is resolved already (`incident_resolved`).")
            ),
        },
    ),
)
