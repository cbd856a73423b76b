"""Reads about notification channels for pages: which failing channels a user
should hear of, with what went wrong last. The access rule is the
organizations' (accounts.selectors.organizations_of); nothing is restated here."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import BooleanField, Exists, OuterRef, QuerySet, Subquery, Value

from accounts.models import Role
from accounts.selectors import organizations_of
from common.ownership import sees_everything

from .models import Channel, NotificationAttempt


def channels_failing_for(user: Any, *, now: dt.datetime) -> QuerySet[Channel]:
    """The active channels whose every attempt has failed for FAILING_AFTER or
    longer (ChannelQuerySet.failing), of the organizations the user is a member
    of with any role (every one for a superuser): a viewer too should know that
    alerts are not getting out. Longest failing first, organization loaded.

    Each channel carries `last_error` (its latest failed attempt's, None when
    it has none) and `user_is_admin` (whether the user may open it in the
    admin). One query for them all, whatever their number.
    """
    # The latest failed attempt of the channel: since failing_since every attempt
    # failed, so this is what is going wrong now.
    latest_failure = (
        NotificationAttempt.objects.filter(notification__channel=OuterRef("pk"), delivered=False)
        .order_by("-at", "-pk")
    )
    if sees_everything(user):
        # Every organization: no membership to look up.
        channels = Channel.objects.all()
        is_admin: Any = Value(True, output_field=BooleanField())
    else:
        channels = Channel.objects.filter(organization__in=organizations_of(user))
        # As the channel admin's queryset: admins of the channel's organization.
        is_admin = Exists(organizations_of(user, role=Role.ADMIN).filter(pk=OuterRef("organization_id")))
    return (
        channels.failing(now=now)
        .filter(is_active=True)
        .annotate(
            last_error=Subquery(latest_failure.values("error")[:1]),
            user_is_admin=is_admin,
        )
        .select_related("organization")
        .order_by("failing_since", "organization__name", "name", "pk")
    )
