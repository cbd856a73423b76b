"""The admin for members and superusers (stores/admin.py, reports/admin.py): an
owner (the admin of their own organization) sees and changes only their
organization's stores, hours and spans, and their own reports."""
import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from reports.models import Report, ReportStatus
from stores.models import BusinessHours, Store, StatusSpan
from accounts.secrets import secret_hash
from accounts.services import owner_grant
from stores.services import store_register
from stores.tests.factories import BusinessHoursFactory, StatusSpanFactory, StoreFactory, organization_of

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
STORES = "/admin/stores/store/"
SPANS = "/admin/stores/statusspan/"
REPORTS = "/admin/reports/report/"
KEY_IN_MESSAGE = re.compile(r"<code>([^<]+)</code>")


@pytest.fixture
def alice(owner):
    owner_grant(user=owner)
    return owner


@pytest.fixture
def bob(other_owner):
    owner_grant(user=other_owner)
    return other_owner


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def mine(alice):
    return StoreFactory(store_id="mine", owner=alice)


@pytest.fixture
def theirs(bob):
    return StoreFactory(store_id="theirs", owner=bob)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def keys_in(response) -> list[str]:
    return [match for message in messages_of(response) for match in KEY_IN_MESSAGE.findall(message)]


def poll_status(key: str, store_id: str, at: dt.datetime = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)) -> int:
    client = APIClient()
    client.credentials(HTTP_X_STORE_KEY=key)
    body = {"id": store_id, "utc_timestamp": at.isoformat(), "status": "active"}
    return client.post("/poll", body, format="json").status_code


def changelist_ids(response) -> set:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def hours_post(rows: list[dict], *, initial: int = 0, prefix: str = "business_hours") -> dict:
    """The inline formset's fields for these rows (the first `initial` of them existing)."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for name, value in row.items():
            if name == "closed":
                if value:
                    data[f"{prefix}-{index}-closed"] = "on"
            else:
                data[f"{prefix}-{index}-{name}"] = "" if value is None else str(value)
    return data


def store_post(store_id: str = "new-store", timezone: str = "Europe/Berlin", rows=(), initial: int = 0, **extra):
    return {"store_id": store_id, "timezone": timezone, **hours_post(list(rows), initial=initial), **extra}


def hours_of(store: Store) -> list[tuple]:
    return list(
        BusinessHours.objects.filter(store=store)
        .order_by("day_of_week", "start_time_local")
        .values_list("day_of_week", "start_time_local", "end_time_local", "closed")
    )


# --------------------------------------------------------------------------
# Seeing only one's own data
# --------------------------------------------------------------------------


def test_owner_changelist_lists_only_their_stores(alice_client, mine, theirs):
    assert changelist_ids(alice_client.get(STORES)) == {mine.pk}
    assert changelist_ids(alice_client.get(STORES, {"q": "theirs"})) == set()
    # The timezone filter's choices come from the owner's stores only.
    theirs.timezone = "Asia/Tokyo"
    theirs.save()
    assert "Asia/Tokyo" not in alice_client.get(STORES).content.decode()


@pytest.mark.parametrize("page", ["change/", "delete/", "history/"])
def test_owner_cannot_open_another_owners_store(alice_client, theirs, page):
    response = alice_client.get(f"{STORES}{theirs.pk}/{page}")
    # The admin redirects to its index ("doesn't exist") for objects outside the queryset.
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response.url == "/admin/"
    assert "theirs" not in alice_client.get(f"{STORES}{theirs.pk}/{page}", follow=True).content.decode()


def test_owner_cannot_change_or_delete_another_owners_store_by_post(alice_client, theirs):
    alice_client.post(f"{STORES}{theirs.pk}/change/", store_post("theirs", "Asia/Tokyo"))
    alice_client.post(f"{STORES}{theirs.pk}/delete/", {"post": "yes"})
    theirs.refresh_from_db()
    assert theirs.timezone == "America/Chicago"


def test_owner_cannot_rotate_another_owners_key(alice_client, theirs):
    before = theirs.device_key_hash
    assert alice_client.get(f"{STORES}{theirs.pk}/rotate-key/").status_code == 404
    assert alice_client.post(f"{STORES}{theirs.pk}/rotate-key/").status_code == 404
    response = alice_client.post(STORES, {"action": "rotate_device_keys", "_selected_action": [theirs.pk]})
    assert keys_in(response) == []
    theirs.refresh_from_db()
    assert theirs.device_key_hash == before


def test_owner_sees_only_their_spans(alice_client, mine, theirs):
    my_span = StatusSpanFactory(store=mine)
    their_span = StatusSpanFactory(store=theirs)
    assert changelist_ids(alice_client.get(SPANS)) == {my_span.pk}
    assert changelist_ids(alice_client.get(SPANS, {"q": "theirs"})) == set()
    assert alice_client.get(f"{SPANS}{my_span.pk}/change/").status_code == 200
    response = alice_client.get(f"{SPANS}{their_span.pk}/change/")
    assert response.status_code in (302, 404)


def test_spans_are_read_only(alice_client, root_client, mine):
    span = StatusSpanFactory(store=mine)
    for client in (alice_client, root_client):
        assert client.get(f"{SPANS}add/").status_code == 403
        assert client.post(f"{SPANS}{span.pk}/delete/", {"post": "yes"}).status_code == 403
    assert StatusSpan.objects.filter(pk=span.pk).exists()


def complete_report(user) -> Report:
    report = Report.objects.create(
        requested_by=user,
        as_of=dt.datetime(2024, 1, 10, tzinfo=UTC),
        status=ReportStatus.COMPLETE,
        stores_total=1,
        stores_done=1,
    )
    report.file.save(f"report-{report.pk}.csv", ContentFile(b"store_id\nmine\n"))
    return report


def test_owner_sees_only_their_reports_with_a_download_link(alice_client, alice, bob):
    report = complete_report(alice)
    running = Report.objects.create(requested_by=alice, as_of=dt.datetime(2024, 1, 10, tzinfo=UTC))
    other = complete_report(bob)
    response = alice_client.get(REPORTS)
    assert changelist_ids(response) == {report.pk, running.pk}
    page = response.content.decode()
    assert f'href="/get_report/{report.pk}"' in page
    assert f"/get_report/{running.pk}" not in page
    assert "1/1" in page
    # The link serves the CSV to the logged-in session.
    download = alice_client.get(f"/get_report/{report.pk}")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"store_id\nmine\n"
    assert alice_client.get(f"{REPORTS}{report.pk}/change/").status_code == 200
    assert alice_client.get(f"{REPORTS}{other.pk}/change/").status_code in (302, 404)
    assert alice_client.get(f"/get_report/{other.pk}").status_code == 404


def test_reports_cannot_be_added_or_changed_in_the_admin(alice_client, alice):
    report = complete_report(alice)
    assert alice_client.get(f"{REPORTS}add/").status_code == 403
    alice_client.post(f"{REPORTS}{report.pk}/change/", {"status": "Failed"})
    report.refresh_from_db()
    assert report.status == ReportStatus.COMPLETE


def test_owner_cannot_open_the_user_admin(alice_client):
    assert alice_client.get("/admin/auth/user/").status_code == 403
    assert alice_client.get("/admin/auth/group/").status_code == 403


def test_superuser_sees_everything(root_client, mine, theirs, alice, bob):
    assert changelist_ids(root_client.get(STORES)) == {mine.pk, theirs.pk}
    spans = {StatusSpanFactory(store=mine).pk, StatusSpanFactory(store=theirs).pk}
    assert changelist_ids(root_client.get(SPANS)) == spans
    reports = {complete_report(alice).pk, complete_report(bob).pk}
    assert changelist_ids(root_client.get(REPORTS)) == reports
    assert root_client.get(f"{STORES}{theirs.pk}/change/").status_code == 200


def test_admin_index_lists_the_owners_models(alice_client):
    page = alice_client.get("/admin/").content.decode()
    assert STORES in page and SPANS in page and REPORTS in page
    assert "/admin/auth/user/" not in page


# --------------------------------------------------------------------------
# Adding stores
# --------------------------------------------------------------------------


def test_owner_adds_a_store_and_sees_its_device_key_once(alice_client, alice, bob):
    # The organization is chosen among those where the user is a manager or an admin: alice's only.
    field = alice_client.get(f"{STORES}add/").context["adminform"].form.fields["organization"]
    assert list(field.queryset) == [organization_of(alice)]
    rows = [
        {"day_of_week": 0, "start_time_local": "09:00", "end_time_local": "17:00"},
        {"day_of_week": 4, "start_time_local": "18:00", "end_time_local": "24:00"},
        {"day_of_week": 6, "closed": True},
    ]
    response = alice_client.post(
        f"{STORES}add/", store_post("new-store", "Europe/Berlin", rows, organization=organization_of(alice).pk)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    store = Store.objects.get(store_id="new-store")
    assert store.organization == organization_of(alice)
    assert store.timezone == "Europe/Berlin"
    assert hours_of(store) == [
        (0, dt.time(9), dt.time(17), False),
        (4, dt.time(18), dt.time(0), False),
        (6, None, None, True),
    ]
    [key] = keys_in(response)
    assert secret_hash(key) == store.device_key_hash
    assert poll_status(key, "new-store") == 201
    # Once: the page after the redirect shows it, later ones do not.
    assert key in alice_client.get(response.url).content.decode()
    assert key not in alice_client.get(f"{STORES}{store.pk}/change/").content.decode()


def test_owner_cannot_add_a_store_for_someone_else(alice_client, alice, bob):
    response = alice_client.post(f"{STORES}add/", store_post("new-store", organization=organization_of(bob).pk))
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Store.objects.filter(store_id="new-store").exists()
    response = alice_client.post(f"{STORES}add/", store_post("new-store", organization=organization_of(alice).pk))
    assert response.status_code == 302
    assert Store.objects.get(store_id="new-store").organization == organization_of(alice)


def test_superuser_chooses_the_organization(root_client, superuser, alice, bob):
    field = root_client.get(f"{STORES}add/").context["adminform"].form.fields["organization"]
    assert set(field.queryset) == {organization_of(alice), organization_of(bob)}
    assert root_client.post(f"{STORES}add/", store_post("for-bob", organization=organization_of(bob).pk)).status_code == 302
    assert Store.objects.get(store_id="for-bob").organization == organization_of(bob)
    # A store is always some organization's: the superuser cannot leave it out.
    response = root_client.post(f"{STORES}add/", store_post("for-root", organization=""))
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Store.objects.filter(store_id="for-root").exists()


def test_adding_an_existing_store_id_is_a_form_error(alice_client, alice, theirs):
    response = alice_client.post(f"{STORES}add/", store_post("theirs", organization=organization_of(alice).pk))
    assert response.status_code == 200
    assert "store_id" in response.context["adminform"].form.errors
    assert Store.objects.get(store_id="theirs").organization != organization_of(response.wsgi_request.user)


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "localtime"])
def test_unknown_timezone_is_refused(alice_client, timezone):
    response = alice_client.post(f"{STORES}add/", store_post("new-store", timezone))
    assert response.status_code == 200
    assert "timezone" in response.context["adminform"].form.errors
    assert not Store.objects.filter(store_id="new-store").exists()


def test_timezone_is_chosen_from_a_list(alice_client):
    choices = dict(alice_client.get(f"{STORES}add/").context["adminform"].form.fields["timezone"].choices)
    assert "America/Chicago" in choices and "Asia/Kolkata" in choices
    assert "Asia/Calcutta" not in choices  # an alias, not a common name


def test_a_store_with_an_uncommon_zone_keeps_it_when_edited(alice_client, alice):
    store = store_register(organization=organization_of(alice), store_id="old", timezone="Asia/Calcutta").store
    response = alice_client.post(f"{STORES}{store.pk}/change/", store_post("old", "Asia/Calcutta"))
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.timezone == "Asia/Calcutta"


# --------------------------------------------------------------------------
# Editing hours inline
# --------------------------------------------------------------------------


def existing_rows(store: Store) -> list[dict]:
    return [
        {
            "id": row.pk,
            "store": store.pk,
            "day_of_week": row.day_of_week,
            "start_time_local": row.start_time_local.strftime("%H:%M") if row.start_time_local else "",
            "end_time_local": row.end_time_local.strftime("%H:%M") if row.end_time_local else "",
            "closed": row.closed,
        }
        for row in store.business_hours.order_by("pk")
    ]


def test_owner_edits_hours_inline(alice_client, mine):
    BusinessHoursFactory(store=mine, day_of_week=0)
    BusinessHoursFactory(store=mine, day_of_week=1)
    rows = existing_rows(mine)
    rows[0]["end_time_local"] = "18:30:15"
    rows[1]["DELETE"] = "on"
    rows.append({"day_of_week": 5, "start_time_local": "22:00", "end_time_local": "02:00"})
    rows.append({"day_of_week": 6, "closed": True})
    response = alice_client.post(f"{STORES}{mine.pk}/change/", store_post("mine", "Asia/Tokyo", rows, initial=2))
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    mine.refresh_from_db()
    assert mine.timezone == "Asia/Tokyo"
    assert hours_of(mine) == [
        (0, dt.time(9), dt.time(18, 30, 15), False),
        (5, dt.time(22), dt.time(2), False),
        (6, None, None, True),
    ]


def test_end_of_midnight_is_shown_as_24_00(alice_client, mine):
    BusinessHoursFactory(store=mine, day_of_week=0, start_time_local=dt.time(9), end_time_local=dt.time(0))
    page = alice_client.get(f"{STORES}{mine.pk}/change/").content.decode()
    assert 'value="24:00"' in page


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"day_of_week": 0, "closed": True, "start_time_local": "09:00", "end_time_local": ""}], "closed day"),
        ([{"day_of_week": 0, "start_time_local": "09:00", "end_time_local": ""}], "closing time"),
        ([{"day_of_week": 0, "start_time_local": "", "end_time_local": "17:00"}], "opening time"),
        ([{"day_of_week": 0, "start_time_local": "24:00", "end_time_local": "17:00"}], "24:00 can only end"),
        ([{"day_of_week": 0, "start_time_local": "9am", "end_time_local": "17:00"}], "HH:MM"),
        ([{"day_of_week": 0, "start_time_local": "09:00", "end_time_local": "24:30"}], "HH:MM"),
        ([{"day_of_week": 7, "start_time_local": "09:00", "end_time_local": "17:00"}], "valid choice"),
        (
            [
                {"day_of_week": 2, "start_time_local": "09:00", "end_time_local": "17:00"},
                {"day_of_week": 2, "closed": True},
            ],
            "both closed and open",
        ),
    ],
)
def test_invalid_hours_are_refused(alice_client, mine, rows, message):
    BusinessHoursFactory(store=mine, day_of_week=3)
    before = hours_of(mine)
    response = alice_client.post(f"{STORES}{mine.pk}/change/", store_post("mine", "America/Chicago", rows))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert hours_of(mine) == before


def test_hours_conflict_with_an_existing_row_is_refused(alice_client, mine):
    BusinessHoursFactory(store=mine, day_of_week=2)
    rows = existing_rows(mine) + [{"day_of_week": 2, "closed": True}]
    response = alice_client.post(f"{STORES}{mine.pk}/change/", store_post("mine", "America/Chicago", rows, initial=1))
    assert response.status_code == 200
    assert "Day 2 is both closed and open." in response.content.decode()
    assert BusinessHours.objects.filter(store=mine).count() == 1


def test_owner_cannot_move_hours_to_another_owners_store(alice_client, mine, theirs):
    their_row = BusinessHoursFactory(store=theirs, day_of_week=0)
    rows = [
        {
            "id": their_row.pk,
            "store": mine.pk,
            "day_of_week": 0,
            "start_time_local": "01:00",
            "end_time_local": "02:00",
        }
    ]
    alice_client.post(f"{STORES}{mine.pk}/change/", store_post("mine", "America/Chicago", rows, initial=1))
    their_row.refresh_from_db()
    assert (their_row.store_id, their_row.start_time_local) == (theirs.pk, dt.time(9))


# --------------------------------------------------------------------------
# Device keys
# --------------------------------------------------------------------------


def test_rotating_from_the_change_page(alice_client, alice):
    old_key = store_register(organization=organization_of(alice), store_id="dev").device_key
    store = Store.objects.get(store_id="dev")
    old_hash = store.device_key_hash
    change_page = alice_client.get(f"{STORES}{store.pk}/change/").content.decode()
    assert f"{STORES}{store.pk}/rotate-key/" in change_page
    # GET asks; only POST rotates.
    assert alice_client.get(f"{STORES}{store.pk}/rotate-key/").status_code == 200
    store.refresh_from_db()
    assert store.device_key_hash == old_hash

    response = alice_client.post(f"{STORES}{store.pk}/rotate-key/")
    assert response.status_code == 302
    assert response.url == f"{STORES}{store.pk}/change/"
    [new_key] = keys_in(response)
    store.refresh_from_db()
    assert store.device_key_hash != old_hash
    assert store.device_key_hash == secret_hash(new_key)
    assert poll_status(old_key, "dev") == 401
    assert poll_status(new_key, "dev") == 201


def test_rotating_with_the_action(alice_client, alice, theirs):
    keys = {store_id: store_register(organization=organization_of(alice), store_id=store_id).device_key for store_id in ("a", "b")}
    pks = list(Store.objects.filter(store_id__in=keys).values_list("pk", flat=True))
    theirs_hash = theirs.device_key_hash
    response = alice_client.post(
        STORES, {"action": "rotate_device_keys", "_selected_action": [*pks, theirs.pk]}
    )
    assert response.status_code == 302
    new_keys = keys_in(response)
    assert len(new_keys) == 2
    for store_id, old_key in keys.items():
        assert poll_status(old_key, store_id) == 401
    assert {Store.objects.get(store_id=s).device_key_hash for s in keys} == {secret_hash(k) for k in new_keys}
    theirs.refresh_from_db()
    assert theirs.device_key_hash == theirs_hash


def test_superuser_rotates_any_store(root_client, theirs):
    old_hash = theirs.device_key_hash
    response = root_client.post(f"{STORES}{theirs.pk}/rotate-key/")
    [key] = keys_in(response)
    theirs.refresh_from_db()
    assert theirs.device_key_hash == secret_hash(key) != old_hash


# --------------------------------------------------------------------------
# Deleting
# --------------------------------------------------------------------------


def test_owner_deletes_a_store_with_its_hours_and_spans(alice_client, mine):
    BusinessHoursFactory(store=mine)
    for hour in range(3):
        StatusSpanFactory(store=mine, first_poll_at=dt.datetime(2024, 1, 1, hour, tzinfo=UTC))
    confirm = alice_client.get(f"{STORES}{mine.pk}/delete/")
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    assert "3 status spans" in confirm.content.decode()
    assert alice_client.post(f"{STORES}{mine.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Store.objects.filter(pk=mine.pk).exists()
    assert not StatusSpan.objects.exists()
    assert not BusinessHours.objects.exists()


def test_bulk_delete_action_deletes_only_their_stores(alice_client, mine, theirs):
    StatusSpanFactory(store=mine)
    confirm = alice_client.post(STORES, {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk]})
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    assert "mine" in confirm.content.decode() and "theirs" not in confirm.content.decode()
    response = alice_client.post(
        STORES, {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert list(Store.objects.values_list("store_id", flat=True)) == ["theirs"]


def test_staff_outside_the_members_group_may_not_read_spans(client, mine):
    """Seeing a span takes both: the owners group's permission, and the span's store being one's own."""
    from stores.tests.factories import UserFactory

    staff = UserFactory(username="staff-only", is_staff=True)
    StatusSpanFactory(store=StoreFactory(store_id="staffs", owner=staff))
    client.force_login(staff)
    assert client.get(SPANS).status_code == 403


def test_a_store_gets_its_own_alert_grace_period_up_to_a_day(alice_client, alice):
    organization = organization_of(alice).pk
    too_long = alice_client.post(f"{STORES}add/", store_post("slow-store", organization=organization, alert_grace_minutes=24 * 60 + 1))
    assert "alert_grace_minutes" in too_long.context["adminform"].form.errors
    response = alice_client.post(f"{STORES}add/", store_post("slow-store", organization=organization, alert_grace_minutes=30))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Store.objects.get(store_id="slow-store").alert_grace_minutes == 30
    # Empty: its organization's (or the server's) grace period.
    assert alice_client.post(f"{STORES}add/", store_post("usual-store", organization=organization)).status_code == 302
    assert Store.objects.get(store_id="usual-store").alert_grace_minutes is None
