"""Wrong credentials limited per client address (finding 7 of issue 9,
stores/auth_failures.py): past MONITOR_THROTTLE_AUTH_FAILURES failures, the
address's credentials are not checked (429 too_many_auth_failures, with
Retry-After) until the period that began with its first failure is over."""
from __future__ import annotations

import secrets

import pytest
import time_machine
from django.test import override_settings
from rest_framework.test import APIClient

from stores.services import store_register
from stores.tests.factories import organization_of

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


def with_token(token: str, address: str = ADDRESS) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def with_key(key: str, address: str = ADDRESS) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_X_STORE_KEY=key)
    return client


def poll(store_id: str, minute: int) -> dict:
    return {"id": store_id, "utc_timestamp": f"2024-01-10T12:{minute:02d}:00Z", "status": "active"}


def assert_refused_unchecked(response) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_auth_failures"
    assert response.json()["message"].startswith("Too many requests with wrong credentials from your address")
    assert 1 <= int(response["Retry-After"]) <= 60


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="30/min")
def test_random_tokens_from_one_address_are_refused_after_30(owner):
    """300 random tokens were all 401 before, and each cost a hash and a lookup."""
    answers = [with_token(secrets.token_urlsafe(32)).get("/api/stores/") for _ in range(300)]

    assert [answer.status_code for answer in answers[:30]] == [401] * 30
    for answer in answers[30:]:
        assert_refused_unchecked(answer)


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="30/min")
def test_random_device_keys_count_with_wrong_tokens(owner):
    for _ in range(20):
        assert with_token(secrets.token_urlsafe(32)).get("/api/stores/").status_code == 401
    answers = [with_key(secrets.token_urlsafe(32)).post("/poll", poll("s", 0), format="json") for _ in range(280)]

    assert [answer.status_code for answer in answers[:10]] == [401] * 10
    for answer in answers[10:]:
        assert_refused_unchecked(answer)


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="3/min")
def test_right_credentials_are_never_counted(owner, api):
    device_key = store_register(organization=organization_of(owner), store_id="dev-1").device_key
    token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    for minute in range(50):
        assert with_token(token).get("/api/stores/").status_code == 200
        assert with_key(device_key).post("/poll", poll("dev-1", minute), format="json").status_code == 201
    for _ in range(3):
        assert with_token("wrong").get("/api/stores/").status_code == 401
    assert_refused_unchecked(with_token("wrong").get("/api/stores/"))


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="3/min")
def test_while_refused_no_credentials_from_the_address_are_checked_and_other_addresses_go_on(owner, api):
    token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    for _ in range(3):
        with_token("wrong").get("/api/stores/")
    # Not checked, so not known to be right: the guesser learns nothing, and costs nothing.
    assert_refused_unchecked(with_token(token).get("/api/stores/"))
    assert with_token(token, address="198.51.100.1").get("/api/stores/").status_code == 200
    # Requests without token or key are not affected (a session, or none).
    assert APIClient(REMOTE_ADDR=ADDRESS).get("/api/stores/").status_code == 401


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="3/min")
def test_the_address_is_checked_again_once_the_minute_is_over(owner, api):
    token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    with time_machine.travel("2024-01-10 12:00:00Z", tick=False) as clock:
        for _ in range(3):
            with_token("wrong").get("/api/stores/")
        clock.shift(45)
        refused = with_token(token).get("/api/stores/")
        assert_refused_unchecked(refused)
        assert refused["Retry-After"] == "15"
        clock.shift(15)
        assert with_token(token).get("/api/stores/").status_code == 200


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="none")
def test_none_turns_the_limit_off(owner):
    for _ in range(100):
        assert with_token("wrong").get("/api/stores/").status_code == 401


def test_the_default_is_30_a_minute(settings):
    from monitor_project.tests.test_settings import load_settings

    result = load_settings({"SECRET_KEY": "x"}, "settings.MONITOR_THROTTLE_AUTH_FAILURES")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '"30/min"'


def test_the_counts_work_in_a_cache_that_servers_share(owner, settings):
    """CACHE_URL=dbcache://...: the counts live in the database, shared by every process."""
    from django.core.cache import caches
    from django.core.management import call_command

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "shared_cache"}}
    settings.MONITOR_THROTTLE_AUTH_FAILURES = "3/min"
    call_command("createcachetable", verbosity=0)
    for _ in range(3):
        assert with_token("wrong").get("/api/stores/").status_code == 401
    assert_refused_unchecked(with_token("wrong").get("/api/stores/"))
    assert caches["default"].__class__.__name__ == "DatabaseCache"


@override_settings(MONITOR_THROTTLE_AUTH_FAILURES="3/min")
def test_the_address_is_refused_to_the_last_second_of_the_minute(owner, api):
    token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    with time_machine.travel("2024-01-10 12:00:00Z", tick=False) as clock:
        for _ in range(3):
            with_token("wrong").get("/api/stores/")
        clock.shift(59.5)
        refused = with_token(token).get("/api/stores/")
        assert_refused_unchecked(refused)
        assert refused["Retry-After"] == "1"


@pytest.mark.parametrize("limit", [2, 3])
def test_a_count_that_expires_between_its_creation_and_its_increment_starts_again_at_one(owner, cache_count_expires_once, settings, limit):
    """The first failure meets its count expiring under it: it counts as one."""
    settings.MONITOR_THROTTLE_AUTH_FAILURES = f"{limit}/min"
    for _ in range(limit - 1):
        assert with_token("wrong").get("/api/stores/").status_code == 401
    assert with_token("wrong").get("/api/stores/").status_code == 401  # the limit-th: checked
    assert_refused_unchecked(with_token("wrong").get("/api/stores/"))
