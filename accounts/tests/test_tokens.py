"""API tokens stored hashed (stores.ApiToken, stores.authentication.ApiTokenAuthentication):
the key is shown once, checked by its hash in constant time, rotated by a
command or the admin; migration 0003 converts DRF's plain authtoken keys."""
from __future__ import annotations

import datetime as dt
import importlib
import io
import re
import types

import pytest
from django.db.migrations.loader import MigrationLoader
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import authentication
from accounts.models import ApiToken
from accounts.secrets import secret_hash
from accounts.services import api_token_create, api_token_replace, api_token_rotate, owner_grant
from stores.tests.factories import StoreFactory, UserFactory, organization_of

pytestmark = pytest.mark.django_db

KEY_IN_MESSAGE = re.compile(r"<code>([^<]+)</code>")


def status_with(key: str, header: str = "Token") -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{header} {key}")
    return client.get("/api/stores/").status_code


def test_only_the_hash_and_a_short_prefix_are_stored(owner):
    key = api_token_create(user=owner)
    token = ApiToken.objects.get(user=owner)
    assert len(key) >= 40
    assert token.key_hash == secret_hash(key) and len(token.key_hash) == 64
    assert token.prefix == key[:8]
    # The key is nowhere in the row.
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in {str(value) for value in row.values()}


def test_authtoken_is_not_installed():
    assert "rest_framework.authtoken" not in settings.INSTALLED_APPS
    assert not any("rest_framework.authentication.TokenAuthentication" == path
                   for path in settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"])


def test_the_token_keyword_authenticates(owner):
    StoreFactory(owner=owner, store_id="mine")
    key = api_token_create(user=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/stores/")
    assert response.status_code == 200
    assert [store["store_id"] for store in response.json()] == ["mine"]
    # The keyword is case-insensitive, as DRF's.
    assert status_with(key, "token") == 200


@pytest.mark.parametrize(
    "authorization",
    ["Token", "Token a b", "Token not-a-token", "Bearer {key}", "Token {key}x", "Token {prefix}"],
)
def test_wrong_tokens_are_401(owner, authorization):
    key = api_token_create(user=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization.format(key=key, prefix=key[:8]))
    response = client.get("/api/stores/")
    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}
    assert response["WWW-Authenticate"] == "Token"


def test_an_inactive_users_token_is_401(owner):
    key = api_token_create(user=owner)
    owner.is_active = False
    owner.save()
    assert status_with(key) == 401


def test_the_check_compares_hashes_in_constant_time(owner, monkeypatch):
    key = api_token_create(user=owner)
    compared = []
    real = authentication.secret_matches

    def spy(candidate, stored_hash):
        compared.append((candidate, stored_hash))
        return real(candidate, stored_hash)

    monkeypatch.setattr(authentication, "secret_matches", spy)
    assert status_with(key) == 200
    assert compared == [(key, secret_hash(key))]


def test_device_keys_too_are_compared_in_constant_time(owner, monkeypatch):
    from stores import device_keys
    from stores.services import store_register

    device_key = store_register(organization=organization_of(owner), store_id="dev-1").device_key
    compared = []
    monkeypatch.setattr(device_keys, "secret_matches", lambda *args: compared.append(args) or True)
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=device_key)
    response = client.post(
        "/poll", {"id": "dev-1", "utc_timestamp": "2024-01-10T12:00:00Z", "status": "active"}, format="json"
    )
    assert response.status_code == 201
    assert compared == [(device_key, secret_hash(device_key))]


def test_last_used_is_written_at_most_every_few_minutes(owner, django_assert_num_queries):
    key = api_token_create(user=owner)
    token = ApiToken.objects.get()
    assert token.last_used_at is None
    assert status_with(key) == 200
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < dt.timedelta(minutes=1)
    assert status_with(key) == 200
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - authentication.TOKEN_LAST_USED_EVERY)
    assert status_with(key) == 200
    token.refresh_from_db()
    assert token.last_used_at > first


def test_a_user_may_hold_several_tokens(owner):
    first, second = api_token_create(user=owner), api_token_create(user=owner)
    assert status_with(first) == status_with(second) == 200


def test_rotate_replaces_every_token_of_the_user(owner, other_owner):
    old = [api_token_create(user=owner), api_token_create(user=owner)]
    others = api_token_create(user=other_owner)
    new = api_token_rotate(user=owner)
    assert [status_with(key) for key in old] == [401, 401]
    assert status_with(new) == 200
    assert status_with(others) == 200


def test_replace_one_token(owner):
    kept = api_token_create(user=owner)
    replaced = api_token_create(user=owner)
    new = api_token_replace(token=ApiToken.objects.get(key_hash=secret_hash(replaced)))
    assert (status_with(kept), status_with(replaced), status_with(new)) == (200, 401, 200)


# --------------------------------------------------------------------------
# manage.py rotate_token
# --------------------------------------------------------------------------


def test_rotate_token_command_prints_a_new_key_once(owner):
    old = api_token_create(user=owner)
    out = io.StringIO()
    call_command("rotate_token", "alice", stdout=out)
    output = out.getvalue()
    key = re.search(r"^API token: (\S+)$", output, re.MULTILINE)[1]
    assert "cannot be shown again" in output
    assert status_with(key) == 200
    assert status_with(old) == 401


def test_rotate_token_command_gives_a_first_token(owner):
    out = io.StringIO()
    call_command("rotate_token", "alice", stdout=out)
    key = re.search(r"^API token: (\S+)$", out.getvalue(), re.MULTILINE)[1]
    assert status_with(key) == 200


def test_rotate_token_command_refuses_unknown_and_inactive_users(owner):
    with pytest.raises(CommandError, match="no user"):
        call_command("rotate_token", "nobody", stdout=io.StringIO())
    owner.is_active = False
    owner.save()
    with pytest.raises(CommandError, match="not active"):
        call_command("rotate_token", "alice", stdout=io.StringIO())
    assert not ApiToken.objects.exists()


# --------------------------------------------------------------------------
# The admin: each staff account sees and replaces its own tokens
# --------------------------------------------------------------------------

TOKENS = "/admin/accounts/apitoken/"


@pytest.fixture
def alice_client(owner) -> Client:
    owner_grant(user=owner)
    client = Client()
    client.force_login(owner)
    return client


def messages_keys(response) -> list[str]:
    from django.contrib.messages import get_messages

    return [KEY_IN_MESSAGE.search(str(m))[1] for m in get_messages(response.wsgi_request) if "<code>" in str(m)]


def test_owner_sees_only_their_tokens_by_prefix(alice_client, owner, other_owner):
    mine = ApiToken.objects.get(user=owner)
    theirs = ApiToken.objects.get(key_hash=secret_hash(api_token_create(user=other_owner)))
    page = alice_client.get(TOKENS).content.decode()
    assert f"{mine.prefix}…" in page
    assert f"{theirs.prefix}…" not in page
    assert alice_client.get(f"{TOKENS}{mine.pk}/change/").status_code == 200
    assert alice_client.get(f"{TOKENS}{theirs.pk}/change/").status_code == 404
    # Nothing to add or edit: keys are made, never typed.
    assert alice_client.get(f"{TOKENS}add/").status_code == 403
    # The owners' admin index lists the tokens.
    assert TOKENS in alice_client.get("/admin/").content.decode()


def test_owner_replaces_their_token_in_the_admin(alice_client, owner, other_owner):
    mine = ApiToken.objects.get(user=owner)
    theirs_key = api_token_create(user=other_owner)
    theirs = ApiToken.objects.get(key_hash=secret_hash(theirs_key))
    response = alice_client.post(TOKENS, {"action": "replace_tokens", "_selected_action": [mine.pk, theirs.pk]})
    assert response.status_code == 302
    [key] = messages_keys(response)
    assert ApiToken.objects.get(key_hash=secret_hash(key)).user == owner
    assert not ApiToken.objects.filter(pk=mine.pk).exists()
    assert status_with(key) == 200
    assert status_with(theirs_key) == 200  # another owner's token is out of reach


def test_owner_deletes_their_token(alice_client, owner):
    mine = ApiToken.objects.get(user=owner)
    response = alice_client.post(f"{TOKENS}{mine.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=owner).exists()


def test_superuser_gives_a_user_a_new_token_from_the_user_admin(client, superuser, owner):
    old = api_token_create(user=owner)
    client.force_login(superuser)
    response = client.post("/admin/auth/user/", {"action": "rotate_api_token", "_selected_action": [owner.pk]})
    [key] = messages_keys(response)
    assert status_with(key) == 200 and status_with(old) == 401


def test_superuser_sees_every_token(client, superuser, owner, other_owner):
    tokens = [ApiToken.objects.get(key_hash=secret_hash(api_token_create(user=user))) for user in (owner, other_owner)]
    client.force_login(superuser)
    page = client.get(TOKENS).content.decode()
    assert all(f"{token.prefix}…" in page for token in tokens)


def test_make_owner_shows_a_new_token_or_keeps_the_existing_one(client, superuser):
    carol, dave = UserFactory(username="carol"), UserFactory(username="dave")
    kept = api_token_create(user=dave)
    client.force_login(superuser)
    response = client.post("/admin/auth/user/", {"action": "make_owner", "_selected_action": [carol.pk, dave.pk]})
    [key] = messages_keys(response)
    assert ApiToken.objects.get(key_hash=secret_hash(key)).user == carol
    assert status_with(kept) == 200
    assert ApiToken.objects.filter(user=dave).count() == 1


# --------------------------------------------------------------------------
# Migration 0003: DRF's plain keys become hashes, and are deleted
# --------------------------------------------------------------------------


def apps_at_0003():
    """The models as the migration saw them: ApiToken was in the stores app
    then (it moved to accounts later, keeping its table).

    The test database has the table as it is now, though, with the columns
    added since (read_only, NOT NULL). A real run fills those in for the rows
    0003 made by their own migrations (AddField with a default), so the model
    is given them, with those defaults: the rows come out as they would."""
    loader = MigrationLoader(connection)
    state = loader.project_state(("stores", "0003_api_tokens"))
    then = state.models["stores", "apitoken"]
    now = loader.project_state().models["accounts", "apitoken"]
    for name, field in now.fields.items():
        if name not in then.fields:
            assert field.has_default() or field.null, f"{name}: a column added since 0003 needs a default"
            then.fields[name] = field.clone()
    return state.apps


def test_the_migration_converts_authtoken_keys_and_deletes_them(owner, other_owner):
    migration = importlib.import_module("stores.migrations.0003_api_tokens")
    created = dt.datetime(2024, 3, 1, 8, 30, tzinfo=dt.timezone.utc)
    datetime_type = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    keys = {owner.pk: "a" * 40, other_owner.pk: "0123456789abcdef0123456789abcdef01234567"}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created {datetime_type} NOT NULL, "
            "user_id integer NOT NULL UNIQUE)"
        )
        for user_id, key in keys.items():
            value = created if connection.vendor == "postgresql" else "2024-03-01 08:30:00"
            cursor.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)", [key, value, user_id])
    try:
        migration.convert_authtoken_keys(apps_at_0003(), types.SimpleNamespace(connection=connection))
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no plain key left
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE authtoken_token")
    for user_id, key in keys.items():
        token = ApiToken.objects.get(user_id=user_id)
        assert token.key_hash == secret_hash(key) and token.prefix == key[:8]
        assert token.created_at == created
        assert not token.read_only  # as accounts.0002 made the converted tokens
        # The same key goes on working.
        assert status_with(key) == 200


def test_the_migration_does_nothing_without_the_authtoken_table():
    migration = importlib.import_module("stores.migrations.0003_api_tokens")
    migration.convert_authtoken_keys(apps_at_0003(), types.SimpleNamespace(connection=connection))
    assert not ApiToken.objects.exists()


def test_last_used_is_written_again_once_five_minutes_have_passed_to_the_microsecond(owner):
    import time_machine

    key = api_token_create(user=owner)
    token = ApiToken.objects.get(user=owner)
    with time_machine.travel("2024-01-10 12:00:00Z", tick=False) as clock:
        assert status_with(key) == 200
        clock.shift(dt.timedelta(minutes=5) - dt.timedelta(microseconds=1))
        assert status_with(key) == 200
        token.refresh_from_db()
        assert token.last_used_at == dt.datetime(2024, 1, 10, 12, tzinfo=dt.timezone.utc)
        clock.shift(dt.timedelta(microseconds=1))
        assert status_with(key) == 200
        token.refresh_from_db()
        assert token.last_used_at == dt.datetime(2024, 1, 10, 12, 5, tzinfo=dt.timezone.utc)


def test_the_token_admin_grants_nothing_on_another_accounts_token(rf, owner, other_owner):
    """Its changelist already keeps to one's own tokens; the permission says so too."""
    from django.contrib import admin

    token = ApiToken.objects.get(key_hash=secret_hash(api_token_create(user=other_owner)))
    request = rf.get("/admin/accounts/apitoken/")
    request.user = owner
    token_admin = admin.site._registry[ApiToken]
    assert not token_admin.has_view_permission(request, token)
    assert not token_admin.has_delete_permission(request, token)
    own = ApiToken.objects.get(key_hash=secret_hash(api_token_create(user=owner)))
    assert token_admin.has_view_permission(request, own)
