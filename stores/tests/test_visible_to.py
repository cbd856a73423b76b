"""StoreQuerySet.visible_to, the access rule, across several memberships:
the memberships are read first (MembershipQuerySet.scope) and the stores
filtered by their ids."""
from __future__ import annotations

import pytest

from accounts.models import Membership, Role
from accounts.services import group_create, member_add
from stores.models import Store
from stores.tests.factories import StoreFactory, organization_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_chains(owner, other_owner):
    """Two organizations of two stores; a group in each holding one store."""
    acme, globex = organization_of(owner), organization_of(other_owner)
    stores = {store_id: StoreFactory(owner=who, store_id=store_id) for store_id, who in
              [("a-1", owner), ("a-2", owner), ("g-1", other_owner), ("g-2", other_owner)]}
    acme_group, globex_group = group_create(organization=acme, name="north"), group_create(organization=globex, name="north")
    acme_group.stores.add(stores["a-1"])
    globex_group.stores.add(stores["g-1"])
    return acme, globex, acme_group, globex_group


def visible(user, role=Role.VIEWER) -> list[str]:
    return sorted(Store.objects.visible_to(user, role=role).values_list("store_id", flat=True))


def test_a_member_whole_in_one_organization_and_limited_in_another_sees_both_parts(two_chains):
    acme, globex, _, globex_group = two_chains
    membership, _ = member_add(organization=acme, username="pat", role=Role.VIEWER)
    member_add(organization=globex, username="pat", role=Role.MANAGER, groups=[globex_group])
    pat = membership.user
    assert visible(pat) == ["a-1", "a-2", "g-1"]
    assert visible(pat, role=Role.MANAGER) == ["g-1"]
    assert visible(pat, role=Role.ADMIN) == []


def test_an_admin_sees_the_whole_organization_whatever_groups_are_on_the_membership(two_chains):
    acme, _, acme_group, _ = two_chains
    membership, _ = member_add(organization=acme, username="ada", role=Role.ADMIN)
    membership.groups.set([acme_group])  # ignored for an admin
    assert visible(membership.user) == ["a-1", "a-2"]
    assert Membership.objects.of(membership.user).scope().group_ids == frozenset()


def test_an_inactive_membership_sees_nothing(two_chains):
    acme, _, acme_group, _ = two_chains
    membership, _ = member_add(organization=acme, username="sam", role=Role.VIEWER, groups=[acme_group])
    Membership.objects.filter(pk=membership.pk).update(is_active=False)
    assert visible(membership.user) == []
    assert Membership.objects.of(membership.user).scope() == (frozenset(), frozenset())
