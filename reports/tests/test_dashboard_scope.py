"""The dashboard for a member limited to groups: exactly their groups' stores,
a group filter, and a number of queries that does not grow with the number
of stores, groups or memberships."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, StoreGroup
from stores.tests.factories import MembershipFactory, OrganizationFactory, StoreFactory, StoreGroupFactory, UserFactory

pytestmark = pytest.mark.django_db


def grow(organization, groups: int, stores_per_group: int, prefix: str) -> list[StoreGroup]:
    made = []
    for g in range(groups):
        group = StoreGroupFactory(organization=organization, name=f"{prefix}-g{g}")
        for s in range(stores_per_group):
            StoreFactory(store_id=f"{prefix}-g{g}-s{s}", organization=organization, groups=[group])
        made.append(group)
    return made


def page_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.fixture
def limited(members_group):
    organization = OrganizationFactory(name="acme")
    groups = grow(organization, groups=2, stores_per_group=3, prefix="a")
    grow(organization, groups=1, stores_per_group=3, prefix="outside")
    user = UserFactory(username="nora", is_staff=True)
    user.groups.add(members_group)
    membership = MembershipFactory(organization=organization, user=user, role=Role.VIEWER, groups=groups)
    client = Client()
    client.force_login(user)
    return organization, membership, client


def test_a_limited_viewer_sees_only_their_groups_stores_and_can_filter_by_one(limited):
    organization, membership, client = limited
    page = client.get("/dashboard/").content.decode()
    assert page.count('class="store-row') == 6 and "outside-g0" not in page
    first = StoreGroup.objects.get(name="a-g0")
    filtered = client.get(f"/dashboard/?group={first.pk}").content.decode()
    assert filtered.count('class="store-row') == 3 and "a-g1-s0" not in filtered
    # A group they are not limited to filters down to nothing, not to its stores.
    outside = StoreGroup.objects.get(name="outside-g0")
    assert client.get(f"/dashboard/?group={outside.pk}").content.decode().count('class="store-row') == 0


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/?state=up", "/reports/"])
def test_queries_do_not_grow_with_stores_groups_or_memberships(limited, path):
    organization, membership, client = limited
    page_queries(client, path)  # warm: the figures refresh is queued once
    before = page_queries(client, path)
    more = grow(organization, groups=3, stores_per_group=4, prefix="b")
    membership.groups.add(*more)
    MembershipFactory(organization=OrganizationFactory(name="globex"), user=membership.user, role=Role.VIEWER)
    assert page_queries(client, path) == before
