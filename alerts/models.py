"""Incidents: a store that should be open and is not (docs/semantics.md,
section 8; the rule is core.incidents). Written by the monitor_alerts loop
(alerts.services.alerts_evaluate) and resolved by the store's active poll.

Notifications: an organization's channels (email, webhook, Apprise), and
the outbox of what is to be sent to each (alerts.notifications)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import models
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from accounts.models import Organization, StoreGroup
from common.ownership import sees_everything
from stores.models import Store

# A channel whose every attempt failed for this long is flagged (Channel.is_failing).
FAILING_AFTER = dt.timedelta(hours=24)


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
    # When its opening or latest reminder was written to the outbox; null while
    # it has not been announced (it opened outside business hours: the pass
    # announces it once they begin). Reminders count from it.
    notified_at = models.DateTimeField(null=True, blank=True)
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


# --------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------


class ChannelKind(models.TextChoices):
    EMAIL = "email", "email"
    WEBHOOK = "webhook", "webhook"
    APPRISE = "apprise", "Apprise"


class ChannelQuerySet(models.QuerySet):
    def failing(self, *, now: dt.datetime | None = None) -> ChannelQuerySet:
        """Channels whose every attempt has failed for FAILING_AFTER or longer."""
        return self.filter(failing_since__lte=(now or timezone.now()) - FAILING_AFTER)

    def for_stores(self, stores: Sequence[Store]) -> dict[int, list[Channel]]:
        """The active channels each store's notifications go to, by store pk: its
        organization's, limited to none of its groups or to one of the store's.
        Two queries for any number of stores (the channels and their groups),
        plus one for the stores' groups unless they come prefetched."""
        prefetch_related_objects(list(stores), "groups")
        channels: dict[int, list[Channel]] = {}
        for channel in self.filter(organization_id__in={store.organization_id for store in stores}, is_active=True).prefetch_related("groups"):
            channels.setdefault(channel.organization_id, []).append(channel)
        chosen = {}
        for store in stores:
            groups = {group.pk for group in store.groups.all()}
            chosen[store.pk] = [
                channel
                for channel in channels.get(store.organization_id, [])
                if not channel.groups.all() or any(group.pk in groups for group in channel.groups.all())
            ]
        return chosen


class Channel(models.Model):
    """Where an organization's notifications go. `url` is the webhook's or the
    Apprise URL; `secret` signs webhook bodies (it is never shown again);
    `addresses` are an email channel's recipients."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=7, choices=ChannelKind.choices)
    # Empty: every store of the organization; otherwise the stores of these groups.
    groups = models.ManyToManyField(StoreGroup, blank=True, related_name="alert_channels")
    url = models.CharField(max_length=2000, blank=True)
    secret = models.CharField(max_length=200, blank=True)
    addresses = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    # Set by the first failed attempt after a delivery (or since it was made), cleared by a delivery.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["organization_id", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="channel_name_unique_in_organization")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_failing(self) -> bool:
        """Only failures for FAILING_AFTER or longer (for the dashboard to show)."""
        return self.failing_since is not None and timezone.now() - self.failing_since >= FAILING_AFTER


class NotificationEvent(models.TextChoices):
    OPENED = "incident.opened", "incident opened"
    REMINDER = "incident.reminder", "reminder"
    ACKNOWLEDGED = "incident.acknowledged", "incident acknowledged"
    RESOLVED = "incident.resolved", "incident resolved"
    FLAPPING = "store.flapping", "store flapping"
    TEST = "test", "test"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "pending"
    # Claimed by a deliverer until lease_until (then due again: its process died).
    SENDING = "sending", "sending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"


class Notification(models.Model):
    """One message to one channel: written in the transaction of the change it
    tells (an outbox), delivered by alerts.notifications' task, retried with
    backoff for NOTIFY_RETRY_FOR on timeouts, connection errors and 5xx."""

    # X-Store-Monitor-Delivery: the same on every attempt, so a receiver can drop repeats.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=24, choices=NotificationEvent.choices)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # The webhook body but its sent_at, as it was when the change was made.
    payload = models.JSONField()
    status = models.CharField(max_length=9, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel} ({self.status})"


class NotificationAttempt(models.Model):
    """One try at delivering a notification: when, what the other side answered, what went wrong."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_rows")
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    # The HTTP status (webhooks) or SMTP reply code (email) when there was one.
    status_code = models.PositiveIntegerField(null=True, blank=True)
    answer = models.TextField(blank=True)
    error = models.TextField(blank=True)
    delivered = models.BooleanField(default=False)
    # A failure that no retry can mend (a 4xx but 408 and 429, a refused address).
    permanent = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"attempt at {self.at:%Y-%m-%d %H:%M:%S} UTC"
