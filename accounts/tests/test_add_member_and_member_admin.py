"""manage.py add_member, read-only tokens, and the admin's member and group
pages: an organization's admins manage its members there."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Role, StoreGroup
from stores.tests.factories import OrganizationFactory, StoreFactory, StoreGroupFactory, member_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(members_group):
    organization = OrganizationFactory(name="acme")
    StoreGroupFactory(organization=organization, name="north")
    StoreGroupFactory(organization=organization, name="south")
    StoreFactory(store_id="n-1", organization=organization, groups=list(StoreGroup.objects.filter(name="north")))
    StoreFactory(store_id="s-1", organization=organization, groups=list(StoreGroup.objects.filter(name="south")))
    return organization


def add_member(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("add_member", *args, stdout=out)
    return out.getvalue()


def token_in(output: str) -> str:
    return next(line.split(": ", 1)[1] for line in output.splitlines() if "token:" in line.lower())


def test_add_member_makes_the_account_and_prints_a_working_token(acme, members_group):
    output = add_member("acme", "nora", "--role", "viewer", "--groups", "north", "--password", "a long enough passphrase")
    assert "nora is a viewer of acme, limited to north." in output
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_in(output)}")
    assert [store["store_id"] for store in client.get("/api/stores/").json()] == ["n-1"]
    user = Membership.objects.get(user__username="nora").user
    assert user.is_staff and members_group in user.groups.all() and user.check_password("a long enough passphrase")


def test_add_member_with_a_read_only_token(acme):
    token = token_in(add_member("acme", "rob", "--role", "manager", "--read-only-token"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/stores/").status_code == 200
    refused = client.post("/register_store", {"store_id": "new-1"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "read_only_token")
    poll = {"id": "n-1", "utc_timestamp": "2024-01-10T12:00:00Z", "status": "active"}
    assert client.post("/poll", poll, format="json").json()["code"] == "read_only_token"
    assert ApiToken.objects.get(user__username="rob").read_only


def test_add_member_changes_an_existing_members_role_and_groups(acme):
    add_member("acme", "nora", "--role", "viewer", "--groups", "north")
    output = add_member("acme", "nora", "--role", "manager", "--groups", "north,south")
    assert "token" not in output.lower()
    membership = Membership.objects.get(user__username="nora")
    assert membership.role == Role.MANAGER
    assert sorted(membership.groups.values_list("name", flat=True)) == ["north", "south"]


def test_add_member_gives_an_existing_account_a_read_only_token_beside_its_own(acme):
    add_member("acme", "nora", "--role", "viewer")
    add_member("acme", "nora", "--role", "viewer", "--read-only-token")
    assert sorted(ApiToken.objects.filter(user__username="nora").values_list("read_only", flat=True)) == [False, True]


@pytest.mark.parametrize(
    "args, message",
    [
        (("initech", "x", "--role", "viewer"), "No organization named 'initech'."),
        (("acme", "x", "--role", "viewer", "--groups", "west"), "acme has no group named west."),
    ],
    ids=["unknown organization", "unknown group"],
)
def test_add_member_refuses(acme, args, message):
    with pytest.raises(CommandError, match=message):
        add_member(*args)
    assert not Membership.objects.filter(user__username="x").exists()


def test_create_owner_makes_an_organization_of_the_same_name_with_them_as_admin(members_group):
    from io import StringIO

    out = StringIO()
    call_command("create_owner", "carol", "--password", "a long enough passphrase", stdout=out)
    membership = Membership.objects.get(user__username="carol")
    assert (membership.organization.name, membership.role) == ("carol", Role.ADMIN)
    assert "admin of the new organization 'carol'" in out.getvalue()


def test_create_owner_refuses_a_taken_organization_name(members_group):
    OrganizationFactory(name="carol")
    with pytest.raises(CommandError, match="An organization named 'carol' exists already"):
        call_command("create_owner", "carol", "--password", "a long enough passphrase")


# --------------------------------------------------------------------------
# The admin's member pages
# --------------------------------------------------------------------------


def admin_page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def member(organization, name: str, role: Role, members_group):
    return member_account(organization, name, role, members_group=members_group)


def test_an_organization_admin_changes_a_members_role_and_groups_in_the_admin(acme, members_group):
    ada = member(acme, "ada", Role.ADMIN, members_group)
    vera = member(acme, "vera", Role.VIEWER, members_group)
    membership = Membership.objects.get(user=vera)
    north = StoreGroup.objects.get(name="north")
    response = admin_page_client(ada).post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"role": "manager", "groups": [north.pk], "is_active": "on"},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.MANAGER and list(membership.groups.all()) == [north]


def test_an_organization_admin_adds_a_member_by_username(acme, members_group):
    ada = member(acme, "ada", Role.ADMIN, members_group)
    response = admin_page_client(ada).post(
        "/admin/accounts/membership/add/", {"organization": acme.pk, "username": "newbie", "role": "viewer", "is_active": "on"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newbie").role == Role.VIEWER


def test_the_last_admin_is_not_demoted_in_the_admin(acme, members_group):
    ada = member(acme, "ada", Role.ADMIN, members_group)
    membership = Membership.objects.get(user=ada)
    admin_page_client(ada).post(f"/admin/accounts/membership/{membership.pk}/change/", {"role": "viewer", "is_active": "on"})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_managers_and_viewers_do_not_manage_members(acme, members_group):
    manu = member(acme, "manu", Role.MANAGER, members_group)
    vera = member(acme, "vera", Role.VIEWER, members_group)
    membership = Membership.objects.get(user=vera)
    client = admin_page_client(manu)
    assert client.get("/admin/accounts/membership/").status_code == 403
    assert client.get(f"/admin/accounts/membership/{membership.pk}/change/").status_code == 403
    assert client.post(f"/admin/accounts/membership/{membership.pk}/change/", {"role": "admin"}).status_code == 403
    assert Membership.objects.get(pk=membership.pk).role == Role.VIEWER


def test_another_organizations_member_page_is_404(acme, members_group):
    ada = member(acme, "ada", Role.ADMIN, members_group)
    gus = member(OrganizationFactory(name="globex"), "gus", Role.VIEWER, members_group)
    foreign = Membership.objects.get(user=gus)
    assert admin_page_client(ada).get(f"/admin/accounts/membership/{foreign.pk}/change/").status_code == 404


def test_a_members_group_choices_are_their_organizations(acme, members_group):
    StoreGroupFactory(organization=OrganizationFactory(name="globex"), name="east")
    ada = member(acme, "ada", Role.ADMIN, members_group)
    page = admin_page_client(ada).get("/admin/accounts/membership/add/").content.decode()
    north = StoreGroup.objects.get(name="north")
    assert f'<option value="{north.pk}">north</option>' in page
    assert ">east<" not in page
