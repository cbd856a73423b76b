"""End to end, in a real browser: log in, the dashboard, a store's page, and a
report generated, followed and downloaded from the report pages.

Playwright (sync API) drives Debian's Chromium against pytest-django's live
server; see reports/tests/conftest.py for the browser fixtures and when these
tests skip. Screenshots go to test-artifacts/screenshots/ at the project root.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from reports.models import Report, ReportStatus
from reports.figures import figures_refresh
from reports.services import report_generate
from stores.demo import DEMO_STORES, demo_load
from core.closures import closure_period
from stores.models import Store
from stores.services import closure_create
from accounts.models import Role, StoreGroup
from accounts.services import member_add, owner_create
from stores.tests.factories import BusinessHoursFactory, StoreFactory, organization_of

# live_server needs committed data, hence transactional tests.
pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Tulip-orbit-5-kettle"
DEMO_STORE_IDS = {store_id for store_id, _zone, _group, _week in DEMO_STORES}
AMERICAS_STORE_IDS = {store_id for store_id, _zone, group, _week in DEMO_STORES if group == "americas"}
OTHER_STORE_IDS = {"other-owner-store-1", "other-owner-store-2", "other-owner-store-3"}


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def api_csv(token: str, report_id: str) -> bytes:
    response = Client().get("/get_report", {"report_id": report_id}, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


def log_in(page, base_url: str, username: str, *, next_path: str) -> None:
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


@pytest.fixture
def owners(members_group):
    """Two owners, made as `manage.py create_owner` makes them: alice with the
    demo stores, bob with stores of his own. Returns alice and her API token."""
    now = timezone.now()
    alice, alice_token = owner_create(username="alice", password=PASSWORD)
    bob, _ = owner_create(username="bob", password=PASSWORD)
    demo_load(organization=organization_of(alice), now=now)
    for store_id in sorted(OTHER_STORE_IDS):
        store = StoreFactory(owner=bob, store_id=store_id, timezone="Europe/Berlin")
        BusinessHoursFactory(store=store, day_of_week=0)
    figures_refresh(as_of=now)
    return alice, alice_token


def test_owner_dashboard_store_page_and_report_download(live_server, browser_page, owners, screenshot_dir: Path):
    from playwright.sync_api import expect

    alice, token = owners
    page = browser_page
    base = live_server.url

    log_in(page, base, "alice", next_path="/dashboard/")

    # The dashboard: alice's stores, none of bob's.
    rows = page.locator("tr.store-row")
    expect(rows).to_have_count(len(DEMO_STORE_IDS))
    shown = set(rows.evaluate_all("rows => rows.map(row => row.dataset.storeId)"))
    assert shown == DEMO_STORE_IDS
    expect(page.locator("tr.store-row svg.timeline").first).to_be_visible()
    page.screenshot(path=screenshot_dir / "dashboard.png", full_page=True)

    # A store's page, reached by its link: the one with most downtime (the
    # default sort), so its timeline and list have down periods to show.
    worst = rows.first
    store_id = worst.get_attribute("data-store-id")
    assert float(worst.locator(".downtime-week").inner_text()) > 0, "the demo data should have downtime"
    worst.get_by_role("link", name=store_id).click()
    page.wait_for_url(f"{base}/dashboard/stores/{store_id}/")
    timeline = page.locator("svg.timeline")
    expect(timeline).to_be_visible()
    assert timeline.locator("rect.open").count() > 0
    assert timeline.locator("rect.down").count() > 0
    down_periods = page.locator("#down-periods tbody tr")
    expect(down_periods.first).to_be_visible()
    expect(page.locator("#down-periods")).not_to_contain_text("No downtime")
    page.screenshot(path=screenshot_dir / "store.png", full_page=True)

    # The report pages: generate one from the form, wait for it to finish.
    page.goto(f"{base}/reports/")
    expect(page.locator("tr[data-report-id]")).to_have_count(0)
    page.get_by_role("button", name="Generate report").click()
    # Posted, then redirected back to the list, which now has the report.
    row = page.locator("tr[data-report-id]")
    expect(row).to_have_count(1)
    report = Report.objects.get(pk=row.get_attribute("data-report-id"))
    assert report.requested_by == alice
    # Complete at once with the immediate task backend; on a real one the
    # page's script fills in the link when the report finishes.
    download_link = row.locator("a[download]")
    expect(download_link).to_be_visible()
    expect(row).to_have_attribute("data-status", ReportStatus.COMPLETE)
    page.screenshot(path=screenshot_dir / "reports.png", full_page=True)

    with page.expect_download() as download_info:
        download_link.click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"report-{report.pk}.csv"
    downloaded = Path(download.path()).read_bytes()

    from_api = api_csv(token, str(report.pk))
    assert csv_rows(downloaded) == csv_rows(from_api)
    assert downloaded == from_api
    body = csv_rows(downloaded)
    assert body[0][0] == "store_id"
    assert {line[0] for line in body[1:]} == DEMO_STORE_IDS


def test_a_viewer_limited_to_one_group_sees_and_downloads_only_its_stores(live_server, browser_page, owners):
    from playwright.sync_api import expect

    alice, _ = owners
    organization = organization_of(alice)
    member_add(
        organization=organization,
        username="victor",
        role=Role.VIEWER,
        groups=[StoreGroup.objects.get(organization=organization, name="americas")],
        password=PASSWORD,
    )
    page = browser_page
    base = live_server.url
    log_in(page, base, "victor", next_path="/dashboard/")

    expect(page.locator("#member-roles")).to_have_text("alice: viewer")
    rows = page.locator("tr.store-row")
    expect(rows).to_have_count(len(AMERICAS_STORE_IDS))
    assert set(rows.evaluate_all("rows => rows.map(row => row.dataset.storeId)")) == AMERICAS_STORE_IDS
    # Another store's page, typed in: as if it did not exist.
    outside = sorted(DEMO_STORE_IDS - AMERICAS_STORE_IDS)[0]
    assert page.goto(f"{base}/dashboard/stores/{outside}/").status == 404

    page.goto(f"{base}/reports/")
    page.get_by_role("button", name="Generate report").click()
    row = page.locator("tr[data-report-id]")
    expect(row).to_have_count(1)
    download_link = row.locator("a[download]")
    expect(download_link).to_be_visible()
    with page.expect_download() as download_info:
        download_link.click()
    body = csv_rows(Path(download_info.value.path()).read_bytes())
    assert body[0][0] == "store_id"
    assert {line[0] for line in body[1:]} == AMERICAS_STORE_IDS


def test_report_list_follows_a_running_report_without_reloading(live_server, browser_page, owners):
    """A report still running when the list is loaded: the page's script polls
    and puts in the download link once it is complete, without a reload."""
    from playwright.sync_api import expect

    alice, _ = owners
    page = browser_page
    base = live_server.url
    # Made directly, so that no task runs it: it stays Running until below.
    report = Report.objects.create(requested_by=alice, as_of=timezone.now())

    log_in(page, base, "alice", next_path="/reports/")
    row = page.locator(f'tr[data-report-id="{report.pk}"]')
    expect(row).to_have_attribute("data-status", ReportStatus.RUNNING)
    expect(row.locator('[data-field="result"]')).to_contain_text("Generating")
    page.evaluate("window.__notReloaded = true")

    report_generate(report_id=report.pk)

    expect(row.locator("a[download]")).to_be_visible()
    expect(row).to_have_attribute("data-status", ReportStatus.COMPLETE)
    expect(row.locator(".progress-text")).to_have_text(re.compile(rf"{len(DEMO_STORE_IDS)} / {len(DEMO_STORE_IDS)}"))
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def test_a_closure_is_hatched_on_the_store_timeline_with_its_reason(live_server, browser_page, owners, screenshot_dir: Path):
    """A closure of the Chicago diner (open 07:00-22:00) two days ago,
    10:00-14:00 local: its page draws it hatched, with the reason and local
    times in its tooltip, and no downtime inside it; the page lists it."""
    from playwright.sync_api import expect

    alice, _ = owners
    store = Store.objects.get(store_id="demo-chicago-diner")
    day = (timezone.now().astimezone(ZoneInfo("America/Chicago")) - dt.timedelta(days=2)).date()
    closure_create(
        organization=store.organization,
        period=closure_period(f"{day}T10:00", f"{day}T14:00"),
        reason="Deep clean",
        created_by=alice,
        stores=[store],
    )
    page = browser_page
    page.context.add_init_script(CSP_LISTENER)
    base = live_server.url
    log_in(page, base, "alice", next_path=f"/dashboard/stores/{store.store_id}/")

    timeline = page.locator("svg.timeline")
    closed = timeline.locator("rect.closed")
    expect(closed).to_have_count(1)
    expect(closed).to_be_visible()
    # Its tooltip: the reason and the local times (CST or CDT, by the date).
    expect(closed.locator("title")).to_have_text(
        re.compile(rf"^Closed \(Deep clean\): {day:%a %d %b} 10:00 – 14:00 C[SD]T \(4 h 00 min\)$")
    )
    # Hatched: filled with the stripes of the SVG's own pattern.
    fill = closed.evaluate("rect => getComputedStyle(rect).fill")
    pattern_id = re.fullmatch(r'url\("?#([^")]+)"?\)', fill).group(1)
    pattern = timeline.locator(f"pattern#{pattern_id}")
    assert pattern.count() == 1
    assert pattern.locator(".hatch-stripe").count() == 1
    assert pattern.locator(".hatch-stripe").evaluate("stripe => getComputedStyle(stripe).fill") != "none"
    # No downtime drawn inside the closure. Compared in the SVG's own units
    # (percent of the week, written to four decimals, so adjacent segments
    # may meet 0.0002 apart): the pixel boxes include the closure's 1 px
    # outline, which leaves no room for that rounding.
    assert closed.bounding_box()["width"] > 0
    start, width = (float(closed.get_attribute(name)) for name in ("x", "width"))
    for down in timeline.locator("rect.down").all():
        x, w = (float(down.get_attribute(name)) for name in ("x", "width"))
        assert x + w <= start + 0.0002 or x >= start + width - 0.0002
    expect(page.locator("#closures-past")).to_contain_text("Deep clean")
    expect(page.locator("#closures-past")).to_contain_text("alice")
    page.screenshot(path=screenshot_dir / "store-closure.png", full_page=True)
    assert page.evaluate("window.__cspViolations") == []

    # The dashboard's row hatches it too, with its own pattern.
    page.goto(f"{base}/dashboard/")
    row_closed = page.locator(f'tr[data-store-id="{store.store_id}"] svg.timeline rect.closed')
    expect(row_closed).to_have_count(1)
    expect(row_closed.locator("title")).to_contain_text("Closed (Deep clean)")
    assert page.evaluate("window.__cspViolations") == []


def test_anonymous_visitor_is_sent_to_the_login_page(live_server, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{live_server.url}/dashboard/")
    page.wait_for_url(re.compile(r"/admin/login/\?next=/dashboard/$"))
    expect(page.locator("#id_username")).to_be_visible()
    expect(page.locator("#id_password")).to_be_visible()
    expect(page.locator("tr.store-row")).to_have_count(0)


# --------------------------------------------------------------------------
# Content-Security-Policy (finding 6 of issue 9)
# --------------------------------------------------------------------------

# Collects every violation the page reports, from before its first script.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


def test_no_page_breaks_its_content_security_policy(live_server, browser, owners, superuser):
    """The dashboard, a store's page, the report list and a report's table, the
    admin (index, a store with its hours, the login page) and Swagger UI:
    each is served with the policy and, fully loaded,
    reports no violation (the browser fires securitypolicyviolation)."""
    from playwright.sync_api import expect

    alice, _ = owners
    superuser.set_password(PASSWORD)
    superuser.save()
    store = Store.objects.filter(organization=organization_of(alice)).order_by("store_id").first()
    report = report_generate(report_id=Report.objects.create(requested_by=alice, as_of=timezone.now()).pk)
    base = live_server.url
    context = browser.new_context()
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto(f"{base}/admin/login/")
        seen = {"/admin/login/": (page.evaluate("window.__cspViolations"), None)}
        log_in(page, base, superuser.get_username(), next_path="/admin/")
        pages = {
            "/admin/": "#content-main",
            f"/admin/stores/store/{store.pk}/change/": "#store_form",
            "/dashboard/": "tr.store-row",
            f"/dashboard/stores/{store.store_id}/": "svg.timeline",
            "/reports/": "tr[data-report-id]",
            f"/reports/{report.pk}/": "#report-figures",
            "/api/docs/": ".swagger-ui .info",  # drawn by Swagger UI's scripts: they ran
        }
        for path, drawn in pages.items():
            response = page.goto(f"{base}{path}", wait_until="networkidle")
            expect(page.locator(drawn).first).to_be_visible()
            policy = response.headers.get("content-security-policy", "")
            seen[path] = (page.evaluate("window.__cspViolations"), policy)
    finally:
        context.close()

    for path, (violations, policy) in seen.items():
        assert violations == [], f"{path}: {violations}"
        if policy is not None:
            assert "default-src 'self'" in policy and "script-src 'self'" in policy, path
            assert "unsafe-inline" not in policy, path
    assert not [text for text in console if "Content Security Policy" in text], console
