"""Incidents: a store that should be open and is not (docs/semantics.md,
section 8; the rule is core.incidents). Written by the monitor_alerts loop
(alerts.services.alerts_evaluate) and resolved by the store's active poll."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.ownership import sees_everything
from stores.models import Store


class IncidentReason(models.TextChoices):
    INACTIVE = "inactive", "inactive"
    NO_SIGNAL = "no_signal", "no signal"


class IncidentQuerySet(models.QuerySet):
    def visible_to(self, user) -> IncidentQuerySet:
        """A store's incidents are seen by whoever sees the store (the access rule)."""
        if sees_everything(user):
            return self
        return self.filter(store__in=Store.objects.visible_to(user))

    def open(self) -> IncidentQuerySet:
        return self.filter(resolved_at__isnull=True)


class Incident(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="incidents")
    # When the trouble began, and when it had lasted the grace period (the incident opened).
    started_at = models.DateTimeField()
    opened_at = models.DateTimeField()
    reason = models.CharField(max_length=9, choices=IncidentReason.choices)
    # When an active poll ended it; null while open.
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The engine's measure of its down time inside business hours, closures excluded.
    business_downtime_seconds = models.BigIntegerField(default=0)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # Two monitor_alerts loops at once cannot open a store's incident twice.
            models.UniqueConstraint(fields=["store"], condition=Q(resolved_at__isnull=True), name="one_open_incident_per_store"),
            models.UniqueConstraint(fields=["store", "started_at"], name="one_incident_per_trouble_start"),
        ]
        indexes = [models.Index(fields=["store", "-opened_at"])]

    def __str__(self) -> str:
        return f"{self.store_id}: {self.reason} since {self.started_at:%Y-%m-%d %H:%M} UTC"


class Flapping(models.Model):
    """A store that opened more incidents within an hour than MONITOR_ALERT_FLAP_LIMIT:
    no incidents for it until it has been up for 30 minutes without a break."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="flappings")
    at = models.DateTimeField()
    steady_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["store", "at"], name="one_flapping_notice_per_instant")]
