"""The downtime dashboard: figures equal the CSV's, state is live, owners see their own stores."""
import csv
import datetime as dt
import io
import re

import pytest
from django.urls import reverse

from core import uptime
from reports.models import Report, StoreFigures
from reports.figures import figures_refresh
from reports.services import report_generate
from stores.demo import demo_load
from stores.models import PollStatus
from stores.services import PollInput, polls_record
from stores.tests.factories import BusinessHoursFactory, StoreFactory, organization_of

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


def csv_rows(report: Report) -> dict[str, dict[str, str]]:
    with report.file.open("rb") as handle:
        return {row["store_id"]: row for row in csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8"))}


def page_rows(content: bytes) -> dict[str, str]:
    """store id → the week's downtime as the page shows it."""
    html = content.decode()
    rows = re.findall(r'data-store-id="([^"]+)".*?class="downtime-week">([^<]+)<', html, flags=re.S)
    return dict(rows)


def test_dashboard_figures_equal_the_csv_as_of_the_same_instant(client, owner, django_capture_on_commit_callbacks):
    now = dt.datetime.now(UTC).replace(microsecond=0)
    demo_load(organization=organization_of(owner), now=now)
    as_of = now - dt.timedelta(minutes=1)
    figures_refresh(as_of=as_of)
    report = Report.objects.create(requested_by=owner, as_of=as_of)
    report = report_generate(report_id=report.pk)
    expected = csv_rows(report)

    client.force_login(owner)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    shown = page_rows(response.content)
    assert set(shown) == set(expected)
    for store_id, downtime_week in shown.items():
        assert downtime_week == expected[store_id]["downtime_last_week"]
    # The stored microseconds round to the CSV's figures too.
    for figures in StoreFigures.objects.select_related("store"):
        row = expected[figures.store.store_id]
        values = dict(zip(uptime.REPORT_COLUMNS[1:], uptime.report_values(uptime.UptimeFigures(
            *(getattr(figures, name) for name in uptime.UptimeFigures._fields)
        ))))
        assert {name: str(value) for name, value in values.items()} == {
            name: value for name, value in row.items() if name != "store_id"
        }


def test_owner_sees_only_their_stores(client, owner, other_owner):
    StoreFactory(owner=owner, store_id="mine")
    StoreFactory(owner=other_owner, store_id="theirs")
    figures_refresh()
    client.force_login(owner)
    response = client.get(reverse("dashboard"))
    assert list(page_rows(response.content)) == ["mine"]
    assert client.get(reverse("dashboard_store", args=["theirs"])).status_code == 404
    assert client.get(reverse("dashboard_store", args=["mine"])).status_code == 200


def test_superuser_sees_every_store(client, superuser, owner, other_owner):
    StoreFactory(owner=owner, store_id="a")
    StoreFactory(owner=other_owner, store_id="b")
    client.force_login(superuser)
    assert sorted(page_rows(client.get(reverse("dashboard")).content)) == ["a", "b"]


def test_pages_need_login(client):
    for url in (reverse("dashboard"), reverse("dashboard_store", args=["x"])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert client.post(reverse("dashboard_refresh")).status_code == 302


def _poll(store, at, status):
    polls_record(polls=[PollInput(store.store_id, at, status)], stores=type(store).objects.all())


def test_state_is_live_from_the_latest_poll(client, owner):
    now = dt.datetime.now(UTC)
    up = StoreFactory(owner=owner, store_id="up")
    down = StoreFactory(owner=owner, store_id="down")
    silent = StoreFactory(owner=owner, store_id="silent")
    StoreFactory(owner=owner, store_id="new")
    _poll(up, now - dt.timedelta(minutes=10), PollStatus.ACTIVE)
    _poll(down, now - dt.timedelta(minutes=10), PollStatus.INACTIVE)
    _poll(silent, now - dt.timedelta(hours=3), PollStatus.ACTIVE)  # STALE_AFTER is 2 h
    client.force_login(owner)
    html = client.get(reverse("dashboard")).content.decode()
    states = dict(re.findall(r'data-store-id="([^"]+)">.*?class="state-([a-z_]+)"', html, flags=re.S))
    assert states == {"up": "up", "down": "down", "silent": "no_signal", "new": "awaiting"}
    assert re.search(r'id="total-down-now">2<', html)
    filtered = client.get(reverse("dashboard"), {"state": "no_signal"}).content
    assert list(page_rows(filtered)) == ["silent"]


def test_sort_by_downtime_filter_by_timezone_and_search(client, owner):
    as_of = dt.datetime.now(UTC)
    for store_id, zone, down_hours in [("s-1", "America/Chicago", 1), ("s-2", "Asia/Kolkata", 5), ("s-3", "America/Chicago", 3)]:
        store = StoreFactory(owner=owner, store_id=store_id, timezone=zone)
        # Down for down_hours, then hourly active polls up to as_of (stores are open all day).
        start = as_of - dt.timedelta(hours=10)
        _poll(store, start, PollStatus.INACTIVE)
        for hour in range(down_hours, 10):
            _poll(store, start + dt.timedelta(hours=hour), PollStatus.ACTIVE)
    figures_refresh(as_of=as_of)
    client.force_login(owner)
    assert list(page_rows(client.get(reverse("dashboard")).content)) == ["s-2", "s-3", "s-1"]
    ascending = client.get(reverse("dashboard"), {"sort": "downtime_week", "dir": "asc"}).content
    assert list(page_rows(ascending)) == ["s-1", "s-3", "s-2"]
    chicago = client.get(reverse("dashboard"), {"timezone": "America/Chicago"}).content
    assert list(page_rows(chicago)) == ["s-3", "s-1"]
    assert list(page_rows(client.get(reverse("dashboard"), {"q": "-2"}).content)) == ["s-2"]


def test_dashboard_is_paginated(client, owner):
    for number in range(55):
        StoreFactory(owner=owner, store_id=f"p-{number:02d}")
    client.force_login(owner)
    first = client.get(reverse("dashboard"), {"sort": "store_id", "dir": "asc"})
    assert len(page_rows(first.content)) == 50
    second = client.get(reverse("dashboard"), {"sort": "store_id", "dir": "asc", "page": 2})
    assert list(page_rows(second.content)) == [f"p-{n}" for n in range(50, 55)]


def test_store_page_lists_down_periods_in_local_time(client, owner):
    # Monday 2024-01-08 in Chicago (UTC-6), open 09:00-17:00, closed the rest of the week.
    store = StoreFactory(owner=owner, store_id="chi", timezone="America/Chicago")
    BusinessHoursFactory(store=store, day_of_week=0, start_time_local=dt.time(9), end_time_local=dt.time(17))
    for day in range(1, 7):
        BusinessHoursFactory(store=store, day_of_week=day, start_time_local=None, end_time_local=None, closed=True)
    _poll(store, dt.datetime(2024, 1, 8, 15, 0, tzinfo=UTC), PollStatus.ACTIVE)  # 09:00 local
    _poll(store, dt.datetime(2024, 1, 8, 16, 30, tzinfo=UTC), PollStatus.INACTIVE)  # 10:30 local
    _poll(store, dt.datetime(2024, 1, 8, 17, 45, tzinfo=UTC), PollStatus.ACTIVE)  # 11:45 local
    _poll(store, dt.datetime(2024, 1, 8, 22, 0, tzinfo=UTC), PollStatus.ACTIVE)  # 16:00 local
    figures_refresh(as_of=dt.datetime(2024, 1, 8, 23, 0, tzinfo=UTC))  # 17:00 local
    client.force_login(owner)
    html = client.get(reverse("dashboard_store", args=["chi"])).content.decode()
    # Down 10:30-11:45 (inactive poll), and 13:45-16:00 (no signal: 2 h after the 11:45 poll).
    assert "Mon 08 Jan 10:30 – 11:45 CST (1 h 15 min)" in html
    assert "Mon 08 Jan 13:45 – 16:00 CST (2 h 15 min)" in html
    assert 'id="downtime-week">3.50 h<' in html
    assert "closed" in html and "09:00–17:00" in html


def _figures(store, *, down_hours: float, as_of: dt.datetime) -> None:
    StoreFigures.objects.create(store=store, as_of=as_of, downtime_last_week=int(down_hours * uptime.HOUR))


def test_worst_stores_are_the_most_down_this_week_ties_by_store_id_visible_only(client, owner, other_owner):
    as_of = dt.datetime.now(UTC)
    for store_id, down_hours in [("w-a", 3), ("w-b", 5), ("w-c", 3), ("w-d", 0), ("w-e", 0.5), ("w-f", 1), ("w-g", 2)]:
        _figures(StoreFactory(owner=owner, store_id=store_id), down_hours=down_hours, as_of=as_of)
    StoreFactory(owner=owner, store_id="w-new")  # no figures yet
    _figures(StoreFactory(owner=other_owner, store_id="w-other"), down_hours=9, as_of=as_of)
    client.force_login(owner)
    html = client.get(reverse("dashboard")).content.decode()
    worst = re.search(r'<ol id="worst-stores">(.*?)</ol>', html, flags=re.S).group(1)
    assert re.findall(r">([^<]+)</a>: ([0-9.]+) h", worst) == [
        ("w-b", "5.00"), ("w-a", "3.00"), ("w-c", "3.00"), ("w-g", "2.00"), ("w-f", "1.00")
    ]


def test_no_store_down_this_week_lists_no_worst_store(client, owner):
    _figures(StoreFactory(owner=owner, store_id="calm"), down_hours=0, as_of=dt.datetime.now(UTC))
    client.force_login(owner)
    html = client.get(reverse("dashboard")).content.decode()
    assert '<ol id="worst-stores"><li>None</li></ol>' in html


def test_a_filtered_list_counts_and_pages_the_matching_stores_only(client, owner):
    for number in range(60):
        StoreFactory(owner=owner, store_id=f"{'m' if number < 53 else 'x'}-{number:02d}")
    client.force_login(owner)
    first = client.get(reverse("dashboard"), {"q": "m-", "sort": "store_id", "dir": "asc"}).content.decode()
    assert "Page 1 of 2 (53 stores)" in first and "stores down now (of 60)" in first
    second = client.get(reverse("dashboard"), {"q": "m-", "sort": "store_id", "dir": "asc", "page": 2}).content
    assert list(page_rows(second)) == ["m-50", "m-51", "m-52"]
    unfiltered = client.get(reverse("dashboard")).content.decode()
    assert "Page 1 of 2 (60 stores)" in unfiltered


def test_stores_added_since_the_last_refresh_are_listed_after_every_measured_store(client, owner):
    """Sorted on a figure, the stores with figures come first in either
    direction (calm-* had 0 h, so the unmeasured new-* rank after them, by store id)."""
    as_of = dt.datetime.now(UTC)
    for store_id, down_hours in [("calm-1", 0), ("down-2", 2), ("down-1", 1), ("calm-2", 0)]:
        _figures(StoreFactory(owner=owner, store_id=store_id), down_hours=down_hours, as_of=as_of)
    for store_id in ("new-b", "new-a"):
        StoreFactory(owner=owner, store_id=store_id)
    client.force_login(owner)
    descending = page_rows(client.get(reverse("dashboard")).content)
    assert list(descending) == ["down-2", "down-1", "calm-1", "calm-2", "new-a", "new-b"]
    assert descending["new-a"] == "0.00"
    ascending = client.get(reverse("dashboard"), {"sort": "downtime_week", "dir": "asc"}).content
    assert list(page_rows(ascending)) == ["calm-1", "calm-2", "down-1", "down-2", "new-a", "new-b"]


def test_a_page_across_the_measured_and_the_new_stores_holds_both(client, owner, monkeypatch):
    monkeypatch.setattr("reports.dashboard_pages.PAGE_SIZE", 3)
    as_of = dt.datetime.now(UTC)
    for number in range(4):
        _figures(StoreFactory(owner=owner, store_id=f"m-{number}"), down_hours=4 - number, as_of=as_of)
    for number in range(3):
        StoreFactory(owner=owner, store_id=f"n-{number}")
    client.force_login(owner)
    pages = [list(page_rows(client.get(reverse("dashboard"), {"page": page}).content)) for page in (1, 2, 3)]
    assert pages == [["m-0", "m-1", "m-2"], ["m-3", "n-0", "n-1"], ["n-2"]]
    filtered = client.get(reverse("dashboard"), {"q": "-1", "page": 1}).content.decode()
    assert list(page_rows(filtered.encode())) == ["m-1", "n-1"] and "(2 stores)" in filtered
