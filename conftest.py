"""Fixtures shared by every app's tests."""
import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group, Permission
from hypothesis import Phase, settings
from rest_framework.test import APIClient

from accounts.services import MEMBERS_GROUP, api_token_create
from stores.tests.factories import UserFactory, organization_of


# scripts/mutation-test runs the tests once per mutant: a failing property
# test is failure enough there, without shrinking its example.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.fixture(autouse=True)
def empty_cache():
    """The cache holds flags between requests (e.g. a queued figures refresh): no test sees another's.
    Likewise the process's cached device key lookups (stores.device_keys): each test's stores are its own."""
    from django.core.cache import cache

    from stores.device_keys import device_key_cache_clear

    cache.clear()
    device_key_cache_clear()


@pytest.fixture
def cache_count_expires_once(monkeypatch) -> None:
    """The first cache.incr() meets its key expiring just then (between the
    count's add() and its incr()), as a window count can in production."""
    from django.core.cache import cache

    real_incr = cache.incr
    calls = []

    def incr_once_expired(key, *args, **kwargs):
        calls.append(key)
        if len(calls) == 1:
            cache.delete(key)
            raise ValueError(key)
        return real_incr(key, *args, **kwargs)

    monkeypatch.setattr(cache, "incr", incr_once_expired)


@pytest.fixture
def members_group(db) -> Group:
    """The members group, as its data migration makes it.

    A transactional test's teardown empties the database: post_migrate puts
    the permissions back, but not the group, which a data migration made. So
    after any earlier transactional test it is made again from the migration's
    list.
    """
    lists = [
        importlib.import_module("accounts.migrations.0003_members_group").MEMBER_PERMISSIONS,
        importlib.import_module("stores.migrations.0008_members_closure_permissions").CLOSURE_PERMISSIONS,
    ]
    group, created = Group.objects.get_or_create(name=MEMBERS_GROUP)
    if created:
        wanted = {(label, codename) for permissions in lists for label, codenames in permissions.items() for codename in codenames}
        permissions = [
            permission
            for permission in Permission.objects.select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        assert len(permissions) == len(wanted)
        group.permissions.set(permissions)
    return group


def owner_account(username: str, group: Group):
    """An owner as `manage.py create_owner` makes one: staff, not a superuser,
    in the members group, the admin of an organization of the same name (its
    API token is made where a test needs it)."""
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(group)
    organization_of(user)
    return user


@pytest.fixture
def owner(members_group):
    return owner_account("alice", members_group)


@pytest.fixture
def other_owner(members_group):
    return owner_account("bob", members_group)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def token_client(user, *, read_only: bool = False) -> APIClient:
    """An API client with a new token of the user's (read-only if asked)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, read_only=read_only)}")
    return client


@pytest.fixture
def api(owner) -> APIClient:
    """A client authenticated with the owner's token."""
    return token_client(owner)


@pytest.fixture
def other_api(other_owner) -> APIClient:
    return token_client(other_owner)


@pytest.fixture
def admin_api(superuser) -> APIClient:
    return token_client(superuser)


@pytest.fixture
def task_workers(settings) -> Iterator[Callable[..., list[subprocess.Popen]]]:
    """Start `manage.py task_worker` processes on the test database (PostgreSQL;
    the test must commit what they should see: transaction=True), with
    settings given as environment variables; all are stopped afterwards."""
    from django.db import connection

    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    database_url = f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"
    started: list[subprocess.Popen] = []

    def start(count: int, *, interval: float, env: dict[str, str] | None = None) -> list[subprocess.Popen]:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "monitor_project.settings",
            "ENV_FILE": os.devnull,
            "DEBUG": "false",  # no autoreloader: the process started is the worker
            "SECRET_KEY": "test-worker-secret-key",
            "DATABASE_URL": database_url,
            "TASK_BACKEND": "database",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # a test reads the files they write
            **(env or {}),
        }
        command = [sys.executable, "manage.py", "task_worker", "--interval", str(interval), "--no-startup-delay"]
        processes = [
            subprocess.Popen(
                [*command, "--verbosity", "0"],
                cwd=Path(__file__).resolve().parent,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(count)
        ]
        started.extend(processes)
        return processes

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
