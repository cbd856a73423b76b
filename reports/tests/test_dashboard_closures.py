"""Closures on the dashboard: hatched on the timelines with their reasons,
never down; "closed (reason)" as the state while one lasts; a store's page
lists its past and coming closures; the list's queries do not grow with the
number of stores and closures."""
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

from accounts.models import Role
from core.closures import closure_period
from reports.figures import figures_refresh
from stores.models import PollStatus
from stores.services import PollInput, closure_create, polls_record
from stores.tests.factories import (
    BusinessHoursFactory,
    MembershipFactory,
    OrganizationFactory,
    StoreFactory,
    StoreGroupFactory,
    UserFactory,
    organization_of,
)

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
# Monday 2024-01-08 in Chicago (UTC-6): 09:00 local is 15:00 UTC.
MONDAY = dt.datetime(2024, 1, 8, tzinfo=UTC)


def utc(hour: int, minute: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(hours=hour, minutes=minute)


def chicago_store(**kwargs):
    """Open 09:00-17:00 every day, in Chicago."""
    store = StoreFactory(timezone="America/Chicago", **kwargs)
    for day in range(7):
        BusinessHoursFactory(store=store, day_of_week=day, start_time_local=dt.time(9), end_time_local=dt.time(17))
    return store


def poll(store, at: dt.datetime, status: str) -> None:
    polls_record(polls=[PollInput(store.store_id, at, status)], stores=type(store).objects.all())


def inventory(store, owner, **kwargs):
    """Closed for inventory 10:00-13:00 local on Monday 2024-01-08."""
    return closure_create(
        organization=store.organization,
        period=closure_period("2024-01-08T10:00", "2024-01-08T13:00"),
        reason="Inventory",
        created_by=owner,
        stores=[store],
        **kwargs,
    )


def titles(html: str, kind: str) -> list[str]:
    """The tooltips of a timeline's segments of one kind."""
    return [html_lib.unescape(title) for title in re.findall(rf'<rect class="{kind}"[^>]*><title>([^<]*)</title>', html)]


def states(html: str) -> dict[str, str]:
    """store id → the state cell's class and text on the list."""
    cells = re.findall(r'data-store-id="([^"]+)">.*?<td class="state-([a-z_]+)"[^>]*>([^<]*)</td>', html, flags=re.S)
    return {store_id: (state, html_lib.unescape(text)) for store_id, state, text in cells}


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """A table's body, row by row, as the text of each cell."""
    body = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, flags=re.S).group(1)
    return [
        [html_lib.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]


def test_during_a_closure_the_timeline_hatches_it_and_the_state_is_closed_with_its_reason(client, owner):
    store = chicago_store(owner=owner, store_id="chi")
    open_store = chicago_store(owner=owner, store_id="chi-open")  # not covered: its state is its own
    for at in (utc(15), utc(16), utc(17), utc(17, 50)):  # inactive all morning, inside the closure too
        poll(store, at, PollStatus.INACTIVE)
        poll(open_store, at, PollStatus.ACTIVE)
    inventory(store, owner)
    with time_machine.travel(utc(18), tick=False):  # 12:00 local: inside the closure
        figures_refresh(as_of=utc(18))
        client.force_login(owner)
        listing = client.get(reverse("dashboard")).content.decode()
        page = client.get(reverse("dashboard_store", args=["chi"])).content.decode()

    assert states(listing) == {"chi": ("closed", "closed (Inventory)"), "chi-open": ("up", "up")}
    assert titles(listing, "closed") == ["Closed (Inventory): Mon 08 Jan 10:00 – 12:00 CST (2 h 00 min)"]

    # The store's timeline: the closure hatched (its own pattern), up to the
    # end of the week drawn; down before it only, never inside it.
    assert titles(page, "closed") == ["Closed (Inventory): Mon 08 Jan 10:00 – 12:00 CST (2 h 00 min)"]
    hatch = re.search(r'<pattern id="([^"]+)"', page).group(1)
    assert f'<rect class="closed" fill="url(#{hatch})"' in page
    assert titles(page, "down") == ["Down: Mon 08 Jan 09:00 – 10:00 CST (1 h 00 min)"]
    assert table_rows(page, "down-periods") == [["Mon 08 Jan 09:00 – 10:00 CST (1 h 00 min)"]]
    assert 'id="downtime-week">1.00 h<' in page and 'id="closed-week">2.00 h<' in page
    assert re.search(r'id="store-state">closed \(Inventory\)</strong> \(latest poll: <span class="state-down">down<', page)
    # Listed as under way, with its period as given and who made it.
    assert table_rows(page, "closures-coming") == [
        ["Inventory (now)", "2024-01-08T10:00:00 – 2024-01-08T13:00:00 local", "Mon 08 Jan 10:00 – 13:00 CST (3 h 00 min)", "alice"]
    ]


def test_after_a_closure_the_page_lists_it_as_past_with_coming_ones_and_shows_the_no_signal_share(client, owner, other_owner):
    store = chicago_store(owner=owner, store_id="chi")
    # Up 09:00-09:30 local, then down; polls stop at 14:00 local, so from
    # 16:00 (the 2 h stale period) the downtime has no signal. 11:30-13:00
    # would be no signal too, but the closure takes it out.
    poll(store, utc(15), PollStatus.ACTIVE)
    for at in (utc(15, 30), utc(19), utc(20)):
        poll(store, at, PollStatus.INACTIVE)
    inventory(store, owner)
    organization = organization_of(owner)
    closure_create(
        organization=organization, period=closure_period("2024-03-01", "2024-03-03"), reason="Renovation", created_by=None,
        stores=[store],
    )
    closure_create(
        organization=organization, period=closure_period("2023-12-25", "2023-12-25"), reason="Christmas",
        created_by=owner, every_year=True,
    )
    closure_create(  # ended more than 90 days ago
        organization=organization, period=closure_period("2023-09-01", "2023-09-02"), reason="Long ago", created_by=owner,
    )
    other = chicago_store(owner=other_owner, store_id="theirs")
    closure_create(
        organization=other.organization, period=closure_period("2024-01-09", "2024-01-09"), reason="Not ours", created_by=None,
    )
    with time_machine.travel(utc(24), tick=False):  # 18:00 local, after closing
        figures_refresh(as_of=utc(24))
        client.force_login(owner)
        listing = client.get(reverse("dashboard")).content.decode()
        page = client.get(reverse("dashboard_store", args=["chi"])).content.decode()

    assert states(listing)["chi"] == ("no_signal", "no signal")  # the latest poll is 4 h old
    assert re.search(r'class="downtime-week">4.50</td>\s*<td class="no-signal-week">1.00</td>', listing)
    assert titles(page, "closed") == ["Closed (Inventory): Mon 08 Jan 10:00 – 13:00 CST (3 h 00 min)"]
    assert table_rows(page, "down-periods") == [
        ["Mon 08 Jan 09:30 – 10:00 CST (30 min)"],
        ["Mon 08 Jan 13:00 – 17:00 CST (4 h 00 min)"],
    ]
    # The figures as the extended CSV gives them: 0.5 h up of 5 h measured.
    assert 'id="uptime-week">10.00 %<' in page and 'id="downtime-week">4.50 h<' in page
    assert "of which no signal: 1.00 h" in page and 'id="closed-week">3.00 h<' in page
    assert table_rows(page, "closures-past") == [
        ["Inventory", "2024-01-08T10:00:00 – 2024-01-08T13:00:00 local", "Mon 08 Jan 10:00 – 13:00 CST (3 h 00 min)", "alice"],
        ["Christmas", "2023-12-25, every year", "Mon 25 Dec 00:00 – Tue 26 Dec 00:00 CST (1 d 0 h)", "alice"],
    ]
    assert table_rows(page, "closures-coming") == [
        ["Renovation", "2024-03-01 – 2024-03-03", "Fri 01 Mar 00:00 – Mon 04 Mar 00:00 CST (3 d 0 h)", "—"],
        ["Christmas", "2023-12-25, every year", "Wed 25 Dec 00:00 – Thu 26 Dec 00:00 CST (1 d 0 h)", "alice"],
    ]
    assert "Long ago" not in page and "Not ours" not in page


def test_a_closure_the_viewer_does_not_see_closes_the_store_without_its_reason(members_group):
    # The store is in groups a and b; the viewer is limited to a; the closure is b's.
    organization = OrganizationFactory(name="acme")
    group_a = StoreGroupFactory(organization=organization, name="a")
    group_b = StoreGroupFactory(organization=organization, name="b")
    store = chicago_store(organization=organization, store_id="both", groups=[group_a, group_b])
    poll(store, utc(17), PollStatus.ACTIVE)
    closure_create(
        organization=organization, period=closure_period("2024-01-08T10:00", "2024-01-08T13:00"),
        reason="Audit of b", created_by=None, group=group_b,
    )
    viewer = UserFactory(username="nora", is_staff=True)
    viewer.groups.add(members_group)
    MembershipFactory(organization=organization, user=viewer, role=Role.VIEWER, groups=[group_a])
    client = Client()
    client.force_login(viewer)
    with time_machine.travel(utc(18), tick=False):
        figures_refresh(as_of=utc(18))
        listing = client.get(reverse("dashboard")).content.decode()
        page = client.get(reverse("dashboard_store", args=["both"])).content.decode()

    assert states(listing) == {"both": ("closed", "closed")}
    assert titles(page, "closed") == ["Closed: Mon 08 Jan 10:00 – 12:00 CST (2 h 00 min)"]
    assert table_rows(page, "closures-coming") == [["No closure under way or coming."]]
    assert "Audit of b" not in listing + page


# --------------------------------------------------------------------------
# Queries: constant for the page, whatever the number of stores and closures
# --------------------------------------------------------------------------


def page_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def closures_of_every_kind(organization, owner, stores, group, reason: str) -> None:
    period = closure_period("2024-01-08T10:00", "2024-01-08T13:00")
    closure_create(organization=organization, period=period, reason=f"{reason} listed", created_by=owner, stores=stores)
    closure_create(organization=organization, period=period, reason=f"{reason} group", created_by=owner, group=group)
    closure_create(organization=organization, period=period, reason=f"{reason} all", created_by=owner)
    closure_create(
        organization=organization, period=closure_period("2023-01-08", "2023-01-08"), reason=f"{reason} yearly",
        created_by=owner, every_year=True,
    )


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/stores/s-0/"])
def test_queries_do_not_grow_with_stores_or_closures(client, owner, path):
    organization = organization_of(owner)
    group = StoreGroupFactory(organization=organization, name="g")
    stores = [chicago_store(owner=owner, store_id=f"s-{n}", groups=[group]) for n in range(3)]
    for store in stores:
        poll(store, utc(15), PollStatus.ACTIVE)
    closures_of_every_kind(organization, owner, stores[:2], group, "first")
    client.force_login(owner)
    with time_machine.travel(utc(18), tick=False):
        figures_refresh(as_of=utc(18))
        page_queries(client, path)  # warm
        before = page_queries(client, path)
        more_group = StoreGroupFactory(organization=organization, name="h")
        more = [chicago_store(owner=owner, store_id=f"t-{n}", groups=[group, more_group]) for n in range(4)]
        for store in more:
            poll(store, utc(15), PollStatus.ACTIVE)
        closures_of_every_kind(organization, owner, [*stores, *more], more_group, "second")
        closures_of_every_kind(organization, owner, more, group, "third")
        figures_refresh(as_of=utc(18))
        after = page_queries(client, path)
        listing = client.get("/dashboard/").content.decode()
    assert after == before
    assert listing.count('class="store-row"') == 7
    assert listing.count('<td class="state-closed"') == 7
