"""The access rule (StoreQuerySet.visible_to) for one store in hand: which
role a user has over it. Outside a user's organizations and groups a store
does not exist for them (404); inside, a role too low for the action is
RoleTooLow (403, code role_too_low)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts.models import Role
from accounts.selectors import RoleTooLow, groups_visible_to, limiting_groups, organization_role
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


def closure_target_manageable(user: Any, *, organization_id: int, stores: Iterable[Store], group_id: int | None) -> bool:
    """Whether the user may write a closure of these stores (listed), or of a
    group's stores, or (neither) of every store of the organization: as a
    manager of all it covers. The API's creation says which part fails
    (stores.closure_api_views._target); changing, deleting and the admin ask this."""
    if sees_everything(user):
        return True
    stores = list(stores)
    if stores:
        manageable = Store.objects.visible_to(user, role=Role.MANAGER).filter(pk__in=[store.pk for store in stores])
        return manageable.count() == len({store.pk for store in stores})
    if group_id is not None:
        return groups_visible_to(user, role=Role.MANAGER).filter(pk=group_id).exists()
    return Role.includes(organization_role(user, organization_id), Role.MANAGER) and (
        limiting_groups(user, organization_id, role=Role.MANAGER) is None
    )


def closure_manage_require(user: Any, closure: Any) -> None:
    """RoleTooLow unless the user may change or delete this closure (stores.models.Closure)."""
    stores = closure.stores.all() if closure.stores_given else ()
    if not closure_target_manageable(user, organization_id=closure.organization_id, stores=stores, group_id=closure.group_id):
        raise RoleTooLow(Role.MANAGER, where="the organization of every store the closure covers")
