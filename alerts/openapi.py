"""The OpenAPI schema of /api/incidents/ and /api/channels/. Nothing here runs on a request."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view

from common.openapi import BODY_ERRORS, REQUEST_ERRORS, error_responses

from .serializers import (
    AcknowledgeSerializer,
    ChannelCreateSerializer,
    ChannelSerializer,
    IncidentSerializer,
    NotificationSerializer,
)

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

channel_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["channels"],
        summary="The notification channels of the organizations you are an admin of",
        responses={200: ChannelSerializer(many=True), **error_responses(*REQUEST_ERRORS)},
    ),
    retrieve=extend_schema(
        tags=["channels"],
        summary="One channel",
        responses={200: ChannelSerializer, **error_responses(*REQUEST_ERRORS, (404, "No such channel."))},
    ),
    create=extend_schema(
        tags=["channels"],
        summary="Add a notification channel (admins)",
        description=(
            "`webhook` (`url`, `secret`: each body is POSTed signed "
            "`X-Store-Monitor-Signature: sha256=<hex HMAC-SHA256 of the body>`), `email` (`addresses`) or "
            "`apprise` (`url`: any Apprise URL). `groups` limits it to those groups' stores. The secret is never "
            "shown again. URLs reaching loopback, private or link-local addresses are refused "
            "(`webhook_url_private`) unless MONITOR_WEBHOOK_ALLOW_PRIVATE is on."
        ),
        request=ChannelCreateSerializer,
        responses={
            201: ChannelSerializer,
            **error_responses(
                *BODY_ERRORS,
                *REQUEST_ERRORS,
                (
                    400,
                    "Invalid input; a URL reaching a private address (`webhook_url_private`), a webhook URL that is "
                    "not http(s) or does not resolve (`webhook_url_invalid`), an Apprise URL Apprise does not know "
                    "(`apprise_url_invalid`), an organization or group you may not use.",
                ),
                (409, "The name is taken in the organization (`channel_name_taken`)."),
            ),
        },
    ),
    destroy=extend_schema(
        tags=["channels"],
        summary="Remove a channel (admins)",
        responses={204: None, **error_responses(*REQUEST_ERRORS, (404, "No such channel."))},
    ),
    test=extend_schema(
        tags=["channels"],
        summary="Send a test notification to the channel (admins)",
        description="Queued as any notification (event `test`); its attempts show whether it arrived.",
        request=None,
        responses={202: NotificationSerializer, **error_responses(*REQUEST_ERRORS, (404, "No such channel."))},
    ),
)
