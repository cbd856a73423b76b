"""/api/groups/ and /api/members/: groups are listed to every member (only
their own where their membership is limited), created and renamed by the
organization's admins; members are listed, added, changed and removed by
its admins; an organization never loses its last active admin."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role, StoreGroup
from conftest import token_client as client_of
from stores.tests.factories import MembershipFactory, OrganizationFactory, StoreGroupFactory, UserFactory
from stores.tests.factories import member_account as member

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(members_group):
    organization = OrganizationFactory(name="acme")
    StoreGroupFactory(organization=organization, name="north")
    StoreGroupFactory(organization=organization, name="south")
    return organization


@pytest.fixture
def ada(acme):
    return member(acme, "ada", Role.ADMIN)


def code(response) -> tuple[int, str]:
    return response.status_code, response.json().get("code")


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------


def test_every_member_lists_the_groups_of_their_organization(acme):
    viewer = member(acme, "vera", Role.VIEWER)
    listed = client_of(viewer).get("/api/groups/").json()
    assert [(group["organization"], group["name"]) for group in listed] == [("acme", "north"), ("acme", "south")]


def test_a_member_limited_to_a_group_lists_only_that_group(acme):
    nora = member(acme, "nora", Role.VIEWER, StoreGroup.objects.filter(name="north"))
    assert [group["name"] for group in client_of(nora).get("/api/groups/").json()] == ["north"]
    south = StoreGroup.objects.get(name="south")
    assert client_of(nora).get(f"/api/groups/{south.pk}/").status_code == 404


def test_an_admin_creates_a_group(ada):
    response = client_of(ada).post("/api/groups/", {"name": "texas"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "texas" and response.json()["organization"] == "acme"
    assert StoreGroup.objects.filter(organization__name="acme", name="texas").exists()


def test_a_group_name_is_unique_in_its_organization_only(ada):
    assert code(client_of(ada).post("/api/groups/", {"name": "north"}, format="json")) == (409, "group_name_taken")
    globex_admin = member(OrganizationFactory(name="globex"), "gus", Role.ADMIN)
    assert client_of(globex_admin).post("/api/groups/", {"name": "north"}, format="json").status_code == 201


def test_a_manager_may_not_create_or_rename_groups(acme):
    manu = member(acme, "manu", Role.MANAGER)
    assert code(client_of(manu).post("/api/groups/", {"name": "texas"}, format="json")) == (403, "role_too_low")
    north = StoreGroup.objects.get(name="north")
    assert code(client_of(manu).patch(f"/api/groups/{north.pk}/", {"name": "n"}, format="json")) == (403, "role_too_low")
    assert StoreGroup.objects.get(pk=north.pk).name == "north"


def test_an_admin_renames_a_group(ada):
    north = StoreGroup.objects.get(name="north")
    response = client_of(ada).patch(f"/api/groups/{north.pk}/", {"name": "northwest"}, format="json")
    assert (response.status_code, response.json()["name"]) == (200, "northwest")
    assert code(client_of(ada).patch(f"/api/groups/{north.pk}/", {"name": "south"}, format="json")) == (409, "group_name_taken")


def test_another_organizations_group_is_404(ada):
    foreign = StoreGroupFactory(organization=OrganizationFactory(name="globex"), name="east")
    assert client_of(ada).get(f"/api/groups/{foreign.pk}/").status_code == 404
    assert client_of(ada).patch(f"/api/groups/{foreign.pk}/", {"name": "x"}, format="json").status_code == 404


def test_an_admin_of_two_organizations_names_the_one_for_a_new_group(ada):
    MembershipFactory(organization=OrganizationFactory(name="globex"), user=ada, role=Role.ADMIN)
    assert code(client_of(ada).post("/api/groups/", {"name": "texas"}, format="json")) == (400, "organization_required")
    created = client_of(ada).post("/api/groups/", {"name": "texas", "organization": "globex"}, format="json")
    assert created.json()["organization"] == "globex"
    unknown = client_of(ada).post("/api/groups/", {"name": "texas", "organization": "initech"}, format="json")
    assert code(unknown) == (400, "unknown_organization")


# --------------------------------------------------------------------------
# Members
# --------------------------------------------------------------------------


def test_an_admin_lists_the_members(ada):
    member(StoreGroup.objects.get(name="north").organization, "nora", Role.VIEWER, StoreGroup.objects.filter(name="north"))
    listed = client_of(ada).get("/api/members/").json()
    assert [(m["username"], m["role"], m["groups"], m["is_active"]) for m in listed] == [
        ("ada", "admin", [], True),
        ("nora", "viewer", ["north"], True),
    ]


def test_an_admin_adds_a_new_account_and_gets_its_token_once(ada, members_group):
    body = {"username": "newbie", "role": "viewer", "groups": ["south"], "password": "a long enough passphrase"}
    response = client_of(ada).post("/api/members/", body, format="json")
    assert response.status_code == 201
    created = response.json()
    assert (created["username"], created["role"], created["groups"]) == ("newbie", "viewer", ["south"])
    # The token works, and is the new member's: they see the south stores' group only.
    newbie = APIClient()
    newbie.credentials(HTTP_AUTHORIZATION=f"Token {created['token']}")
    assert [group["name"] for group in newbie.get("/api/groups/").json()] == ["south"]
    user = Membership.objects.get(user__username="newbie").user
    assert user.is_staff and user.check_password("a long enough passphrase")
    assert members_group in user.groups.all()


def test_adding_an_existing_account_gives_no_token(ada):
    UserFactory(username="known")
    response = client_of(ada).post("/api/members/", {"username": "known", "role": "manager"}, format="json")
    assert response.status_code == 201 and "token" not in response.json()
    assert Membership.objects.get(user__username="known").role == Role.MANAGER


def test_a_weak_password_for_a_new_member_is_400_and_nothing_is_made(ada):
    response = client_of(ada).post("/api/members/", {"username": "newbie", "role": "viewer", "password": "123"}, format="json")
    assert response.status_code == 400 and "password" in response.json()["errors"]
    assert not Membership.objects.filter(user__username="newbie").exists()


def test_a_group_of_another_organization_is_400(ada):
    StoreGroupFactory(organization=OrganizationFactory(name="globex"), name="east")
    response = client_of(ada).post("/api/members/", {"username": "x", "role": "viewer", "groups": ["east"]}, format="json")
    assert code(response) == (400, "unknown_group")


def test_an_admin_changes_a_members_role_and_groups(ada, acme):
    manu = member(acme, "manu", Role.MANAGER)
    membership = Membership.objects.get(user=manu)
    response = client_of(ada).patch(f"/api/members/{membership.pk}/", {"role": "viewer", "groups": ["north"]}, format="json")
    assert (response.status_code, response.json()["role"], response.json()["groups"]) == (200, "viewer", ["north"])


def test_a_deactivated_member_sees_nothing(ada, acme):
    vera = member(acme, "vera", Role.VIEWER)
    vera_api = client_of(vera)
    membership = Membership.objects.get(user=vera)
    assert client_of(ada).patch(f"/api/members/{membership.pk}/", {"is_active": False}, format="json").status_code == 200
    assert vera_api.get("/api/groups/").json() == []


def test_the_last_admin_cannot_be_demoted_deactivated_or_removed(ada):
    membership = Membership.objects.get(user=ada)
    api = client_of(ada)
    assert code(api.patch(f"/api/members/{membership.pk}/", {"role": "manager"}, format="json")) == (409, "last_admin")
    assert code(api.patch(f"/api/members/{membership.pk}/", {"is_active": False}, format="json")) == (409, "last_admin")
    assert code(api.delete(f"/api/members/{membership.pk}/")) == (409, "last_admin")
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN


def test_with_a_second_admin_the_first_may_leave(ada, acme):
    member(acme, "second", Role.ADMIN)
    membership = Membership.objects.get(user=ada)
    assert client_of(ada).delete(f"/api/members/{membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_another_organizations_member_is_404(ada):
    gus = member(OrganizationFactory(name="globex"), "gus", Role.VIEWER)
    foreign = Membership.objects.get(user=gus)
    assert client_of(ada).patch(f"/api/members/{foreign.pk}/", {"role": "admin"}, format="json").status_code == 404
    assert client_of(ada).delete(f"/api/members/{foreign.pk}/").status_code == 404
    assert Membership.objects.get(pk=foreign.pk).role == Role.VIEWER


def test_an_admin_with_a_read_only_token_cannot_add_members(ada):
    response = client_of(ada, read_only=True).post("/api/members/", {"username": "x", "role": "viewer"}, format="json")
    assert code(response) == (403, "read_only_token")
    assert client_of(ada, read_only=True).get("/api/members/").status_code == 200


def test_an_admin_who_gives_up_their_own_admin_role_gets_the_changed_membership(ada, acme):
    member(acme, "second", Role.ADMIN)
    membership = Membership.objects.get(user=ada)
    api = client_of(ada)
    response = api.patch(f"/api/members/{membership.pk}/", {"role": "viewer"}, format="json")
    assert (response.status_code, response.json()["role"]) == (200, "viewer")
    # From now on members are not theirs to see.
    assert api.get("/api/members/").json()["code"] == "role_too_low"


def test_an_admin_who_deactivates_themselves_gets_the_changed_membership(ada, acme):
    member(acme, "second", Role.ADMIN)
    membership = Membership.objects.get(user=ada)
    response = client_of(ada).patch(f"/api/members/{membership.pk}/", {"is_active": False}, format="json")
    assert (response.status_code, response.json()["is_active"]) == (200, False)
