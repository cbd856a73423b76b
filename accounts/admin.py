"""The admin of accounts: superusers make an account an owner and give it a
token; every staff account sees and replaces its own API tokens; an
organization's admins manage its members (role, groups, deactivation) and
groups, and every member sees their organizations. The login page says when
failed logins have locked a username or address out."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from common.admin import NotFoundOutsideQuerysetMixin
from common.ownership import sees_everything

from .login_limit import LimitedAdminAuthenticationForm
from .models import ApiToken, Membership, Organization, Role, StoreGroup
from .selectors import groups_visible_to, holds_role_somewhere, organization_role, organizations_of
from .services import (
    LastAdmin,
    MembersGroupMissing,
    OrganizationNameTaken,
    api_token_replace,
    api_token_rotate,
    member_add,
    membership_change,
    membership_remove,
    owner_grant,
)


User = get_user_model()
admin.site.unregister(User)

# The admin's login page (also the pages' LOGIN_URL) says when failed logins
# have locked a username or address out for a while (accounts.login_limit).
admin.site.login_form = LimitedAdminAuthenticationForm


@admin.register(User)
class OwnerUserAdmin(UserAdmin):
    actions = ["make_owner", "rotate_api_token"]

    @admin.action(
        description="Make owner (admin of an organization of their own) and show the API token", permissions=["make_owner"]
    )
    def make_owner(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            try:
                token = owner_grant(user=user)
            except MembersGroupMissing as exc:
                messages.error(request, str(exc))
                return
            except OrganizationNameTaken:
                messages.error(
                    request,
                    f"An organization named {user.get_username()!r} exists already: add {user.get_username()} "
                    "to it as a member instead (Members, or manage.py add_member).",
                )
                continue
            if token is None:
                messages.success(
                    request,
                    f"{user.get_username()} is an owner: an organization's admin. It keeps the API token it "
                    "has (stored hashed, so it cannot be shown: \"API tokens\" replaces it with a new one).",
                )
                continue
            messages.success(
                request,
                format_html(
                    "{} is an owner: an organization's admin. API token: <code>{}</code>. "
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

    list_display = ["prefix_display", "user", "read_only", "created_at", "last_used_at"]
    list_select_related = ["user"]
    fields = ["prefix_display", "user", "read_only", "created_at", "last_used_at"]
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


# --------------------------------------------------------------------------
# Organizations, groups and members: every member sees their organizations
# and the groups they see; an organization's admins change its groups and
# members. Rows outside answer 404 (NotFoundOutsideQuerysetMixin).
# --------------------------------------------------------------------------


def _is_admin_of(request: HttpRequest, organization_id: int | None) -> bool:
    if organization_id is None:
        return holds_role_somewhere(request.user, Role.ADMIN)
    return Role.includes(organization_role(request.user, organization_id), Role.ADMIN)


@admin.register(Organization)
class OrganizationAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    list_display = ["name", "alert_grace_minutes", "created_at"]
    search_fields = ["name"]
    fields = ["name", "alert_grace_minutes"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return organizations_of(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new organization comes with its first admin: manage.py create_owner, or "make owner" on a user.
        return sees_everything(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return super().has_change_permission(request, obj) and _is_admin_of(request, obj and obj.pk)

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return sees_everything(request.user)


@admin.register(StoreGroup)
class StoreGroupAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoreGroup]:
        return groups_visible_to(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: StoreGroup | None = None) -> list[str]:
        return ["organization"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "organization":
            kwargs["queryset"] = organizations_of(request.user, role=Role.ADMIN)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and _is_admin_of(request, None)

    def has_change_permission(self, request: HttpRequest, obj: StoreGroup | None = None) -> bool:
        return super().has_change_permission(request, obj) and _is_admin_of(request, obj and obj.organization_id)

    def has_delete_permission(self, request: HttpRequest, obj: StoreGroup | None = None) -> bool:
        return super().has_delete_permission(request, obj) and _is_admin_of(request, obj and obj.organization_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StoreGroup]) -> None:
        # Selected in bulk, groups are checked together: one may be an admin
        # of one organization and only see another's groups.
        if queryset.exclude(organization__in=organizations_of(request.user, role=Role.ADMIN)).exists():
            raise PermissionDenied
        super().delete_queryset(request, queryset)


class MembershipForm(forms.ModelForm):
    """A member by username (typed, not picked from every account there is),
    role, groups (the organization's), and whether the membership is active."""

    username = forms.CharField(max_length=150, help_text="An account's username; a new one is made if there is none.")

    class Meta:
        model = Membership
        fields = ["organization", "role", "groups", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["username"]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        strangers = [group.name for group in cleaned.get("groups") or [] if organization and group.organization_id != organization.pk]
        if strangers:
            self.add_error("groups", f"Not groups of {organization}: {', '.join(sorted(strangers))}.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(NotFoundOutsideQuerysetMixin, admin.ModelAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role", "groups_display", "is_active"]
    list_filter = ["role", "is_active", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username"]
    filter_horizontal = ["groups"]

    @admin.display(description="limited to groups")
    def groups_display(self, membership: Membership) -> str:
        names = [group.name for group in membership.groups.all()]
        return ", ".join(sorted(names)) if names and membership.role != Role.ADMIN else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return (
            super()
            .get_queryset(request)
            .filter(organization__in=organizations_of(request.user, role=Role.ADMIN))
            .prefetch_related("groups")
        )

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        if obj is None:
            return ["organization", "username", "role", "groups", "is_active"]
        return ["organization", "user", "role", "groups", "is_active"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return ["organization", "user"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "organization":
            kwargs["queryset"] = organizations_of(request.user, role=Role.ADMIN)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = groups_visible_to(request.user, role=Role.ADMIN).select_related("organization")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_view_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        # Members are an admin's business: the pages are not even listed for anyone else.
        return super().has_view_permission(request, obj) and _is_admin_of(request, obj and obj.organization_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and _is_admin_of(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_change_permission(request, obj) and _is_admin_of(request, obj and obj.organization_id)

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_delete_permission(request, obj) and _is_admin_of(request, obj and obj.organization_id)

    def save_model(self, request: HttpRequest, obj: Membership, form: MembershipForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            # Through the service: it keeps an organization from losing its last admin.
            try:
                membership_change(membership=obj, role=data["role"], is_active=data["is_active"])
            except LastAdmin as exc:
                messages.error(request, str(exc))
                obj.refresh_from_db()
            return
        membership, key = member_add(
            organization=data["organization"], username=data["username"], role=data["role"]
        )
        if not data["is_active"]:
            membership_change(membership=membership, is_active=False)
        obj.pk, obj._state.adding, obj._state.db = membership.pk, False, membership._state.db
        obj.user, obj.organization = membership.user, membership.organization
        if key is not None:
            messages.success(
                request,
                format_html(
                    "Made the account {} (no password yet: set one on its user page). API token: <code>{}</code>. "
                    "Copy it now: it is stored hashed and cannot be shown again.",
                    membership.user.get_username(),
                    key,
                ),
            )

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            membership_remove(membership=obj)
        except LastAdmin as exc:
            messages.error(request, str(exc))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset:
            self.delete_model(request, membership)
