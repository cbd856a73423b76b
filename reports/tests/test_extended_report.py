"""Reports with closures, and the extended columns (docs/semantics.md,
sections 5 and 7). A Chicago store open 09:00-17:00 every day; the report as
of Wednesday 10 January 2024 18:00 CST (11 January 00:00 UTC)."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.base import ContentFile

from accounts.models import Role
from conftest import token_client
from core.closures import closure_period
from reports.models import Report, ReportStatus
from stores.services import PollInput, closure_create, polls_record, store_register
from stores.hours import HoursInput
from stores.models import Store
from stores.tests.factories import organization_of

pytestmark = pytest.mark.django_db

AS_OF = "2024-01-11T00:00:00Z"
SEED = "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,downtime_last_week"
EXTENDED = (
    SEED + ",no_signal_last_hour,no_signal_last_day,no_signal_last_week,closed_last_hour,closed_last_day,"
    "closed_last_week,uptime_percent_last_hour,uptime_percent_last_day,uptime_percent_last_week"
)
UTC = dt.timezone.utc


def chicago(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A January 2024 Chicago wall time (CST, UTC-6) in UTC."""
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC) + dt.timedelta(hours=6)


@pytest.fixture
def store(owner):
    """Active every 30 minutes for two weeks, but inactive 12:00-15:30 and silent from 16:00 on 10 January."""
    registered = store_register(
        organization=organization_of(owner),
        store_id="chi-1",
        timezone="America/Chicago",
        week=[HoursInput(day, dt.time(9), dt.time(17)) for day in range(7)],
    ).store
    polls, at = [], chicago(10, 0) - dt.timedelta(days=14)
    while at < chicago(10, 16):
        inactive = chicago(10, 12) <= at < chicago(10, 15, 30)
        polls.append(PollInput(store_id="chi-1", at=at, status="inactive" if inactive else "active"))
        at += dt.timedelta(minutes=30)
    polls_record(polls=polls, stores=Store.objects.filter(pk=registered.pk))
    return registered


def report_csv(api, capture, columns: str | None = None, as_of: str = AS_OF) -> list[list[str]]:
    with capture(execute=True):
        report_id = api.post("/trigger_report", {"as_of": as_of}, format="json").json()["report_id"]
    params = {"report_id": report_id, **({"columns": columns} if columns else {})}
    response = api.get("/get_report", params)
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_default_csv_keeps_exactly_the_seven_seed_columns(api, store, django_capture_on_commit_callbacks):
    rows = report_csv(api, django_capture_on_commit_callbacks)
    assert ",".join(rows[0]) == SEED
    assert len(rows[1]) == 7


def test_the_extended_csv_adds_no_signal_closed_and_uptime_percent(api, store, owner, django_capture_on_commit_callbacks):
    """On 10 January: up 09:00-12:00 and 15:30-17:00 (the last poll, 15:30, vouches
    for two hours, past closing), inactive 12:00-15:30. Closed 13:00-14:00
    ("Fire drill"): that hour is neither up nor down."""
    closure_create(
        organization=organization_of(owner),
        period=closure_period("2024-01-10T13:00", "2024-01-10T14:00"),
        reason="Fire drill",
        created_by=owner,
    )
    rows = report_csv(api, django_capture_on_commit_callbacks, columns="extended")
    assert ",".join(rows[0]) == EXTENDED
    figures = dict(zip(rows[0], rows[1]))
    # Up: 09:00-12:00 and 15:30-17:00 = 4.5 h; down: 12:00-13:00 and 14:00-15:30 = 2.5 h; closed 1 h.
    assert (figures["uptime_last_day"], figures["downtime_last_day"], figures["closed_last_day"]) == ("4.50", "2.50", "1.00")
    assert figures["no_signal_last_day"] == "0.00"
    assert figures["uptime_percent_last_day"] == "64.29"  # 4.5 / 7
    # The last hour (17:00-18:00) is after closing: not monitored inside business hours.
    assert (figures["uptime_last_hour"], figures["uptime_percent_last_hour"]) == ("0.00", "")
    # The week: six full days up (48 h) and the 10th.
    assert (figures["uptime_last_week"], figures["closed_last_week"]) == ("52.50", "1.00")


def test_no_signal_is_the_silent_part_of_the_downtime(api, store, django_capture_on_commit_callbacks):
    """As of 11 January 12:00 CST (18:00 UTC): the last poll was 10 January 15:30,
    so 11 January 09:00-12:00 is down with no signal."""
    rows = report_csv(api, django_capture_on_commit_callbacks, columns="extended", as_of="2024-01-11T18:00:00Z")
    figures = dict(zip(rows[0], rows[1]))
    assert (figures["downtime_last_hour"], figures["no_signal_last_hour"]) == ("60.00", "60.00")
    # Day: 10 Jan 12:00-15:30 inactive (3.5 h, not silent), 11 Jan 09:00-12:00 silent (3 h).
    assert (figures["downtime_last_day"], figures["no_signal_last_day"]) == ("6.50", "3.00")


def test_an_excusal_removes_downtime_from_new_reports_and_leaves_old_ones(api, store, owner, django_capture_on_commit_callbacks):
    """The 12:00-15:30 outage is excused afterwards, as a power cut the landlord announced."""
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        before_id = api.post("/trigger_report", {"as_of": AS_OF}, format="json").json()["report_id"]
    before = b"".join(api.get("/get_report", {"report_id": before_id}).streaming_content)
    closure_create(
        organization=organization_of(owner),
        period=closure_period("2024-01-10T12:00", "2024-01-10T15:30"),
        reason="Power cut announced by the landlord",
        created_by=owner,
    )
    after = dict(zip(*report_csv(api, capture, columns="extended")[:2]))
    assert (after["downtime_last_day"], after["closed_last_day"], after["uptime_percent_last_day"]) == ("0.00", "3.50", "100.00")
    again = b"".join(api.get("/get_report", {"report_id": before_id}).streaming_content)
    assert again == before
    assert dict(zip(*list(csv.reader(io.StringIO(before.decode())))[:2]))["downtime_last_day"] == "3.50"


def test_a_group_closure_covers_the_groups_stores_only(owner, store, django_capture_on_commit_callbacks):
    from stores.tests.factories import StoreGroupFactory

    organization = organization_of(owner)
    group = StoreGroupFactory(organization=organization, name="midwest")
    closure_create(
        organization=organization, period=closure_period("2024-01-10", "2024-01-10"), reason="Snow", created_by=owner, group=group
    )
    api = token_client(owner)
    outside = dict(zip(*report_csv(api, django_capture_on_commit_callbacks, columns="extended")[:2]))
    assert outside["closed_last_day"] == "0.00"
    store.groups.add(group)
    inside = dict(zip(*report_csv(api, django_capture_on_commit_callbacks, columns="extended")[:2]))
    assert (inside["closed_last_day"], inside["uptime_last_day"]) == ("8.00", "0.00")


def test_extended_columns_of_a_report_made_before_them_are_refused(api, owner):
    report = Report.objects.create(requested_by=owner, as_of=dt.datetime(2024, 1, 11, tzinfo=UTC), status=ReportStatus.COMPLETE)
    report.file.save(f"report-{report.pk}.csv", ContentFile((SEED + "\r\n").encode()))
    response = api.get("/get_report", {"report_id": report.pk, "columns": "extended"})
    assert (response.status_code, response.json()["code"]) == (400, "report_not_extended")
    assert api.get(f"/api/reports/{report.pk}/csv/").status_code == 200


def test_the_report_page_downloads_either_csv(owner, store, django_capture_on_commit_callbacks):
    from django.test import Client

    api = token_client(owner)
    with django_capture_on_commit_callbacks(execute=True):
        report_id = api.post("/trigger_report", {"as_of": AS_OF}, format="json").json()["report_id"]
    client = Client()
    client.force_login(owner)
    default = b"".join(client.get(f"/reports/{report_id}/download").streaming_content).decode()
    extended = b"".join(client.get(f"/reports/{report_id}/download", {"columns": "extended"}).streaming_content).decode()
    assert default.splitlines()[0] == SEED and extended.splitlines()[0] == EXTENDED
    assert [line.split(",")[:7] for line in extended.splitlines()] == [line.split(",") for line in default.splitlines()]
    assert client.get(f"/reports/{report_id}/download", {"columns": "all"}).status_code == 400
