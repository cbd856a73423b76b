"""The access rule (StoreQuerySet.visible_to) for one store in hand: which
role a user has over it. Outside a user's organizations and groups a store
does not exist for them (404); inside, a role too low for the action is
RoleTooLow (403, code role_too_low)."""
from __future__ import annotations

from typing import Any

from accounts.models import Role
from accounts.selectors import RoleTooLow, organization_role
from common.ownership import sees_everything

from .models import Store


def store_role(user: Any, store: Store) -> Role | None:
    """The user's role over the store: admin for a superuser, None when they may not see it."""
    if sees_everything(user):
        return Role.ADMIN
    role = organization_role(user, store.organization_id)
    if role is None or not Store.objects.filter(pk=store.pk).visible_to(user).exists():
        return None
    return role


def store_role_require(user: Any, store: Store, role: Role | str) -> None:
    """RoleTooLow unless the user's role over a store they see includes `role`."""
    if not Role.includes(store_role(user, store), role):
        raise RoleTooLow(role)
