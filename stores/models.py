"""Stores, their weekly business hours, and polls compressed into status spans."""
from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from simple_history.models import HistoricalRecords

from accounts.models import ALERT_GRACE_MAX_MINUTES, Membership, Role
from common.ownership import sees_everything
from core.instants import MINUTE

from .store_ids import STORE_ID_MAX_LENGTH, InvalidStoreId, clean_store_id

DEFAULT_TIMEZONE = "America/Chicago"


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    # Scanning the zone database takes tens of milliseconds: do it once.
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """An IANA zone name that zoneinfo (the engine's converter) knows."""
    if value not in known_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone name.", code="unknown_timezone")


def validate_store_id(value: str) -> None:
    """The store id rule (stores.store_ids), for forms and full_clean()."""
    try:
        clean_store_id(value)
    except InvalidStoreId as exc:
        raise ValidationError(f"The store id {exc}.", code="invalid_store_id") from None


class PollStatus(models.TextChoices):
    ACTIVE = "active", "active"
    INACTIVE = "inactive", "inactive"


# TextChoices.values builds a new list on every access: hot paths test against this.
POLL_STATUSES = frozenset(PollStatus.values)


class StoreState(models.TextChoices):
    """A store's state now, from its latest poll (docs/semantics.md, rule 3)."""

    UP = "up", "up"
    DOWN = "down", "down"
    NO_SIGNAL = "no_signal", "no signal"
    AWAITING = "awaiting", "awaiting first poll"


def stale_after() -> int:
    """MONITOR_STALE_AFTER_MINUTES in microseconds: how long an active poll
    vouches for its store (docs/semantics.md, section 3). The one reading of
    the setting, for the span rule, the engine and the pages."""
    return settings.MONITOR_STALE_AFTER_MINUTES * MINUTE


class StoreQuerySet(models.QuerySet):
    def visible_to(self, user: Any, *, role: Role | str = Role.VIEWER) -> StoreQuerySet:
        """The access rule: the stores a user sees (with `role`, the ones they
        may act on as that role). A superuser sees every store; a member sees
        every store of an organization where they are an admin or limited to
        no group, and the stores of their groups where they are limited; a
        device or an anonymous user sees none. An API token is its user.
        Every queryset, page, admin class and the report planner call this
        (or stores.access, which applies it to one store)."""
        if sees_everything(user):
            return self
        # The memberships are read first (one query), so the stores are
        # filtered by literal ids: with subqueries in an OR, PostgreSQL
        # could not walk an index for a dashboard page's first rows.
        scope = Membership.objects.of(user, role=role).scope()
        seen = Q(organization_id__in=sorted(scope.organization_ids)) if scope.organization_ids else Q(pk__in=[])
        if scope.group_ids:
            in_groups = self.model.groups.through.objects.filter(storegroup_id__in=sorted(scope.group_ids))
            seen |= Q(pk__in=in_groups.values("store_id"))
        return self.filter(seen)

    def with_state(self, *, now: dt.datetime) -> StoreQuerySet:
        """Annotate `state` (a StoreState) in SQL, so pages can filter and count by it."""
        stale_since = now - dt.timedelta(microseconds=stale_after())
        return self.annotate(
            state=Case(
                When(last_poll_at__isnull=True, then=Value(StoreState.AWAITING)),
                When(last_poll_at__lte=stale_since, then=Value(StoreState.NO_SIGNAL)),
                When(last_status=PollStatus.INACTIVE, then=Value(StoreState.DOWN)),
                default=Value(StoreState.UP),
                output_field=models.CharField(),
            )
        )

    def with_alert_grace(self) -> StoreQuerySet:
        """Annotate `alert_grace`, the minutes of trouble before an incident opens:
        the store's own, else its organization's, else MONITOR_ALERT_GRACE_MINUTES."""
        return self.annotate(
            alert_grace=Coalesce(
                F("alert_grace_minutes"),
                F("organization__alert_grace_minutes"),
                Value(settings.MONITOR_ALERT_GRACE_MINUTES),
                output_field=models.PositiveIntegerField(),
            )
        )

    def most_down_this_week(self) -> StoreQuerySet:
        """The stores with downtime in the week's dashboard figures, the most
        first (ties by store id), `downtime_last_week` annotated: an inner join
        walked down the figures' downtime index, so the first few cost a few
        rows whatever the number of stores (the with_figures form, a left join
        sorted on COALESCE, sorted them all)."""
        return (
            self.filter(figures__downtime_last_week__gt=0)
            .annotate(downtime_last_week=F("figures__downtime_last_week"))
            .order_by("-figures__downtime_last_week", "store_id")
        )

    def with_figures(self) -> StoreQuerySet:
        """Annotate the dashboard figures (microseconds; zero before the first refresh)."""
        return self.annotate(
            **{
                name: Coalesce(F(f"figures__{name}"), Value(0), output_field=models.BigIntegerField())
                for name in (
                    "uptime_last_day",
                    "downtime_last_day",
                    "uptime_last_week",
                    "downtime_last_week",
                )
            },
            figures_as_of=F("figures__as_of"),
        )


class Store(models.Model):
    # Opaque (the public Loop data uses 64-bit integers and UUIDs), within the
    # rule of stores.store_ids: safe in a URL path and a CSV cell.
    store_id = models.CharField(max_length=STORE_ID_MAX_LENGTH, unique=True, validators=[validate_store_id])
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="stores")
    groups = models.ManyToManyField("accounts.StoreGroup", blank=True, related_name="stores")
    timezone = models.CharField(max_length=64, default=DEFAULT_TIMEZONE, validators=[validate_timezone])
    # SHA-256 of the device key: the key is random and long, so a fast hash is
    # enough, and it lets a request find its store by an indexed lookup.
    device_key_hash = models.CharField(max_length=64, unique=True)
    # Denormalised latest poll, so a new poll is checked and placed without
    # reading the span table's history.
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=8, choices=PollStatus.choices, blank=True)
    # Set while the store has an open incident (alerts), so that a poll request
    # knows without another query when its active poll resolves one.
    incident_open = models.BooleanField(default=False)
    # Overrides its organization's alert grace period (StoreQuerySet.with_alert_grace).
    alert_grace_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(ALERT_GRACE_MAX_MINUTES)],
        help_text="Minutes this store must be in trouble before an incident opens; empty: its organization's.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreQuerySet.as_manager()

    class Meta:
        ordering = ["store_id"]

    def __str__(self) -> str:
        return self.store_id


class StoreWeek(models.Model):
    """A store's business-hours rows as one text, kept by the database itself:
    triggers on the hours table rewrite it whenever rows of the store are
    inserted, changed or deleted, whatever wrote them (services, the admin,
    the Loop import, bulk loads), in the same transaction. Nothing in Python
    writes it. A store without rows has none (open all week).

    Each row is "day,HH:MM:SS,HH:MM:SS" (times as the database writes them,
    maybe with fractions) or "day" for a day marked closed, joined by ";" in
    no particular order (stores.selectors parses it). Reports read a store's
    week as this one row instead of aggregating its six or so (migration
    0011 has the triggers; test_store_week checks them on both databases).
    """

    store = models.OneToOneField(Store, on_delete=models.CASCADE, primary_key=True, related_name="week")
    text = models.TextField()

    def __str__(self) -> str:
        return f"{self.store_id}: {self.text}"


class BusinessHours(models.Model):
    """One local interval of a weekday, or a marker that the weekday is closed.

    A weekday without rows is open all day. Ends of 24:00 are stored as 00:00,
    which the end-before-start rule reads as the midnight ending the day.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="business_hours")
    day_of_week = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    start_time_local = models.TimeField(null=True, blank=True)
    end_time_local = models.TimeField(null=True, blank=True)
    closed = models.BooleanField(default=False)
    # Who changed a store's hours, when, before and after (the admin's history pages).
    history = HistoricalRecords()

    class Meta:
        ordering = ["store_id", "day_of_week", "start_time_local"]
        verbose_name_plural = "business hours"
        constraints = [
            models.CheckConstraint(condition=Q(day_of_week__lte=6), name="business_hours_day_of_week_0_6"),
            models.CheckConstraint(
                condition=(
                    Q(closed=True, start_time_local__isnull=True, end_time_local__isnull=True)
                    | Q(closed=False, start_time_local__isnull=False, end_time_local__isnull=False)
                ),
                name="business_hours_interval_or_closed",
            ),
        ]
        indexes = [models.Index(fields=["store", "day_of_week"])]

    def __str__(self) -> str:
        if self.closed:
            return f"{self.store_id} day {self.day_of_week}: closed"
        return f"{self.store_id} day {self.day_of_week}: {self.start_time_local}-{self.end_time_local}"


class StatusSpan(models.Model):
    """A maximal run of consecutive polls with one status and gaps shorter
    than the stale period: the compressed poll history reports are built from."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="spans")
    status = models.CharField(max_length=8, choices=PollStatus.choices)
    first_poll_at = models.DateTimeField()
    last_poll_at = models.DateTimeField()
    poll_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["store_id", "first_poll_at"]
        constraints = [
            # One span starts at a given instant, and it cannot end before it starts.
            models.UniqueConstraint(fields=["store", "first_poll_at"], name="status_span_store_first_poll"),
            models.CheckConstraint(condition=Q(last_poll_at__gte=models.F("first_poll_at")), name="status_span_ordered"),
            models.CheckConstraint(condition=Q(poll_count__gte=1), name="status_span_has_polls"),
        ]
        # The unique (store, first_poll_at) index serves both the open-span
        # lookup on every poll and the per-store range reads of reports. No
        # index has last_poll_at: it changes on every poll, and an index on it
        # would be rewritten each time just to speed up the daily prune.

    def __str__(self) -> str:
        return f"{self.store_id} {self.status} {self.first_poll_at:%Y-%m-%d %H:%M}–{self.last_poll_at:%H:%M} ({self.poll_count})"


class ClosureQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> ClosureQuerySet:
        """Closures the user sees: those of their organizations that cover a
        store they see (a closure for the whole organization covers every
        store, and a limited member sees it too)."""
        if sees_everything(user):
            return self
        memberships = Membership.objects.of(user)
        visible_stores = Store.objects.visible_to(user).values("pk")
        through = self.model.stores.through.objects
        return self.filter(
            Q(organization_id__in=memberships.unscoped().values("organization_id"))
            | Q(organization_id__in=memberships.values("organization_id"), group__isnull=True, stores_given=False)
            | Q(group_id__in=memberships.scoped_group_ids())
            | Q(pk__in=through.filter(store_id__in=visible_stores).values("closure_id"))
        )


class Closure(models.Model):
    """A period in which stores are not expected to be open (docs/semantics.md,
    section 7): removed from their business hours before anything is measured.

    It covers the stores listed, or the stores of a group, or every store of
    its organization (read when a report or the dashboard is computed, so a
    store added later is covered too). Its period is local (read in each
    store's zone; `start_local`/`end_local`, end exclusive, `whole_days` when
    given as dates) or two instants (`start_at`/`end_at`).
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="closures")
    stores = models.ManyToManyField(Store, blank=True, related_name="closures")
    # Whether it lists its stores (a list whose stores were all deleted covers nothing, not everything).
    stores_given = models.BooleanField(default=False)
    group = models.ForeignKey(
        "accounts.StoreGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="closures"
    )
    # YYYY-MM-DDTHH:MM:SS local wall time, for the local forms.
    start_local = models.CharField(max_length=19, blank=True)
    end_local = models.CharField(max_length=19, blank=True)
    whole_days = models.BooleanField(default=False)
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    every_year = models.BooleanField(default=False)
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Who changed what, when, before and after: the admin's history page.
    history = HistoricalRecords()

    objects = ClosureQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(start_at__isnull=True, end_at__isnull=True) & ~Q(start_local="") & ~Q(end_local="")
                    | Q(start_at__isnull=False, end_at__isnull=False, start_local="", end_local="", every_year=False)
                ),
                name="closure_local_or_instants",
            ),
        ]

    @property
    def is_local(self) -> bool:
        return self.start_at is None

    def __str__(self) -> str:
        return f"{self.reason} ({self.period_text})"

    @property
    def period_text(self) -> str:
        """The period as given: dates (end inclusive), local times, or UTC instants."""
        if not self.is_local:
            return f"{self.start_at:%Y-%m-%dT%H:%M:%SZ} – {self.end_at:%Y-%m-%dT%H:%M:%SZ}"
        if self.whole_days:
            last = dt.date.fromisoformat(self.end_local[:10]) - dt.timedelta(days=1)
            text = self.start_local[:10] if last.isoformat() == self.start_local[:10] else f"{self.start_local[:10]} – {last}"
        else:
            text = f"{self.start_local} – {self.end_local} local"
        return f"{text}, every year" if self.every_year else text
