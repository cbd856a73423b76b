"""A user with different roles in two organizations, acting in bulk in the
admin: each selected row is checked against the user's role in its own
organization (the changelist shows both organizations' rows)."""
from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role, StoreGroup
from stores.models import Store
from stores.tests.factories import MembershipFactory, OrganizationFactory, StoreFactory, StoreGroupFactory, member_account
from stores.tests.test_admin import STORES

pytestmark = pytest.mark.django_db
GROUPS = "/admin/accounts/storegroup/"


@pytest.fixture
def mixed(members_group):
    """mia: admin of acme, viewer of globex; each organization has a store and a group."""
    acme, globex = OrganizationFactory(name="acme"), OrganizationFactory(name="globex")
    mia = member_account(acme, "mia", Role.ADMIN, members_group=members_group)
    MembershipFactory(organization=globex, user=mia, role=Role.VIEWER)
    for organization in (acme, globex):
        StoreFactory(store_id=f"{organization.name}-1", organization=organization)
        StoreGroupFactory(organization=organization, name=f"{organization.name}-north")
    client = Client()
    client.force_login(mia)
    return client


def selected(*store_ids: str) -> list[int]:
    return list(Store.objects.filter(store_id__in=store_ids).values_list("pk", flat=True))


def test_bulk_delete_refuses_a_store_where_the_user_is_not_an_admin(mixed):
    pks = selected("acme-1", "globex-1")
    page = mixed.post(STORES, {"action": "delete_selected", "_selected_action": pks})
    assert "store globex-1" in page.content.decode()  # listed as not deletable
    confirmed = mixed.post(STORES, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
    assert confirmed.status_code == 403
    assert Store.objects.filter(store_id__in=["acme-1", "globex-1"]).count() == 2


def test_bulk_delete_of_the_users_own_organizations_stores_works(mixed):
    mixed.post(STORES, {"action": "delete_selected", "_selected_action": selected("acme-1"), "post": "yes"})
    assert not Store.objects.filter(store_id="acme-1").exists()


def test_rotating_keys_in_bulk_needs_the_manager_role_for_every_store(mixed):
    before = dict(Store.objects.values_list("store_id", "device_key_hash"))
    mixed.post(STORES, {"action": "rotate_device_keys", "_selected_action": selected("acme-1", "globex-1")})
    assert dict(Store.objects.values_list("store_id", "device_key_hash")) == before
    mixed.post(STORES, {"action": "rotate_device_keys", "_selected_action": selected("acme-1")})
    assert Store.objects.get(store_id="acme-1").device_key_hash != before["acme-1"]


def test_bulk_delete_of_groups_needs_the_admin_role_for_every_group(mixed):
    pks = list(StoreGroup.objects.values_list("pk", flat=True))
    response = mixed.post(GROUPS, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
    assert response.status_code == 403
    assert StoreGroup.objects.count() == 2
    own = list(StoreGroup.objects.filter(organization__name="acme").values_list("pk", flat=True))
    mixed.post(GROUPS, {"action": "delete_selected", "_selected_action": own, "post": "yes"})
    assert list(StoreGroup.objects.values_list("name", flat=True)) == ["globex-north"]
