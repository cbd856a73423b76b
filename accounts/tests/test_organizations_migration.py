"""Stores move from owners to organizations (migrations accounts.0002,
stores.0006, reports.0005, accounts.0003), starting from the schema before
them with two owners' data: every owner becomes the admin of an organization
of their own holding exactly their stores; every token keeps working with
the powers it had; every report stays its requester's."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.models import Membership, Organization, Role
from accounts.secrets import secret_hash
from stores.models import Store

BEFORE = [
    ("stores", "0005_api_token_moved_to_accounts"),
    ("accounts", "0001_initial"),
    ("reports", "0004_figures_refresh"),
]
T0 = dt.datetime(2024, 1, 10, 12, tzinfo=dt.timezone.utc)


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def before_organizations():
    """The database at the schema before organizations; brought back to the latest one afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_two_owners_become_two_organizations_with_every_store_token_and_report_kept(before_organizations):
    old = before_organizations
    User = old.get_model("auth", "User")
    owners = old.get_model("auth", "Group").objects.get_or_create(name="owners")[0]
    alice = User.objects.create(username="alice", is_staff=True)
    bob = User.objects.create(username="bob", is_staff=True)
    carol = User.objects.create(username="carol", is_staff=True)  # an owner with no store yet
    root = User.objects.create(username="root", is_staff=True, is_superuser=True)
    for user in (alice, bob, carol):
        user.groups.add(owners)
    OldStore = old.get_model("stores", "Store")
    stores = {
        store_id: OldStore.objects.create(store_id=store_id, owner=owner, device_key_hash=secret_hash(f"device-{store_id}"))
        for store_id, owner in [("a-1", alice), ("a-2", alice), ("b-1", bob)]
    }
    old.get_model("stores", "BusinessHours").objects.create(
        store=stores["a-1"], day_of_week=0, start_time_local=dt.time(9), end_time_local=dt.time(17)
    )
    old.get_model("stores", "StatusSpan").objects.create(
        store=stores["b-1"], status="active", first_poll_at=T0, last_poll_at=T0, poll_count=1
    )
    ApiToken = old.get_model("accounts", "ApiToken")
    for user in (alice, bob, carol, root):
        ApiToken.objects.create(user=user, prefix=f"{user.username}-"[:8], key_hash=secret_hash(f"token-{user.username}"))
    Report = old.get_model("reports", "Report")
    reports = {
        user.username: Report.objects.create(id=uuid.uuid4(), requested_by=user, as_of=T0, status="Running")
        for user in (alice, bob)
    }

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Every owner (with stores or not), and the superuser who held a token, is the admin of an organization of their own.
    assert sorted(Organization.objects.values_list("name", flat=True)) == ["alice", "bob", "carol", "root"]
    assert sorted(Membership.objects.values_list("organization__name", "user__username", "role")) == [
        ("alice", "alice", Role.ADMIN),
        ("bob", "bob", Role.ADMIN),
        ("carol", "carol", Role.ADMIN),
        ("root", "root", Role.ADMIN),
    ]
    assert dict(Store.objects.values_list("store_id", "organization__name")) == {"a-1": "alice", "a-2": "alice", "b-1": "bob"}
    assert Store.objects.get(store_id="a-1").business_hours.count() == 1
    assert Store.objects.get(store_id="b-1").spans.count() == 1
    # The owners group is the members group now, with the same people in it.
    assert sorted(Group.objects.get(name="members").user_set.values_list("username", flat=True)) == ["alice", "bob", "carol"]
    assert not Group.objects.filter(name="owners").exists()

    # Each token sees what it saw before: its owner's stores, everything for the superuser.
    seen = {
        name: sorted(store["store_id"] for store in client_with(f"token-{name}").get("/api/stores/").json())
        for name in ("alice", "bob", "carol", "root")
    }
    assert seen == {"alice": ["a-1", "a-2"], "bob": ["b-1"], "carol": [], "root": ["a-1", "a-2", "b-1"]}
    alice_api, bob_api = client_with("token-alice"), client_with("token-bob")
    assert bob_api.get("/api/stores/a-1/").status_code == 404
    # ... and may do what it did: change its stores, register new ones, post polls for them.
    assert alice_api.put("/api/stores/a-1/", {"local_timezone": "Europe/Paris"}, format="json").status_code == 200
    assert alice_api.post("/register_store", {"store_id": "a-3"}, format="json").status_code == 201
    assert Store.objects.get(store_id="a-3").organization.name == "alice"
    poll = {"id": "b-1", "utc_timestamp": "2024-01-10T13:00:00Z", "status": "active"}
    assert bob_api.post("/poll", poll, format="json").status_code == 201
    assert alice_api.post("/poll", poll, format="json").status_code == 404
    assert client_with("token-carol").post("/register_store", {"store_id": "c-1"}, format="json").status_code == 201
    # The device keys are untouched.
    device = APIClient()
    device.credentials(HTTP_X_STORE_KEY="device-a-2")
    assert device.post("/poll", {**poll, "id": "a-2"}, format="json").status_code == 201

    # Reports stay their requesters', unlimited.
    for name, report in reports.items():
        other = "bob" if name == "alice" else "alice"
        assert client_with(f"token-{name}").get(f"/api/reports/{report.pk}/").json()["group"] is None
        assert client_with(f"token-{other}").get(f"/api/reports/{report.pk}/").status_code == 404
