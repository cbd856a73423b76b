"""Incidents in the database, with time frozen: the monitor_alerts pass opens
what the rule (core.incidents) says is open, an active poll resolves it in
its own request, and two passes (or two processes) never open one twice.
A Chicago store open 09:00-17:00 every day; grace 10 minutes; stale 2 hours."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Incident
from alerts.services import alerts_evaluate
from alerts.tests.concurrency import twice_at_once
from conftest import token_client
from core.closures import closure_period
from stores.hours import HoursInput
from stores.models import Store
from stores.services import PollInput, closure_create, polls_record, store_register
from stores.tests.factories import organization_of

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


def chicago(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A January 2024 Chicago wall time (CST, UTC-6), in UTC."""
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC) + dt.timedelta(hours=6)


def post(store_id: str, at: dt.datetime, status: str) -> None:
    polls_record(polls=[PollInput(store_id=store_id, at=at, status=status)], stores=Store.objects.all())


def polls_every_5_minutes(store_id: str, start: dt.datetime, end: dt.datetime, status: str) -> None:
    polls, at = [], start
    while at < end:
        polls.append(PollInput(store_id=store_id, at=at, status=status))
        at += dt.timedelta(minutes=5)
    polls_record(polls=polls, stores=Store.objects.all())


@pytest.fixture
def store(owner) -> Store:
    registered = store_register(
        organization=organization_of(owner),
        store_id="chi-1",
        timezone="America/Chicago",
        week=[HoursInput(day, dt.time(9), dt.time(17)) for day in range(7)],
    ).store
    polls_every_5_minutes("chi-1", chicago(9, 8), chicago(10, 10), "active")
    return registered


def evaluate_at(moment: dt.datetime):
    with time_machine.travel(moment, tick=False):
        return alerts_evaluate()


def test_an_outage_opens_an_incident_once_the_grace_period_has_passed(store):
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    assert evaluate_at(chicago(10, 10, 9)).opened == 0
    assert evaluate_at(chicago(10, 10, 11)).opened == 1
    incident = Incident.objects.get()
    assert (incident.started_at, incident.opened_at, incident.reason, incident.resolved_at) == (
        chicago(10, 10), chicago(10, 10, 10), "inactive", None
    )
    assert Store.objects.get(pk=store.pk).incident_open
    # A second pass, as a second process would: nothing new.
    assert evaluate_at(chicago(10, 10, 12)).opened == 0
    assert Incident.objects.count() == 1
    assert Incident.objects.get().business_downtime_seconds == 12 * 60


def test_an_active_poll_resolves_the_incident_in_its_own_request(store, owner):
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    evaluate_at(chicago(10, 10, 15))
    device = token_client(owner)
    with time_machine.travel(chicago(10, 11), tick=False):
        response = device.post("/poll", {"id": "chi-1", "utc_timestamp": chicago(10, 11).isoformat(), "status": "active"}, format="json")
    assert response.status_code == 201
    incident = Incident.objects.get()
    assert (incident.resolved_at, incident.business_downtime_seconds) == (chicago(10, 11), 3600)
    assert not Store.objects.get(pk=store.pk).incident_open


def test_a_store_down_overnight_opens_at_opening_time_plus_grace(store):
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 17), "active")
    post("chi-1", chicago(10, 18), "inactive")
    assert evaluate_at(chicago(11, 3)).opened == 0  # closed at night: no trouble
    assert evaluate_at(chicago(11, 9, 5)).opened == 0
    assert evaluate_at(chicago(11, 9, 11)).opened == 1
    incident = Incident.objects.get()
    assert (incident.started_at, incident.opened_at, incident.reason) == (chicago(11, 9), chicago(11, 9, 10), "no_signal")


def test_nothing_opens_inside_a_closure(store, owner):
    closure_create(
        organization=organization_of(owner),
        period=closure_period("2024-01-10T09:00", "2024-01-10T17:00"),
        reason="Inventory",
        created_by=owner,
    )
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 12), "inactive")
    assert evaluate_at(chicago(10, 12)).opened == 0
    assert not Incident.objects.exists()


def test_a_run_ended_by_a_poll_the_request_did_not_resolve_is_resolved_by_the_pass(store):
    from stores.services import store_polls_apply  # the Loop import's path: no request, no signal
    from core.spans import encode_poll
    from core.instants import to_micros

    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 30), "inactive")
    evaluate_at(chicago(10, 10, 30))
    Store.objects.filter(pk=store.pk).update(incident_open=False)  # as if the import's poll had not been seen
    locked = Store.objects.select_for_update().filter(pk=store.pk)
    store_polls_apply(stores=list(locked), polls={store.pk: [encode_poll(to_micros(chicago(10, 11)), True)]})
    Store.objects.filter(pk=store.pk).update(incident_open=True)
    assert evaluate_at(chicago(10, 11, 30)).resolved == 1
    incident = Incident.objects.get()
    assert (incident.resolved_at, incident.business_downtime_seconds) == (chicago(10, 11), 3600)


def test_the_command_runs_one_pass(store, capsys):
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    with time_machine.travel(chicago(10, 10, 20), tick=False):
        call_command("monitor_alerts", "--once")
    assert "1 incidents opened" in capsys.readouterr().out
    assert Incident.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_open_each_incident_once(owner):
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (concurrent writers); the database is {connection.vendor}")
    organization = organization_of(owner)
    for n in range(20):
        store_register(
            organization=organization,
            store_id=f"s-{n}",
            timezone="America/Chicago",
            week=[HoursInput(day, dt.time(9), dt.time(17)) for day in range(7)],
        )
        polls_every_5_minutes(f"s-{n}", chicago(10, 8), chicago(10, 10), "active")
        polls_every_5_minutes(f"s-{n}", chicago(10, 10), chicago(10, 10, 30), "inactive")
    twice_at_once(lambda: evaluate_at(chicago(10, 10, 30)))
    assert Incident.objects.count() == 20
    assert sorted(Incident.objects.values_list("store__store_id", flat=True)) == sorted(f"s-{n}" for n in range(20))


def test_an_incident_that_opened_and_ended_between_two_passes_is_recorded_by_the_poll(store, owner):
    """Inactive 10:00-10:20, active at 10:25, no pass in between: the active poll's
    request records it (started 10:00, opened 10:10, resolved 10:25), and tells nobody."""
    from alerts.models import Notification

    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 25), "inactive")
    assert not Incident.objects.exists()
    api = token_client(owner)
    with time_machine.travel(chicago(10, 10, 25), tick=False):
        answer = api.post("/poll", {"id": "chi-1", "utc_timestamp": chicago(10, 10, 25).isoformat(), "status": "active"}, format="json")
    assert answer.status_code == 201
    incident = Incident.objects.get()
    assert (incident.started_at, incident.opened_at, incident.resolved_at, incident.business_downtime_seconds) == (
        chicago(10, 10), chicago(10, 10, 10), chicago(10, 10, 25), 25 * 60
    )
    assert not Notification.objects.exists()
    # A later pass finds nothing to add.
    assert (evaluate_at(chicago(10, 10, 30)).opened, Incident.objects.count()) == (0, 1)


def test_a_poll_ending_a_run_no_pass_opened_reads_no_open_incident_and_clears_no_flag(store, owner):
    """Inactive 10:00-10:20 Chicago, active at 10:25, no pass in between: the
    store's flag says no incident is open, so the request neither looks for
    one nor clears the flag; it still records the run's incident."""
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 25), "inactive")
    with CaptureQueriesContext(connection) as queries:
        post("chi-1", chicago(10, 10, 25), "active")
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if "resolved_at" in sql and "IS NULL" in sql]
    assert not [sql for sql in statements if sql.startswith("UPDATE") and "incident_open" in sql]
    assert Incident.objects.get().resolved_at == chicago(10, 10, 25)


def test_a_poll_ending_a_run_a_pass_opened_resolves_it_and_clears_the_flag(store):
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    assert evaluate_at(chicago(10, 10, 15)).opened == 1
    assert Store.objects.get(pk=store.pk).incident_open
    post("chi-1", chicago(10, 10, 25), "active")
    incident = Incident.objects.get()
    assert (incident.resolved_at, incident.business_downtime_seconds) == (chicago(10, 10, 25), 25 * 60)
    assert not Store.objects.get(pk=store.pk).incident_open


def test_a_short_blip_ended_by_a_poll_records_nothing(store, owner):
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 5), "inactive")
    post("chi-1", chicago(10, 10, 5), "active")
    assert not Incident.objects.exists()


def test_an_organizations_grace_period_replaces_the_servers(store):
    """Organization grace 30 minutes: inactive from 10:00, nothing at 10:20, open at 10:31 (opened 10:30)."""
    organization = store.organization
    organization.alert_grace_minutes = 30
    organization.save()
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 40), "inactive")
    assert evaluate_at(chicago(10, 10, 20)).opened == 0
    assert evaluate_at(chicago(10, 10, 31)).opened == 1
    assert Incident.objects.get().opened_at == chicago(10, 10, 30)


def test_a_stores_own_grace_period_replaces_its_organizations(store):
    """Organization 30 minutes, the store 5: inactive from 10:00 opens at 10:05."""
    Store.objects.filter(pk=store.pk).update(alert_grace_minutes=5)
    organization = store.organization
    organization.alert_grace_minutes = 30
    organization.save()
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    assert evaluate_at(chicago(10, 10, 6)).opened == 1
    assert Incident.objects.get().opened_at == chicago(10, 10, 5)


def test_the_poll_that_ends_a_run_records_it_with_the_stores_grace_period(store, owner):
    """The store's grace 30 minutes: inactive 10:00-10:25 then active is a blip, nothing recorded;
    inactive 11:00-11:35 then active is an incident opened 11:30, recorded by the poll."""
    Store.objects.filter(pk=store.pk).update(alert_grace_minutes=30)
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 25), "inactive")
    post("chi-1", chicago(10, 10, 25), "active")
    assert not Incident.objects.exists()
    polls_every_5_minutes("chi-1", chicago(10, 11), chicago(10, 11, 35), "inactive")
    post("chi-1", chicago(10, 11, 35), "active")
    incident = Incident.objects.get()
    assert (incident.started_at, incident.opened_at, incident.resolved_at) == (chicago(10, 11), chicago(10, 11, 30), chicago(10, 11, 35))


def batch(*polls: tuple[dt.datetime, str]) -> None:
    """One request posting a list of polls for chi-1."""
    polls_record(polls=[PollInput(store_id="chi-1", at=at, status=status) for at, status in polls], stores=Store.objects.all())


def test_a_run_that_begins_and_ends_inside_one_batch_is_recorded_by_it(store):
    """One request: inactive 10:00, 10:05, 10:10, 10:15, active 10:20: the
    incident (started 10:00, opened 10:10, resolved 10:20) is recorded."""
    batch(
        (chicago(10, 10), "inactive"), (chicago(10, 10, 5), "inactive"), (chicago(10, 10, 10), "inactive"),
        (chicago(10, 10, 15), "inactive"), (chicago(10, 10, 20), "active"),
    )
    incident = Incident.objects.get()
    assert (incident.started_at, incident.opened_at, incident.resolved_at, incident.business_downtime_seconds) == (
        chicago(10, 10), chicago(10, 10, 10), chicago(10, 10, 20), 20 * 60
    )
    assert evaluate_at(chicago(10, 10, 30)).opened == 0


def test_a_batch_ending_a_run_and_beginning_another_records_the_first(store):
    """Inactive 10:00 (a pass at 10:05 sees 5 minutes: nothing), then one
    request: active 10:20, inactive 10:25. The 10:00-10:20 incident is recorded
    by the request; the store is down again, and the pass at 10:40 opens the next."""
    post("chi-1", chicago(10, 10), "inactive")
    evaluate_at(chicago(10, 10, 5))
    batch((chicago(10, 10, 20), "active"), (chicago(10, 10, 25), "inactive"))
    assert list(Incident.objects.values_list("started_at", "opened_at", "resolved_at")) == [
        (chicago(10, 10), chicago(10, 10, 10), chicago(10, 10, 20))
    ]
    assert evaluate_at(chicago(10, 10, 40)).opened == 1
    assert Incident.objects.open().get().started_at == chicago(10, 10, 25)


def test_two_runs_ended_in_one_batch_are_both_recorded_and_the_open_one_resolved(store):
    """The pass opened the 10:00 incident; one request then posts active 10:20,
    inactive 10:30 to 10:45, active 10:50: the open incident resolves at 10:20,
    and the 10:30-10:50 one is recorded."""
    polls_every_5_minutes("chi-1", chicago(10, 10), chicago(10, 10, 20), "inactive")
    evaluate_at(chicago(10, 10, 15))
    batch(
        (chicago(10, 10, 20), "active"), (chicago(10, 10, 30), "inactive"), (chicago(10, 10, 35), "inactive"),
        (chicago(10, 10, 40), "inactive"), (chicago(10, 10, 45), "inactive"), (chicago(10, 10, 50), "active"),
    )
    assert list(Incident.objects.order_by("started_at").values_list("started_at", "resolved_at", "business_downtime_seconds")) == [
        (chicago(10, 10), chicago(10, 10, 20), 20 * 60),
        (chicago(10, 10, 30), chicago(10, 10, 50), 20 * 60),
    ]
    assert not Store.objects.get(store_id="chi-1").incident_open
