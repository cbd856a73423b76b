"""/api/incidents/: whoever sees a store sees its incidents (filters: open,
store, group, since); managers acknowledge open ones."""
from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Role
from alerts.models import Incident
from conftest import token_client
from stores.tests.factories import OrganizationFactory, StoreFactory, StoreGroupFactory, member_account

pytestmark = pytest.mark.django_db
URL = "/api/incidents/"
T = dt.datetime(2024, 1, 10, 16, tzinfo=dt.timezone.utc)


@pytest.fixture
def acme():
    organization = OrganizationFactory(name="acme")
    north = StoreGroupFactory(organization=organization, name="north")
    n1 = StoreFactory(store_id="n-1", organization=organization, groups=[north])
    s1 = StoreFactory(store_id="s-1", organization=organization)
    gx = StoreFactory(store_id="gx-1", organization=OrganizationFactory(name="globex"))
    Incident.objects.create(store=n1, started_at=T, opened_at=T + dt.timedelta(minutes=10), reason="inactive")
    Incident.objects.create(
        store=s1, started_at=T - dt.timedelta(days=2), opened_at=T - dt.timedelta(days=2), reason="no_signal",
        resolved_at=T - dt.timedelta(days=1), business_downtime_seconds=7200,
    )
    Incident.objects.create(store=gx, started_at=T, opened_at=T, reason="inactive")
    return organization


def ids(client, **params) -> list[str]:
    return [incident["store_id"] for incident in client.get(URL, params).json()]


def test_a_member_lists_their_stores_incidents_with_filters(acme):
    viewer = token_client(member_account(acme, "vera", Role.VIEWER))
    assert ids(viewer) == ["n-1", "s-1"]
    assert ids(viewer, open="true") == ["n-1"]
    assert ids(viewer, open="false") == ["s-1"]
    assert ids(viewer, store_id="s-1") == ["s-1"]
    assert ids(viewer, group="north") == ["n-1"]
    assert ids(viewer, since="2024-01-10") == ["n-1"]
    body = viewer.get(URL, {"store_id": "s-1"}).json()[0]
    assert (body["reason"], body["business_downtime_seconds"], body["resolved_at"]) == ("no_signal", 7200, "2024-01-09T16:00:00Z")
    assert viewer.get(URL, {"open": "maybe"}).status_code == 400


def test_a_limited_member_sees_their_groups_incidents_only(acme):
    nora = token_client(member_account(acme, "nora", Role.VIEWER, ["north"]))
    assert ids(nora) == ["n-1"]
    other = Incident.objects.get(store__store_id="s-1")
    assert nora.get(f"{URL}{other.pk}/").status_code == 404


def test_a_manager_acknowledges_an_open_incident_with_a_note(acme):
    manager = token_client(member_account(acme, "manu", Role.MANAGER))
    incident = Incident.objects.get(store__store_id="n-1")
    response = manager.post(f"{URL}{incident.pk}/acknowledge/", {"note": "Technician on the way"}, format="json")
    assert (response.status_code, response.json()["acknowledged_by"], response.json()["note"]) == (200, "manu", "Technician on the way")
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is not None


def test_a_viewer_may_not_acknowledge_and_a_resolved_incident_cannot_be(acme):
    viewer = token_client(member_account(acme, "vera", Role.VIEWER))
    manager = token_client(member_account(acme, "manu", Role.MANAGER))
    open_one = Incident.objects.get(store__store_id="n-1")
    resolved = Incident.objects.get(store__store_id="s-1")
    refused = viewer.post(f"{URL}{open_one.pk}/acknowledge/", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "role_too_low")
    late = manager.post(f"{URL}{resolved.pk}/acknowledge/", {}, format="json")
    assert (late.status_code, late.json()["code"]) == (409, "incident_resolved")
    foreign = Incident.objects.get(store__store_id="gx-1")
    assert manager.post(f"{URL}{foreign.pk}/acknowledge/", {}, format="json").status_code == 404
