"""Accounts: owners (staff accounts in the owners group, which see only their
own stores) and their API tokens, stored as hashes: the plain key exists
only in the answer of the call that makes it."""
from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, transaction

from .models import ApiToken
from .secrets import new_secret

# Created, with its permissions, by migration stores.0002_owners_group.
OWNERS_GROUP = "owners"
# Characters of the key kept in clear, to tell tokens apart in the admin.
API_TOKEN_PREFIX_LENGTH = 8


class UsernameTaken(Exception):
    """An account with this username exists already."""


class OwnersGroupMissing(Exception):
    """The owners group is not in the database: the migrations have not been applied."""


# --------------------------------------------------------------------------


def _owners_group() -> Group:
    try:
        return Group.objects.get(name=OWNERS_GROUP)
    except Group.DoesNotExist:
        raise OwnersGroupMissing(
            f"There is no {OWNERS_GROUP!r} group; apply the migrations (manage.py migrate)."
        ) from None


def owner_grant(*, user: AbstractBaseUser) -> str | None:
    """Make an account an owner: staff (to log into the admin), in the owners
    group, with an API token. Returns the new token's key, or None when the
    account has a token already: it keeps it (only its hash is stored, so it
    cannot be shown), and its API clients go on working."""
    group = _owners_group()
    with transaction.atomic():
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
        if ApiToken.objects.filter(user=user).exists():
            return None
        return api_token_create(user=user)


def owner_create(*, username: str, password: str, email: str = "") -> tuple[AbstractBaseUser, str]:
    """A new owner account (staff, not a superuser, in the owners group) and its API token key.

    Raises UsernameTaken, OwnersGroupMissing, or Django's ValidationError for a
    username or password the validators refuse.
    """
    user_model = get_user_model()
    username = user_model.normalize_username(username)
    username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    # create_user() runs no validators: run the ones the admin's forms would.
    username_field.clean(username, None)
    group = _owners_group()
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise UsernameTaken(username)
    password_validation.validate_password(
        password, user=user_model(**{user_model.USERNAME_FIELD: username}, email=email)
    )
    try:
        with transaction.atomic():
            user = user_model._default_manager.create_user(
                **{user_model.USERNAME_FIELD: username}, email=email, password=password, is_staff=True
            )
            user.groups.add(group)
            key = api_token_create(user=user)
    except IntegrityError:
        # Another process created the same username since the check above.
        raise UsernameTaken(username) from None
    return user, key


def api_token_create(*, user: AbstractBaseUser) -> str:
    """A new token for the user, beside any they have; returns its key (not stored)."""
    key, key_hash = new_secret()
    ApiToken.objects.create(user=user, prefix=key[:API_TOKEN_PREFIX_LENGTH], key_hash=key_hash)
    return key


def api_token_rotate(*, user: AbstractBaseUser) -> str:
    """Replace all the user's tokens with a new one; the old ones stop working
    at once. Returns the new key (not stored)."""
    with transaction.atomic():
        ApiToken.objects.filter(user=user).delete()
        return api_token_create(user=user)


def api_token_replace(*, token: ApiToken) -> str:
    """Replace one token with a new one for the same user (the user's other
    tokens are left alone). Returns the new key (not stored)."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).delete()
        return api_token_create(user=token.user)
