"""Incidents on the dashboard: the open ones head the list (store, reason,
local start, for how long, acknowledged by or an "Acknowledge" button for a
manager); a manager acknowledges one with a note from the page, a viewer may
not, another organization's incident does not exist; a store's page lists its
incidents; the list's queries do not grow with the number of incidents."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from alerts.models import Incident, IncidentReason
from stores.tests.factories import OrganizationFactory, StoreFactory, StoreGroupFactory, member_account

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
# Monday 2024-01-08 in Chicago (UTC-6): 09:30 local is 15:30 UTC.
MONDAY = dt.datetime(2024, 1, 8, tzinfo=UTC)
NOON_LOCAL = MONDAY + dt.timedelta(hours=18)


def utc(hour: int, minute: int = 0, day: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour, minutes=minute)


def incident(store, started: dt.datetime, *, reason=IncidentReason.INACTIVE, resolved: dt.datetime | None = None, **kwargs):
    return Incident.objects.create(
        store=store,
        started_at=started,
        opened_at=started + dt.timedelta(minutes=15),
        reason=reason,
        resolved_at=resolved,
        **kwargs,
    )


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """A table's body, row by row, as the text of each cell (th and td)."""
    body = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, flags=re.S).group(1)
    return [
        [
            " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", cell)).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]


def acknowledge_forms(html: str) -> list[tuple[str, str]]:
    """The acknowledge forms of the open incidents: (action, CSRF token)."""
    return re.findall(
        r'<form method="post" action="([^"]+)" class="acknowledge-form"><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">',
        html,
    )


def logged_in(user, *, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


@pytest.fixture
def acme(members_group):
    """A Chicago store of acme with an open incident since 09:30 local, and acme's manager and viewer."""
    organization = OrganizationFactory(name="acme")
    store = StoreFactory(store_id="chi-1", organization=organization, timezone="America/Chicago")
    return {
        "organization": organization,
        "store": store,
        "incident": incident(store, utc(15, 30)),
        "manager": member_account(organization, "mia", Role.MANAGER, members_group=members_group),
        "viewer": member_account(organization, "victor", Role.VIEWER, members_group=members_group),
    }


def test_the_open_incident_heads_the_list_with_its_reason_and_local_start(acme):
    quiet = StoreFactory(store_id="chi-2", organization=acme["organization"], timezone="America/Chicago")
    incident(quiet, utc(14), resolved=utc(15))  # resolved: not on the list
    silent = StoreFactory(store_id="ny-1", organization=acme["organization"], timezone="America/New_York")
    incident(silent, utc(16, 45), reason=IncidentReason.NO_SIGNAL)
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = logged_in(acme["manager"]).get(reverse("dashboard")).content.decode()

    assert page.index('id="open-incidents"') < page.index('id="result_list"')
    assert table_rows(page, "open-incidents") == [
        ["chi-1", "inactive", "Mon 08 Jan 09:30 CST", "2 h 30 min", ""],  # the longest first
        ["ny-1", "no signal", "Mon 08 Jan 11:45 EST", "1 h 15 min", ""],
    ]
    assert f'<a href="{reverse("dashboard_store", args=["chi-1"])}">chi-1</a>' in page
    # A manager of the stores gets a button for each, with a note field.
    assert [action for action, _ in acknowledge_forms(page)] == [
        reverse("dashboard_incident_acknowledge", args=[acme["incident"].pk]),
        reverse("dashboard_incident_acknowledge", args=[Incident.objects.get(store=silent).pk]),
    ]
    assert page.count('name="note"') == 2 and page.count('value="Acknowledge"') == 2


def test_a_manager_acknowledges_an_incident_with_a_note_from_the_page(acme):
    client = logged_in(acme["manager"], enforce_csrf=True)
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = client.get(reverse("dashboard")).content.decode()
        [(action, token)] = acknowledge_forms(page)
        response = client.post(action, {"csrfmiddlewaretoken": token, "note": "  Technician on the way  "})
        assert response.status_code == 302 and response["Location"] == reverse("dashboard")
        page = client.get(response["Location"]).content.decode()

    acknowledged = Incident.objects.get(pk=acme["incident"].pk)
    assert acknowledged.acknowledged_by == acme["manager"]
    assert acknowledged.note == "Technician on the way"
    assert acknowledged.acknowledged_at == NOON_LOCAL
    assert acknowledged.resolved_at is None
    assert "The incident of store chi-1 is acknowledged." in page
    assert table_rows(page, "open-incidents") == [
        ["chi-1", "inactive", "Mon 08 Jan 09:30 CST", "2 h 30 min", "mia, Mon 08 Jan 12:00 CST: Technician on the way"]
    ]
    assert acknowledge_forms(page) == []


def test_a_manager_may_acknowledge_without_a_note_but_not_with_one_too_long(acme):
    client = logged_in(acme["manager"])
    url = reverse("dashboard_incident_acknowledge", args=[acme["incident"].pk])
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = client.post(url, {"note": "x" * 501}, follow=True).content.decode()
        assert "The note is too long: 500 characters at most." in page
        assert Incident.objects.get(pk=acme["incident"].pk).acknowledged_at is None
        assert client.post(url).status_code == 302
    acknowledged = Incident.objects.get(pk=acme["incident"].pk)
    assert acknowledged.acknowledged_by == acme["manager"] and acknowledged.note == ""


def test_a_viewer_sees_the_incident_without_a_button_and_may_not_acknowledge_it(acme):
    client = logged_in(acme["viewer"])
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = client.get(reverse("dashboard")).content.decode()
        response = client.post(reverse("dashboard_incident_acknowledge", args=[acme["incident"].pk]), {"note": "mine"})

    assert table_rows(page, "open-incidents") == [["chi-1", "inactive", "Mon 08 Jan 09:30 CST", "2 h 30 min", "—"]]
    assert acknowledge_forms(page) == [] and 'value="Acknowledge"' not in page
    assert response.status_code == 403
    unchanged = Incident.objects.get(pk=acme["incident"].pk)
    assert unchanged.acknowledged_by is None and unchanged.note == ""


def test_a_manager_limited_to_a_group_gets_a_button_for_its_stores_only(acme, members_group):
    organization = acme["organization"]
    north = StoreGroupFactory(organization=organization, name="north")
    inside = StoreFactory(store_id="chi-north", organization=organization, timezone="America/Chicago", groups=[north])
    inside_incident = incident(inside, utc(16))
    limited = member_account(organization, "lena", Role.MANAGER, groups=[north], members_group=members_group)
    client = logged_in(limited)
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = client.get(reverse("dashboard")).content.decode()
        # The store outside their group does not exist for them.
        assert client.post(reverse("dashboard_incident_acknowledge", args=[acme["incident"].pk])).status_code == 404

    assert [row[0] for row in table_rows(page, "open-incidents")] == ["chi-north"]
    assert [action for action, _ in acknowledge_forms(page)] == [
        reverse("dashboard_incident_acknowledge", args=[inside_incident.pk])
    ]


def test_another_organizations_incident_is_not_listed_and_is_a_404(acme, members_group):
    globex = OrganizationFactory(name="globex")
    theirs = incident(StoreFactory(store_id="gx-1", organization=globex, timezone="America/Chicago"), utc(15))
    client = logged_in(acme["manager"])
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = client.get(reverse("dashboard")).content.decode()
        assert client.post(reverse("dashboard_incident_acknowledge", args=[theirs.pk]), {"note": "x"}).status_code == 404
        assert client.post(reverse("dashboard_incident_acknowledge", args=[theirs.pk + 1000])).status_code == 404

    assert [row[0] for row in table_rows(page, "open-incidents")] == ["chi-1"]
    assert "gx-1" not in page
    assert Incident.objects.get(pk=theirs.pk).acknowledged_by is None


def test_a_resolved_incident_gives_a_message_not_an_error(acme):
    client = logged_in(acme["manager"])
    Incident.objects.filter(pk=acme["incident"].pk).update(resolved_at=utc(17))
    with time_machine.travel(NOON_LOCAL, tick=False):
        response = client.post(reverse("dashboard_incident_acknowledge", args=[acme["incident"].pk]), {"note": "late"})
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()

    assert "The incident of store chi-1 is resolved already: nothing to acknowledge." in page
    assert table_rows(page, "open-incidents") == [["No open incident."]]
    assert Incident.objects.get(pk=acme["incident"].pk).acknowledged_by is None


def test_acknowledging_takes_a_post_from_someone_logged_in(acme):
    url = reverse("dashboard_incident_acknowledge", args=[acme["incident"].pk])
    anonymous = Client().post(url, {"note": "x"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    assert logged_in(acme["manager"]).get(url).status_code == 405
    assert Incident.objects.get(pk=acme["incident"].pk).acknowledged_by is None


def test_the_store_page_lists_its_incidents_open_first(acme):
    store = acme["store"]
    Incident.objects.filter(pk=acme["incident"].pk).update(
        acknowledged_by=acme["manager"], acknowledged_at=utc(16), note="Router rebooted", business_downtime_seconds=9000
    )
    incident(store, utc(15, day=-3), resolved=utc(17, 10, day=-3), business_downtime_seconds=6000)
    incident(store, utc(23, day=-2), reason=IncidentReason.NO_SIGNAL, resolved=utc(3, day=-1), business_downtime_seconds=0)
    other = StoreFactory(store_id="chi-2", organization=acme["organization"], timezone="America/Chicago")
    incident(other, utc(15))  # another store's: not on this page
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = logged_in(acme["viewer"]).get(reverse("dashboard_store", args=["chi-1"])).content.decode()

    assert table_rows(page, "store-incidents") == [
        ["Mon 08 Jan 09:45 CST (open)", "inactive", "since Mon 08 Jan 09:30 CST (2 h 30 min so far)", "2 h 30 min so far",
         "mia, Mon 08 Jan 10:00 CST: Router rebooted"],
        ["Sat 06 Jan 17:15 CST", "no signal", "Sat 06 Jan 17:00 – 21:00 CST (4 h 00 min)", "0 min", "—"],
        ["Fri 05 Jan 09:15 CST", "inactive", "Fri 05 Jan 09:00 – 11:10 CST (2 h 10 min)", "1 h 40 min", "—"],
    ]


def test_a_store_without_incidents_says_so(acme):
    bare = StoreFactory(store_id="chi-bare", organization=acme["organization"], timezone="America/Chicago")
    with time_machine.travel(NOON_LOCAL, tick=False):
        page = logged_in(acme["viewer"]).get(reverse("dashboard_store", args=[bare.store_id])).content.decode()
    assert table_rows(page, "store-incidents") == [["No incident."]]


def page_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.VIEWER])
def test_the_lists_queries_do_not_grow_with_the_number_of_open_incidents(acme, role):
    client = logged_in(acme["manager"] if role == Role.MANAGER else acme["viewer"])
    other = member_account(acme["organization"], "otto", Role.MANAGER)
    with time_machine.travel(NOON_LOCAL, tick=False):
        page_queries(client, "/dashboard/")  # warm: the figures refresh is queued once
        before = page_queries(client, "/dashboard/")
        for n in range(6):
            store = StoreFactory(store_id=f"many-{n}", organization=acme["organization"], timezone="America/New_York")
            made = incident(store, utc(15, n), reason=IncidentReason.NO_SIGNAL if n % 2 else IncidentReason.INACTIVE)
            if n % 3 == 0:
                Incident.objects.filter(pk=made.pk).update(acknowledged_by=other, acknowledged_at=utc(16), note=f"n{n}")
        after = page_queries(client, "/dashboard/")
        page = client.get("/dashboard/").content.decode()
    assert after == before
    assert len(table_rows(page, "open-incidents")) == 7


# Collects every violation of the Content-Security-Policy the page reports, from before its first script.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""
FACTORY_PASSWORD = "correct horse battery staple"  # stores.tests.factories.UserFactory's


@pytest.mark.django_db(transaction=True)  # live_server needs committed data
def test_in_a_browser_a_manager_acknowledges_from_the_list_within_the_policy(live_server, browser, members_group):
    from playwright.sync_api import expect

    organization = OrganizationFactory(name="acme")
    store = StoreFactory(store_id="chi-1", organization=organization, timezone="America/Chicago")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    open_one = incident(store, now - dt.timedelta(hours=2))
    incident(store, now - dt.timedelta(days=2), resolved=now - dt.timedelta(days=2) + dt.timedelta(hours=1))
    manager = member_account(organization, "mia", Role.MANAGER, members_group=members_group)
    base = live_server.url
    context = browser.new_context()
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    try:
        page.goto(f"{base}/admin/login/?next=/dashboard/")
        page.fill("#id_username", manager.get_username())
        page.fill("#id_password", FACTORY_PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url(f"{base}/dashboard/")
        row = page.locator(f'#open-incidents tr[data-incident-id="{open_one.pk}"]')
        expect(row).to_contain_text("inactive")
        assert page.evaluate("window.__cspViolations") == []
        row.locator('input[name="note"]').fill("On it")
        row.locator('input[type="submit"]').click()
        page.wait_for_url(f"{base}/dashboard/")
        expect(page.locator(".messagelist")).to_contain_text("is acknowledged")
        expect(row).to_contain_text("mia")
        expect(row).to_contain_text("On it")
        assert page.evaluate("window.__cspViolations") == []
        page.goto(f"{base}/dashboard/stores/chi-1/", wait_until="networkidle")
        expect(page.locator("#store-incidents tbody tr")).to_have_count(2)
        expect(page.locator("#store-incidents tbody tr.incident-open")).to_contain_text("On it")
        assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()
    acknowledged = Incident.objects.get(pk=open_one.pk)
    assert acknowledged.acknowledged_by_id == manager.pk and acknowledged.note == "On it"
