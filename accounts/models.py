"""Accounts' own data: organizations (a chain), their members with a role,
their groups of stores (regions, brands, districts), and API tokens. Users are
Django's auth users. Who may see and change what is decided from these rows
by stores.access (stores) and accounts.selectors (organizations)."""
from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from common.ownership import is_account


# A grace period longer than a day would hide whole days of trouble.
ALERT_GRACE_MAX_MINUTES = 24 * 60


class Role(models.TextChoices):
    """A member's role in an organization; each one can do what the one before can."""

    VIEWER = "viewer", "viewer"
    MANAGER = "manager", "manager"
    ADMIN = "admin", "admin"

    @classmethod
    def at_least(cls, role: Role | str) -> list[str]:
        """The roles that include `role`'s powers: at_least(MANAGER) is [manager, admin]."""
        order = list(cls.values)
        return order[order.index(role) :]

    @classmethod
    def includes(cls, held: Role | str | None, wanted: Role | str) -> bool:
        """Whether a member with role `held` (None: not a member) may do what `wanted` may."""
        return held is not None and held in cls.at_least(wanted)


class Organization(models.Model):
    """A chain: it owns stores, groups and alert channels; people reach them as members."""

    name = models.CharField(max_length=150, unique=True)
    # Its stores' incidents open after this much trouble (alerts); empty: the
    # server's MONITOR_ALERT_GRACE_MINUTES. A store may override it.
    alert_grace_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(ALERT_GRACE_MAX_MINUTES)],
        help_text="Minutes a store must be in trouble before an incident opens; empty: the server's default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StoreGroup(models.Model):
    """An organization's named set of stores (a region, a brand, a district);
    a store may be in several (stores.Store.groups)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization_id", "name"]
        verbose_name = "group"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="group_name_unique_in_organization"),
        ]

    def __str__(self) -> str:
        return self.name


class MembershipScope(NamedTuple):
    """The stores some memberships see: every store of `organization_ids`,
    and the stores of `group_ids` (MembershipQuerySet.scope)."""

    organization_ids: frozenset[int]
    group_ids: frozenset[int]


class MembershipQuerySet(models.QuerySet):
    def of(self, user: Any, *, role: Role | str = Role.VIEWER) -> MembershipQuerySet:
        """The user's active memberships with at least `role`; none for a device or an anonymous user."""
        if not is_account(user):
            return self.none()
        return self.filter(user_id=user.pk, is_active=True, role__in=Role.at_least(role))

    def unscoped(self) -> MembershipQuerySet:
        """Those that see their whole organization: admins, and members limited to no group."""
        return self.filter(Q(role=Role.ADMIN) | Q(groups__isnull=True))

    def scope(self) -> MembershipScope:
        """What these memberships see, read in one query: the organizations
        seen whole and the groups of the limited ones, as ids. Callers filter
        with the ids themselves, so the database plans with its statistics
        (a subquery's rows it can only guess)."""
        organizations: set[int] = set()
        groups: set[int] = set()
        # One row per membership and group (the group None for a membership limited to none).
        for organization_id, role, group_id in self.values_list("organization_id", "role", "groups"):
            if role == Role.ADMIN or group_id is None:
                organizations.add(organization_id)
            else:
                groups.add(group_id)
        return MembershipScope(organization_ids=frozenset(organizations), group_ids=frozenset(groups))

    def scoped_group_ids(self) -> models.QuerySet:
        """The groups limiting those that are limited (a subquery of group ids)."""
        return Membership.groups.through.objects.filter(membership__in=self.exclude(role=Role.ADMIN)).values(
            "storegroup_id"
        )


class Membership(models.Model):
    """A user's place in an organization: one role; a viewer's or manager's
    membership limited to some groups sees exactly their stores. An admin is
    never limited (groups are ignored for one)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.VIEWER)
    groups = models.ManyToManyField(
        StoreGroup,
        blank=True,
        related_name="memberships",
        help_text="Empty: every store of the organization. Ignored for an admin.",
    )
    # Deactivated rather than deleted, so an admin can take someone off for a while.
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["organization_id", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_organization"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiToken(models.Model):
    """A user's API key (`Authorization: Token <key>`), stored as its SHA-256
    only: the plain key is shown once, when it is made, and never again.

    The key is random and long (256 bits; 160 for keys converted from DRF's
    authtoken table), so a fast unsalted hash is enough, and a request finds
    its token by an indexed lookup on the hash, as device keys do.

    A token acts as its user, with the user's roles; a read-only token is
    refused anything but GET, HEAD and OPTIONS (accounts.permissions).
    """

    # A user may hold several (one per client); rotating replaces them all.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # The key's first characters: not enough to use it, enough to tell it apart.
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most every few minutes (accounts.authentication.TOKEN_LAST_USED_EVERY), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table it had in the stores app: moved without copying a row (migration accounts.0001).
        db_table = "stores_apitoken"
        ordering = ["user_id", "created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}…{' (read-only)' if self.read_only else ''}"
