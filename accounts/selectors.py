"""Reads about organizations: whose member a user is, with which role, and
which groups they see. The store-level rule built on these is
stores.models.StoreQuerySet.visible_to (stores.access for one store)."""
from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from rest_framework import status

from common.errors import Refusal
from common.ownership import is_account, sees_everything

from .models import Membership, Organization, Role, StoreGroup


class RoleTooLow(Refusal):
    """The user sees the thing, but their role there does not allow the action."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "role_too_low"

    def __init__(self, needed: Role | str, where: str = "the store's organization") -> None:
        super().__init__(f"This needs the {Role(needed).label} role or higher in {where}.")
        self.needed = Role(needed)


class UnknownOrganization(Refusal):
    code = "unknown_organization"

    def __init__(self, name: str) -> None:
        super().__init__(f"You are not a member of an organization named {name!r}.")


class OrganizationRequired(Refusal):
    code = "organization_required"

    def __init__(self, message: str = 'More than one of your organizations fits: say which one with "organization".') -> None:
        super().__init__(message)


class UnknownGroup(Refusal):
    code = "unknown_group"

    def __init__(self, names: list[str]) -> None:
        listed = ", ".join(repr(name) for name in names)
        super().__init__(f"No group you may use is named {listed}.")


def memberships_of(user: Any, *, role: Role | str = Role.VIEWER) -> QuerySet[Membership]:
    """The user's active memberships with at least `role`."""
    return Membership.objects.of(user, role=role)


def organizations_of(user: Any, *, role: Role | str = Role.VIEWER) -> QuerySet[Organization]:
    """Organizations in which the user has at least `role`; every one for a superuser."""
    if sees_everything(user):
        return Organization.objects.all()
    return Organization.objects.filter(pk__in=memberships_of(user, role=role).values("organization_id"))


def holds_role_somewhere(user: Any, role: Role | str) -> bool:
    """Whether the user holds at least `role` in some organization (a
    superuser: always). The roles are read once and remembered on the user
    object, which lives for one request: the admin asks this of every model
    on every page."""
    if sees_everything(user):
        return True
    if not is_account(user):
        return False
    held = user.__dict__.get("_store_monitor_roles")
    if held is None:
        held = set(memberships_of(user).order_by().values_list("role", flat=True).distinct())
        user.__dict__["_store_monitor_roles"] = held
    return bool(held & set(Role.at_least(role)))


def organization_role(user: Any, organization: Organization | int) -> Role | None:
    """The user's role in an organization (admin for a superuser), None when not an active member."""
    if sees_everything(user):
        return Role.ADMIN
    organization_id = getattr(organization, "pk", organization)
    role = memberships_of(user).filter(organization_id=organization_id).values_list("role", flat=True).first()
    return Role(role) if role else None


def groups_visible_to(user: Any, *, role: Role | str = Role.VIEWER) -> QuerySet[StoreGroup]:
    """Groups the user sees: every group of an organization they see whole,
    and their own groups where their membership is limited to some."""
    if sees_everything(user):
        return StoreGroup.objects.all()
    memberships = memberships_of(user, role=role)
    return StoreGroup.objects.filter(
        Q(organization_id__in=memberships.unscoped().values("organization_id"))
        | Q(pk__in=memberships.scoped_group_ids())
    )


def roles_summary(user: Any) -> list[tuple[str, str]]:
    """(organization name, role) for each of the user's organizations, by name: for page headers."""
    if sees_everything(user):
        return [("every organization", "superuser")]
    return list(
        memberships_of(user).order_by("organization__name").values_list("organization__name", "role")
    )


def organization_for(user: Any, name: str | None, *, role: Role | str) -> Organization:
    """The organization an action names (by `name`), or the user's only one
    where they hold `role`. UnknownOrganization for a name the user is not a
    member of (whether it exists or not), RoleTooLow where their role is
    lower, OrganizationRequired when no name is given and several fit."""
    if name is not None:
        organization = organizations_of(user).filter(name=name).first()
        if organization is None:
            raise UnknownOrganization(name)
        if not Role.includes(organization_role(user, organization), role):
            raise RoleTooLow(role, where=repr(organization.name))
        return organization
    fitting = list(organizations_of(user, role=role).order_by("pk")[:2])
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        raise OrganizationRequired()
    if sees_everything(user):
        # A superuser fits every organization: here there is none yet.
        raise OrganizationRequired("There is no organization yet: make one first (manage.py create_owner).")
    raise RoleTooLow(role, where="any of your organizations")


def groups_named(user: Any, organization: Organization, names: list[str], *, role: Role | str) -> list[StoreGroup]:
    """The organization's groups with these names that the user may use with
    `role` (their own where their membership is limited); UnknownGroup naming
    any other."""
    names = list(dict.fromkeys(names))
    found = list(groups_visible_to(user, role=role).filter(organization=organization, name__in=names))
    missing = sorted(set(names) - {group.name for group in found})
    if missing:
        raise UnknownGroup(missing)
    return found


def limiting_groups(user: Any, organization: Organization | int, *, role: Role | str) -> list[StoreGroup] | None:
    """The groups the user's membership with `role` in the organization is
    limited to, or None when it is not limited (an admin, an unlimited member,
    a superuser)."""
    if sees_everything(user):
        return None
    membership = memberships_of(user, role=role).filter(organization=organization).first()
    if membership is None or membership.role == Role.ADMIN:
        return None
    return list(membership.groups.all()) or None


def group_for(user: Any, name: str, *, organization: Organization | None = None) -> StoreGroup:
    """The group an action names among those the user sees (in `organization`
    when given); UnknownGroup when there is none, OrganizationRequired when
    groups of that name are in several of the user's organizations."""
    groups = groups_visible_to(user).filter(name=name)
    if organization is not None:
        groups = groups.filter(organization=organization)
    found = list(groups.select_related("organization")[:2])
    if not found:
        raise UnknownGroup([name])
    if len(found) > 1:
        raise OrganizationRequired()
    return found[0]
