"""Every refused input of docs/errors.md, one case each: the table's rows are
ROWS here (the case id is the row's name in the table's last column), and
test_docs_table_is_rows checks that the table says what the cases check.

Every answer is JSON with a `code` and a `message`, never an HTML page.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from common.errors import SERVER_ERROR_MESSAGE
from alerts.models import Incident
from reports.models import Report
from stores import api_views as store_views
from stores.models import PollStatus
from accounts.models import Role
from accounts.services import api_token_create
from stores.tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    StatusSpanFactory,
    StoreFactory,
    StoreGroupFactory,
    organization_of,
)

from .test_settings import load_settings

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
LATEST = dt.datetime(2024, 1, 8, 12, tzinfo=dt.timezone.utc)  # the latest poll of store s1
NOW_ISO = "2024-01-08T13:00:00Z"
ISO_EXPECTED = "expected ISO 8601 (e.g. 2023-01-22T12:09:39Z) or '2023-01-22 12:09:39.388884 UTC'"
NOT_A_STORE_ID = "store id must be a string or an integer"
# The store id rule, as every refusal of an id outside it says it.
ID_RULE = "store id must be 1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit"
OVER_LIMIT = object()  # a body one byte over the limit


def poll(**fields) -> dict[str, Any]:
    return {"id": "s1", "utc_timestamp": NOW_ISO, "status": "active", **fields}


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    body: Any = None  # JSON-encoded, unless bytes or str (sent as they are)
    status: int = 400
    code: str = "invalid"
    # The message, whole; one ending with "…" is a prefix.
    message: str = ""
    errors: dict | None = None  # the "errors" member, when checked
    content_type: str = "application/json"
    # owner (alice, admin of her organization), device (s1's key), anonymous,
    # viewer, read-only (alice's read-only token), two organizations (a
    # manager of alice's and of another), limited manager (of alice's, limited
    # to the groups north and south).
    client: str = "owner"
    headers: dict[str, str] = field(default_factory=dict)


ROWS = [
    # ---------------------------------------------------------------- the body
    Row("malformed JSON", "POST", "/poll", '{"id": "s1",', code="parse_error", message="JSON parse error - …"),
    Row(
        "JSON nested too deeply",
        "POST",
        "/poll",
        "[" * 100_000,
        code="parse_error",
        message="JSON parse error - arrays or objects nested too deeply.",
    ),
    Row("body not UTF-8", "POST", "/poll", b'{"id": "\xff"}', code="parse_error", message="JSON parse error - …"),
    Row(
        "wrong content type",
        "POST",
        "/poll",
        "id=s1&status=active",
        content_type="application/x-www-form-urlencoded",
        status=415,
        code="unsupported_media_type",
        message='Unsupported media type "application/x-www-form-urlencoded" in request.',
    ),
    Row(
        "body too large",
        "POST",
        "/poll",
        OVER_LIMIT,
        status=413,
        code="body_too_large",
        message="The request body is larger than the 4,194,304 bytes this server takes (MONITOR_MAX_BODY_BYTES).",
    ),
    Row("body not a poll", "POST", "/poll", 5, message="Expected a poll object or a non-empty list of them."),
    Row("empty batch", "POST", "/poll", [], message="Expected a poll object or a non-empty list of them."),
    Row(
        "batch over 10,000 polls",
        "POST",
        "/poll",
        [poll()] * 10_001,
        code="batch_too_large",
        message="At most 10000 polls per request; this one has 10001.",
    ),
    # ---------------------------------------------------------------- a poll's fields
    Row(
        "poll missing fields",
        "POST",
        "/poll",
        {"id": "s1"},
        message="status: This field is required.",
        errors={"status": ["This field is required."], "utc_timestamp": ["This field is required."]},
    ),
    Row(
        "poll unknown field",
        "POST",
        "/poll",
        poll(battery=80),
        message="battery: Unknown field.",
        errors={"battery": ["Unknown field."]},
    ),
    Row("unknown status", "POST", "/poll", poll(status="up"), message='status: Must be "active" or "inactive".'),
    Row("timestamp malformed", "POST", "/poll", poll(utc_timestamp="yesterday"), message=f"utc_timestamp: {ISO_EXPECTED}"),
    Row(
        "timestamp offset +25:00",
        "POST",
        "/poll",
        poll(utc_timestamp="2024-01-08T13:00:00+25:00"),
        message="utc_timestamp: the UTC offset must be between -23:59 and +23:59",
    ),
    Row(
        "timestamp hour 25",
        "POST",
        "/poll",
        poll(utc_timestamp="2024-01-08T25:00:00Z"),
        message="utc_timestamp: not a valid date and time: hour must be in 0..23",
    ),
    Row(
        "timestamp February 30",
        "POST",
        "/poll",
        poll(utc_timestamp="2024-02-30T12:00:00Z"),
        message="utc_timestamp: not a valid date and time: day is out of range for month",
    ),
    Row(
        "timestamp date alone",
        "POST",
        "/poll",
        poll(utc_timestamp="2024-01-08"),
        message="utc_timestamp: expected a date and a time, not a date alone",
    ),
    Row(
        "timestamp a number",
        "POST",
        "/poll",
        poll(utc_timestamp=1704718800),
        message="utc_timestamp: expected a timestamp string",
    ),
    Row(
        "timestamp far in the future",
        "POST",
        "/poll",
        poll(utc_timestamp="2999-01-01T00:00:00Z"),
        message="utc_timestamp: More than 5 minutes in the future.",
    ),
    Row(
        "timestamp before 1970",
        "POST",
        "/poll",
        poll(utc_timestamp="1969-12-31T23:59:59Z"),
        message="utc_timestamp: Before 1970.",
    ),
    Row("store id empty", "POST", "/poll", poll(id=""), code="invalid_store_id", message=f"id: {ID_RULE} (it is empty)"),
    Row(
        "store id 65 characters",
        "POST",
        "/poll",
        poll(id="x" * 65),
        code="invalid_store_id",
        message=f"id: {ID_RULE} (it has 65 characters)",
    ),
    Row(
        "store id with a slash",
        "POST",
        "/poll",
        poll(id="bob/slash"),
        code="invalid_store_id",
        message=f"id: {ID_RULE} (it contains '/')",
    ),
    Row(
        "store id a formula",
        "POST",
        "/poll",
        poll(id="=1+1"),
        code="invalid_store_id",
        message=f"id: {ID_RULE} (it starts with '=')",
    ),
    Row(
        "store id with a carriage return",
        "POST",
        "/poll",
        poll(id="\r=1+1"),
        code="invalid_store_id",
        message=f"id: {ID_RULE} (it starts with '\\r')",
    ),
    Row(
        "store id a negative integer",
        "POST",
        "/poll",
        poll(id=-5),
        code="invalid_store_id",
        message=f"id: {ID_RULE} (it starts with '-')",
    ),
    Row("store id a list", "POST", "/poll", poll(id=["s1"]), message=f"id: {NOT_A_STORE_ID}"),
    Row("store id a boolean", "POST", "/poll", poll(id=True), message=f"id: {NOT_A_STORE_ID}"),
    Row("store id a float", "POST", "/poll", poll(id=1.5), message=f"id: {NOT_A_STORE_ID}"),
    Row("store id null", "POST", "/poll", poll(id=None), message=f"id: {NOT_A_STORE_ID}"),
    # ---------------------------------------------------------------- polls refused by the store's state
    Row("unknown store", "POST", "/poll", poll(id="nowhere"), status=404, code="unknown_store", message="No such store."),
    Row(
        "older than the latest poll",
        "POST",
        "/poll",
        poll(utc_timestamp="2024-01-08T11:00:00Z"),
        status=409,
        code="older_than_latest",
        message="Older than the store's latest poll; polls must arrive in time order.",
    ),
    Row(
        "same instant, other status",
        "POST",
        "/poll",
        poll(utc_timestamp="2024-01-08T12:00:00Z", status="inactive"),
        status=409,
        code="conflicting_status",
        message="The store's latest poll has this timestamp with the other status.",
    ),
    Row(
        "device key, other store",
        "POST",
        "/poll",
        poll(id="theirs"),
        client="device",
        status=403,
        code="other_store",
        message="This device key may post polls only for its own store.",
    ),
    # ---------------------------------------------------------------- registering a store
    Row("register without store_id", "POST", "/register_store", {}, message="store_id: This field is required."),
    Row(
        "register unknown field",
        "POST",
        "/register_store",
        {"store_id": "new", "opening_hours": []},
        message="opening_hours: Unknown field.",
    ),
    Row(
        "register body a list",
        "POST",
        "/register_store",
        [{"store_id": "new"}],
        message="Invalid data. Expected a dictionary, but got list.",
    ),
    Row(
        "unknown timezone",
        "POST",
        "/register_store",
        {"store_id": "new", "local_timezone": "Mars/Olympus_Mons"},
        message="local_timezone: 'Mars/Olympus_Mons' is not a known IANA time zone name, such as America/Chicago.",
    ),
    Row(
        "empty timezone",
        "POST",
        "/register_store",
        {"store_id": "new", "local_timezone": ""},
        message="local_timezone: This field may not be blank.",
    ),
    Row(
        "time 25:00",
        "POST",
        "/register_store",
        {"store_id": "new", "dayOfWeek": 0, "start_time_local": "25:00", "end_time_local": "26:00"},
        message="start_time_local: hours run 00-23 (or 24:00), minutes and seconds 00-59",
    ),
    Row(
        "time 12:60",
        "POST",
        "/register_store",
        {"store_id": "new", "dayOfWeek": 0, "start_time_local": "09:00", "end_time_local": "12:60"},
        message="end_time_local: hours run 00-23 (or 24:00), minutes and seconds 00-59",
    ),
    Row(
        "time 24:00 as a start",
        "POST",
        "/register_store",
        {"store_id": "new", "dayOfWeek": 0, "start_time_local": "24:00", "end_time_local": "09:00"},
        message="start_time_local: 24:00 can only end an interval.",
    ),
    Row(
        "weekday 7",
        "POST",
        "/register_store",
        {"store_id": "new", "dayOfWeek": 7, "start_time_local": "09:00", "end_time_local": "17:00"},
        message="dayOfWeek: Ensure this value is less than or equal to 6.",
    ),
    Row(
        "weekday -1",
        "POST",
        "/register_store",
        {"store_id": "new", "business_hours": [{"dayOfWeek": -1, "closed": True}]},
        message="business_hours: 0: dayOfWeek: Ensure this value is greater than or equal to 0.",
    ),
    Row(
        "register store id empty",
        "POST",
        "/register_store",
        {"store_id": ""},
        code="invalid_store_id",
        message=f"store_id: {ID_RULE} (it is empty)",
    ),
    Row(
        "register store id 65 characters",
        "POST",
        "/register_store",
        {"store_id": "x" * 65},
        code="invalid_store_id",
        message=f"store_id: {ID_RULE} (it has 65 characters)",
    ),
    Row(
        "register store id with a slash",
        "POST",
        "/register_store",
        {"store_id": "bob/slash"},
        code="invalid_store_id",
        message=f"store_id: {ID_RULE} (it contains '/')",
    ),
    Row(
        "register store id a formula",
        "POST",
        "/register_store",
        {"store_id": "@SUM(1)"},
        code="invalid_store_id",
        message=f"store_id: {ID_RULE} (it starts with '@')",
    ),
    Row("register store id a list", "POST", "/register_store", {"store_id": ["new"]}, message=f"store_id: {NOT_A_STORE_ID}"),
    Row("register store id a boolean", "POST", "/register_store", {"store_id": False}, message=f"store_id: {NOT_A_STORE_ID}"),
    Row("register store id a float", "POST", "/register_store", {"store_id": 2.5}, message=f"store_id: {NOT_A_STORE_ID}"),
    Row(
        "store id of another organization",
        "POST",
        "/register_store",
        {"store_id": "theirs"},
        status=409,
        code="store_id_taken",
        message="This store id is registered in another organization.",
    ),
    # ---------------------------------------------------------------- reports
    Row("as_of malformed", "POST", "/trigger_report", {"as_of": "last monday"}, message=f"as_of: {ISO_EXPECTED}"),
    Row(
        "as_of in the future",
        "POST",
        "/trigger_report",
        {"as_of": "2999-01-01T00:00:00Z"},
        message="as_of must not be in the future",
    ),
    Row(
        "as_of before 1970",
        "POST",
        "/trigger_report",
        {"as_of": "0001-01-03T00:00:00Z"},
        message="as_of must not be before 1970: no poll is that old",
    ),
    Row("trigger unknown field", "POST", "/trigger_report", {"format": "xlsx"}, message="format: Unknown field."),
    Row("report id missing", "GET", "/get_report", message="Give report_id."),
    Row("report id not a UUID", "GET", "/get_report?report_id=42", message="report_id must be a UUID."),
    Row("report id not a UUID, /api/", "GET", "/api/reports/42/", message="report_id must be a UUID."),
    Row(
        "unknown report",
        "GET",
        f"/get_report?report_id={uuid.UUID(int=1)}",
        status=404,
        code="not_found",
        message="No such report.",
    ),
    Row(
        "another account's report",
        "GET",
        "/get_report?report_id={their_report}",
        status=404,
        code="not_found",
        message="No such report.",
    ),
    # ---------------------------------------------------------------- organizations, roles, groups
    Row(
        "role too low",
        "POST",
        "/register_store",
        {"store_id": "new-1"},
        client="viewer",
        status=403,
        code="role_too_low",
        message="This needs the manager role or higher in any of your organizations.",
    ),
    Row(
        "role too low for a store",
        "DELETE",
        "/api/stores/s1/",
        client="viewer",
        status=403,
        code="role_too_low",
        message="This needs the admin role or higher in the store's organization.",
    ),
    Row(
        "read-only token",
        "POST",
        "/trigger_report",
        {},
        client="read-only",
        status=403,
        code="read_only_token",
        message="This API token is read-only: it may only read (GET).",
    ),
    Row(
        "unknown organization",
        "POST",
        "/trigger_report",
        {"organization": "initech"},
        code="unknown_organization",
        message="You are not a member of an organization named 'initech'.",
    ),
    Row(
        "organization required",
        "POST",
        "/register_store",
        {"store_id": "new-1"},
        client="two organizations",
        code="organization_required",
        message='More than one of your organizations fits: say which one with "organization".',
    ),
    Row(
        "unknown group",
        "POST",
        "/trigger_report",
        {"group": "west"},
        code="unknown_group",
        message="No group you may use is named 'west'.",
    ),
    Row(
        "groups required",
        "POST",
        "/register_store",
        {"store_id": "new-1"},
        client="limited manager",
        code="groups_required",
        message="You manage only some groups' stores: put the store in at least one of them.",
    ),
    Row(
        "group name taken",
        "POST",
        "/api/groups/",
        {"name": "north"},
        status=409,
        code="group_name_taken",
        message="The organization has a group named 'north' already.",
    ),
    Row(
        "last admin",
        "DELETE",
        "/api/members/{alice_membership}/",
        status=409,
        code="last_admin",
        message="alice is the last admin of alice.",
    ),
    Row(
        "members of a non-admin",
        "GET",
        "/api/members/",
        client="viewer",
        status=403,
        code="role_too_low",
        message="This needs the admin role or higher in any of your organizations.",
    ),
    # ---------------------------------------------------------------- closures and extended reports
    Row(
        "closure end before start",
        "POST",
        "/api/closures/",
        {"start": "2024-12-26", "end": "2024-12-25", "reason": "Christmas"},
        code="end_before_start",
        message="end is before start (a date's end is the last day closed).",
    ),
    Row(
        "closure over 366 days",
        "POST",
        "/api/closures/",
        {"start": "2024-01-01", "end": "2025-01-01", "reason": "Renovation"},
        code="closure_too_long",
        message="A closure may last at most 366 days.",
    ),
    Row(
        "closure every year with instants",
        "POST",
        "/api/closures/",
        {"start": "2024-12-25T00:00Z", "end": "2024-12-26T00:00Z", "reason": "Christmas", "every_year": True},
        code="every_year_needs_local_time",
        message="every_year repeats local dates: give start and end as dates or local times, without an offset.",
    ),
    Row(
        "closure forms differ",
        "POST",
        "/api/closures/",
        {"start": "2024-12-25", "end": "2024-12-25T12:00", "reason": "Christmas"},
        code="closure_forms_differ",
        message="start is a date and end a local time: give both in one form.",
    ),
    Row(
        "closure of an unknown store",
        "POST",
        "/api/closures/",
        {"store_ids": ["nowhere"], "start": "2024-12-25", "end": "2024-12-25", "reason": "Christmas"},
        code="unknown_store",
        message="No such store among yours: nowhere.",
    ),
    Row(
        "closure by a viewer",
        "POST",
        "/api/closures/",
        {"start": "2024-12-25", "end": "2024-12-25", "reason": "Christmas"},
        client="viewer",
        status=403,
        code="role_too_low",
        message="This needs the manager role or higher in any of your organizations.",
    ),
    Row(
        "unknown report columns",
        "GET",
        "/get_report?report_id={their_report}&columns=all",
        code="unknown_columns",
        message="columns must be one of default, extended, not 'all'.",
    ),
    # ---------------------------------------------------------------- incidents
    Row(
        "acknowledging a resolved incident",
        "POST",
        "/api/incidents/{resolved_incident}/acknowledge/",
        {},
        status=409,
        code="incident_resolved",
        message="The incident is resolved already: only an open one is acknowledged.",
    ),
    Row(
        "incidents open neither true nor false",
        "GET",
        "/api/incidents/?open=maybe",
        message="open must be true or false.",
    ),
    # ---------------------------------------------------------------- notification channels
    Row(
        "webhook to a private address",
        "POST",
        "/api/channels/",
        {"kind": "webhook", "name": "ops", "url": "http://127.0.0.1/hook", "secret": "s3cret-value"},
        code="webhook_url_private",
        message=(
            "The URL reaches a loopback, private or link-local address (127.0.0.1); "
            "only public addresses are allowed (MONITOR_WEBHOOK_ALLOW_PRIVATE)."
        ),
    ),
    Row(
        "webhook URL not http",
        "POST",
        "/api/channels/",
        {"kind": "webhook", "name": "ops", "url": "ftp://example.com/hook", "secret": "s3cret-value"},
        code="webhook_url_invalid",
        message="A webhook URL starts with https:// (or http://).",
    ),
    Row(
        "Apprise URL unknown",
        "POST",
        "/api/channels/",
        {"kind": "apprise", "name": "chat", "url": "nope://somewhere"},
        code="apprise_url_invalid",
        message="Apprise does not know this URL: see its list of services for the forms it takes.",
    ),
    Row(
        "channel without its fields",
        "POST",
        "/api/channels/",
        {"kind": "email", "name": "managers"},
        message="addresses: Required for an email channel.",
        errors={"addresses": ["Required for an email channel."]},
    ),
    Row(
        "channels of a non-admin",
        "GET",
        "/api/channels/",
        client="viewer",
        status=403,
        code="role_too_low",
        message="This needs the admin role or higher in any of your organizations.",
    ),
    # ---------------------------------------------------------------- paths, methods, credentials
    Row("unknown path", "POST", "/polls", poll(), status=404, code="not_found", message="No such path: /polls"),
    Row("unknown API path", "GET", "/api/nope/", status=404, code="not_found", message="No such path: /api/nope/"),
    Row("unknown store in a path", "GET", "/api/stores/nowhere/", status=404, code="not_found", message="Not found."),
    Row(
        "store id outside the rule in a path",
        "GET",
        "/api/stores/s%00/",
        code="invalid_store_id",
        message=f"{ID_RULE} (it contains '\\x00')",
    ),
    Row(
        "POST without the trailing slash",
        "POST",
        "/api/polls",
        poll(),
        status=308,
        code="trailing_slash",
        message="This address ends with a slash: POST /api/polls/",
    ),
    Row("wrong method", "GET", "/poll", status=405, code="method_not_allowed", message='Method "GET" not allowed.'),
    Row(
        "wrong method, /api/",
        "DELETE",
        "/api/reports/",
        status=405,
        code="method_not_allowed",
        message='Method "DELETE" not allowed.',
    ),
    Row(
        "no credentials",
        "POST",
        "/poll",
        poll(),
        client="anonymous",
        status=401,
        code="not_authenticated",
        message="Authentication credentials were not provided.",
    ),
]


@pytest.fixture
def world(owner, other_owner):
    """s1 (the owner's, latest poll at LATEST, device key key-for-s1) and
    `theirs` (another organization's store; its admin has a report)."""
    store = StoreFactory(store_id="s1", owner=owner, last_poll_at=LATEST, last_status=PollStatus.ACTIVE)
    StatusSpanFactory(store=store, first_poll_at=LATEST, last_poll_at=LATEST)
    StoreFactory(store_id="theirs", owner=other_owner)
    alice = organization_of(owner)
    north, south = StoreGroupFactory(organization=alice, name="north"), StoreGroupFactory(organization=alice, name="south")
    members = {
        "viewer": MembershipFactory(organization=alice, user__username="vera").user,
        "two organizations": MembershipFactory(organization=alice, user__username="tom", role=Role.MANAGER).user,
        "limited manager": MembershipFactory(
            organization=alice, user__username="lim", role=Role.MANAGER, groups=[north, south]
        ).user,
    }
    MembershipFactory(organization=OrganizationFactory(name="third"), user=members["two organizations"], role=Role.MANAGER)
    resolved = Incident.objects.create(store=store, started_at=LATEST, opened_at=LATEST, reason="inactive", resolved_at=LATEST)
    return {
        "resolved_incident": resolved.pk,
        "their_report": Report.objects.create(requested_by=other_owner, as_of=LATEST).pk,
        "alice_membership": owner.memberships.get().pk,
        "members": members,
        "owner": owner,
    }


def client_for(row: Row, api: APIClient, world: dict) -> APIClient:
    if row.client == "owner":
        return api
    client = APIClient()
    if row.client == "device":
        client.credentials(HTTP_X_STORE_KEY="key-for-s1")
    elif row.client == "read-only":
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=world['owner'], read_only=True)}")
    elif row.client != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=world['members'][row.client])}")
    return client


def send(client: APIClient, row: Row, world: dict) -> Any:
    path = row.path.format(
        their_report=world["their_report"],
        alice_membership=world["alice_membership"],
        resolved_incident=world["resolved_incident"],
    )
    if row.body is None:
        return client.generic(row.method, path, headers=row.headers)
    if row.body is OVER_LIMIT:
        body: bytes | str = b" " * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    elif isinstance(row.body, (bytes, str)):
        body = row.body
    else:
        body = json.dumps(row.body)
    return client.generic(row.method, path, body, content_type=row.content_type, headers=row.headers)


def check_message(actual: str, expected: str) -> None:
    if expected.endswith("…"):
        assert actual.startswith(expected[:-1]), actual
    else:
        assert actual == expected


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_refused(row: Row, api, world):
    response = send(client_for(row, api, world), row, world)

    assert response.status_code == row.status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == row.code
    check_message(body["message"], row.message)
    assert set(body) <= {"code", "message", "errors"}
    if row.errors is not None:
        assert body["errors"] == row.errors
    if row.status == 308:
        assert response["Location"] == "/api/polls/"


# --------------------------------------------------------------------------
# The table in docs/errors.md is ROWS
# --------------------------------------------------------------------------

TABLE_LINE = re.compile(r"^\|(?P<cells>.*)\|\s*$")
CASE = re.compile(r"`test_refused\[(?P<id>[^\]]+)\]`")


def doc_rows() -> dict[str, list[str]]:
    """The rows of docs/errors.md's tables whose test is a test_refused case: id -> cells."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = TABLE_LINE.match(line)
        if not match:
            continue
        cells = [cell.strip() for cell in match["cells"].split("|")]
        case = CASE.search(cells[-1])
        if case:
            assert case["id"] not in rows, f"{case['id']} twice in {DOC.name}"
            rows[case["id"]] = cells
    return rows


def test_docs_table_is_rows():
    """Each case is a row of the table, and each row says the case's status, code and message."""
    documented = doc_rows()
    assert sorted(documented) == sorted(row.id for row in ROWS)
    for row in ROWS:
        _input, status, code, message, _test = documented[row.id]
        assert status == str(row.status), row.id
        assert code == f"`{row.code}`", row.id
        assert message == f"`{row.message}`", row.id


# --------------------------------------------------------------------------
# Rows with their own test
# --------------------------------------------------------------------------


def test_a_batch_records_the_good_polls_and_reports_the_bad_by_index(api, world):
    batch = [
        poll(utc_timestamp="2024-01-08T13:00:00Z"),
        poll(status="up"),
        "not an object",
        poll(id="nowhere"),
        poll(utc_timestamp="2024-01-08T14:00:00Z"),
    ]
    response = api.post("/poll", batch, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"recorded": 2, "invalid": 2, "unknown_store": 1}
    results = body["results"]
    assert [(r["index"], r["status"], r["code"]) for r in results] == [
        (0, 201, "recorded"),
        (1, 400, "invalid"),
        (2, 400, "invalid"),
        (3, 404, "unknown_store"),
        (4, 201, "recorded"),
    ]
    assert results[1]["errors"] == {"status": ['Must be "active" or "inactive".']}
    assert results[2]["message"] == "Expected an object with id, utc_timestamp and status."
    assert api.get("/api/stores/s1/").json()["last_poll_at"] == "2024-01-08T14:00:00Z"


def test_the_body_limit_admits_a_batch_of_10000_polls_with_long_ids(api, world):
    """The default MONITOR_MAX_BODY_BYTES takes the largest plausible batch:
    10,000 polls, 64-character ids, microsecond timestamps, indented."""
    batch = [poll(id="x" * 64, utc_timestamp="2024-01-08T13:00:00.123456+00:00", status="inactive")] * 10_000
    body = json.dumps(batch, indent=2)
    assert len(body) < django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 4 * 1024 * 1024

    response = api.generic("POST", "/poll", body, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["counts"] == {"unknown_store": 10_000}


def test_the_body_limit_is_the_setting(api, world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.generic("POST", "/api/stores/", json.dumps({"store_id": "x" * 1000}), content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "code": "body_too_large",
        "message": "The request body is larger than the 1,000 bytes this server takes (MONITOR_MAX_BODY_BYTES).",
    }


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, 4 * 1024 * 1024), ({"MONITOR_MAX_BODY_BYTES": "10000000"}, 10_000_000)],
    ids=["default 4 MiB", "from MONITOR_MAX_BODY_BYTES"],
)
def test_max_body_bytes_setting(env, expected):
    result = load_settings(
        {"SECRET_KEY": "x", **env}, "[settings.MONITOR_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE]"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [expected, expected]


def test_max_body_bytes_must_be_positive():
    result = load_settings({"SECRET_KEY": "x", "MONITOR_MAX_BODY_BYTES": "0"}, "settings.MONITOR_MAX_BODY_BYTES")
    assert result.returncode != 0
    assert "MONITOR_MAX_BODY_BYTES must be a positive number of bytes" in result.stderr


def test_an_unexpected_exception_answers_json_500_without_details(api, world, monkeypatch, caplog):
    def broken(request):
        raise RuntimeError("secret detail: /srv/store-monitor/settings.py line 12")

    monkeypatch.setattr(store_views, "record_polls", broken)
    api.raise_request_exception = False  # as a real server: the exception is answered, not raised

    response = api.post("/poll", poll(), format="json")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "server_error", "message": SERVER_ERROR_MESSAGE}
    assert b"secret detail" not in response.content and b"Traceback" not in response.content
    # The details are in the log, once, with the traceback.
    [record] = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert record.exc_info[0] is RuntimeError


def test_an_unexpected_exception_with_debug_on_still_answers_json(api, world, monkeypatch, settings):
    settings.DEBUG = True
    monkeypatch.setattr(store_views, "record_polls", lambda request: 1 / 0)
    api.raise_request_exception = False

    response = api.post("/poll", poll(), format="json")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_with_debug_on_an_unknown_api_path_is_still_json(api, settings):
    settings.DEBUG = True
    response = api.get("/api/nope/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such path: /api/nope/"}


def test_with_debug_on_post_without_the_trailing_slash_is_redirected_not_raised(api, world, settings):
    settings.DEBUG = True
    response = api.post("/api/polls", poll(), format="json")

    assert response.status_code == 308
    assert response["Location"] == "/api/polls/"


def test_get_without_the_trailing_slash_keeps_djangos_redirect(api):
    response = api.get("/api/stores")

    assert response.status_code == 301
    assert response["Location"] == "/api/stores/"


def test_json_404_handler_and_500_handler_directly(rf):
    """Django's handlers (urls.py) answer JSON on API paths outside any view."""
    from common import errors

    assert errors.handler404(rf.get("/nope"), None)["Content-Type"] == "application/json"
    assert json.loads(errors.handler403(rf.get("/poll"), None).content)["code"] == "permission_denied"
    assert json.loads(errors.handler400(rf.get("/poll"), None).content)["code"] == "bad_request"
    try:
        raise RuntimeError("in a middleware")
    except RuntimeError:
        response = errors.handler500(rf.get("/poll"))
    assert response.status_code == 500
    assert json.loads(response.content) == {"code": "server_error", "message": SERVER_ERROR_MESSAGE}


@pytest.mark.parametrize(
    "path", ["/dashboard/stores/nowhere/", "/reports/nowhere/", "/admin/stores/nowhere/"], ids=lambda p: p.split("/")[1]
)
def test_pages_for_people_keep_html_error_pages(client, owner, path):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client.force_login(owner)

    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
