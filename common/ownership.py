"""Who may see a row that belongs to one user (a report, a token): that user,
or a superuser. The one rule, for querysets (OwnedQuerySet.visible_to) and
for a row already in hand (is_visible_to). Stores belong to organizations
instead: their rule is stores.access."""
from __future__ import annotations

from typing import Any, ClassVar

from django.db import models


def sees_everything(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False))


def is_account(user: Any) -> bool:
    """A logged-in user account (not an anonymous user, not a device)."""
    return bool(getattr(user, "is_authenticated", False)) and getattr(user, "pk", None) is not None


class OwnedQuerySet(models.QuerySet):
    """Rows owned by a user through `owner_field` (a foreign key to the user)."""

    owner_field: ClassVar[str] = "owner"

    def visible_to(self, user: Any) -> OwnedQuerySet:
        """Rows a user may see: their own, or all of them for a superuser."""
        if sees_everything(user):
            return self
        if not is_account(user):
            return self.none()
        return self.filter(**{self.owner_field: user})


def is_visible_to(obj: models.Model, user: Any) -> bool:
    """visible_to's rule for one row: the owner of `obj` (by its queryset's owner_field) or a superuser."""
    if sees_everything(user):
        return True
    owner_field = type(obj)._default_manager.get_queryset().owner_field
    return is_account(user) and getattr(obj, f"{owner_field}_id") == user.pk
