"""Closures in the admin: made and changed with the API's period forms by
managers, read by viewers, each change on its history page; the store's page
lists the closures covering it; business hours' changes are listed too."""
from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role
from stores.models import Closure
from stores.tests.factories import OrganizationFactory, StoreFactory, member_account

pytestmark = pytest.mark.django_db
CLOSURES = "/admin/stores/closure/"


@pytest.fixture
def acme():
    organization = OrganizationFactory(name="acme")
    StoreFactory(store_id="n-1", organization=organization)
    return organization


def logged_in(organization, members_group, role: Role) -> Client:
    client = Client()
    client.force_login(member_account(organization, f"user-{role}", role, members_group=members_group))
    return client


def test_a_manager_adds_a_closure_with_dates_and_changes_its_reason(acme, members_group):
    client = logged_in(acme, members_group, Role.MANAGER)
    store = acme.stores.get()
    response = client.post(
        f"{CLOSURES}add/",
        {"organization": acme.pk, "stores": [store.pk], "start": "2024-12-25", "end": "2024-12-26", "reason": "Christmas", "every_year": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    closure = Closure.objects.get()
    assert (closure.start_local, closure.end_local, closure.every_year, closure.stores_given) == (
        "2024-12-25T00:00:00", "2024-12-27T00:00:00", True, True
    )
    assert closure.created_by.username == "user-manager"
    change = client.post(f"{CLOSURES}{closure.pk}/change/", {"start": "2024-12-25", "end": "2024-12-26", "reason": "Christmas holidays", "every_year": "on"})
    assert change.status_code == 302
    history = client.get(f"{CLOSURES}{closure.pk}/history/").content.decode()
    assert "Christmas holidays" in history or "Changed" in history
    assert Closure.history.filter(id=closure.pk).count() == 2


def test_a_period_the_api_refuses_is_a_form_error(acme, members_group):
    client = logged_in(acme, members_group, Role.MANAGER)
    response = client.post(f"{CLOSURES}add/", {"organization": acme.pk, "start": "2024-12-26", "end": "2024-12-25", "reason": "x"})
    assert response.status_code == 200
    assert "end is before start" in response.content.decode()
    assert not Closure.objects.exists()


def test_a_viewer_reads_closures_but_cannot_add_them(acme, members_group):
    client = logged_in(acme, members_group, Role.VIEWER)
    assert client.get(CLOSURES).status_code == 200
    assert client.get(f"{CLOSURES}add/").status_code == 403


def test_the_store_page_lists_the_closures_covering_it(acme, members_group):
    from core.closures import closure_period
    from stores.services import closure_create

    closure_create(organization=acme, period=closure_period("2024-12-25", "2024-12-25"), reason="Christmas", created_by=None)
    client = logged_in(acme, members_group, Role.VIEWER)
    page = client.get(f"/admin/stores/store/{acme.stores.get().pk}/change/").content.decode()
    assert "Christmas (2024-12-25)" in page


def test_business_hours_changes_are_listed_for_the_users_stores_only(acme, members_group):
    from rest_framework.test import APIClient

    from accounts.services import api_token_create

    manager = member_account(acme, "manu", Role.MANAGER, members_group=members_group)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=manager)}")
    week = {"business_hours": [{"dayOfWeek": 0, "start_time_local": "09:00", "end_time_local": "17:00"}]}
    api.put("/api/stores/n-1/", week, format="json")
    StoreFactory(store_id="gx-1", organization=OrganizationFactory(name="globex"))
    client = Client()
    client.force_login(manager)
    page = client.get("/admin/stores/historicalbusinesshours/").content.decode()
    assert "n-1" in page and "manu" in page and "gx-1" not in page


def test_a_manager_limited_to_a_group_may_not_close_every_store_in_the_admin(acme, members_group):
    """As on the API (groups_required): a closure of the whole organization covers stores outside their group."""
    from stores.tests.factories import StoreGroupFactory

    north = StoreGroupFactory(organization=acme, name="north")
    client = Client()
    client.force_login(member_account(acme, "norm", Role.MANAGER, [north], members_group=members_group))
    everything = client.post(f"{CLOSURES}add/", {"organization": acme.pk, "start": "2024-12-25", "end": "2024-12-25", "reason": "x"})
    assert everything.status_code == 200
    assert "You manage only some of these stores" in everything.content.decode()
    assert not Closure.objects.exists()
    of_the_group = client.post(
        f"{CLOSURES}add/", {"organization": acme.pk, "group": north.pk, "start": "2024-12-25", "end": "2024-12-25", "reason": "x"}
    )
    assert of_the_group.status_code == 302
    assert Closure.objects.get().group == north
