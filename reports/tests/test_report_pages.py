"""The report pages for staff (reports/report_pages.py, reports/selectors.py, templates/reports/)."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports import report_pages
from reports.models import Report, ReportStatus
from reports.report_pages import days_hours
from reports.selectors import ReportRow, report_rows_sorted
from stores.tests.factories import StatusSpanFactory, StoreFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
AS_OF = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)
HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)
# Three stores whose figures order differently by each column.
CSV_ROWS = [
    "a-store,60.00,20.00,100.00,0.00,4.00,53.50",
    "b-store,0.00,24.00,150.00,60.00,0.00,5.50",
    "c-store,30.00,10.00,24.00,30.00,14.00,0.00",
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def complete_report(user, csv_lines: list[str] | None = None, *, as_of: dt.datetime = AS_OF) -> Report:
    """A complete report whose CSV is exactly the given lines (after the header)."""
    lines = CSV_ROWS if csv_lines is None else csv_lines
    report = Report.objects.create(
        requested_by=user,
        as_of=as_of,
        status=ReportStatus.COMPLETE,
        stores_total=len(lines),
        stores_done=len(lines),
        finished_at=as_of + dt.timedelta(minutes=1),
    )
    content = "\n".join([HEADER, *lines]) + "\n"
    report.file.save(f"report-{report.pk}.csv", ContentFile(content.encode("utf-8")))
    return report


def running_report(user, *, done: int = 0, total: int = 0) -> Report:
    return Report.objects.create(requested_by=user, as_of=AS_OF, stores_done=done, stores_total=total)


def store_order(response) -> list[str]:
    """The store ids of the figures table, top to bottom."""
    body = response.content.decode()
    figures = body[body.index('id="report-figures"') :]
    return re.findall(r'<th scope="row">([^<]+)</th>', figures)


def download_text(response) -> str:
    try:
        return b"".join(response.streaming_content).decode("utf-8")
    finally:
        response.close()


@pytest.fixture
def alice(owner) -> Client:
    return client_for(owner)


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (Decimal("53.5"), "2 d 5.5 h"),
        (Decimal("53.50"), "2 d 5.5 h"),
        (Decimal("5.5"), "5.5 h"),
        (Decimal("0"), "0 h"),
        (Decimal("0.00"), "0 h"),
        (Decimal("24"), "1 d 0 h"),
        (Decimal("24.00"), "1 d 0 h"),
        (Decimal("168.00"), "7 d 0 h"),
        (Decimal("23.99"), "23.99 h"),
        (Decimal("48.25"), "2 d 0.25 h"),
        (Decimal("10.00"), "10 h"),  # not "1E+1"
        (0, "0 h"),
        (30, "1 d 6 h"),
    ],
)
def test_days_hours(hours, text):
    assert days_hours(hours) == text


@pytest.mark.parametrize("hours", [Decimal("-1"), Decimal("NaN"), Decimal("Infinity")])
def test_days_hours_refuses_what_is_not_a_duration(hours):
    with pytest.raises(ValueError):
        days_hours(hours)


def test_sorting_keeps_ties_in_store_order_both_ways():
    week_downtime = [("c", 1), ("a", 1), ("b", 2)]
    rows = [ReportRow(store_id, (Decimal(0),) * 5 + (Decimal(value),)) for store_id, value in week_downtime]
    ascending = report_rows_sorted(rows=rows, sort="downtime_last_week", direction="asc")
    descending = report_rows_sorted(rows=rows, sort="downtime_last_week", direction="desc")
    assert [row.store_id for row in ascending] == ["a", "c", "b"]
    assert [row.store_id for row in descending] == ["b", "a", "c"]


# --------------------------------------------------------------------------
# Login and who sees what
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    ("name", "with_id"),
    [("list", False), ("create", False), ("status", False), ("detail", True), ("download", True)],
)
def test_anonymous_is_sent_to_the_login_page(client, owner, name, with_id, method):
    report = complete_report(owner)
    url = reverse(f"report_pages:{name}", args=[report.id] if with_id else [])
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login") + "?next=")


def test_list_shows_only_the_users_reports(alice, owner, other_owner):
    mine = complete_report(owner)
    theirs = complete_report(other_owner)
    response = alice.get(reverse("report_pages:list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert str(mine.id) in body
    assert str(theirs.id) not in body
    assert "Your reports" in body


def test_superuser_sees_every_report_and_who_asked(superuser, owner, other_owner):
    reports = [complete_report(owner), running_report(other_owner)]
    response = client_for(superuser).get(reverse("report_pages:list"))
    body = response.content.decode()
    assert all(str(report.id) in body for report in reports)
    assert "alice" in body and "bob" in body
    assert "All reports" in body


def test_list_is_newest_first_and_paginated(alice, owner):
    reports = [running_report(owner) for _ in range(report_pages.LIST_PAGE_SIZE + 1)]
    start = timezone.now() - dt.timedelta(days=1)
    for minutes, report in enumerate(reports):
        Report.objects.filter(pk=report.pk).update(created_at=start + dt.timedelta(minutes=minutes))
    first = alice.get(reverse("report_pages:list")).content.decode()
    second = alice.get(reverse("report_pages:list") + "?page=2").content.decode()
    ids_first = re.findall(r'data-report-id="([^"]+)"', first)
    assert ids_first == [str(report.id) for report in reversed(reports[1:])]
    assert re.findall(r'data-report-id="([^"]+)"', second) == [str(reports[0].id)]
    assert 'aria-current="page">1<' in first and 'href="/reports/?page=2"' in first


def test_list_row_shows_progress_links_and_failure_reason(alice, owner):
    done = complete_report(owner)
    running = running_report(owner, done=2000, total=8000)
    failed = Report.objects.create(
        requested_by=owner, as_of=AS_OF, status=ReportStatus.FAILED, error="OperationalError: <disk> full"
    )
    body = alice.get(reverse("report_pages:list")).content.decode()
    assert reverse("report_pages:download", args=[done.id]) in body
    assert reverse("report_pages:detail", args=[done.id]) in body
    assert reverse("report_pages:download", args=[running.id]) not in body
    assert 'aria-valuenow="25"' in body and "2000 / 8000" in body
    assert "OperationalError: &lt;disk&gt; full" in body  # escaped
    assert reverse("report_pages:download", args=[failed.id]) not in body
    assert "reports.js" in body
    assert f'data-status-url="{reverse("report_pages:status")}"' in body


# --------------------------------------------------------------------------
# Asking for a report
# --------------------------------------------------------------------------


def test_create_now_generates_and_redirects_to_the_list(alice, owner, django_capture_on_commit_callbacks):
    store = StoreFactory(owner=owner, store_id="only-store")
    StatusSpanFactory(store=store, first_poll_at=timezone.now() - dt.timedelta(minutes=30))
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(reverse("report_pages:create"))
    assert response.status_code == 302
    assert response.url == reverse("report_pages:list")
    report = Report.objects.get()
    assert report.requested_by == owner
    assert before <= report.as_of <= timezone.now()
    assert report.status == ReportStatus.COMPLETE
    assert (report.stores_done, report.stores_total) == (1, 1)

    page = alice.get(response.url).content.decode()
    assert "requested" in page  # the success message
    assert reverse("report_pages:download", args=[report.id]) in page


def test_create_as_of_reads_the_input_as_utc(alice, owner, settings, django_capture_on_commit_callbacks):
    # Even with another time zone active, the form's value is UTC, as the page says.
    settings.TIME_ZONE = "America/Chicago"
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(reverse("report_pages:create"), {"as_of": "2024-01-10T12:00"})
    assert response.status_code == 302
    report = Report.objects.get()
    assert report.as_of == AS_OF
    assert report.status == ReportStatus.COMPLETE


def test_create_accepts_seconds(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(reverse("report_pages:create"), {"as_of": "2024-01-10T12:00:30"})
    assert Report.objects.get().as_of == AS_OF + dt.timedelta(seconds=30)


def test_create_in_the_future_shows_an_error_and_creates_nothing(alice, django_capture_on_commit_callbacks):
    future = (timezone.now() + dt.timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = alice.post(reverse("report_pages:create"), {"as_of": future})
    assert response.status_code == 400
    body = response.content.decode()
    assert "not in the future" in body
    assert 'class="errorlist' in body
    assert f'value="{future}"' in body  # the value stays in the form to correct
    assert not Report.objects.exists()
    assert callbacks == []


def test_the_list_after_a_form_error_links_its_pages_to_the_list(alice, owner):
    # The page is rendered at the form's URL: relative page links would GET the form's URL.
    for _ in range(report_pages.LIST_PAGE_SIZE + 1):
        running_report(owner)
    body = alice.post(reverse("report_pages:create"), {"as_of": "yesterday"}).content.decode()
    assert 'href="/reports/?page=2"' in body


def test_create_with_a_malformed_date_shows_an_error(alice):
    response = alice.post(reverse("report_pages:create"), {"as_of": "yesterday"})
    assert response.status_code == 400
    assert "Enter a valid date/time." in response.content.decode()
    assert not Report.objects.exists()


def test_form_says_the_time_is_utc(alice):
    body = alice.get(reverse("report_pages:list")).content.decode()
    assert 'type="datetime-local"' in body
    assert '<label for="id_as_of">As of (UTC):</label>' in body
    assert "in UTC" in body


def test_create_needs_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("report_pages:create"))
    assert response.status_code == 403
    assert not Report.objects.exists()
    # The page's form carries the token.
    assert 'name="csrfmiddlewaretoken"' in client.get(reverse("report_pages:list")).content.decode()


def test_create_is_post_only(alice):
    assert alice.get(reverse("report_pages:create")).status_code == 405


# --------------------------------------------------------------------------
# Status JSON
# --------------------------------------------------------------------------


def test_status_gives_progress_of_the_asked_reports(alice, owner, other_owner):
    running = running_report(owner, done=2, total=5)
    done = complete_report(owner)
    theirs = running_report(other_owner)
    url = reverse("report_pages:status")
    response = alice.get(url, {"id": [str(running.id), str(done.id), str(theirs.id)]})
    assert response.status_code == 200
    entries = {entry["id"]: entry for entry in response.json()["reports"]}
    assert set(entries) == {str(running.id), str(done.id)}  # not the other owner's
    assert entries[str(running.id)] == {
        "id": str(running.id),
        "status": "Running",
        "stores_done": 2,
        "stores_total": 5,
        "error": "",
        "finished_at": "",
        "detail_url": reverse("report_pages:detail", args=[running.id]),
        "download_url": None,
    }
    assert entries[str(done.id)]["status"] == "Complete"
    assert entries[str(done.id)]["download_url"] == reverse("report_pages:download", args=[done.id])
    assert entries[str(done.id)]["finished_at"] == "2024-01-10 12:01:00"


def test_status_without_ids_gives_the_first_page(alice, owner, other_owner):
    mine = running_report(owner)
    running_report(other_owner)
    response = alice.get(reverse("report_pages:status"))
    assert [entry["id"] for entry in response.json()["reports"]] == [str(mine.id)]


def test_status_gives_the_failure_reason(alice, owner):
    failed = Report.objects.create(requested_by=owner, as_of=AS_OF, status=ReportStatus.FAILED, error="Boom")
    entry = alice.get(reverse("report_pages:status"), {"id": str(failed.id)}).json()["reports"][0]
    assert (entry["status"], entry["error"]) == ("Failed", "Boom")


def test_status_refuses_malformed_ids(alice):
    response = alice.get(reverse("report_pages:status"), {"id": "not-a-uuid"})
    assert response.status_code == 400
    assert "error" in response.json()


# --------------------------------------------------------------------------
# One report
# --------------------------------------------------------------------------


def test_detail_shows_the_figures_in_store_order(alice, owner):
    report = complete_report(owner)
    response = alice.get(reverse("report_pages:detail", args=[report.id]))
    assert response.status_code == 200
    assert store_order(response) == ["a-store", "b-store", "c-store"]
    body = response.content.decode()
    assert '<th scope="col" class="column-store_id sorted ascending" aria-sort="ascending">' in body  # store_id is the default sort


def test_detail_shows_last_week_in_days_and_hours(alice, owner):
    report = complete_report(owner)
    body = alice.get(reverse("report_pages:detail", args=[report.id])).content.decode()
    assert "53.50 <span class=\"days-hours\">(2 d 5.5 h)</span>" in body
    assert "5.50 <span class=\"days-hours\">(5.5 h)</span>" in body
    assert "24.00 <span class=\"days-hours\">(1 d 0 h)</span>" in body
    assert "0.00 <span class=\"days-hours\">(0 h)</span>" in body
    assert "150.00 <span class=\"days-hours\">(6 d 6 h)</span>" in body


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("?sort=downtime_last_week&dir=desc", ["a-store", "b-store", "c-store"]),
        ("?sort=downtime_last_week&dir=asc", ["c-store", "b-store", "a-store"]),
        ("?sort=uptime_last_week&dir=desc", ["b-store", "a-store", "c-store"]),
        ("?sort=downtime_last_day&dir=desc", ["c-store", "a-store", "b-store"]),
        ("?sort=uptime_last_hour&dir=asc", ["b-store", "c-store", "a-store"]),
        ("?sort=store_id&dir=desc", ["c-store", "b-store", "a-store"]),
        ("?sort=downtime_last_hour", ["b-store", "c-store", "a-store"]),  # figures start largest first
        ("?sort=nonsense&dir=sideways", ["a-store", "b-store", "c-store"]),  # falls back to store order
    ],
)
def test_detail_sorts_by_any_column(alice, owner, query, order):
    report = complete_report(owner)
    response = alice.get(reverse("report_pages:detail", args=[report.id]) + query)
    assert response.status_code == 200
    assert store_order(response) == order


def test_detail_headers_link_to_sorting(alice, owner):
    report = complete_report(owner)
    url = reverse("report_pages:detail", args=[report.id])
    body = alice.get(url + "?sort=downtime_last_week&dir=desc").content.decode()
    # The sorted column's link reverses it; the others start with their first direction.
    assert 'aria-sort="descending"' in body
    assert 'href="?sort=downtime_last_week&amp;dir=asc"' in body
    assert 'href="?sort=uptime_last_day&amp;dir=desc"' in body
    assert 'href="?sort=store_id&amp;dir=asc"' in body


def test_detail_is_paginated_and_keeps_the_sort(alice, owner):
    lines = [f"s{n:03d},0.00,0.00,0.00,0.00,0.00,{n}.00" for n in range(150)]
    report = complete_report(owner, lines)
    url = reverse("report_pages:detail", args=[report.id])
    first = alice.get(url + "?sort=downtime_last_week&dir=desc")
    assert len(store_order(first)) == report_pages.DETAIL_PAGE_SIZE
    assert store_order(first)[0] == "s149"
    assert f'href="{url}?sort=downtime_last_week&amp;dir=desc&amp;page=2"' in first.content.decode()
    second = alice.get(url + "?sort=downtime_last_week&dir=desc&page=2")
    assert store_order(second) == [f"s{n:03d}" for n in range(49, -1, -1)]
    assert "150 stores" in second.content.decode()


def test_detail_of_a_running_report_shows_its_progress(alice, owner):
    report = running_report(owner, done=3, total=4)
    response = alice.get(reverse("report_pages:detail", args=[report.id]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Running" in body and "3 / 4" in body
    assert 'id="report-figures"' not in body
    assert 'data-reload-when-done="true"' in body


def test_detail_of_a_failed_report_shows_why(alice, owner):
    report = Report.objects.create(requested_by=owner, as_of=AS_OF, status=ReportStatus.FAILED, error="Boom")
    body = alice.get(reverse("report_pages:detail", args=[report.id])).content.decode()
    assert "The report failed: Boom" in body
    assert 'id="report-figures"' not in body


def test_detail_when_the_file_is_gone(alice, owner):
    report = complete_report(owner)
    report.file.delete(save=False)
    response = alice.get(reverse("report_pages:detail", args=[report.id]))
    assert response.status_code == 200
    assert "missing" in response.content.decode()
    assert alice.get(reverse("report_pages:download", args=[report.id])).status_code == 404


@pytest.mark.parametrize(
    "content",
    [
        # Finding 3 of issue 9: a bare CR in an unquoted field, as the old
        # writer stored "\r=1+1" (Python's csv raised "new-line character
        # seen in unquoted field", and the page answered 500).
        f"{HEADER}\n\r=1+1,0.00,0.00,0.00,0.00,0.00,0.00\n".encode(),
        f"{HEADER}\na-store,1.00,0.00,0.00,0.00,0.00,0.00\n".encode("utf-16"),  # not UTF-8
        f'{HEADER}\n"a-store,1.00,0.00,0.00,0.00,0.00,0.00\n'.encode(),  # a quote never closed
        f"{HEADER}\na-store,NaN,0.00,0.00,0.00,0.00,0.00\n".encode(),
        b"",
    ],
    ids=["bare carriage return", "not UTF-8", "unclosed quote", "not a finite number", "empty"],
)
def test_detail_of_a_file_it_cannot_read_says_so_instead_of_failing(alice, owner, content):
    report = complete_report(owner)
    report.file.save(report.file.name, ContentFile(content))
    response = alice.get(reverse("report_pages:detail", args=[report.id]))
    assert response.status_code == 200
    assert "The report&#x27;s CSV file could not be read." in response.content.decode()
    assert 'id="report-figures"' not in response.content.decode()


@pytest.mark.parametrize("name", ["detail", "download"])
def test_another_owners_report_is_not_found(alice, other_owner, name):
    report = complete_report(other_owner)
    assert alice.get(reverse(f"report_pages:{name}", args=[report.id])).status_code == 404


def test_superuser_may_open_anyones_report(superuser, owner):
    report = complete_report(owner)
    client = client_for(superuser)
    assert client.get(reverse("report_pages:detail", args=[report.id])).status_code == 200
    assert client.get(reverse("report_pages:download", args=[report.id])).status_code == 200


def test_download_gives_the_csv(alice, owner):
    report = complete_report(owner)
    response = alice.get(reverse("report_pages:download", args=[report.id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == f'attachment; filename="report-{report.id}.csv"'
    assert download_text(response) == "\n".join([HEADER, *CSV_ROWS]) + "\n"


def test_download_of_a_running_report_is_not_found(alice, owner):
    report = running_report(owner)
    assert alice.get(reverse("report_pages:download", args=[report.id])).status_code == 404


def test_generated_report_end_to_end(alice, owner, django_capture_on_commit_callbacks):
    """From the form to the HTML view and the download, through the real generation."""
    up = StoreFactory(owner=owner, store_id="b-up")
    StatusSpanFactory(store=up, first_poll_at=AS_OF - dt.timedelta(minutes=45))
    StoreFactory(owner=owner, store_id="a-silent")
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(reverse("report_pages:create"), {"as_of": "2024-01-10T12:00"})
    report = Report.objects.get()
    detail = alice.get(reverse("report_pages:detail", args=[report.id]) + "?sort=uptime_last_hour&dir=desc")
    assert store_order(detail) == ["b-up", "a-silent"]
    assert "45.00" in detail.content.decode()
    text = download_text(alice.get(reverse("report_pages:download", args=[report.id])))
    assert text.splitlines()[0] == HEADER
    assert text.splitlines()[2].startswith("b-up,45.00,")
