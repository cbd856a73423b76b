"""/api/incidents/ and /api/channels/: HTTP in, services, HTTP out. Whoever
sees a store sees its incidents; managers and admins acknowledge them. An
organization's notification channels are its admins' business."""
from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, QuerySet
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role, StoreGroup
from accounts.permissions import AdminOfSomeOrganization, IsAccountUser, TokenAllowsMethod
from accounts.selectors import groups_named, organization_for, organizations_of
from common.errors import ApiError, validation_error
from stores.access import store_role_require

from .models import Channel, Incident, Notification
from .notifications import channel_create, channel_delete, channel_test_send
from .openapi import channel_viewset_schema, incident_viewset_schema
from .serializers import (
    AcknowledgeSerializer,
    ChannelCreateSerializer,
    ChannelSerializer,
    IncidentSerializer,
    NotificationSerializer,
)
from .services import IncidentResolved, incident_acknowledge


@incident_viewset_schema
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = IncidentSerializer

    def get_queryset(self):
        incidents = Incident.objects.visible_to(self.request.user).select_related("store", "acknowledged_by")
        if self.action != "list":
            return incidents
        params = self.request.query_params
        if "open" in params:
            if params["open"] not in ("true", "false"):
                raise validation_error("open must be true or false.", {"open": ["Must be true or false."]})
            incidents = incidents.filter(resolved_at__isnull=params["open"] == "true")
        if "store_id" in params:
            incidents = incidents.filter(store__store_id=params["store_id"])
        if "group" in params:
            incidents = incidents.filter(store__groups__name=params["group"]).distinct()
        if "since" in params:
            try:
                since = dt.datetime.fromisoformat(params["since"])
            except ValueError:
                message = "since must be a date (YYYY-MM-DD) or an ISO 8601 instant."
                raise validation_error(message, {"since": [message]}) from None
            since = since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
            incidents = incidents.filter(opened_at__gte=since)
        return incidents.order_by("-opened_at", "-id")

    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        store_role_require(request.user, incident.store, Role.MANAGER)
        serializer = AcknowledgeSerializer(data=request.data if request.data is not None else {})
        serializer.is_valid(raise_exception=True)
        try:
            incident = incident_acknowledge(incident=incident, user=request.user, note=serializer.validated_data["note"])
        except IncidentResolved:
            raise ApiError(
                status_code=status.HTTP_409_CONFLICT,
                code="incident_resolved",
                message="The incident is resolved already: only an open one is acknowledged.",
            ) from None
        return Response(IncidentSerializer(Incident.objects.select_related("store", "acknowledged_by").get(pk=incident.pk)).data)


@channel_viewset_schema
class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = ChannelSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    permission_classes = [IsAccountUser, TokenAllowsMethod, AdminOfSomeOrganization]

    def get_queryset(self) -> QuerySet[Channel]:
        return (
            Channel.objects.filter(organization__in=organizations_of(self.request.user, role=Role.ADMIN))
            .select_related("organization")
            .prefetch_related(Prefetch("groups", queryset=StoreGroup.objects.order_by("name")))
            .order_by("organization__name", "name")
        )

    def create(self, request: Request) -> Response:
        serializer = ChannelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_for(request.user, data.get("organization"), role=Role.ADMIN)
        groups = groups_named(request.user, organization, data.get("groups", []), role=Role.ADMIN)
        channel = channel_create(
            organization=organization,
            kind=data["kind"],
            name=data["name"],
            groups=groups,
            url=data.get("url", ""),
            secret=data.get("secret", ""),
            addresses=data.get("addresses", []),
            created_by=request.user,
        )
        return Response(ChannelSerializer(self.get_queryset().get(pk=channel.pk)).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str) -> Response:
        channel_delete(channel=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        notification = channel_test_send(channel=self.get_object())
        # Queued once committed (with an inline task backend, attempted already).
        notification = Notification.objects.prefetch_related("attempt_rows").get(pk=notification.pk)
        return Response(NotificationSerializer(notification).data, status=status.HTTP_202_ACCEPTED)
