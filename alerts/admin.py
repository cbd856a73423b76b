"""The admin of notifications: an organization's admins see its channels,
send a test to them, turn them off and on and remove them, and see
every notification with each of its attempts (read-only). Channels are
added through the API (/api/channels/), which checks their URLs. Rows of
other organizations answer 404 (NotFoundOutsideQuerysetMixin)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Role
from accounts.selectors import holds_role_somewhere, organizations_of
from common.admin import NotFoundOutsideQuerysetMixin

from .models import Channel, ChannelKind, Notification, NotificationAttempt
from .notifications import apprise_url_shown, channel_test_send


class _OrganizationAdmins:
    """Not by model permissions (no group holds any on these models): an
    organization's admins manage its channels, whatever else they may do."""

    def _admin_somewhere(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and holds_role_somewhere(request.user, Role.ADMIN)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._admin_somewhere(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._admin_somewhere(request)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(_OrganizationAdmins, NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    list_display = ["name", "organization", "kind", "target", "is_active", "failing", "last_delivered_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    fields = ["organization", "name", "kind", "group_names", "target", "is_active", "failing_since", "last_delivered_at", "created_by", "created_at"]
    # Only is_active is changed here; a channel is made (its URL checked) through the API.
    readonly_fields = ["organization", "name", "kind", "group_names", "target", "failing_since", "last_delivered_at", "created_by", "created_at"]
    actions = ["send_test"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Channel]:
        return (
            super()
            .get_queryset(request)
            .filter(organization__in=organizations_of(request.user, role=Role.ADMIN))
            .select_related("organization", "created_by")
            .prefetch_related("groups")
        )

    def has_change_permission(self, request: HttpRequest, obj: Channel | None = None) -> bool:
        return self._admin_somewhere(request)

    def has_delete_permission(self, request: HttpRequest, obj: Channel | None = None) -> bool:
        return self._admin_somewhere(request)

    def has_send_test_permission(self, request: HttpRequest) -> bool:
        return self._admin_somewhere(request)

    @admin.display(description="sends to")
    def target(self, channel: Channel) -> str:
        # Never the secret; an Apprise URL with its tokens masked.
        if channel.kind == ChannelKind.EMAIL:
            return ", ".join(channel.addresses)
        return apprise_url_shown(channel.url) if channel.kind == ChannelKind.APPRISE else channel.url

    @admin.display(description="groups")
    def group_names(self, channel: Channel) -> str:
        return ", ".join(sorted(group.name for group in channel.groups.all())) or "every store"

    @admin.display(description="failing 24 h", boolean=True)
    def failing(self, channel: Channel) -> bool:
        return channel.is_failing

    @admin.action(description="Send a test notification", permissions=["send_test"])
    def send_test(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        # The changelist's queryset is already limited to the user's organizations.
        for channel in queryset.select_related("organization"):
            notification = channel_test_send(channel=channel)
            notification.refresh_from_db()
            messages.info(
                request,
                f"Test sent to {channel.name}: {notification.status}"
                + (f" ({notification.last_error})" if notification.last_error else "")
                + ". Its attempts are under Notifications.",
            )


class NotificationAttemptInline(admin.TabularInline):
    model = NotificationAttempt
    fields = ["at", "duration_ms", "status_code", "delivered", "permanent", "error", "answer"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return True


@admin.register(Notification)
class NotificationAdmin(_OrganizationAdmins, NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    list_display = ["created_at", "event", "channel", "store", "status", "attempts", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "event", "channel__kind"]
    search_fields = ["store__store_id", "channel__name", "delivery_id"]
    fields = [
        "delivery_id",
        "channel",
        "event",
        "store",
        "incident",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "created_at",
        "payload",
    ]
    readonly_fields = fields
    inlines = [NotificationAttemptInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        return (
            super()
            .get_queryset(request)
            .filter(channel__organization__in=organizations_of(request.user, role=Role.ADMIN))
            .select_related("channel", "store", "incident")
        )

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False
