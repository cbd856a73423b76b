"""A report covers the stores its requester sees (StoreQuerySet.visible_to)
when it is planned, limited to an organization or a group when asked:
a member limited to a group gets exactly that group's stores in the CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, StoreGroup
from reports.models import Report
from conftest import token_client as client_of
from stores.tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    StatusSpanFactory,
    StoreFactory,
    StoreGroupFactory,
)
from stores.tests.factories import member_account as member

pytestmark = pytest.mark.django_db

AS_OF = dt.datetime(2024, 1, 10, 12, tzinfo=dt.timezone.utc)


def csv_store_ids(client: APIClient, capture, body: dict) -> list[str]:
    with capture(execute=True):
        triggered = client.post("/trigger_report", {"as_of": AS_OF.isoformat(), **body}, format="json")
    assert triggered.status_code == 202, triggered.json()
    response = client.get("/get_report", {"report_id": triggered.json()["report_id"]})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]


@pytest.fixture
def acme():
    """acme: n-1 and n-2 in north, s-1 in south, ns-1 in both, loose-1 in none; globex: gx-1 in its own north."""
    organization = OrganizationFactory(name="acme")
    north = StoreGroupFactory(organization=organization, name="north")
    south = StoreGroupFactory(organization=organization, name="south")
    for store_id, groups in [("n-1", [north]), ("n-2", [north]), ("s-1", [south]), ("ns-1", [north, south]), ("loose-1", [])]:
        store = StoreFactory(store_id=store_id, organization=organization, groups=groups)
        StatusSpanFactory(store=store, first_poll_at=AS_OF - dt.timedelta(minutes=30))
    globex = OrganizationFactory(name="globex")
    StoreFactory(store_id="gx-1", organization=globex, groups=[StoreGroupFactory(organization=globex, name="north")])
    return organization


def test_a_viewer_limited_to_a_group_gets_exactly_its_stores(acme, django_capture_on_commit_callbacks):
    nora = member(acme, "nora", groups=("north",))
    assert csv_store_ids(client_of(nora), django_capture_on_commit_callbacks, {}) == ["n-1", "n-2", "ns-1"]


def test_a_viewer_limited_to_two_groups_gets_each_store_once(acme, django_capture_on_commit_callbacks):
    both = member(acme, "both", groups=("north", "south"))
    assert csv_store_ids(client_of(both), django_capture_on_commit_callbacks, {}) == ["n-1", "n-2", "ns-1", "s-1"]


def test_an_unlimited_viewer_gets_the_whole_organization(acme, django_capture_on_commit_callbacks):
    vera = member(acme, "vera")
    assert csv_store_ids(client_of(vera), django_capture_on_commit_callbacks, {}) == ["loose-1", "n-1", "n-2", "ns-1", "s-1"]


def test_a_report_limited_to_a_group(acme, django_capture_on_commit_callbacks):
    vera = member(acme, "vera")
    assert csv_store_ids(client_of(vera), django_capture_on_commit_callbacks, {"group": "south"}) == ["ns-1", "s-1"]
    report = Report.objects.get()
    assert (report.group.name, report.group.organization.name) == ("south", "acme")


def test_a_limited_viewer_cannot_ask_for_a_group_outside_their_own(acme):
    nora = member(acme, "nora", groups=("north",))
    response = client_of(nora).post("/trigger_report", {"group": "south"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_group")
    assert not Report.objects.exists()


def test_a_member_of_two_organizations_gets_both_or_one(acme, django_capture_on_commit_callbacks):
    vera = member(acme, "vera")
    MembershipFactory(organization=OrganizationFactory(name="globex"), user=vera, role=Role.VIEWER)
    api = client_of(vera)
    capture = django_capture_on_commit_callbacks
    assert csv_store_ids(api, capture, {}) == ["gx-1", "loose-1", "n-1", "n-2", "ns-1", "s-1"]
    assert csv_store_ids(api, capture, {"organization": "globex"}) == ["gx-1"]
    # "north" is a group in both: the organization says which.
    response = api.post("/trigger_report", {"group": "north"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "organization_required")
    assert csv_store_ids(api, capture, {"group": "north", "organization": "acme"}) == ["n-1", "n-2", "ns-1"]


def test_an_organization_the_user_is_not_in_is_400(acme):
    vera = member(acme, "vera")
    response = client_of(vera).post("/trigger_report", {"organization": "globex"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_organization")


def test_the_scope_is_read_when_the_report_is_planned(acme, django_capture_on_commit_callbacks):
    """A member limited further between trigger and planning gets the narrower scope: nobody's report outgrows their access."""
    vera = member(acme, "vera")
    api = client_of(vera)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        triggered = api.post("/trigger_report", {"as_of": AS_OF.isoformat()}, format="json")
    vera.memberships.get().groups.set(StoreGroup.objects.filter(organization=acme, name="south"))
    for callback in callbacks:
        callback()
    response = api.get("/get_report", {"report_id": triggered.json()["report_id"]})
    text = b"".join(response.streaming_content).decode()
    assert [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]] == ["ns-1", "s-1"]


def test_a_report_whose_group_is_deleted_before_it_is_planned_fails_rather_than_widening(acme, django_capture_on_commit_callbacks):
    vera = member(acme, "vera")
    api = client_of(vera)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        triggered = api.post("/trigger_report", {"as_of": AS_OF.isoformat(), "group": "south"}, format="json")
    StoreGroup.objects.filter(organization=acme, name="south").delete()
    for callback in callbacks:
        callback()
    response = api.get("/get_report", {"report_id": triggered.json()["report_id"]})
    assert (response.status_code, response.json()["code"]) == (409, "report_failed")
    assert response.json()["message"] == "The group 'south' this report was limited to was deleted before it started."
