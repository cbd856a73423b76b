"""A store's groups in the admin: the choices and the filter offer only the
groups the user may use or see; a manager limited to some groups keeps the
store in at least one of them and leaves its other groups as they are."""
from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role, StoreGroup
from stores.models import Store
from stores.tests.factories import OrganizationFactory, StoreFactory, StoreGroupFactory, member_account
from stores.tests.test_admin import STORES, store_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    organization = OrganizationFactory(name="acme")
    for name in ("north", "south", "brand-x"):
        StoreGroupFactory(organization=organization, name=name)
    return organization


def groups(*names: str) -> list[StoreGroup]:
    return list(StoreGroup.objects.filter(name__in=names).order_by("name"))


def member_client(organization, members_group, role: Role, limited_to: tuple[str, ...] = ()) -> Client:
    username = f"{role}-{'-'.join(limited_to) or 'all'}"
    client = Client()
    client.force_login(member_account(organization, username, role, limited_to, members_group=members_group))
    return client


def test_a_limited_manager_changing_groups_keeps_the_ones_they_do_not_see(acme, members_group):
    store = StoreFactory(store_id="s-1", organization=acme, groups=groups("north", "brand-x"))
    client = member_client(acme, members_group, Role.MANAGER, ("north", "south"))
    south = StoreGroup.objects.get(name="south")
    response = client.post(f"{STORES}{store.pk}/change/", store_post("s-1", groups=[south.pk]))
    assert response.status_code == 302
    assert sorted(Store.objects.get(pk=store.pk).groups.values_list("name", flat=True)) == ["brand-x", "south"]


def test_a_limited_manager_cannot_take_a_store_out_of_all_their_groups(acme, members_group):
    store = StoreFactory(store_id="s-1", organization=acme, groups=groups("north"))
    client = member_client(acme, members_group, Role.MANAGER, ("north",))
    response = client.post(f"{STORES}{store.pk}/change/", store_post("s-1"))
    assert response.status_code == 200
    assert "You manage only some groups&#x27; stores: put the store in one of them (north)." in response.content.decode()
    assert list(Store.objects.get(pk=store.pk).groups.values_list("name", flat=True)) == ["north"]


def test_the_group_choices_and_filter_offer_only_the_users_groups(acme, members_group):
    StoreFactory(store_id="s-1", organization=acme, groups=groups("north", "brand-x"))
    StoreGroupFactory(organization=OrganizationFactory(name="globex"), name="east")
    client = member_client(acme, members_group, Role.MANAGER, ("north",))
    changelist = client.get(STORES).content.decode()
    assert "north (acme)" in changelist
    assert "brand-x" not in changelist and "east" not in changelist
    add_page = client.get(f"{STORES}add/").content.decode()
    north = StoreGroup.objects.get(name="north")
    assert f'<option value="{north.pk}">north</option>' in add_page
    assert ">brand-x<" not in add_page and ">south<" not in add_page


def test_the_group_filter_lists_the_groups_stores(acme, members_group):
    StoreFactory(store_id="n-1", organization=acme, groups=groups("north"))
    StoreFactory(store_id="s-1", organization=acme, groups=groups("south"))
    client = member_client(acme, members_group, Role.VIEWER)
    north = StoreGroup.objects.get(name="north")
    page = client.get(STORES, {"group": north.pk}).content.decode()
    assert "n-1" in page and "s-1" not in page
