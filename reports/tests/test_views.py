"""HTTP behaviour of /trigger_report, /get_report and /api/reports/ (reports/views.py)."""
import csv
import datetime as dt
import io
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient


from reports.models import Report, ReportStatus
from stores.tests.factories import StatusSpanFactory, StoreFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
AS_OF = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)
HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)


def trigger(client: APIClient, capture, url: str = "/trigger_report", data=None):
    """POST a trigger and run the queued generation, as the worker would."""
    with capture(execute=True):
        return client.post(url, data if data is not None else {}, format="json")


def content(response) -> str:
    try:
        return b"".join(response.streaming_content).decode("utf-8")
    finally:
        response.close()


def rows(response) -> list[list[str]]:
    text = content(response)
    assert text.splitlines()[0] == HEADER
    return list(csv.reader(io.StringIO(text)))[1:]


@pytest.fixture
def stores(owner, other_owner):
    """Two stores of the owner (one silent), one of the other owner."""
    up = StoreFactory(owner=owner, store_id="b-up")
    # Active 45 minutes before as_of: up for the last 45 minutes, open all week.
    StatusSpanFactory(store=up, first_poll_at=AS_OF - dt.timedelta(minutes=45))
    StoreFactory(owner=owner, store_id="a-silent")
    theirs = StoreFactory(owner=other_owner, store_id="c-theirs")
    StatusSpanFactory(store=theirs, status="inactive", first_poll_at=AS_OF - dt.timedelta(hours=2))


# --------------------------------------------------------------------------
# POST /trigger_report
# --------------------------------------------------------------------------


def test_trigger_is_202_with_a_running_report(api, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post("/trigger_report", format="json")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"report_id", "status"}
    assert body["status"] == "Running"
    report = Report.objects.get(pk=uuid.UUID(body["report_id"]))
    assert report.requested_by == owner
    assert report.status == ReportStatus.RUNNING
    assert len(callbacks) == 1


def test_trigger_without_a_body(api):
    response = api.post("/trigger_report")
    assert response.status_code == 202


def test_trigger_then_get_the_csv(api, stores, django_capture_on_commit_callbacks):
    response = trigger(api, django_capture_on_commit_callbacks, data={"as_of": "2024-01-10T12:00:00Z"})
    assert response.status_code == 202
    report_id = response.json()["report_id"]
    assert Report.objects.get(pk=report_id).as_of == AS_OF

    response = api.get("/get_report", {"report_id": report_id})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == f'attachment; filename="report-{report_id}.csv"'
    assert rows(response) == [
        ["a-silent", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
        ["b-up", "45.00", "0.75", "0.75", "0.00", "0.00", "0.00"],
    ]


def test_trigger_as_of_in_the_loop_form_and_with_an_offset(api, django_capture_on_commit_callbacks):
    for as_of in ("2024-01-10 12:00:00.000000 UTC", "2024-01-10T06:00:00-06:00"):
        response = trigger(api, django_capture_on_commit_callbacks, data={"as_of": as_of})
        assert response.status_code == 202
        assert Report.objects.get(pk=response.json()["report_id"]).as_of == AS_OF


def test_trigger_as_of_in_the_future_is_400(api):
    future = (timezone.now() + dt.timedelta(minutes=10)).isoformat()
    response = api.post("/trigger_report", {"as_of": future}, format="json")
    assert response.status_code == 400
    assert "as_of" in response.json()["errors"]
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    "as_of",
    [
        "yesterday",
        "2024-01-10",
        "",
        "2024-13-01T00:00:00Z",
        None,
        1704888000,
        "0001-01-01T00:00:00+01:00",
        # Before any poll; in year 1's first week the report used to fail with an OverflowError.
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_trigger_bad_as_of_is_400(api, as_of):
    response = api.post("/trigger_report", {"as_of": as_of}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "as_of" in response.json()["errors"]
    assert not Report.objects.exists()


def test_trigger_extra_field_is_400(api):
    response = api.post("/trigger_report", {"store_ids": ["a"]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["store_ids"] == ["Unknown field."]


# --------------------------------------------------------------------------
# GET /get_report
# --------------------------------------------------------------------------


def test_running_report_is_202_with_progress(api, owner):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF, stores_total=10, stores_done=4)
    for url in (f"/get_report?report_id={report.id}", f"/get_report/{report.id}"):
        response = api.get(url)
        assert response.status_code == 202
        assert response.json() == {"status": "Running", "stores_done": 4, "stores_total": 10}


def test_complete_report_by_path(api, stores, django_capture_on_commit_callbacks):
    report_id = trigger(api, django_capture_on_commit_callbacks, data={"as_of": "2024-01-10T12:00:00Z"}).json()[
        "report_id"
    ]
    response = api.get(f"/get_report/{report_id}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    assert [row[0] for row in rows(response)] == ["a-silent", "b-up"]


def test_complete_csv_exact_text(api, owner, django_capture_on_commit_callbacks):
    StoreFactory(owner=owner, store_id="only")
    report_id = trigger(api, django_capture_on_commit_callbacks).json()["report_id"]
    response = api.get(f"/get_report/{report_id}")
    assert content(response) == f"{HEADER}\r\nonly,0.00,0.00,0.00,0.00,0.00,0.00\r\n"


def test_superusers_report_contains_every_store(admin_api, stores, django_capture_on_commit_callbacks):
    report_id = trigger(admin_api, django_capture_on_commit_callbacks, data={"as_of": "2024-01-10T12:00:00Z"}).json()[
        "report_id"
    ]
    response = admin_api.get(f"/get_report/{report_id}")
    assert rows(response) == [
        ["a-silent", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"],
        ["b-up", "45.00", "0.75", "0.75", "0.00", "0.00", "0.00"],
        ["c-theirs", "0.00", "0.00", "0.00", "60.00", "2.00", "2.00"],
    ]


def test_other_owners_report_contains_only_their_store(other_api, stores, django_capture_on_commit_callbacks):
    report_id = trigger(other_api, django_capture_on_commit_callbacks, data={"as_of": "2024-01-10T12:00:00Z"}).json()[
        "report_id"
    ]
    assert [row[0] for row in rows(other_api.get(f"/get_report/{report_id}"))] == ["c-theirs"]


def test_failed_report_says_why(api, owner, monkeypatch, django_capture_on_commit_callbacks):
    StoreFactory(owner=owner, store_id="s-1")

    def broken(**kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr("reports.figures.stores_uptime_array", broken)
    response = trigger(api, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    report_id = response.json()["report_id"]

    for url in (f"/get_report?report_id={report_id}", f"/get_report/{report_id}", f"/api/reports/{report_id}/csv/"):
        response = api.get(url)
        assert response.status_code == 409
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["status"] == "Failed"
        assert body["code"] == "report_failed"
        assert "engine exploded" in body["message"]


def test_failed_report_without_a_reason(api, owner):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF, status=ReportStatus.FAILED)
    response = api.get(f"/get_report/{report.id}")
    assert response.status_code == 409
    assert response.json()["status"] == "Failed"
    assert response.json()["message"]


def test_unknown_report_is_404(api):
    for url in (f"/get_report?report_id={uuid.uuid4()}", f"/get_report/{uuid.uuid4()}"):
        response = api.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("report_id", ["nope", "123", "00000000-0000-0000-0000-00000000000g"])
def test_non_uuid_report_id_is_400(api, report_id):
    for url in (f"/get_report?report_id={report_id}", f"/get_report/{report_id}"):
        response = api.get(url)
        assert response.status_code == 400
        assert "report_id" in response.json()["errors"]


def test_missing_report_id_is_400(api):
    response = api.get("/get_report")
    assert response.status_code == 400
    assert "report_id" in response.json()["errors"]


def test_another_owners_report_is_404(api, other_owner):
    report = Report.objects.create(requested_by=other_owner, as_of=AS_OF)
    for url in (
        f"/get_report?report_id={report.id}",
        f"/get_report/{report.id}",
        f"/api/reports/{report.id}/",
        f"/api/reports/{report.id}/csv/",
    ):
        assert api.get(url).status_code == 404, url


def test_superuser_sees_another_owners_report(admin_api, owner):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF, stores_total=3)
    assert admin_api.get(f"/get_report/{report.id}").status_code == 202
    assert admin_api.get(f"/api/reports/{report.id}/").json()["requested_by"] == "alice"


# --------------------------------------------------------------------------
# /api/reports/
# --------------------------------------------------------------------------


def test_report_list_shows_own_reports_newest_first(api, owner, other_owner):
    first = Report.objects.create(requested_by=owner, as_of=AS_OF)
    second = Report.objects.create(requested_by=owner, as_of=AS_OF, status=ReportStatus.COMPLETE)
    Report.objects.create(requested_by=other_owner, as_of=AS_OF)
    response = api.get("/api/reports/")
    assert response.status_code == 200
    assert [entry["report_id"] for entry in response.json()] == [str(second.id), str(first.id)]


def test_superuser_lists_every_report(admin_api, owner, other_owner):
    Report.objects.create(requested_by=owner, as_of=AS_OF)
    Report.objects.create(requested_by=other_owner, as_of=AS_OF)
    assert {entry["requested_by"] for entry in admin_api.get("/api/reports/").json()} == {"alice", "bob"}


def test_report_retrieve(api, owner):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF, stores_total=7, stores_done=2)
    response = api.get(f"/api/reports/{report.id}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "report_id",
        "status",
        "as_of",
        "stores_done",
        "stores_total",
        "error",
        "requested_by",
        "organization",
        "group",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert body["report_id"] == str(report.id)
    assert body["status"] == "Running"
    assert (body["stores_done"], body["stores_total"]) == (2, 7)
    assert body["requested_by"] == "alice"
    assert (body["organization"], body["group"]) == (None, None)  # not limited
    assert dt.datetime.fromisoformat(body["as_of"]) == AS_OF


def test_report_retrieve_non_uuid_is_400_and_unknown_is_404(api):
    assert api.get("/api/reports/nope/").status_code == 400
    assert api.get(f"/api/reports/{uuid.uuid4()}/").status_code == 404
    assert api.get(f"/api/reports/{uuid.uuid4()}/csv/").status_code == 404


def test_report_create_through_the_api(api, stores, django_capture_on_commit_callbacks):
    response = trigger(api, django_capture_on_commit_callbacks, url="/api/reports/", data={"as_of": "2024-01-10T12:00:00Z"})
    assert response.status_code == 202
    assert response.json()["status"] == "Running"
    report_id = response.json()["report_id"]

    detail = api.get(f"/api/reports/{report_id}/").json()
    assert detail["status"] == "Complete"
    assert (detail["stores_done"], detail["stores_total"]) == (2, 2)
    assert detail["started_at"] and detail["finished_at"]

    response = api.get(f"/api/reports/{report_id}/csv/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert [row[0] for row in rows(response)] == ["a-silent", "b-up"]


def test_report_create_through_the_api_validates(api):
    response = api.post("/api/reports/", {"as_of": "soon"}, format="json")
    assert response.status_code == 400
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    assert api.post("/api/reports/", {"as_of": future}, format="json").status_code == 400
    assert not Report.objects.exists()


def test_report_csv_action_while_running(api, owner):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF, stores_total=2, stores_done=1)
    response = api.get(f"/api/reports/{report.id}/csv/")
    assert response.status_code == 202
    assert response.json() == {"status": "Running", "stores_done": 1, "stores_total": 2}


def test_complete_report_whose_file_is_gone_is_a_json_404(api, stores, django_capture_on_commit_callbacks):
    report_id = trigger(api, django_capture_on_commit_callbacks, data={"as_of": "2024-01-10T12:00:00Z"}).json()[
        "report_id"
    ]
    report = Report.objects.get(pk=report_id)
    report.file.storage.delete(report.file.name)
    response = api.get(f"/get_report/{report_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "report_file_missing"
