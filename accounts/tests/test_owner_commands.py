"""Owner accounts: the members group (migration accounts.0003, the owners
group renamed), `manage.py create_owner`, the owner services (an owner is the
admin of an organization named after them), and the "make owner" action of
the user admin."""
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.management.commands import create_owner as create_owner_module
from accounts.models import ApiToken, Membership, Organization, Role
from accounts.secrets import secret_hash
from accounts.services import (
    MEMBERS_GROUP,
    MembersGroupMissing,
    OrganizationNameTaken,
    UsernameTaken,
    api_token_create,
    owner_create,
    owner_grant,
)
from stores.tests.factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()

OWNER_PERMISSIONS = {
    "stores.view_store",
    "stores.add_store",
    "stores.change_store",
    "stores.delete_store",
    "stores.view_businesshours",
    "stores.add_businesshours",
    "stores.change_businesshours",
    "stores.delete_businesshours",
    "stores.view_statusspan",
    "reports.view_report",
    "accounts.view_organization",
    "accounts.view_membership",
    "accounts.add_membership",
    "accounts.change_membership",
    "accounts.delete_membership",
    "accounts.view_storegroup",
    "accounts.add_storegroup",
    "accounts.change_storegroup",
    "accounts.delete_storegroup",
    # stores.0008: closures, which a member's role and scope then limit in the admin.
    "stores.view_closure",
    "stores.add_closure",
    "stores.change_closure",
    "stores.delete_closure",
}


class FakeStdin(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__("")
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def run_create_owner(*args, tty: bool = False, monkeypatch=None) -> str:
    out = io.StringIO()
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", FakeStdin(tty))
    call_command("create_owner", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def line_value(output: str, label: str) -> str:
    match = re.search(rf"^{label}: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match[1]


def stores_status(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/stores/").status_code


def test_members_group_has_exactly_the_owner_permissions():
    group = Group.objects.get(name=MEMBERS_GROUP)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert granted == OWNER_PERMISSIONS


def test_an_owner_has_those_permissions_and_no_more():
    user = UserFactory(username="carol")
    owner_grant(user=user)
    user = User.objects.get(pk=user.pk)  # fresh permission cache
    assert user.get_all_permissions() == OWNER_PERMISSIONS


def test_create_owner_with_a_password(monkeypatch):
    output = run_create_owner(
        "carol", "--password", "a-long-pass-phrase", "--email", "c@example.com", monkeypatch=monkeypatch
    )
    user = User.objects.get(username="carol")
    assert user.is_staff and user.is_active and not user.is_superuser
    assert user.email == "c@example.com"
    assert user.check_password("a-long-pass-phrase")
    assert list(user.groups.values_list("name", flat=True)) == [MEMBERS_GROUP]
    assert "Password:" not in output
    token = line_value(output, "API token")
    # Stored as its hash only.
    stored = ApiToken.objects.get(user=user)
    assert stored.key_hash == secret_hash(token) and stored.prefix == token[:8]
    assert "stored hashed" in output
    assert stores_status(token) == 200
    assert list(Membership.objects.filter(user=user).values_list("organization__name", "role")) == [
        ("carol", Role.ADMIN)
    ]


def test_the_printed_token_sees_only_the_new_owners_stores(monkeypatch):
    StoreFactory(store_id="someone-elses")
    output = run_create_owner("carol", "--password", "a-long-pass-phrase", monkeypatch=monkeypatch)
    token = line_value(output, "API token")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/stores/").json() == []


def test_without_a_password_and_no_terminal_one_is_generated_and_printed(monkeypatch):
    output = run_create_owner("carol", tty=False, monkeypatch=monkeypatch)
    password = line_value(output, "Password")
    assert len(password) >= 20
    assert User.objects.get(username="carol").check_password(password)
    assert stores_status(line_value(output, "API token")) == 200


def test_without_a_password_on_a_terminal_it_is_asked_for(monkeypatch):
    answers = iter(["first-pass-phrase", "mistyped", "a-long-pass-phrase", "a-long-pass-phrase"])
    monkeypatch.setattr(create_owner_module.getpass, "getpass", lambda prompt="": next(answers))
    output = run_create_owner("carol", tty=True, monkeypatch=monkeypatch)
    assert "Password:" not in output
    assert User.objects.get(username="carol").check_password("a-long-pass-phrase")


def test_an_existing_user_is_an_error_and_is_left_alone(monkeypatch):
    existing = UserFactory(username="carol")
    with pytest.raises(CommandError, match="exists already"):
        run_create_owner("carol", "--password", "a-long-pass-phrase", monkeypatch=monkeypatch)
    existing.refresh_from_db()
    assert not existing.is_staff
    assert existing.check_password("correct horse battery staple")
    assert not existing.groups.exists()
    assert not ApiToken.objects.filter(user=existing).exists()


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("carol", "short", "too short"),
        ("carol", "password123", "too common"),
        ("carol", "", "too short"),
        ("not a username!", "a-long-pass-phrase", "valid username"),
        ("", "a-long-pass-phrase", "blank"),
    ],
)
def test_refused_usernames_and_passwords(monkeypatch, username, password, message):
    with pytest.raises(CommandError, match=message):
        run_create_owner(username, "--password", password, monkeypatch=monkeypatch)
    assert not User.objects.exists()


def test_without_the_members_group_it_says_to_migrate(monkeypatch):
    Group.objects.filter(name=MEMBERS_GROUP).delete()
    with pytest.raises(CommandError, match="migrate"):
        run_create_owner("carol", "--password", "a-long-pass-phrase", monkeypatch=monkeypatch)
    assert not User.objects.exists()


def test_owner_create_service():
    user, token = owner_create(username="carol", password="a-long-pass-phrase", email="")
    assert user.groups.filter(name=MEMBERS_GROUP).exists()
    assert ApiToken.objects.get(key_hash=secret_hash(token)).user == user
    # The admin of a new organization of the same name.
    [membership] = Membership.objects.filter(user=user)
    assert membership.organization.name == "carol" and membership.role == Role.ADMIN and membership.is_active
    with pytest.raises(UsernameTaken):
        owner_create(username="carol", password="a-long-pass-phrase")
    with pytest.raises(ValidationError):
        owner_create(username="dave", password="carol")
    # A new account, but the organization's name is another's already: nothing is made.
    Organization.objects.create(name="erin")
    with pytest.raises(OrganizationNameTaken):
        owner_create(username="erin", password="a-long-pass-phrase")
    assert not User.objects.filter(username="erin").exists()


def test_owner_grant_gives_a_token_once():
    user = UserFactory(username="carol")
    token = owner_grant(user=user)
    assert stores_status(token) == 200
    user.refresh_from_db()
    assert user.is_staff and user.groups.filter(name=MEMBERS_GROUP).exists()
    # Again: nothing changes, and the key (stored hashed) cannot be given again.
    assert owner_grant(user=user) is None
    assert user.groups.count() == 1
    assert list(Membership.objects.filter(user=user).values_list("organization__name", "role")) == [
        ("carol", Role.ADMIN)
    ]
    assert ApiToken.objects.filter(user=user).count() == 1
    assert stores_status(token) == 200


def test_owner_grant_keeps_an_existing_token():
    user = UserFactory(username="carol")
    token = api_token_create(user=user)
    assert owner_grant(user=user) is None
    assert stores_status(token) == 200
    assert ApiToken.objects.filter(user=user).count() == 1


def test_owner_grant_needs_the_group():
    Group.objects.filter(name=MEMBERS_GROUP).delete()
    with pytest.raises(MembersGroupMissing):
        owner_grant(user=UserFactory(username="carol"))


# --------------------------------------------------------------------------
# The user admin's "make owner" action
# --------------------------------------------------------------------------


def test_superuser_makes_an_owner_from_the_user_admin(client, superuser):
    user = UserFactory(username="carol")
    client.force_login(superuser)
    response = client.post("/admin/auth/user/", {"action": "make_owner", "_selected_action": [user.pk]})
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    token = re.search(r"<code>([^<]+)</code>", message)[1]
    user.refresh_from_db()
    assert user.is_staff and not user.is_superuser
    assert user.groups.filter(name=MEMBERS_GROUP).exists()
    assert stores_status(token) == 200
    # The new owner can log into the admin and open their stores.
    client.force_login(user)
    assert client.get("/admin/stores/store/").status_code == 200


def test_only_superusers_have_the_make_owner_action(client):
    # A staff member allowed to manage users, but not a superuser.
    staff = UserFactory(username="helper", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="auth", codename__in=["view_user", "change_user"])
    )
    target = UserFactory(username="carol")
    client.force_login(staff)
    response = client.get("/admin/auth/user/")
    assert response.status_code == 200
    action_form = response.context["action_form"]  # None when no action is left
    assert action_form is None or "make_owner" not in dict(action_form.fields["action"].choices)
    client.post("/admin/auth/user/", {"action": "make_owner", "_selected_action": [target.pk]})
    target.refresh_from_db()
    assert not target.is_staff
    assert not target.groups.exists()
