"""/api/closures/: managers and admins close stores in their scope (listed
stores, a group's stores, or every store of the organization); viewers read;
bad input is a clear 4xx with its code (docs/errors.md); a list is taken
like a poll batch; every change is in the closure's history with its author."""
from __future__ import annotations

import pytest

from accounts.models import Role
from conftest import token_client
from stores.models import Closure
from stores.tests.factories import OrganizationFactory, StoreFactory, StoreGroupFactory, member_account

pytestmark = pytest.mark.django_db
URL = "/api/closures/"
CHRISTMAS = {"start": "2024-12-25", "end": "2024-12-25", "reason": "Christmas"}


@pytest.fixture
def acme():
    """acme: n-1, n-2 in north, s-1 in south; globex: gx-1."""
    organization = OrganizationFactory(name="acme")
    north, south = StoreGroupFactory(organization=organization, name="north"), StoreGroupFactory(organization=organization, name="south")
    for store_id, group in [("n-1", north), ("n-2", north), ("s-1", south)]:
        StoreFactory(store_id=store_id, organization=organization, groups=[group])
    StoreFactory(store_id="gx-1", organization=OrganizationFactory(name="globex"))
    return organization


@pytest.fixture
def manager(acme):
    return token_client(member_account(acme, "manu", Role.MANAGER))


def answer(response) -> tuple[int, str | None]:
    return response.status_code, response.json().get("code")


def test_closing_every_store_of_the_organization(manager):
    response = manager.post(URL, {**CHRISTMAS, "every_year": True}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["start"], body["end"], body["every_year"], body["stores"], body["store_ids"], body["group"]) == (
        "2024-12-25", "2024-12-25", True, 3, None, None
    )
    closure = Closure.objects.get()
    assert (closure.start_local, closure.end_local, closure.whole_days) == ("2024-12-25T00:00:00", "2024-12-26T00:00:00", True)
    assert closure.created_by.username == "manu"


def test_closing_listed_stores_with_local_times(manager):
    body = {"store_ids": ["n-1", "s-1"], "start": "2024-03-10T01:30", "end": "2024-03-10T04:00", "reason": "Power cut"}
    response = manager.post(URL, body, format="json")
    assert (response.status_code, response.json()["store_ids"], response.json()["stores"]) == (201, ["n-1", "s-1"], 2)
    assert response.json()["start"] == "2024-03-10T01:30:00"


def test_closing_a_groups_stores_with_instants(manager):
    body = {"group": "north", "start": "2024-06-01T08:00:00+02:00", "end": "2024-06-01T10:00Z", "reason": "Renovation"}
    response = manager.post(URL, body, format="json")
    assert (response.status_code, response.json()["group"], response.json()["stores"]) == (201, "north", 2)
    assert (response.json()["start"], response.json()["end"]) == ("2024-06-01T06:00:00Z", "2024-06-01T10:00:00Z")


@pytest.mark.parametrize(
    "body, code",
    [
        ({"start": "2024-12-26", "end": "2024-12-25", "reason": "x"}, "end_before_start"),
        ({"start": "2024-12-25T10:00", "end": "2024-12-25T10:00", "reason": "x"}, "end_before_start"),
        ({"start": "2024-01-01", "end": "2025-01-01", "reason": "x"}, "closure_too_long"),
        ({"start": "2024-12-25T00:00Z", "end": "2024-12-26T00:00Z", "reason": "x", "every_year": True}, "every_year_needs_local_time"),
        ({"start": "2024-12-25", "end": "2024-12-25T10:00", "reason": "x"}, "closure_forms_differ"),
        ({"start": "Christmas", "end": "2024-12-25", "reason": "x"}, "invalid"),
        ({"start": "2024-12-25", "end": "2024-12-25"}, "invalid"),
        ({"start": "2024-12-25", "end": "2024-12-25", "reason": ""}, "invalid"),
        ({**CHRISTMAS, "store_ids": ["nowhere"]}, "unknown_store"),
        ({**CHRISTMAS, "store_ids": ["gx-1"]}, "unknown_store"),
        ({**CHRISTMAS, "group": "west"}, "unknown_group"),
        ({**CHRISTMAS, "group": "north", "store_ids": ["n-1"]}, "invalid"),
        ({**CHRISTMAS, "organization": "globex"}, "unknown_organization"),
    ],
    ids=[
        "dates end before start", "times end at start", "over 366 days", "every year with instants",
        "forms differ", "not a date", "no reason", "empty reason", "unknown store", "another organization's store",
        "unknown group", "stores and group", "another organization",
    ],
)
def test_refused_closures_are_400_with_their_code_and_nothing_is_made(manager, body, code):
    assert answer(manager.post(URL, body, format="json")) == (400, code)
    assert not Closure.objects.exists()


def test_a_viewer_reads_closures_but_may_not_write_them(acme, manager):
    manager.post(URL, CHRISTMAS, format="json")
    viewer = token_client(member_account(acme, "vera", Role.VIEWER))
    assert answer(viewer.post(URL, CHRISTMAS, format="json")) == (403, "role_too_low")
    assert answer(viewer.post(URL, {**CHRISTMAS, "store_ids": ["n-1"]}, format="json")) == (403, "role_too_low")
    closure = Closure.objects.get()
    assert [item["reason"] for item in viewer.get(URL).json()] == ["Christmas"]
    assert answer(viewer.patch(f"{URL}{closure.pk}/", {"reason": "x"}, format="json")) == (403, "role_too_low")
    assert answer(viewer.delete(f"{URL}{closure.pk}/")) == (403, "role_too_low")


def test_a_manager_limited_to_a_group_closes_its_stores_only(acme):
    norm = token_client(member_account(acme, "norm", Role.MANAGER, ["north"]))
    assert norm.post(URL, {**CHRISTMAS, "group": "north"}, format="json").status_code == 201
    assert norm.post(URL, {**CHRISTMAS, "store_ids": ["n-2"]}, format="json").status_code == 201
    assert answer(norm.post(URL, {**CHRISTMAS, "group": "south"}, format="json")) == (400, "unknown_group")
    assert answer(norm.post(URL, {**CHRISTMAS, "store_ids": ["s-1"]}, format="json")) == (400, "unknown_store")
    assert answer(norm.post(URL, CHRISTMAS, format="json")) == (400, "groups_required")


def test_a_limited_viewer_sees_the_closures_of_their_stores_only(acme, manager):
    for target in ({"group": "north"}, {"group": "south"}, {"store_ids": ["s-1"]}, {}):
        manager.post(URL, {**CHRISTMAS, **target, "reason": str(target)}, format="json")
    nora = token_client(member_account(acme, "nora", Role.VIEWER, ["north"]))
    assert sorted(item["reason"] for item in nora.get(URL).json()) == ["{'group': 'north'}", "{}"]
    other = token_client(member_account(OrganizationFactory(name="initech"), "ian", Role.ADMIN))
    assert other.get(URL).json() == []


def test_a_batch_gives_a_result_per_closure(manager):
    batch = [CHRISTMAS, {**CHRISTMAS, "end": "2024-12-24"}, {**CHRISTMAS, "store_ids": ["n-1"], "reason": "Stocktake"}]
    response = manager.post(URL, batch, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"created": 2, "end_before_start": 1}
    assert [(r["index"], r["status"], r["code"]) for r in body["results"]] == [
        (0, 201, "created"), (1, 400, "end_before_start"), (2, 201, "created")
    ]
    assert body["results"][2]["closure"]["stores"] == 1
    assert Closure.objects.count() == 2


def test_a_batch_over_1000_is_refused_whole(manager):
    assert answer(manager.post(URL, [CHRISTMAS] * 1001, format="json")) == (400, "batch_too_large")
    assert not Closure.objects.exists()


def test_filters_by_store_group_and_range(manager):
    made = {}
    for name, body in {
        "all": CHRISTMAS,
        "north": {**CHRISTMAS, "group": "north", "start": "2024-06-01", "end": "2024-06-02"},
        "s-1": {**CHRISTMAS, "store_ids": ["s-1"], "start": "2024-02-01T10:00Z", "end": "2024-02-01T12:00Z"},
        "yearly": {**CHRISTMAS, "start": "2020-01-01", "end": "2020-01-01", "every_year": True},
    }.items():
        made[name] = manager.post(URL, {**body, "reason": name}, format="json").json()["id"]

    def reasons(**params) -> list[str]:
        return sorted(item["reason"] for item in manager.get(URL, params).json())

    assert reasons(store_id="n-1") == ["all", "north", "yearly"]
    assert reasons(store_id="s-1") == ["all", "s-1", "yearly"]
    assert reasons(group="north") == ["north"]
    assert reasons(**{"from": "2024-05-01", "to": "2024-07-01"}) == ["north", "yearly"]
    assert reasons(**{"from": "2024-02-01T11:00Z", "to": "2024-02-02"}) == ["s-1", "yearly"]
    assert reasons(store_id="gx-1") == []
    assert answer(manager.get(URL, {"from": "soon"})) == (400, "invalid")


def test_patch_changes_the_period_and_reason_and_delete_removes_it(manager):
    closure_id = manager.post(URL, {**CHRISTMAS, "store_ids": ["n-1"]}, format="json").json()["id"]
    changed = manager.patch(f"{URL}{closure_id}/", {"end": "2024-12-26", "reason": "Christmas and Boxing Day"}, format="json")
    assert (changed.status_code, changed.json()["end"], changed.json()["reason"]) == (200, "2024-12-26", "Christmas and Boxing Day")
    assert answer(manager.patch(f"{URL}{closure_id}/", {"end": "2024-12-01"}, format="json")) == (400, "end_before_start")
    assert manager.delete(f"{URL}{closure_id}/").status_code == 204
    assert not Closure.objects.exists()


def test_every_change_is_in_the_history_with_its_author(manager):
    closure_id = manager.post(URL, CHRISTMAS, format="json").json()["id"]
    manager.patch(f"{URL}{closure_id}/", {"reason": "Christmas Day"}, format="json")
    manager.delete(f"{URL}{closure_id}/")
    history = Closure.history.filter(id=closure_id).order_by("history_date")
    assert [(h.history_type, h.reason, h.history_user.username) for h in history] == [
        ("+", "Christmas", "manu"), ("~", "Christmas Day", "manu"), ("-", "Christmas Day", "manu")
    ]


def test_business_hours_changes_are_in_the_history_with_their_author(acme, manager):
    from stores.models import BusinessHours

    week = {"business_hours": [{"dayOfWeek": 0, "start_time_local": "09:00", "end_time_local": "17:00"}]}
    assert manager.put("/api/stores/n-1/", week, format="json").status_code == 200
    assert manager.put("/api/stores/n-1/", {"business_hours": []}, format="json").status_code == 200
    rows = BusinessHours.history.filter(store__store_id="n-1").order_by("history_date", "history_id")
    assert [(row.history_type, str(row.start_time_local), row.history_user.username) for row in rows] == [
        ("+", "09:00:00", "manu"), ("-", "09:00:00", "manu")
    ]
