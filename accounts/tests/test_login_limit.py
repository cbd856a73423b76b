"""Failed logins limited per username and per address (stores/login_limit.py),
on the admin's login page that the dashboard and report pages use."""
from __future__ import annotations

import time

import pytest
from django.contrib.auth import authenticate
from django.test import Client, override_settings

from accounts.login_limit import client_address, wait_text
from accounts.services import owner_grant
from stores.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
LOGIN = "/admin/login/"
LOCKED_TEXT = "Too many failed logins"


@pytest.fixture
def alice(owner):
    owner_grant(user=owner)  # staff: may log into the admin
    return owner


def log_in(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/dashboard/"}, **extra)


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == "/dashboard/"


def fail(client: Client, username: str, times: int, **extra) -> None:
    for _ in range(times):
        response = log_in(client, username, "wrong password", **extra)
        assert response.status_code == 200 and not logged_in(response)


@pytest.fixture
def clock(monkeypatch):
    """time.time() under the test's control (the cache's expiry reads it too)."""
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_a_right_password_logs_in(client, alice):
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_five_failures_lock_the_username_with_a_clear_message(client, alice):
    fail(client, "alice", 4)
    response = log_in(client, "alice", "wrong password")
    # The fifth failure locks: its own answer says so.
    assert LOCKED_TEXT in response.content.decode()
    # Now even the right password is refused, with the reason and the wait.
    response = log_in(client, "alice", PASSWORD)
    assert not logged_in(response)
    page = response.content.decode()
    assert LOCKED_TEXT in page and "Try again in 15 minutes" in page
    assert "_auth_user_id" not in client.session


def test_the_dashboard_login_shows_it_too(client, alice):
    fail(client, "alice", 5)
    login_page = client.get("/dashboard/", follow=True)
    assert login_page.request["PATH_INFO"] == LOGIN
    response = client.post(login_page.request["PATH_INFO"] + "?next=/dashboard/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and LOCKED_TEXT in response.content.decode()


def test_the_lock_ends_after_the_period(client, alice, clock):
    fail(client, "alice", 5)
    clock[0] += 14 * 60
    assert "Try again in 1 minute" in log_in(client, "alice", PASSWORD).content.decode()
    clock[0] += 61
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_attempts_while_locked_do_not_extend_it(client, alice, clock):
    fail(client, "alice", 5)
    for _ in range(10):
        clock[0] += 60
        fail(client, "alice", 1)
    clock[0] += 5 * 60 + 1
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_failures_through_authenticate_while_locked_do_not_extend_it(alice, clock):
    """The same through authenticate() itself (as any login path calls it):
    the admin's form refuses a locked username before authenticate() runs,
    so the test above cannot reach the counting while locked."""
    for _ in range(5):
        assert authenticate(None, username="alice", password="wrong password") is None
    assert authenticate(None, username="alice", password=PASSWORD) is None  # locked
    for _ in range(14):
        clock[0] += 60
        assert authenticate(None, username="alice", password="wrong password") is None
    clock[0] += 61  # 15 minutes and a second after the lock began
    assert authenticate(None, username="alice", password=PASSWORD) == alice


def test_failures_older_than_the_period_are_forgotten(client, alice, clock):
    fail(client, "alice", 4)
    clock[0] += 15 * 60 + 1
    fail(client, "alice", 4)
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_a_success_clears_the_usernames_count(client, alice):
    fail(client, "alice", 4)
    assert logged_in(log_in(client, "alice", PASSWORD))
    client.logout()
    fail(client, "alice", 4)
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_the_username_is_locked_from_every_address_and_in_any_case(client, alice):
    fail(client, "alice", 5, REMOTE_ADDR="10.0.0.1")
    assert not logged_in(log_in(client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.2"))
    # Another username from the same address is not locked (the address has 5 of its 20).
    UserFactory(username="carol", is_staff=True)
    assert logged_in(log_in(Client(), "carol", PASSWORD, REMOTE_ADDR="10.0.0.1"))
    fail(client, "ALICE", 1)  # the same username for the limit (a failure: usernames are case-sensitive)
    assert LOCKED_TEXT in log_in(client, "Alice", PASSWORD).content.decode()


def test_an_unknown_username_is_locked_alike(client):
    # Locked or not says nothing about whether the account exists.
    fail(client, "nobody", 4)
    assert LOCKED_TEXT in log_in(client, "nobody", "guess").content.decode()


def test_twenty_failures_lock_the_address(client, alice):
    for index in range(20):
        fail(client, f"guess-{index}", 1, REMOTE_ADDR="10.0.0.9")
    response = log_in(client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.9")
    assert LOCKED_TEXT in response.content.decode()
    # From elsewhere alice logs in.
    assert logged_in(log_in(Client(), "alice", PASSWORD, REMOTE_ADDR="10.0.0.10"))


@override_settings(MONITOR_LOGIN_MAX_FAILURES=2, MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS=0, MONITOR_LOGIN_LOCKOUT_MINUTES=1)
def test_the_limits_are_settings(client, alice):
    fail(client, "alice", 2)
    assert "Try again in 1 minute" in log_in(client, "alice", PASSWORD).content.decode()


@override_settings(MONITOR_LOGIN_MAX_FAILURES=0, MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS=0)
def test_zero_turns_the_limits_off(client, alice):
    fail(client, "alice", 30)
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_every_login_path_is_refused_while_locked(client, alice):
    fail(client, "alice", 5)
    # authenticate() itself, as any code calls it.
    assert authenticate(None, username="alice", password=PASSWORD) is None
    assert not client.login(username="alice", password=PASSWORD)


def test_behind_a_proxy_the_address_is_the_last_forwarded_one(client, alice, settings):
    settings.USE_X_FORWARDED_FOR = True
    # The client forged the first entry; the proxy appended the real address.
    for index in range(20):
        fail(client, f"guess-{index}", 1, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{index}, 10.0.0.9")
    assert not logged_in(log_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="10.0.0.9"))
    # Another client behind the same proxy is not locked out.
    assert logged_in(log_in(Client(), "alice", PASSWORD, HTTP_X_FORWARDED_FOR="10.0.0.10"))


def test_client_address(rf, settings):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.0.0.9")
    settings.USE_X_FORWARDED_FOR = False
    assert client_address(request) == "127.0.0.1"
    settings.USE_X_FORWARDED_FOR = True
    assert client_address(request) == "10.0.0.9"
    assert client_address(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
    assert client_address(None) is None


@pytest.mark.parametrize(("seconds", "text"), [(1, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")])
def test_wait_text(seconds, text):
    assert wait_text(seconds) == text


@override_settings(MONITOR_LOGIN_MAX_FAILURES=1, MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS=0)
def test_a_limit_of_one_locks_at_the_first_failure(client, alice):
    fail(client, "alice", 1)
    assert not logged_in(log_in(client, "alice", PASSWORD))


@override_settings(MONITOR_LOGIN_MAX_FAILURES=0, MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS=1)
def test_an_address_limit_of_one_locks_at_the_first_failure(client, alice):
    fail(client, "someone-else", 1)
    assert not logged_in(log_in(client, "alice", PASSWORD))


def test_the_lock_holds_to_its_last_second(client, alice, clock):
    fail(client, "alice", 5)
    clock[0] += 15 * 60 - 0.5
    assert not logged_in(log_in(client, "alice", PASSWORD))
    clock[0] += 0.5
    assert logged_in(log_in(client, "alice", PASSWORD))


def test_failures_while_locked_are_not_counted_towards_the_next_lock(alice, clock):
    for _ in range(5):
        authenticate(None, username="alice", password="wrong password")
    clock[0] += 60
    for _ in range(4):  # refused, locked: not counted
        authenticate(None, username="alice", password="wrong password")
    clock[0] += 14 * 60 + 1  # the lock is over
    assert authenticate(None, username="alice", password="wrong password") is None
    # One failure after the lock: far from five, so the right password works.
    assert authenticate(None, username="alice", password=PASSWORD) == alice


@pytest.mark.parametrize("limit", [2, 3])
def test_a_count_that_expires_between_its_creation_and_its_increment_starts_again_at_one(alice, cache_count_expires_once, settings, limit):
    """The first failure meets the count expiring under it: it counts as one,
    so one failure fewer than the limit still leaves the username open."""
    settings.MONITOR_LOGIN_MAX_FAILURES, settings.MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS = limit, 0
    for _ in range(limit - 1):
        assert authenticate(None, username="alice", password="wrong password") is None
    assert authenticate(None, username="alice", password=PASSWORD) == alice
