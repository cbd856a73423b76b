"""Incidents between JSON and Python; no rules here."""
from __future__ import annotations

from rest_framework import serializers

from common.serializers import StrictSerializer

from .models import Incident


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
