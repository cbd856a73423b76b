"""Notifications with real components: an SMTP server (aiosmtpd), HTTP
receivers (http.server) for webhooks and for Apprise's json:// service, each
in a thread on a local port; time frozen with time-machine.

A Chicago store open 09:00-17:00 every day (CST, UTC-6), in group north of
alice's organization; it goes inactive at 10:00 on Wednesday 10 January 2024,
and the monitor_alerts pass opens its incident at 10:10 (grace 10 minutes)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
import time_machine
from django.db import connection

from accounts.models import Role
from alerts.models import Channel, ChannelKind, Flapping, Incident, Notification, NotificationStatus
from alerts.notifications import (
    NOTIFY_RETRY_FOR,
    channel_create,
    notification_deliver,
    notifications_deliver_due,
    notifications_requeue_overdue,
)
from alerts.services import alerts_evaluate, incident_acknowledge
from alerts.tests.concurrency import twice_at_once
from alerts.tests.local_servers import free_port, http_receiver, smtp_server
from alerts.tests.test_services import chicago, evaluate_at, polls_every_5_minutes
from conftest import token_client
from stores.hours import HoursInput
from stores.models import Store
from stores.services import store_register
from stores.tests.factories import StoreGroupFactory, member_account, organization_of

pytestmark = pytest.mark.django_db
SECRET = "s3cret-for-the-tests"
NINE_TO_FIVE = [HoursInput(day, dt.time(9), dt.time(17)) for day in range(7)]


@pytest.fixture(autouse=True)
def private_addresses_allowed(settings):
    # The receivers listen on 127.0.0.1, which production refuses (test_channels_api.py).
    settings.MONITOR_WEBHOOK_ALLOW_PRIVATE = True
    settings.MONITOR_SITE_URL = "https://monitor.example.com"


@pytest.fixture
def acme(owner):
    organization = organization_of(owner)
    north = StoreGroupFactory(organization=organization, name="north")
    store = store_register(organization=organization, store_id="chi-1", timezone="America/Chicago", week=NINE_TO_FIVE).store
    store.groups.set([north])
    polls_every_5_minutes("chi-1", chicago(9, 8), chicago(10, 10), "active")
    return organization


def webhook(organization, url: str, **kwargs) -> Channel:
    return channel_create(organization=organization, kind=ChannelKind.WEBHOOK, name=kwargs.pop("name", "ops"), url=url, secret=SECRET, **kwargs)


def go_down(at_hour: int = 10, minutes: int = 20, day: int = 10) -> None:
    """Inactive polls every 5 minutes from `at_hour` for `minutes`, then nothing."""
    polls_every_5_minutes("chi-1", chicago(day, at_hour), chicago(day, at_hour) + dt.timedelta(minutes=minutes), "inactive")


def evaluate_delivering(moment: dt.datetime, capture) -> None:
    """A pass at `moment`, its notifications delivered once it commits (the task runs inline in tests)."""
    with time_machine.travel(moment, tick=False), capture(execute=True):
        alerts_evaluate()


def events(**filters) -> list[str]:
    return list(Notification.objects.filter(**filters).order_by("created_at", "id").values_list("event", flat=True))


# --------------------------------------------------------------------------
# Email, webhook, Apprise: the real thing
# --------------------------------------------------------------------------


def test_an_opened_incident_is_emailed_through_smtp(acme, settings, django_capture_on_commit_callbacks):
    channel = channel_create(organization=acme, kind=ChannelKind.EMAIL, name="managers", addresses=["ops@acme.test", "boss@acme.test"])
    go_down()
    with smtp_server() as (port, messages):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        evaluate_delivering(chicago(10, 10, 11), django_capture_on_commit_callbacks)

    assert len(messages) == 1
    recipients, message = messages[0]
    assert sorted(recipients) == ["boss@acme.test", "ops@acme.test"]
    assert message["Subject"] == "[Store Monitor] chi-1 is down (inactive)"
    notification = Notification.objects.get()
    assert message["X-Store-Monitor-Delivery"] == str(notification.delivery_id)
    text = message.get_content()
    assert "Store chi-1 of alice is down since Wed 10 Jan 2024 10:00 CST (America/Chicago)" in text
    assert "Downtime inside business hours so far: 11 minutes." in text
    assert "https://monitor.example.com/dashboard/stores/chi-1/" in text
    assert (notification.channel_id, notification.status, notification.attempts) == (channel.pk, "delivered", 1)
    assert notification.attempt_rows.get().delivered


def test_the_webhook_is_signed_and_carries_the_incident(acme, django_capture_on_commit_callbacks):
    with http_receiver(200) as receiver:
        webhook(acme, receiver.url)
        go_down()
        evaluate_delivering(chicago(10, 10, 11), django_capture_on_commit_callbacks)

    [request] = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Store-Monitor-Signature"], expected)
    assert request.headers["Content-Type"] == "application/json"
    incident = Incident.objects.get()
    assert request.headers["X-Store-Monitor-Delivery"] == str(Notification.objects.get().delivery_id)
    assert json.loads(request.body) == {
        "event": "incident.opened",
        "incident": {
            "id": incident.pk,
            "store_id": "chi-1",
            "reason": "inactive",
            "started_at": "2024-01-10T16:00:00Z",
            "resolved_at": None,
            "business_downtime_seconds": 660,
            "acknowledged_by": None,
            "note": "",
        },
        "store": {"store_id": "chi-1", "timezone": "America/Chicago", "groups": ["north"]},
        "organization": "alice",
        "sent_at": "2024-01-10T16:11:00Z",
    }


def test_apprise_json_reaches_a_local_endpoint(acme, django_capture_on_commit_callbacks):
    with http_receiver(200) as receiver:
        channel_create(organization=acme, kind=ChannelKind.APPRISE, name="chat", url=f"json://127.0.0.1:{receiver.port}/notify")
        go_down()
        evaluate_delivering(chicago(10, 10, 11), django_capture_on_commit_callbacks)

    [request] = receiver.requests
    assert request.path == "/notify"
    body = json.loads(request.body)
    assert body["title"] == "[Store Monitor] chi-1 is down (inactive)"
    assert "Store chi-1 of alice is down since Wed 10 Jan 2024 10:00 CST (America/Chicago)" in body["message"]
    assert "https://monitor.example.com/dashboard/stores/chi-1/" in body["message"]
    assert Notification.objects.get().status == "delivered"


# --------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------


def test_a_500_then_200_delivers_with_the_same_delivery_id(acme, django_capture_on_commit_callbacks):
    with http_receiver(500, 200) as receiver:
        webhook(acme, receiver.url)
        go_down()
        evaluate_delivering(chicago(10, 10, 11), django_capture_on_commit_callbacks)
        notification = Notification.objects.get()
        assert (notification.status, notification.attempts, notification.next_attempt_at) == (
            "pending", 1, (chicago(10, 10, 11) + dt.timedelta(seconds=30))
        )
        # Not due before its backoff has passed; then delivered.
        assert notifications_deliver_due(now=(chicago(10, 10, 11) + dt.timedelta(seconds=29))) == 0
        with time_machine.travel((chicago(10, 10, 11) + dt.timedelta(seconds=30)), tick=False):
            assert notifications_deliver_due() == 1

    first, second = receiver.requests
    assert first.headers["X-Store-Monitor-Delivery"] == second.headers["X-Store-Monitor-Delivery"] == str(notification.delivery_id)
    assert json.loads(second.body)["sent_at"] == "2024-01-10T16:11:30Z"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.delivered_at) == ("delivered", 2, (chicago(10, 10, 11) + dt.timedelta(seconds=30)))
    assert [(a.status_code, a.delivered, a.permanent) for a in notification.attempt_rows.all()] == [
        (500, False, False),
        (200, True, False),
    ]
    channel = notification.channel
    assert (channel.failing_since, channel.last_delivered_at) == (None, (chicago(10, 10, 11) + dt.timedelta(seconds=30)))


def test_a_404_is_permanent(acme, django_capture_on_commit_callbacks):
    with http_receiver(404) as receiver:
        webhook(acme, receiver.url)
        go_down()
        evaluate_delivering(chicago(10, 10, 11), django_capture_on_commit_callbacks)
        assert notifications_deliver_due(now=chicago(10, 12)) == 0
    assert len(receiver.requests) == 1
    notification = Notification.objects.get()
    assert (notification.status, notification.last_error) == ("failed", "HTTP 404")
    assert notification.attempt_rows.get().permanent


@pytest.mark.parametrize("status", [408, 429, 503])
def test_408_429_and_5xx_are_tried_again(acme, status, django_capture_on_commit_callbacks):
    with http_receiver(status, 204) as receiver:
        webhook(acme, receiver.url)
        go_down()
        evaluate_delivering(chicago(10, 10, 11), django_capture_on_commit_callbacks)
        assert Notification.objects.get().status == "pending"
        assert notifications_deliver_due(now=chicago(10, 11)) == 1
    assert Notification.objects.get().status == "delivered"


def test_a_receiver_that_never_answers_well_is_tried_for_24_hours_and_its_channel_flagged(acme):
    go_down()
    port = free_port()  # nobody listens there: connection refused
    channel = webhook(acme, f"http://127.0.0.1:{port}/hook")
    with time_machine.travel(chicago(10, 10, 11), tick=False):
        alerts_evaluate()
    notification = Notification.objects.get()
    waits = []
    while notification.status == NotificationStatus.PENDING:
        before = notification.next_attempt_at
        assert notification_deliver(notification_id=notification.pk, now=before) is not None
        notification.refresh_from_db()
        waits.append(notification.next_attempt_at - before)
    # 30 s, 1, 2, 4, 8, 16, 32 minutes, 64 min capped at an hour, then hourly.
    assert waits[:8] == [dt.timedelta(seconds=30 * 2**n) for n in range(7)] + [dt.timedelta(hours=1)]
    attempts = list(notification.attempt_rows.all())
    assert notification.status == "failed" and "ConnectionError" in notification.last_error
    assert attempts[-1].at <= notification.created_at + NOTIFY_RETRY_FOR < attempts[-1].at + dt.timedelta(hours=1)
    assert not any(attempt.permanent for attempt in attempts)
    channel.refresh_from_db()
    assert channel.failing_since == chicago(10, 10, 11)
    with time_machine.travel(chicago(11, 10, 10), tick=False):
        assert not channel.is_failing
        assert not Channel.objects.failing().exists()
    with time_machine.travel(chicago(11, 10, 11), tick=False):
        assert channel.is_failing
        assert list(Channel.objects.failing()) == [channel]


def test_a_lost_delivery_task_is_queued_again_and_a_claimed_one_is_sent_once(acme, django_capture_on_commit_callbacks):
    with http_receiver(200) as receiver:
        webhook(acme, receiver.url)
        go_down()
        with time_machine.travel(chicago(10, 10, 11), tick=False):
            alerts_evaluate()  # committed without running its on_commit queueing: as if the task were lost
        notification = Notification.objects.get()
        assert notifications_requeue_overdue(now=chicago(10, 10, 15)) == 0  # not overdue yet
        assert notifications_requeue_overdue(now=chicago(10, 10, 17)) == 1  # the inline backend sends it now
        assert notification_deliver(notification_id=notification.pk, now=chicago(10, 10, 18)) is None
    assert len(receiver.requests) == 1
    assert Notification.objects.get().status == "delivered"


# --------------------------------------------------------------------------
# What is written, when, and to which channels
# --------------------------------------------------------------------------


def test_reminders_every_hour_inside_business_hours_until_acknowledged(acme, owner):
    webhook(acme, "http://127.0.0.1:9/hook")
    go_down(minutes=180)
    evaluate_at(chicago(10, 10, 11))
    evaluate_at(chicago(10, 10, 40))
    assert events() == ["incident.opened"]
    evaluate_at(chicago(10, 11, 12))
    evaluate_at(chicago(10, 11, 30))
    assert events() == ["incident.opened", "incident.reminder"]
    with time_machine.travel(chicago(10, 11, 45), tick=False):
        incident_acknowledge(incident=Incident.objects.get(), user=owner, note="Technician on the way")
    evaluate_at(chicago(10, 12, 30))
    assert events() == ["incident.opened", "incident.reminder", "incident.acknowledged"]
    acknowledged = Notification.objects.get(event="incident.acknowledged").payload["incident"]
    assert (acknowledged["acknowledged_by"], acknowledged["note"]) == ("alice", "Technician on the way")


def test_no_reminder_at_night_and_one_when_the_store_opens_again(acme):
    webhook(acme, "http://127.0.0.1:9/hook")
    go_down(at_hour=16, minutes=30)  # inactive from 16:00 until its device goes quiet
    evaluate_at(chicago(10, 16, 11))
    evaluate_at(chicago(10, 17, 30))  # closed: 76 minutes after the opening, no reminder
    evaluate_at(chicago(11, 3))
    assert events() == ["incident.opened"]
    evaluate_at(chicago(11, 9, 1))  # the same incident goes on overnight: open again, reminded
    assert events() == ["incident.opened", "incident.reminder"]


def test_an_incident_found_after_closing_time_is_announced_when_the_store_opens(acme, settings):
    settings.MONITOR_ALERT_REMIND_MINUTES = 0  # no reminders: only the opening counts here
    webhook(acme, "http://127.0.0.1:9/hook")
    go_down(at_hour=16, minutes=59)
    # The pass did not run between 16:10 (opening) and 17:00 (closing): it finds the incident at night.
    assert evaluate_at(chicago(10, 17, 30)).opened == 1
    assert events() == []
    evaluate_at(chicago(11, 8, 59))
    assert events() == []
    evaluate_at(chicago(11, 9, 0))
    evaluate_at(chicago(11, 10, 30))
    assert events() == ["incident.opened"]
    assert Notification.objects.get().created_at == chicago(11, 9)


def test_nothing_is_sent_for_an_incident_never_announced(acme):
    webhook(acme, "http://127.0.0.1:9/hook")
    go_down(at_hour=16, minutes=59)
    evaluate_at(chicago(10, 17, 30))  # opened at night: not announced
    polls_every_5_minutes("chi-1", chicago(10, 18), chicago(10, 18, 5), "active")  # back up before opening time
    assert Incident.objects.get().resolved_at == chicago(10, 18)
    assert events() == []


def test_resolution_is_sent_from_the_poll_request_and_from_the_pass(acme, owner):
    webhook(acme, "http://127.0.0.1:9/hook")
    go_down()
    evaluate_at(chicago(10, 10, 15))
    device = token_client(owner)
    with time_machine.travel(chicago(10, 11), tick=False):
        response = device.post("/poll", {"id": "chi-1", "utc_timestamp": chicago(10, 11).isoformat(), "status": "active"}, format="json")
    assert response.status_code == 201
    assert events() == ["incident.opened", "incident.resolved"]
    resolved = Notification.objects.get(event="incident.resolved")
    assert (resolved.payload["incident"]["resolved_at"], resolved.payload["incident"]["business_downtime_seconds"]) == (
        "2024-01-10T17:00:00Z", 3600
    )

    # The pass resolves a run ended without the request (the Loop import's path).
    from core.instants import to_micros
    from core.spans import encode_poll
    from stores.services import store_polls_apply

    polls_every_5_minutes("chi-1", chicago(10, 12), chicago(10, 12, 30), "inactive")
    evaluate_at(chicago(10, 12, 30))
    store = Store.objects.get(store_id="chi-1")
    store_polls_apply(stores=list(Store.objects.select_for_update().filter(pk=store.pk)), polls={store.pk: [encode_poll(to_micros(chicago(10, 13)), True)]})
    evaluate_at(chicago(10, 13, 30))
    assert events() == ["incident.opened", "incident.resolved", "incident.opened", "incident.resolved"]


def test_a_channel_limited_to_groups_gets_their_stores_only(acme, other_owner):
    store_register(organization=acme, store_id="loose-1", timezone="America/Chicago", week=NINE_TO_FIVE)
    polls_every_5_minutes("loose-1", chicago(9, 8), chicago(10, 10), "active")
    polls_every_5_minutes("loose-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    south = StoreGroupFactory(organization=acme, name="south")
    everything = webhook(acme, "http://127.0.0.1:9/all", name="all")
    north_only = webhook(acme, "http://127.0.0.1:9/north", name="north", groups=acme.groups.filter(name="north"))
    south_only = webhook(acme, "http://127.0.0.1:9/south", name="south", groups=[south])
    turned_off = webhook(acme, "http://127.0.0.1:9/off", name="off")
    Channel.objects.filter(pk=turned_off.pk).update(is_active=False)
    theirs = webhook(organization_of(other_owner), "http://127.0.0.1:9/bob")
    go_down()
    evaluate_at(chicago(10, 10, 11))
    sent = sorted(Notification.objects.values_list("channel__name", "store__store_id"))
    assert sent == [("all", "chi-1"), ("all", "loose-1"), ("north", "chi-1")]
    assert not Notification.objects.filter(channel__in=[south_only, turned_off, theirs]).exists()
    assert {everything.pk, north_only.pk} == set(Notification.objects.values_list("channel", flat=True))


def test_a_flapping_store_is_notified_once(acme, settings):
    settings.MONITOR_ALERT_GRACE_MINUTES = 0
    settings.MONITOR_ALERT_FLAP_LIMIT = 1
    webhook(acme, "http://127.0.0.1:9/hook")
    # Down at 10:00 (an incident at once), up at 10:05, down again at 10:10: two within an hour.
    for start, status in [(0, "inactive"), (5, "active"), (10, "inactive")]:
        polls_every_5_minutes("chi-1", chicago(10, 10, start), chicago(10, 10, start + 5), status)
    evaluate_at(chicago(10, 10, 12))
    evaluate_at(chicago(10, 10, 13))
    flapping = Flapping.objects.get()
    [notice] = Notification.objects.filter(event="store.flapping")
    assert notice.payload["flapping"] == {"at": "2024-01-10T16:10:00Z", "steady_at": None}
    assert notice.payload["incident"] is None and notice.payload["store"]["store_id"] == "chi-1"
    assert flapping.at == chicago(10, 10, 10)


def test_no_channels_no_notifications(acme):
    go_down()
    evaluate_at(chicago(10, 10, 11))
    assert Incident.objects.count() == 1 and not Notification.objects.exists()


def test_a_manager_acknowledging_through_the_api_writes_the_notification(acme):
    webhook(acme, "http://127.0.0.1:9/hook")
    go_down()
    evaluate_at(chicago(10, 10, 11))
    manager = token_client(member_account(acme, "manu", Role.MANAGER))
    incident = Incident.objects.get()
    with time_machine.travel(chicago(10, 10, 20), tick=False):
        response = manager.post(f"/api/incidents/{incident.pk}/acknowledge/", {"note": "On it"}, format="json")
    assert response.status_code == 200
    assert events() == ["incident.opened", "incident.acknowledged"]
    assert Notification.objects.get(event="incident.acknowledged").created_at == chicago(10, 10, 20)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_passes_and_two_deliverers_at_once_send_each_notification_once(owner, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (concurrent writers); the database is {connection.vendor}")
    organization = organization_of(owner)
    for n in range(10):
        store_register(organization=organization, store_id=f"s-{n}", timezone="America/Chicago", week=NINE_TO_FIVE)
        polls_every_5_minutes(f"s-{n}", chicago(10, 8), chicago(10, 10), "active")
        polls_every_5_minutes(f"s-{n}", chicago(10, 10), chicago(10, 10, 30), "inactive")
    with http_receiver(200) as receiver:
        webhook(organization, receiver.url)

        # The inline task backend would deliver as each pass commits: here the passes only write, the deliverers send.
        monkeypatch.setattr("alerts.notifications._queue", lambda ids: None)
        twice_at_once(lambda: evaluate_at(chicago(10, 10, 30)))
        assert Notification.objects.count() == 10
        twice_at_once(lambda: notifications_deliver_due(now=chicago(10, 10, 31)))
    assert len(receiver.requests) == 10
    assert len({request.headers["X-Store-Monitor-Delivery"] for request in receiver.requests}) == 10
    assert set(Notification.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_pass_holding_an_incident_the_poll_resolved_meanwhile_does_not_tell_it_again(acme):
    from alerts.services import Candidate, _histories, _store_apply

    webhook(acme, "http://127.0.0.1:9/hook")
    go_down()
    evaluate_at(chicago(10, 10, 15))
    store = Store.objects.get(store_id="chi-1")
    held = Incident.objects.get()  # what a pass read before the poll arrived
    polls_every_5_minutes("chi-1", chicago(10, 11), chicago(10, 11, 5), "active")  # the poll's request resolves it
    with time_machine.travel(chicago(10, 11, 1), tick=False):
        rule = _histories([Candidate(store.pk, store.timezone, grace_minutes=10)], chicago(10, 11, 1))[store.pk]
        _store_apply(store.pk, rule, held, chicago(10, 11, 1))
    assert events() == ["incident.opened", "incident.resolved"]
    assert Incident.objects.get().resolved_at == chicago(10, 11)


def test_a_pass_opening_in_bulk_what_another_pass_opened_meanwhile_opens_and_tells_each_once(acme):
    """chi-1 and chi-2 down from 10:00. A pass reads both at 10:15; meanwhile
    another pass opens chi-1's incident. Its bulk insert is refused as a whole,
    and store by store it opens chi-2's only: one incident and one notice each."""
    from alerts.services import _histories, _incidents_open, alert_candidates

    store_register(organization=acme, store_id="chi-2", timezone="America/Chicago", week=NINE_TO_FIVE)
    polls_every_5_minutes("chi-2", chicago(9, 8), chicago(10, 10), "active")
    webhook(acme, "http://127.0.0.1:9/hook")
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    polls_every_5_minutes("chi-2", chicago(10, 10), chicago(10, 10, 20), "inactive")
    at = chicago(10, 10, 15)
    with time_machine.travel(at, tick=False):
        candidates = alert_candidates(now=at)
        rules = _histories(candidates, at)
        first = Store.objects.get(store_id="chi-1").pk
        assert _incidents_open({first: rules[first]}, at) == 1  # the other pass
        assert _incidents_open(rules, at) == 1
    assert sorted(Incident.objects.values_list("store__store_id", flat=True)) == ["chi-1", "chi-2"]
    assert sorted(Notification.objects.values_list("incident__store__store_id", flat=True)) == ["chi-1", "chi-2"]
    assert Store.objects.filter(incident_open=True).count() == 2
