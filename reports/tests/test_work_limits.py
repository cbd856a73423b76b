"""Bounded work per user (finding 4 of issue 9): at most
MONITOR_MAX_RUNNING_REPORTS reports running per user, the pages' actions
under the API's per-user rate limit, and one figures refresh queued at a time
for every process together."""
from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import token_client
from reports import figures
from reports import services as report_services
from reports.figures import figures_refresh, figures_refresh_queue
from reports.models import FiguresRefresh, Report, ReportStatus, StoreFigures
from reports.services import TooManyRunningReports, report_trigger
from stores.tests.factories import StoreFactory

UTC = dt.timezone.utc


@pytest.fixture
def queued(monkeypatch) -> list[str]:
    """Figures refreshes queued (the task's enqueue, counted instead of run)."""
    calls: list[str] = []
    monkeypatch.setattr(figures, "figures_refresh_task", SimpleNamespace(enqueue=lambda *args, **kwargs: calls.append("refresh")))
    return calls


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --------------------------------------------------------------------------
# Reports running per user
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_may_have_three_reports_running_and_the_next_is_429(owner, other_owner):
    """300 triggers in a second were all 202 before, 1,000 reports running."""
    api = token_client(owner)
    answers = [api.post("/trigger_report", {}, format="json") for _ in range(10)]

    assert [answer.status_code for answer in answers] == [202] * 3 + [429] * 7
    refused = answers[3]
    assert refused["Retry-After"] == "5"
    assert refused.json() == {
        "code": "too_many_reports",
        "message": (
            "You have 3 reports running, the most at once (MONITOR_MAX_RUNNING_REPORTS); "
            "ask for another when one of them has finished."
        ),
    }
    assert Report.objects.filter(requested_by=owner, status=ReportStatus.RUNNING).count() == 3
    # Another user has places of their own.
    assert token_client(other_owner).post("/api/reports/", {}, format="json").status_code == 202


@pytest.mark.django_db
def test_finished_reports_free_their_place(owner):
    for status in (ReportStatus.RUNNING, ReportStatus.RUNNING, ReportStatus.COMPLETE, ReportStatus.FAILED):
        Report.objects.create(requested_by=owner, as_of=timezone.now(), status=status)
    report_trigger(user=owner)
    with pytest.raises(TooManyRunningReports):
        report_trigger(user=owner)
    Report.objects.filter(requested_by=owner, status=ReportStatus.RUNNING).update(status=ReportStatus.COMPLETE)
    assert report_trigger(user=owner).status == ReportStatus.RUNNING


@pytest.mark.django_db
def test_reports_that_finish_at_once_never_reach_the_limit(owner, django_capture_on_commit_callbacks):
    api = token_client(owner)
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post("/trigger_report", {}, format="json").status_code == 202
    assert Report.objects.filter(status=ReportStatus.COMPLETE).count() == 5


@pytest.mark.django_db
def test_a_limit_of_0_is_no_limit(owner, settings):
    settings.MONITOR_MAX_RUNNING_REPORTS = 0
    for _ in range(5):
        report_trigger(user=owner)
    assert Report.objects.filter(status=ReportStatus.RUNNING).count() == 5


@pytest.mark.django_db
def test_the_report_page_says_so_with_429(owner):
    client = logged_in(owner)
    for _ in range(3):
        assert client.post(reverse("report_pages:create"), {"as_of": ""}).status_code == 302
    response = client.post(reverse("report_pages:create"), {"as_of": ""})

    assert response.status_code == 429
    assert response["Retry-After"] == "5"
    assert "You have 3 reports running, the most at once" in response.content.decode()
    assert Report.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_requests_at_the_same_instant_cannot_pass_the_limit_together(owner, monkeypatch):
    """Eight triggers at once, each on its own connection, with no report
    running: three get a place. The user's row is locked while counting."""
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (concurrent writers); the database is {connection.vendor}")
    monkeypatch.setattr(report_services, "_queue_generation", lambda report_id: None)  # they stay running
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def trigger() -> None:
        try:
            barrier.wait(timeout=30)
            report_trigger(user=owner)
            outcomes.append("created")
        except TooManyRunningReports:
            outcomes.append("refused")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 5
    assert Report.objects.filter(requested_by=owner, status=ReportStatus.RUNNING).count() == 3


# --------------------------------------------------------------------------
# The pages' actions under the API's per-user limit
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["report_pages:create", "dashboard_refresh"])
def test_page_actions_count_against_the_users_api_limit(owner, settings, queued, page):
    settings.MONITOR_THROTTLE_OWNER = "3/min"
    settings.MONITOR_MAX_RUNNING_REPORTS = 0
    api = token_client(owner)
    client = logged_in(owner)
    assert api.get("/api/stores/").status_code == 200
    assert api.get("/api/stores/").status_code == 200
    assert client.post(reverse(page), {"as_of": ""}).status_code == 302

    response = client.post(reverse(page), {"as_of": ""})

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "more requests than your limit allows" in response.content.decode()
    assert api.get("/api/stores/").status_code == 429  # one budget, whichever door


@pytest.mark.django_db
def test_page_actions_are_not_limited_when_the_limit_is_off(owner, queued):
    client = logged_in(owner)
    for _ in range(20):
        assert client.post(reverse("dashboard_refresh")).status_code == 302


# --------------------------------------------------------------------------
# One figures refresh at a time, for every process
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_many_refresh_requests_queue_one_refresh(owner, queued, django_capture_on_commit_callbacks):
    """300 presses of Refresh queued 300 recomputations of every store before."""
    StoreFactory(owner=owner)
    client = logged_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        answers = [client.post(reverse("dashboard_refresh")) for _ in range(300)]

    assert {answer.status_code for answer in answers} == {302}
    assert queued == ["refresh"]
    assert FiguresRefresh.objects.get().forced


@pytest.mark.django_db
def test_stale_figures_queue_one_refresh_whichever_process_serves_the_page(
    owner, queued, django_capture_on_commit_callbacks
):
    StoreFactory(owner=owner)
    client = logged_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            cache.clear()  # no per-process flag to lean on: another process's view
            assert client.get(reverse("dashboard")).status_code == 200
    assert queued == ["refresh"]

    # Once the refresh has run, a later stale view queues another.
    figures_refresh(as_of=dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert FiguresRefresh.objects.get().queued_at is None
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("dashboard"))
    assert queued == ["refresh", "refresh"]


@pytest.mark.django_db
def test_a_refresh_queued_longer_than_the_refresh_period_is_taken_for_lost(queued, settings):
    settings.MONITOR_DASHBOARD_REFRESH_MINUTES = 10
    now = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)
    assert figures_refresh_queue(now=now)
    assert not figures_refresh_queue(now=now + dt.timedelta(minutes=10))
    assert figures_refresh_queue(now=now + dt.timedelta(minutes=10, seconds=1))


@pytest.mark.django_db
def test_a_forced_refresh_runs_even_when_the_figures_are_fresh(owner):
    StoreFactory(owner=owner, store_id="s1")
    as_of = timezone.now()
    assert figures_refresh(as_of=as_of - dt.timedelta(minutes=1)) == 1
    # The background refresh skips fresh figures...
    assert figures.figures_refresh_task.call() == 0
    # ...unless someone pressed Refresh while it was queued.
    figures_refresh_queue(now=as_of)
    figures_refresh_queue(now=as_of, force=True)
    assert FiguresRefresh.objects.get().forced
    assert figures.figures_refresh_task.call() == 1
    assert StoreFigures.objects.get().as_of > as_of - dt.timedelta(minutes=1)
    assert FiguresRefresh.objects.get().queued_at is None


@pytest.mark.django_db
def test_a_page_action_over_the_limit_says_when_the_next_is_allowed(owner, settings, queued):
    import time_machine

    settings.MONITOR_THROTTLE_OWNER = "3/min"
    client = logged_in(owner)
    with time_machine.travel("2024-01-10 12:00:00Z", tick=False) as clock:
        for _ in range(3):
            assert client.post(reverse("dashboard_refresh")).status_code == 302
        assert client.post(reverse("dashboard_refresh"))["Retry-After"] == "60"
        clock.shift(59.5)
        assert client.post(reverse("dashboard_refresh"))["Retry-After"] == "1"
        clock.shift(0.5)
        assert client.post(reverse("dashboard_refresh")).status_code == 302


@pytest.mark.django_db
def test_a_stale_page_view_queues_a_refresh_that_may_skip_fresh_figures(owner, queued, django_capture_on_commit_callbacks):
    StoreFactory(owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        assert logged_in(owner).get(reverse("dashboard")).status_code == 200
    assert queued == ["refresh"]
    assert not FiguresRefresh.objects.get().forced  # only "Refresh" forces one


@pytest.mark.django_db
def test_figures_refresh_called_directly_always_computes(owner):
    StoreFactory(owner=owner, store_id="s1")
    as_of = timezone.now()
    assert figures_refresh(as_of=as_of) == 1
    assert figures_refresh(as_of=as_of) == 1


@pytest.mark.django_db
def test_the_background_refresh_computes_figures_never_computed(owner):
    StoreFactory(owner=owner, store_id="s1")
    assert not StoreFigures.objects.exists()
    assert figures.figures_refresh_task.call() == 1
    assert StoreFigures.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "computed"),
    [(dt.timedelta(minutes=4), 0), (dt.timedelta(minutes=5), 0), (dt.timedelta(minutes=5, microseconds=1), 1)],
    ids=["0.4 of the period", "exactly half", "just over half"],
)
def test_the_background_refresh_skips_figures_younger_than_half_the_period(owner, settings, age, computed):
    settings.MONITOR_DASHBOARD_REFRESH_MINUTES = 10
    StoreFactory(owner=owner, store_id="s1")
    now = dt.datetime(2024, 1, 10, 12, tzinfo=UTC)
    figures_refresh(as_of=now - age)
    assert figures_refresh(as_of=now, skip_if_fresh=True) == computed


@pytest.mark.django_db
def test_a_forced_refresh_is_forced_once(owner):
    StoreFactory(owner=owner, store_id="s1")
    figures_refresh(as_of=timezone.now())
    figures_refresh_queue(now=timezone.now(), force=True)
    assert figures.figures_refresh_task.call() == 1
    assert FiguresRefresh.objects.get().forced is False
    # The next background refresh finds fresh figures again, and skips.
    assert figures.figures_refresh_task.call() == 0
