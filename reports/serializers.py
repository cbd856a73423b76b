"""Translate report requests and reports between JSON and Python."""
from __future__ import annotations

from rest_framework import serializers

from common.serializers import StrictSerializer
from core.instants import parse_utc_timestamp

from .models import Report


class TriggerReportSerializer(StrictSerializer):
    as_of = serializers.CharField(
        required=False,
        help_text=(
            "The instant the report is as of (default now): ISO 8601 (`Z`, an offset, or none for UTC) or the "
            "Loop form `2023-01-22 12:09:39.388884 UTC`; from 1970, not in the future."
        ),
    )

    organization = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Only this organization's stores (for a member of several).",
    )
    group = serializers.CharField(
        required=False, max_length=100, help_text="Only the stores of this group (one you see)."
    )

    def validate_as_of(self, value: str):
        try:
            return parse_utc_timestamp(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class ReportSerializer(serializers.ModelSerializer):
    report_id = serializers.UUIDField(source="id", read_only=True)
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True)
    organization = serializers.CharField(
        source="organization.name", read_only=True, allow_null=True, help_text="The organization it was limited to."
    )
    group = serializers.CharField(
        source="group.name", read_only=True, allow_null=True, help_text="The group it was limited to."
    )

    class Meta:
        model = Report
        fields = [
            "report_id",
            "status",
            "as_of",
            "stores_done",
            "stores_total",
            "error",
            "requested_by",
            "organization",
            "group",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
