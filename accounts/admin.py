"""The admin of accounts: superusers make an account an owner and give it a
token; every staff account sees and replaces its own API tokens. The login
page says when failed logins have locked a username or address out."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from common.admin import NotFoundOutsideQuerysetMixin
from common.ownership import sees_everything

from .login_limit import LimitedAdminAuthenticationForm
from .models import ApiToken
from .services import OwnersGroupMissing, api_token_replace, api_token_rotate, owner_grant


User = get_user_model()
admin.site.unregister(User)

# The admin's login page (also the pages' LOGIN_URL) says when failed logins
# have locked a username or address out for a while (accounts.login_limit).
admin.site.login_form = LimitedAdminAuthenticationForm


@admin.register(User)
class OwnerUserAdmin(UserAdmin):
    actions = ["make_owner", "rotate_api_token"]

    @admin.action(
        description="Make owner (staff + owners group) and show the API token", permissions=["make_owner"]
    )
    def make_owner(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            try:
                token = owner_grant(user=user)
            except OwnersGroupMissing as exc:
                messages.error(request, str(exc))
                return
            if token is None:
                messages.success(
                    request,
                    f"{user.get_username()} is an owner: staff, in the owners group. It keeps the API token it "
                    "has (stored hashed, so it cannot be shown: \"API tokens\" replaces it with a new one).",
                )
                continue
            messages.success(
                request,
                format_html(
                    "{} is an owner: staff, in the owners group. API token: <code>{}</code>. "
                    "Copy it now: it is stored hashed and cannot be shown again.",
                    user.get_username(),
                    token,
                ),
            )

    @admin.action(
        description="Give a new API token (the user's previous tokens stop working)", permissions=["make_owner"]
    )
    def rotate_api_token(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            key = api_token_rotate(user=user)
            messages.success(
                request,
                format_html(
                    "New API token for {}: <code>{}</code>. Copy it now: it is stored hashed and cannot be "
                    "shown again.",
                    user.get_username(),
                    key,
                ),
            )

    def has_make_owner_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


# --------------------------------------------------------------------------
# API tokens: every staff account sees and replaces its own (superusers,
# everyone's); keys are stored hashed, so a new key is shown once, here.
# --------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    """Not by the model permissions (the owners group has none on tokens, see
    migration 0002): a staff account may always see, replace and delete its
    own tokens, and nobody adds or edits one here (a key is made, never typed)."""

    list_display = ["prefix_display", "user", "created_at", "last_used_at"]
    list_select_related = ["user"]
    fields = ["prefix_display", "user", "created_at", "last_used_at"]
    readonly_fields = fields
    actions = ["replace_tokens"]

    @admin.display(description="key starts with")
    def prefix_display(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request)
        return tokens if sees_everything(request.user) else tokens.filter(user=request.user)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if sees_everything(request.user):
            return self.list_display
        return [name for name in self.list_display if name != "user"]

    def _own(self, request: HttpRequest, obj: ApiToken | None) -> bool:
        return request.user.is_active and request.user.is_staff and (
            obj is None or sees_everything(request.user) or obj.user_id == request.user.pk
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own(request, None)

    def has_view_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self._own(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self._own(request, obj)

    def has_replace_permission(self, request: HttpRequest) -> bool:
        return self._own(request, None)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.action(description="Replace the selected tokens with new ones (the old keys stop working)", permissions=["replace"])
    def replace_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        # The changelist's queryset is already limited to the user's own tokens.
        for token in queryset.select_related("user"):
            key = api_token_replace(token=token)
            messages.success(
                request,
                format_html(
                    "New API token for {}: <code>{}</code>. Copy it now: it is stored hashed and cannot be "
                    "shown again. The token starting with {}… no longer works.",
                    token.user.get_username(),
                    key,
                    token.prefix,
                ),
            )
