"""Who may do what, endpoint by endpoint, as stores/permissions.py and the
querysets decide it:

- a device key (IsAccountUserOrDevice on /poll and /api/polls/ only) posts
  polls for its own store and nothing else: not another store's polls, not
  registering, listing or reading stores, not triggering or reading reports;
- an owner (IsAccountUser, and every queryset kept to visible_to()) gets for
  another owner's store or report exactly what it gets for one that does not
  exist, a 404, on the API, the pages and the admin: ids cannot be probed.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.test import APIClient

from reports.models import Report, ReportStatus
from stores.models import Store, StatusSpan
from accounts.services import owner_grant
from stores.services import store_register
from stores.tests.factories import StatusSpanFactory, StoreFactory, organization_of

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)
NO_SUCH_REPORT = uuid.UUID(int=12345)


def poll(store_id: str, status: str = "active") -> dict:
    return {"id": store_id, "utc_timestamp": T0.strftime("%Y-%m-%dT%H:%M:%SZ"), "status": status}


def complete_report(user) -> Report:
    report = Report.objects.create(
        requested_by=user, as_of=T0, status=ReportStatus.COMPLETE, stores_total=1, stores_done=1
    )
    report.file.save(f"report-{report.pk}.csv", ContentFile(b"store_id\nx\n"))
    return report


@pytest.fixture
def device_store(owner) -> tuple[Store, str]:
    result = store_register(organization=organization_of(owner), store_id="dev-1")
    return result.store, result.device_key


@pytest.fixture
def device_api(device_store) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=device_store[1])
    return client


@pytest.fixture
def their_store(other_owner) -> Store:
    store = StoreFactory(owner=other_owner, store_id="theirs")
    StatusSpanFactory(store=store, first_poll_at=T0 - dt.timedelta(hours=1))
    return store


@pytest.fixture
def their_report(other_owner) -> Report:
    return complete_report(other_owner)


# --------------------------------------------------------------------------
# Device keys
# --------------------------------------------------------------------------


def test_a_device_key_posts_for_its_own_store(device_api):
    assert device_api.post("/poll", poll("dev-1"), format="json").status_code == 201


def test_a_device_key_cannot_post_for_another_store(device_api, owner, their_store):
    StoreFactory(owner=owner, store_id="same-owner")
    # Another store of its owner, another owner's, one that does not exist:
    # all the same 403, so a device key cannot probe store ids either.
    answers = {
        store_id: device_api.post(url, poll(store_id), format="json")
        for store_id in ("same-owner", "theirs", "no-such-store")
        for url in ("/poll", "/api/polls/")
    }
    assert {(r.status_code, r.json()["code"]) for r in answers.values()} == {(403, "other_store")}
    assert not StatusSpan.objects.exclude(store=their_store).exists()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        # Registering a store, new or its own.
        ("post", "/register_store", {"store_id": "new-store"}),
        ("post", "/register_store", {"store_id": "dev-1", "local_timezone": "Asia/Tokyo"}),
        ("post", "/api/stores/", {"store_id": "new-store"}),
        ("put", "/api/stores/dev-1/", {"local_timezone": "Asia/Tokyo"}),
        ("delete", "/api/stores/dev-1/", None),
        # Listing and reading stores, its own included.
        ("get", "/api/stores/", None),
        ("get", "/api/stores/dev-1/", None),
        ("get", "/api/stores/dev-1/spans/", None),
        # Triggering and reading reports.
        ("post", "/trigger_report", {}),
        ("post", "/api/reports/", {}),
        ("get", "/api/reports/", None),
        ("get", "/get_report?report_id={report}", None),
        ("get", "/get_report/{report}", None),
        ("get", "/api/reports/{report}/", None),
        ("get", "/api/reports/{report}/csv/", None),
    ],
)
def test_a_device_key_may_do_nothing_but_post_polls(device_api, owner, method, url, body):
    report = complete_report(owner)
    response = getattr(device_api, method)(url.format(report=report.pk), body, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "permission_denied"
    assert not Store.objects.filter(store_id="new-store").exists()
    assert Store.objects.get(store_id="dev-1").timezone == "America/Chicago"
    assert Report.objects.count() == 1


def test_a_device_key_opens_no_page(device_store, owner):
    # The pages and the admin know sessions only: a device key is no login.
    client = Client(HTTP_X_STORE_KEY=device_store[1])
    report = complete_report(owner)
    for url in ("/dashboard/", "/dashboard/stores/dev-1/", "/reports/", f"/reports/{report.pk}/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url, url


# --------------------------------------------------------------------------
# Another owner's stores and reports: the same 404 as none at all
# --------------------------------------------------------------------------


def same_answer(client, method: str, theirs: str, missing: str, body=None) -> None:
    """The other owner's object and a missing one answer alike: 404, same body."""
    answers = [getattr(client, method)(url, body, format="json") for url in (theirs, missing)]
    assert [answer.status_code for answer in answers] == [404, 404], [a.content for a in answers]
    assert answers[0].json() == answers[1].json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/stores/{}/", None),
        ("get", "/api/stores/{}/spans/", None),
        ("put", "/api/stores/{}/", {"local_timezone": "Asia/Tokyo"}),
        ("delete", "/api/stores/{}/", None),
    ],
)
def test_api_another_owners_store_is_404(api, their_store, method, path, body):
    same_answer(api, method, path.format("theirs"), path.format("no-such-store"), body)
    their_store.refresh_from_db()
    assert their_store.timezone == "America/Chicago"
    assert their_store.spans.exists()


def test_api_polls_for_another_owners_store_are_404_unknown_store(api, their_store):
    for url in ("/poll", "/api/polls/"):
        theirs = api.post(url, poll("theirs"), format="json")
        missing = api.post(url, poll("no-such-store"), format="json")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() == missing.json() == {"code": "unknown_store", "message": "No such store."}
    assert their_store.spans.count() == 1


@pytest.mark.parametrize(
    "path",
    ["/get_report?report_id={}", "/get_report/{}", "/api/reports/{}/", "/api/reports/{}/csv/"],
)
def test_api_another_owners_report_is_404(api, their_report, path):
    same_answer(api, "get", path.format(their_report.pk), path.format(NO_SUCH_REPORT))


def test_api_lists_leave_out_another_owners_stores_and_reports(api, their_store, their_report):
    assert api.get("/api/stores/").json() == []
    assert api.get("/api/reports/").json() == []


@pytest.fixture
def owner_session(owner) -> Client:
    owner_grant(user=owner)  # staff, in the owners group: the admin too
    client = Client()
    client.force_login(owner)
    return client


def test_pages_another_owners_store_is_404(owner_session, their_store):
    assert owner_session.get("/dashboard/stores/theirs/").status_code == 404
    assert owner_session.get("/dashboard/stores/no-such-store/").status_code == 404
    assert "theirs" not in owner_session.get("/dashboard/").content.decode()


@pytest.mark.parametrize("path", ["/reports/{}/", "/reports/{}/download"])
def test_pages_another_owners_report_is_404(owner_session, their_report, path):
    assert owner_session.get(path.format(their_report.pk)).status_code == 404
    assert owner_session.get(path.format(NO_SUCH_REPORT)).status_code == 404


def test_pages_report_status_leaves_out_another_owners_report(owner_session, their_report):
    response = owner_session.get("/reports/status.json", {"id": [str(their_report.pk), str(NO_SUCH_REPORT)]})
    assert response.json() == {"reports": []}


@pytest.mark.parametrize("page", ["change/", "delete/", "history/"])
def test_admin_another_owners_store_span_and_report_are_404(owner_session, their_store, their_report, page):
    span = their_store.spans.get()
    missing_pk = 10**9
    for theirs, missing in [
        (f"/admin/stores/store/{their_store.pk}/{page}", f"/admin/stores/store/{missing_pk}/{page}"),
        (f"/admin/stores/statusspan/{span.pk}/{page}", f"/admin/stores/statusspan/{missing_pk}/{page}"),
        (f"/admin/reports/report/{their_report.pk}/{page}", f"/admin/reports/report/{NO_SUCH_REPORT}/{page}"),
    ]:
        assert owner_session.get(theirs).status_code == 404, theirs
        assert owner_session.get(missing).status_code == 404, missing
        assert owner_session.post(theirs, {"post": "yes"}).status_code == 404, theirs
    assert Store.objects.filter(pk=their_store.pk).exists()


def test_admin_another_owners_store_rotate_key_is_404(owner_session, their_store):
    assert owner_session.get(f"/admin/stores/store/{their_store.pk}/rotate-key/").status_code == 404
    assert owner_session.post(f"/admin/stores/store/{their_store.pk}/rotate-key/").status_code == 404


def test_admin_superuser_still_opens_every_store(client, superuser, their_store):
    client.force_login(superuser)
    assert client.get(f"/admin/stores/store/{their_store.pk}/change/").status_code == 200
    assert client.get("/admin/stores/store/999999999/change/").status_code == 404


def test_admin_staff_without_store_permissions_get_403_whatever_the_id(client, their_store):
    # No model permission at all: the admin's 403, for existing and missing ids alike.
    from stores.tests.factories import UserFactory

    staff = UserFactory(username="helper", is_staff=True)
    client.force_login(staff)
    assert client.get(f"/admin/stores/store/{their_store.pk}/change/").status_code == 403
    assert client.get("/admin/stores/store/999999999/change/").status_code == 403
