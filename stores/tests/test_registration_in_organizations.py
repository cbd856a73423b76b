"""Registering and editing stores in organizations (stores.api_views.register):
a new store goes into the organization the body names, or the user's only
one where they are a manager or admin; its groups are the organization's; a
manager limited to some groups registers stores into them and, editing a
store's groups, keeps the ones they do not see."""
from __future__ import annotations

import pytest

from accounts.models import Role, StoreGroup
from stores.models import Store
from conftest import token_client as client_of
from stores.tests.factories import MembershipFactory, OrganizationFactory, StoreFactory, StoreGroupFactory, UserFactory
from stores.tests.factories import member_account as member

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    organization = OrganizationFactory(name="acme")
    for name in ("north", "south", "brand-x"):
        StoreGroupFactory(organization=organization, name=name)
    return organization


def group_names(store_id: str) -> list[str]:
    return sorted(Store.objects.get(store_id=store_id).groups.values_list("name", flat=True))


def test_a_manager_registers_a_store_into_groups(acme):
    manu = member(acme, "manu", Role.MANAGER)
    response = client_of(manu).post("/register_store", {"store_id": "new-1", "groups": ["north", "brand-x"]}, format="json")
    assert response.status_code == 201
    assert (response.json()["organization"], response.json()["groups"]) == ("acme", ["brand-x", "north"])
    assert Store.objects.get(store_id="new-1").organization == acme


def test_an_unknown_group_is_400_and_no_store_is_made(acme):
    manu = member(acme, "manu", Role.MANAGER)
    response = client_of(manu).post("/register_store", {"store_id": "new-1", "groups": ["west"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_group")
    assert not Store.objects.filter(store_id="new-1").exists()


def test_another_organizations_group_is_unknown(acme):
    StoreGroupFactory(organization=OrganizationFactory(name="globex"), name="east")
    manu = member(acme, "manu", Role.MANAGER)
    response = client_of(manu).post("/register_store", {"store_id": "new-1", "groups": ["east"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_group")


def test_a_manager_limited_to_one_group_registers_into_it_by_default(acme):
    norm = member(acme, "norm", Role.MANAGER, ("north",))
    assert client_of(norm).post("/register_store", {"store_id": "new-1"}, format="json").status_code == 201
    assert group_names("new-1") == ["north"]


def test_a_manager_limited_to_two_groups_must_name_one(acme):
    duo = member(acme, "duo", Role.MANAGER, ("north", "south"))
    response = client_of(duo).post("/register_store", {"store_id": "new-1"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "groups_required")
    assert not Store.objects.filter(store_id="new-1").exists()


def test_a_limited_manager_cannot_use_a_group_outside_their_own(acme):
    norm = member(acme, "norm", Role.MANAGER, ("north",))
    response = client_of(norm).post("/register_store", {"store_id": "new-1", "groups": ["south"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_group")


def test_a_limited_manager_changing_groups_keeps_those_they_do_not_see(acme):
    store = StoreFactory(store_id="s-1", organization=acme, groups=list(StoreGroup.objects.filter(name__in=["north", "brand-x"])))
    both = member(acme, "both", Role.MANAGER, ("north", "south"))
    response = client_of(both).put(f"/api/stores/{store.store_id}/", {"groups": ["south"]}, format="json")
    assert response.status_code == 200
    # brand-x is outside their groups: left as it was. They see south only now.
    assert group_names("s-1") == ["brand-x", "south"]
    assert response.json()["groups"] == ["south"]


def test_a_limited_manager_may_not_take_a_store_out_of_all_their_groups(acme):
    store = StoreFactory(store_id="s-1", organization=acme, groups=list(StoreGroup.objects.filter(name="north")))
    norm = member(acme, "norm", Role.MANAGER, ("north",))
    response = client_of(norm).put(f"/api/stores/{store.store_id}/", {"groups": []}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "groups_required")
    assert group_names("s-1") == ["north"]


def test_an_edit_without_groups_leaves_them_alone(acme):
    store = StoreFactory(store_id="s-1", organization=acme, groups=list(StoreGroup.objects.filter(name="north")))
    manu = member(acme, "manu", Role.MANAGER)
    assert client_of(manu).put("/api/stores/s-1/", {"local_timezone": "Europe/Paris"}, format="json").status_code == 200
    assert group_names("s-1") == ["north"] and Store.objects.get(pk=store.pk).timezone == "Europe/Paris"


def test_a_manager_of_two_organizations_names_the_one_for_a_new_store(acme):
    manu = member(acme, "manu", Role.MANAGER)
    MembershipFactory(organization=OrganizationFactory(name="globex"), user=manu, role=Role.MANAGER)
    api = client_of(manu)
    response = api.post("/register_store", {"store_id": "new-1"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "organization_required")
    assert api.post("/register_store", {"store_id": "new-1", "organization": "globex"}, format="json").status_code == 201
    assert Store.objects.get(store_id="new-1").organization.name == "globex"


def test_a_viewer_in_one_organization_and_manager_in_another_registers_in_the_second(acme):
    vera = member(acme, "vera", Role.VIEWER)
    MembershipFactory(organization=OrganizationFactory(name="globex"), user=vera, role=Role.MANAGER)
    assert client_of(vera).post("/register_store", {"store_id": "new-1"}, format="json").status_code == 201
    assert Store.objects.get(store_id="new-1").organization.name == "globex"
    response = client_of(vera).post("/register_store", {"store_id": "new-2", "organization": "acme"}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "role_too_low")


def test_an_id_registered_in_another_organization_is_409_whatever_the_role(acme):
    StoreFactory(store_id="theirs", organization=OrganizationFactory(name="globex"))
    ada = member(acme, "ada", Role.ADMIN)
    response = client_of(ada).post("/register_store", {"store_id": "theirs"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "store_id_taken")


def test_a_store_outside_a_limited_managers_groups_is_taken_for_them(acme):
    """They do not see it, so it is "registered elsewhere" for them, as for another organization's store."""
    StoreFactory(store_id="s-1", organization=acme, groups=list(StoreGroup.objects.filter(name="south")))
    norm = member(acme, "norm", Role.MANAGER, ("north",))
    response = client_of(norm).post("/register_store", {"store_id": "s-1"}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "store_id_taken")
    assert group_names("s-1") == ["south"]


def test_a_superuser_registering_before_any_organization_exists_is_told_to_make_one():
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = client_of(root).post("/register_store", {"store_id": "new-1"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "organization_required",
        "message": "There is no organization yet: make one first (manage.py create_owner).",
    }


def test_a_superuser_registers_into_the_only_organization_or_the_named_one(acme):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert client_of(root).post("/register_store", {"store_id": "new-1"}, format="json").status_code == 201
    OrganizationFactory(name="globex")
    response = client_of(root).post("/register_store", {"store_id": "new-2"}, format="json")
    assert response.json()["code"] == "organization_required"
    named = client_of(root).post("/register_store", {"store_id": "new-2", "organization": "globex"}, format="json")
    assert (named.status_code, named.json()["organization"]) == (201, "globex")
