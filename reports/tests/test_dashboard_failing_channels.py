"""Failing notification channels on the dashboard: an active channel whose
every attempt has failed for 24 hours or longer is flagged above the open
incidents to every member of its organization (a viewer too: alerts are not
getting out), with its latest error; an admin of the organization gets links
to it in the admin. Not flagged: one failing for less, one that delivered
since, one turned off, another organization's. The flags cost the same
queries whatever their number."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership, Role
from alerts.models import Channel, ChannelKind, Notification, NotificationAttempt, NotificationEvent, NotificationStatus
from alerts.selectors import channels_failing_for
from stores.tests.factories import OrganizationFactory, StoreGroupFactory, UserFactory, member_account

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
NOW = dt.datetime(2024, 1, 8, 18, 0, tzinfo=UTC)


def channel_with_attempts(
    organization,
    name: str,
    *,
    failing_for: dt.timedelta | None,
    errors: tuple[str, ...] = ("HTTP 503",),
    kind: str = ChannelKind.WEBHOOK,
    delivered_last: bool = False,
    **fields,
) -> Channel:
    """A channel with one notification whose attempts failed with `errors`,
    an hour apart from `failing_for` ago (or from 30 hours ago when it is not
    failing); then, if asked, one delivered an hour ago (which clears failing_since)."""
    start = NOW - (failing_for or dt.timedelta(hours=30))
    channel = Channel.objects.create(
        organization=organization,
        name=name,
        kind=kind,
        url="https://hooks.example.com/ops" if kind != ChannelKind.EMAIL else "",
        addresses=["ops@example.com"] if kind == ChannelKind.EMAIL else [],
        failing_since=start if failing_for is not None else None,
        last_delivered_at=NOW - dt.timedelta(hours=1) if delivered_last else None,
        **fields,
    )
    notification = Notification.objects.create(
        channel=channel,
        event=NotificationEvent.OPENED,
        payload={},
        status=NotificationStatus.DELIVERED if delivered_last else NotificationStatus.PENDING,
        attempts=len(errors) + delivered_last,
        next_attempt_at=NOW,
        created_at=start,
    )
    for n, error in enumerate(errors):
        NotificationAttempt.objects.create(notification=notification, at=start + dt.timedelta(hours=n), error=error)
    if delivered_last:
        NotificationAttempt.objects.create(notification=notification, at=NOW - dt.timedelta(hours=1), delivered=True, status_code=200)
    return channel


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def dashboard(user) -> str:
    with time_machine.travel(NOW, tick=False):
        return logged_in(user).get(reverse("dashboard")).content.decode()


def flags(page: str) -> dict[int, str]:
    """The flagged channels (by pk) and the text of each flag."""
    return {
        int(pk): " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", text)).split())
        for pk, text in re.findall(r'<li class="error channel-failing" data-channel-id="(\d+)">(.*?)</li>', page, flags=re.S)
    }


def flag_links(page: str, channel: Channel) -> list[str]:
    flag = re.search(rf'data-channel-id="{channel.pk}">(.*?)</li>', page, flags=re.S).group(1)
    return [html_lib.unescape(href) for href in re.findall(r'href="([^"]+)"', flag)]


def attempts_url(channel: Channel) -> str:
    return f"{reverse('admin:alerts_notification_changelist')}?channel__id__exact={channel.pk}"


@pytest.fixture
def acme(members_group):
    organization = OrganizationFactory(name="acme")
    north = StoreGroupFactory(organization=organization, name="north")
    return {
        "organization": organization,
        "admin": member_account(organization, "ada", Role.ADMIN, members_group=members_group),
        "manager": member_account(organization, "mia", Role.MANAGER, members_group=members_group),
        "viewer": member_account(organization, "victor", Role.VIEWER, members_group=members_group),
        # Limited to a group: still a member, still told.
        "north_viewer": member_account(organization, "nina", Role.VIEWER, groups=[north], members_group=members_group),
    }


def test_a_channel_failing_for_25_hours_is_flagged_to_every_member_with_its_last_error(acme):
    channel = channel_with_attempts(
        acme["organization"], "Ops webhook", failing_for=dt.timedelta(hours=25), errors=("HTTP 503", "ConnectionError: refused")
    )
    # A second notification's attempt, later than the first's: the latest of the channel's, whichever notification.
    later = Notification.objects.create(
        channel=channel, event=NotificationEvent.REMINDER, payload={}, next_attempt_at=NOW, created_at=NOW - dt.timedelta(hours=3)
    )
    NotificationAttempt.objects.create(notification=later, at=NOW - dt.timedelta(minutes=10), error="HTTP 502 <Bad Gateway>")

    for role in ("viewer", "north_viewer", "manager"):
        page = dashboard(acme[role])
        assert flags(page) == {
            channel.pk: "Notifications to «Ops webhook» (webhook, acme) have failed since 2024-01-07 17:00 UTC (1 d 1 h):"
            " last error HTTP 502 <Bad Gateway>."
        }, role
        assert flag_links(page, channel) == [], role  # the admin is for the organization's admins
        assert page.index('id="failing-channels"') < page.index('id="open-incidents"')
        assert "HTTP 502 &lt;Bad Gateway&gt;" in page  # escaped

    page = dashboard(acme["admin"])
    assert list(flags(page)) == [channel.pk]
    assert flag_links(page, channel) == [reverse("admin:alerts_channel_change", args=[channel.pk]), attempts_url(channel)]
    # Both open for the admin: the channel, and its notifications (each with its attempts).
    client = logged_in(acme["admin"])
    assert client.get(reverse("admin:alerts_channel_change", args=[channel.pk])).status_code == 200
    listed = client.get(attempts_url(channel))
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 2


def test_only_active_channels_failing_for_24_hours_or_more_of_the_users_organizations_are_flagged(acme, superuser):
    organization = acme["organization"]
    flagged = channel_with_attempts(organization, "Ops webhook", failing_for=dt.timedelta(hours=25))
    just = channel_with_attempts(organization, "Ops email", failing_for=dt.timedelta(hours=24), kind=ChannelKind.EMAIL)
    channel_with_attempts(organization, "Young failure", failing_for=dt.timedelta(hours=23))
    channel_with_attempts(organization, "Mended", failing_for=None, delivered_last=True)  # delivered after failing
    channel_with_attempts(organization, "Turned off", failing_for=dt.timedelta(hours=48), is_active=False)
    other = channel_with_attempts(OrganizationFactory(name="globex"), "Globex hook", failing_for=dt.timedelta(days=3))

    page = dashboard(acme["viewer"])
    assert list(flags(page)) == [flagged.pk, just.pk]  # the longest failing first
    assert flags(page)[just.pk].startswith("Notifications to «Ops email» (email, acme) have failed since 2024-01-07 18:00 UTC (1 d 0 h)")

    # A superuser sees every organization's, with the links.
    page = dashboard(superuser)
    assert list(flags(page)) == [other.pk, flagged.pk, just.pk]
    assert flag_links(page, other)[0] == reverse("admin:alerts_channel_change", args=[other.pk])

    # Someone whose membership is turned off is told nothing; nor is one of no organization.
    Membership.objects.filter(user=acme["viewer"]).update(is_active=False)
    assert 'id="failing-channels"' not in dashboard(acme["viewer"])
    assert 'id="failing-channels"' not in dashboard(UserFactory(username="nobody", is_staff=True))


def test_an_admin_of_one_organization_and_viewer_of_another_gets_links_for_the_first_only(acme):
    globex = OrganizationFactory(name="globex")
    Membership.objects.create(organization=globex, user=acme["admin"], role=Role.VIEWER)
    ours = channel_with_attempts(acme["organization"], "Ops webhook", failing_for=dt.timedelta(hours=30))
    theirs = channel_with_attempts(globex, "Globex hook", failing_for=dt.timedelta(hours=26))
    page = dashboard(acme["admin"])
    assert list(flags(page)) == [ours.pk, theirs.pk]
    assert len(flag_links(page, ours)) == 2
    assert flag_links(page, theirs) == []
    with time_machine.travel(NOW, tick=False):
        assert {(channel.pk, channel.user_is_admin) for channel in channels_failing_for(acme["admin"], now=NOW)} == {
            (ours.pk, True),
            (theirs.pk, False),
        }


def page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("dashboard")).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_the_flags_queries_do_not_grow_with_the_number_of_failing_channels(acme, role):
    client = logged_in(acme[role])
    channel_with_attempts(acme["organization"], "hook-0", failing_for=dt.timedelta(hours=25), errors=("HTTP 500", "HTTP 503"))
    with time_machine.travel(NOW, tick=False):
        page_queries(client)  # warm: the figures refresh is queued once
        one = page_queries(client)
        for n in range(1, 5):
            channel_with_attempts(acme["organization"], f"hook-{n}", failing_for=dt.timedelta(hours=25 + n), errors=("HTTP 500",) * n)
        five = page_queries(client)
        page = client.get(reverse("dashboard")).content.decode()
    assert len(flags(page)) == 5
    assert five == one
