"""Accounts: organizations and their members (staff accounts in the members
group, each with a role per organization), groups of stores, and API tokens,
stored as hashes: the plain key exists only in the answer of the call that
makes it."""
from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, transaction
from rest_framework import status

from common.errors import Refusal

from .models import ApiToken, Membership, Organization, Role, StoreGroup
from .secrets import new_secret

# Made by migration accounts.0003_members_group (it was "owners" before organizations).
MEMBERS_GROUP = "members"
# Characters of the key kept in clear, to tell tokens apart in the admin.
API_TOKEN_PREFIX_LENGTH = 8


class UsernameTaken(Exception):
    """An account with this username exists already."""


class OrganizationNameTaken(Exception):
    """An organization with this name exists already."""


class GroupNameTaken(Refusal):
    """The organization has a group of this name already."""

    status_code = status.HTTP_409_CONFLICT
    code = "group_name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"The organization has a group named {name!r} already.")


class MembersGroupMissing(Exception):
    """The members group is not in the database: the migrations have not been applied."""


class LastAdmin(Refusal):
    """The change would leave an organization without an active admin."""

    status_code = status.HTTP_409_CONFLICT
    code = "last_admin"


class GroupsOutsideOrganization(Refusal):
    """Groups given for a membership or a store are not all the organization's."""

    code = "unknown_group"


# --------------------------------------------------------------------------


def _members_group() -> Group:
    try:
        return Group.objects.get(name=MEMBERS_GROUP)
    except Group.DoesNotExist:
        raise MembersGroupMissing(
            f"There is no {MEMBERS_GROUP!r} group; apply the migrations (manage.py migrate)."
        ) from None


def _admit(user: AbstractBaseUser) -> None:
    """Staff (to log into the admin) and in the members group (to open its store pages)."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(_members_group())


def _new_account(*, username: str, password: str | None, email: str = "") -> AbstractBaseUser:
    """A staff account after the validators the admin's forms would run (create_user runs none).
    Without a password the account cannot log in to the pages; its token still works."""
    user_model = get_user_model()
    username = user_model.normalize_username(username)
    user_model._meta.get_field(user_model.USERNAME_FIELD).clean(username, None)
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise UsernameTaken(username)
    if password is not None:
        password_validation.validate_password(
            password, user=user_model(**{user_model.USERNAME_FIELD: username}, email=email)
        )
    try:
        with transaction.atomic():
            return user_model._default_manager.create_user(
                **{user_model.USERNAME_FIELD: username}, email=email, password=password, is_staff=True
            )
    except IntegrityError:
        # Another process created the same username since the check above.
        raise UsernameTaken(username) from None


def organization_create(*, name: str, admin: AbstractBaseUser) -> Organization:
    """A new organization with `admin` as its first admin; OrganizationNameTaken if the name is used."""
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name)
            Membership.objects.create(organization=organization, user=admin, role=Role.ADMIN)
            _admit(admin)
    except IntegrityError:
        raise OrganizationNameTaken(name) from None
    return organization


def owner_grant(*, user: AbstractBaseUser) -> str | None:
    """Make an account an owner: admin of an organization of its own (named
    after it, made unless it is a member somewhere already), staff, in the
    members group, with an API token. Returns the new token's key, or None
    when the account has a token already: it keeps it (only its hash is
    stored, so it cannot be shown), and its API clients go on working."""
    _members_group()
    with transaction.atomic():
        if not Membership.objects.filter(user=user).exists():
            organization_create(name=user.get_username(), admin=user)
        _admit(user)
        if ApiToken.objects.filter(user=user).exists():
            return None
        return api_token_create(user=user)


def owner_create(*, username: str, password: str, email: str = "") -> tuple[AbstractBaseUser, str]:
    """A new owner: an account (staff, not a superuser) that is the admin of a
    new organization of the same name, and its API token key.

    Raises UsernameTaken, OrganizationNameTaken, MembersGroupMissing, or
    Django's ValidationError for a username or password the validators refuse.
    """
    _members_group()
    user_model = get_user_model()
    username = user_model.normalize_username(username)
    # The account is the thing asked for: a taken username is said first.
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise UsernameTaken(username)
    if Organization.objects.filter(name=username).exists():
        raise OrganizationNameTaken(username)
    with transaction.atomic():
        user = _new_account(username=username, password=password, email=email)
        organization_create(name=user.get_username(), admin=user)
        key = api_token_create(user=user)
    return user, key


def _check_groups(organization: Organization, groups: Iterable[StoreGroup]) -> list[StoreGroup]:
    groups = list(groups)
    strangers = [group.name for group in groups if group.organization_id != organization.pk]
    if strangers:
        raise GroupsOutsideOrganization(f"Not groups of {organization.name}: {', '.join(sorted(strangers))}.")
    return groups


def member_add(
    *,
    organization: Organization,
    username: str,
    role: Role | str,
    groups: Iterable[StoreGroup] = (),
    password: str | None = None,
    email: str = "",
    read_only_token: bool = False,
) -> tuple[Membership, str | None]:
    """Make `username` a member (creating the account if there is none) or
    change an existing member's role and groups. Returns the membership and
    a new API token's key when the account was created here, else None (an
    existing account keeps its tokens)."""
    user_model = get_user_model()
    groups = _check_groups(organization, groups)
    _members_group()
    with transaction.atomic():
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        key = None
        if user is None:
            user = _new_account(username=username, password=password, email=email)
            key = api_token_create(user=user, read_only=read_only_token)
        membership, _ = Membership.objects.get_or_create(
            organization=organization, user=user, defaults={"role": role}
        )
        membership_change(membership=membership, role=role, groups=groups, is_active=True)
        _admit(user)
    return membership, key


def membership_change(
    *,
    membership: Membership,
    role: Role | str | None = None,
    groups: Iterable[StoreGroup] | None = None,
    is_active: bool | None = None,
) -> Membership:
    """Change a member's role, groups or activity; LastAdmin if the
    organization would be left without an active admin."""
    with transaction.atomic():
        # The organization's admins are locked, so two changes at once cannot each remove "the other" admin.
        admins = list(
            Membership.objects.select_for_update()
            .filter(organization_id=membership.organization_id, role=Role.ADMIN, is_active=True)
            .values_list("pk", flat=True)
        )
        if role is not None:
            membership.role = Role(role)
        if is_active is not None:
            membership.is_active = is_active
        stays_admin = membership.role == Role.ADMIN and membership.is_active
        if not stays_admin and admins == [membership.pk]:
            raise LastAdmin(f"{membership.user} is the last admin of {membership.organization}.")
        membership.save()
        if groups is not None:
            membership.groups.set(_check_groups(membership.organization, groups))
    return membership


def membership_remove(*, membership: Membership) -> None:
    """Take a member out of the organization; LastAdmin for its last active admin."""
    with transaction.atomic():
        admins = list(
            Membership.objects.select_for_update()
            .filter(organization_id=membership.organization_id, role=Role.ADMIN, is_active=True)
            .values_list("pk", flat=True)
        )
        if admins == [membership.pk]:
            raise LastAdmin(f"{membership.user} is the last admin of {membership.organization}.")
        membership.delete()


def group_create(*, organization: Organization, name: str) -> StoreGroup:
    try:
        with transaction.atomic():
            return StoreGroup.objects.create(organization=organization, name=name)
    except IntegrityError:
        raise GroupNameTaken(name) from None


def group_rename(*, group: StoreGroup, name: str) -> StoreGroup:
    group.name = name
    try:
        with transaction.atomic():
            group.save(update_fields=["name"])
    except IntegrityError:
        raise GroupNameTaken(name) from None
    return group


# --------------------------------------------------------------------------


def api_token_create(*, user: AbstractBaseUser, read_only: bool = False) -> str:
    """A new token for the user, beside any they have; returns its key (not stored)."""
    key, key_hash = new_secret()
    ApiToken.objects.create(
        user=user, prefix=key[:API_TOKEN_PREFIX_LENGTH], key_hash=key_hash, read_only=read_only
    )
    return key


def api_token_rotate(*, user: AbstractBaseUser) -> str:
    """Replace all the user's tokens with a new one; the old ones stop working
    at once. The new one is read-only when all the old ones were. Returns the
    new key (not stored)."""
    with transaction.atomic():
        tokens = ApiToken.objects.select_for_update().filter(user=user)
        read_only = tokens.exists() and not tokens.filter(read_only=False).exists()
        tokens.delete()
        return api_token_create(user=user, read_only=read_only)


def api_token_replace(*, token: ApiToken) -> str:
    """Replace one token with a new one for the same user (the user's other
    tokens are left alone; a read-only token's replacement is read-only).
    Returns the new key (not stored)."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).delete()
        return api_token_create(user=token.user, read_only=token.read_only)
