"""Who may do what, across the whole service: one case per (actor, action),
with the exact answer expected (docs/architecture.md, "Access").

The organization "acme" has the stores north-1 (group north) and south-1
(group south); "globex" has gx-1. The actors:

- viewer, manager, admin: acme members with that role, not limited to groups;
- north viewer: an acme viewer limited to the group north;
- read-only token: the acme manager's read-only API token (a second user);
- device: north-1's device key;
- globex admin: the admin of the other organization;
- superuser.

Every action is on north-1 or on acme's admin's report. API actions use the
actor's token (the device its key); pages and the admin use the actor's
session (a token or a device key opens no page: the login page answers).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import api_token_create
from reports.models import Report, ReportStatus
from stores.models import Store
from stores.tests.factories import MembershipFactory, OrganizationFactory, StoreFactory, StoreGroupFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 1, 10, 12, tzinfo=dt.timezone.utc)
ACTORS = ["viewer", "manager", "admin", "north viewer", "read-only token", "device", "globex admin", "superuser"]
# What a token, a device key or nobody gets from a page: the login page.
LOGIN = (302, None)
WEEK = {"business_hours": [{"dayOfWeek": 0, "start_time_local": "08:00", "end_time_local": "20:00"}]}


@dataclass
class World:
    users: dict
    api: dict  # actor -> APIClient (token or device key)
    pages: dict  # actor -> Client (session, or none)
    north: Store
    report: Report


@pytest.fixture
def world(members_group) -> World:
    acme, globex = OrganizationFactory(name="acme"), OrganizationFactory(name="globex")
    north, south = StoreGroupFactory(organization=acme, name="north"), StoreGroupFactory(organization=acme, name="south")
    north_1 = StoreFactory(store_id="north-1", organization=acme, groups=[north])
    StoreFactory(store_id="south-1", organization=acme, groups=[south])
    StoreFactory(store_id="gx-1", organization=globex)

    def member(name: str, organization, role: Role, groups=()):
        user = UserFactory(username=name, is_staff=True)
        user.groups.add(members_group)
        MembershipFactory(organization=organization, user=user, role=role, groups=list(groups))
        return user

    users = {
        "viewer": member("vera", acme, Role.VIEWER),
        "manager": member("manu", acme, Role.MANAGER),
        "admin": member("ada", acme, Role.ADMIN),
        "north viewer": member("nora", acme, Role.VIEWER, [north]),
        "read-only token": member("rob", acme, Role.MANAGER),
        "globex admin": member("gus", globex, Role.ADMIN),
        "superuser": UserFactory(username="root", is_staff=True, is_superuser=True),
    }
    api, pages = {}, {}
    for actor, user in users.items():
        api[actor] = APIClient()
        key = api_token_create(user=user, read_only=actor == "read-only token")
        api[actor].credentials(HTTP_AUTHORIZATION=f"Token {key}")
        pages[actor] = Client()
        if actor != "read-only token":
            pages[actor].force_login(user)
    api["device"] = APIClient()
    api["device"].credentials(HTTP_X_STORE_KEY="key-for-north-1")  # StoreFactory's device key
    pages["device"] = Client()
    report = Report.objects.create(
        requested_by=users["admin"], as_of=T0, status=ReportStatus.COMPLETE, stores_total=2, stores_done=2
    )
    report.file.save(f"report-{report.pk}.csv", ContentFile(b"store_id\r\nnorth-1\r\nsouth-1\r\n"))
    return World(users=users, api=api, pages=pages, north=north_1, report=report)


def _poll() -> dict:
    return {"id": "north-1", "utc_timestamp": "2024-01-10T12:00:00Z", "status": "active"}


# action -> (how, expected answer per actor as (status, error code or None))
ACTIONS = {
    "list stores": (
        lambda w, a: w.api[a].get("/api/stores/"),
        {"device": (403, "permission_denied"), "read-only token": (200, None)},
        (200, None),
    ),
    "read a store": (
        lambda w, a: w.api[a].get("/api/stores/north-1/"),
        {"device": (403, "permission_denied"), "globex admin": (404, "not_found")},
        (200, None),
    ),
    "register": (
        lambda w, a: w.api[a].post(
            "/register_store", {"store_id": "new-1", "organization": "acme", "groups": ["north"]}, format="json"
        ),
        {
            "viewer": (403, "role_too_low"),
            "north viewer": (403, "role_too_low"),
            "read-only token": (403, "read_only_token"),
            "device": (403, "permission_denied"),
            "globex admin": (400, "unknown_organization"),
        },
        (201, None),
    ),
    "edit hours": (
        lambda w, a: w.api[a].put("/api/stores/north-1/", WEEK, format="json"),
        {
            "viewer": (403, "role_too_low"),
            "north viewer": (403, "role_too_low"),
            "read-only token": (403, "read_only_token"),
            "device": (403, "permission_denied"),
            "globex admin": (404, "not_found"),
        },
        (200, None),
    ),
    "delete": (
        lambda w, a: w.api[a].delete("/api/stores/north-1/"),
        {
            "viewer": (403, "role_too_low"),
            "manager": (403, "role_too_low"),
            "north viewer": (403, "role_too_low"),
            "read-only token": (403, "read_only_token"),
            "device": (403, "permission_denied"),
            "globex admin": (404, "not_found"),
        },
        (204, None),
    ),
    "post polls": (
        lambda w, a: w.api[a].post("/poll", _poll(), format="json"),
        {
            "viewer": (403, "role_too_low"),
            "north viewer": (403, "role_too_low"),
            "read-only token": (403, "read_only_token"),
            "globex admin": (404, "unknown_store"),
        },
        (201, "recorded"),
    ),
    "trigger a report": (
        lambda w, a: w.api[a].post("/trigger_report", {}, format="json"),
        {"read-only token": (403, "read_only_token"), "device": (403, "permission_denied")},
        (202, None),
    ),
    "read a report": (
        lambda w, a: w.api[a].get(f"/api/reports/{w.report.pk}/"),
        {"admin": (200, None), "superuser": (200, None), "device": (403, "permission_denied")},
        (404, "not_found"),
    ),
    "download its CSV": (
        lambda w, a: w.api[a].get(f"/api/reports/{w.report.pk}/csv/"),
        {"admin": (200, None), "superuser": (200, None), "device": (403, "permission_denied")},
        (404, "not_found"),
    ),
    "dashboard": (
        lambda w, a: w.pages[a].get("/dashboard/"),
        {"read-only token": LOGIN, "device": LOGIN},
        (200, None),
    ),
    "store page": (
        lambda w, a: w.pages[a].get("/dashboard/stores/north-1/"),
        {"read-only token": LOGIN, "device": LOGIN, "globex admin": (404, None)},
        (200, None),
    ),
    "admin change page": (
        lambda w, a: w.pages[a].get(f"/admin/stores/store/{w.north.pk}/change/"),
        {"read-only token": LOGIN, "device": LOGIN, "globex admin": (404, None)},
        (200, None),
    ),
    "members API": (
        lambda w, a: w.api[a].get("/api/members/"),
        {
            "viewer": (403, "role_too_low"),
            "manager": (403, "role_too_low"),
            "north viewer": (403, "role_too_low"),
            "read-only token": (403, "role_too_low"),
            "device": (403, "permission_denied"),
        },
        (200, None),
    ),
}


def _answer(response) -> tuple[int, str | None]:
    code = None
    if response.get("Content-Type", "").startswith("application/json") and response.content:
        code = response.json().get("code") if isinstance(response.json(), dict) else None
    return response.status_code, code


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_access(world, action, actor):
    how, exceptions, usual = ACTIONS[action]
    expected = exceptions.get(actor, usual)
    answer = _answer(how(world, actor))
    if expected[1] is None:
        assert answer[0] == expected[0]
    else:
        assert answer == expected
    if expected == LOGIN:
        assert how(world, actor)["Location"].startswith("/admin/login/")


# What each actor sees, beyond the status: the lists hold exactly their stores.

SEEN = {
    "viewer": ["north-1", "south-1"],
    "manager": ["north-1", "south-1"],
    "admin": ["north-1", "south-1"],
    "north viewer": ["north-1"],
    "read-only token": ["north-1", "south-1"],
    "globex admin": ["gx-1"],
    "superuser": ["gx-1", "north-1", "south-1"],
}


@pytest.mark.parametrize("actor", list(SEEN))
def test_the_store_list_holds_exactly_the_actors_stores(world, actor):
    assert [store["store_id"] for store in world.api[actor].get("/api/stores/").json()] == SEEN[actor]


@pytest.mark.parametrize("actor", [actor for actor in SEEN if actor != "read-only token"])
def test_the_dashboard_lists_exactly_the_actors_stores(world, actor):
    page = world.pages[actor].get("/dashboard/").content.decode()
    shown = sorted(store_id for store_id in ("gx-1", "north-1", "south-1") if f"/dashboard/stores/{store_id}/" in page)
    assert shown == SEEN[actor]


@pytest.mark.parametrize(
    "request_",
    [
        ("api", "get", "/api/stores/south-1/"),
        ("api", "put", "/api/stores/south-1/"),
        ("api", "delete", "/api/stores/south-1/"),
        ("pages", "get", "/dashboard/stores/south-1/"),
    ],
    ids=lambda request_: f"{request_[1]} {request_[2]}",
)
def test_outside_their_group_a_limited_member_gets_404(world, request_):
    kind, method, path = request_
    client = getattr(world, kind)["north viewer"]
    assert getattr(client, method)(path, **({"data": WEEK, "format": "json"} if method == "put" else {})).status_code == 404


def test_outside_their_group_the_admin_change_page_is_404(world):
    south = Store.objects.get(store_id="south-1")
    assert world.pages["north viewer"].get(f"/admin/stores/store/{south.pk}/change/").status_code == 404


def test_a_limited_member_posting_polls_for_a_store_outside_their_group_gets_404(world):
    limited_manager = world.users["north viewer"]
    limited_manager.memberships.update(role=Role.MANAGER)
    answer = world.api["north viewer"].post("/poll", {**_poll(), "id": "south-1"}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (404, "unknown_store")


def test_a_viewer_sees_the_admin_change_page_without_a_save_button_and_cannot_post_it(world):
    page = world.pages["viewer"].get(f"/admin/stores/store/{world.north.pk}/change/")
    assert b'name="_save"' not in page.content
    manager_page = world.pages["manager"].get(f"/admin/stores/store/{world.north.pk}/change/")
    assert b'name="_save"' in manager_page.content
    posted = world.pages["viewer"].post(f"/admin/stores/store/{world.north.pk}/change/", {"timezone": "UTC"})
    assert posted.status_code == 403
    assert Store.objects.get(store_id="north-1").timezone == "America/Chicago"


def test_the_members_api_lists_only_the_admins_organizations(world):
    listed = world.api["globex admin"].get("/api/members/").json()
    assert [(member["organization"], member["username"]) for member in listed] == [("globex", "gus")]
