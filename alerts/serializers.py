"""Incidents, channels and notifications between JSON and Python; no rules here."""
from __future__ import annotations

from rest_framework import serializers

from common.serializers import StrictSerializer

from .models import Channel, ChannelKind, Incident, Notification, NotificationAttempt
from .notifications import apprise_url_shown


class IncidentSerializer(serializers.ModelSerializer):
    store_id = serializers.CharField(source="store.store_id", read_only=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.get_username", read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "store_id",
            "reason",
            "started_at",
            "opened_at",
            "resolved_at",
            "business_downtime_seconds",
            "acknowledged_by",
            "acknowledged_at",
            "note",
        ]
        read_only_fields = fields


class AcknowledgeSerializer(StrictSerializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


# --------------------------------------------------------------------------
# Channels and their notifications
# --------------------------------------------------------------------------

# What each kind of channel takes besides kind, name, groups and organization.
CHANNEL_FIELDS = {
    ChannelKind.WEBHOOK: {"url", "secret"},
    ChannelKind.EMAIL: {"addresses"},
    ChannelKind.APPRISE: {"url"},
}


class ChannelCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(ChannelKind.choices)
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(
        max_length=2000, required=False, help_text="webhook: its https:// URL; apprise: any Apprise URL."
    )
    secret = serializers.CharField(
        min_length=8,
        max_length=200,
        required=False,
        write_only=True,
        help_text="webhook: signs each body (X-Store-Monitor-Signature); never shown again.",
    )
    addresses = serializers.ListField(
        child=serializers.EmailField(), min_length=1, max_length=50, required=False, help_text="email: the recipients."
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=100,
        help_text="Only these groups' stores (default: every store of the organization).",
    )
    organization = serializers.CharField(
        required=False, max_length=150, help_text="For an admin of several organizations: which one."
    )

    def validate(self, data: dict) -> dict:
        wanted = CHANNEL_FIELDS[data["kind"]]
        kind = f"{'an' if data['kind'][0] in 'aeiou' else 'a'} {data['kind']} channel"
        errors = {name: [f"Required for {kind}."] for name in sorted(wanted - set(data))}
        errors |= {
            name: [f"Not used by {kind}."]
            for name in sorted(set().union(*CHANNEL_FIELDS.values()) - wanted)
            if name in data
        }
        if errors:
            raise serializers.ValidationError(errors)
        return data


class ChannelSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.name", read_only=True)
    groups = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    failing = serializers.BooleanField(
        source="is_failing", read_only=True, help_text="Only failed attempts for 24 hours or longer."
    )

    class Meta:
        model = Channel
        fields = [
            "id",
            "organization",
            "kind",
            "name",
            "groups",
            "url",
            "addresses",
            "is_active",
            "failing",
            "failing_since",
            "last_delivered_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_groups(self, channel: Channel) -> list[str]:
        return sorted(group.name for group in channel.groups.all())

    def get_url(self, channel: Channel) -> str:
        """A webhook's URL; an Apprise URL with its tokens masked (it holds credentials)."""
        return apprise_url_shown(channel.url) if channel.kind == ChannelKind.APPRISE else channel.url


class NotificationAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = NotificationAttempt
        fields = ["at", "duration_ms", "status_code", "answer", "error", "delivered", "permanent"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    attempt_log = NotificationAttemptSerializer(source="attempt_rows", many=True, read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "delivery_id",
            "channel",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields
