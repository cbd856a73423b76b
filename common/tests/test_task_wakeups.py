"""Idle task workers woken by NOTIFY when a task is queued (common.task_wakeups),
and `manage.py task_worker`, which waits that way, against real processes."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from common import task_wakeups
from reports.figures import figures_refresh_task

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Long enough that a wait ending in it was woken, not timed out, on a loaded machine.
LONG_WAIT_SECONDS = 30
# A worker told to look at the queue this seldom finds a task within the test only if woken.
SLOW_INTERVAL_SECONDS = 600
# How long a listener that must not be woken is given to show it was not.
QUIET_SECONDS = 0.3


@pytest.fixture(autouse=True)
def needs_postgres(settings):
    if connection.vendor != "postgresql":
        pytest.skip(f"NOTIFY is PostgreSQL's; the database is {connection.vendor}")
    settings.TASKS = DATABASE_TASKS


@pytest.fixture
def listener() -> Iterator[task_wakeups.QueueListener]:
    listening = task_wakeups.QueueListener("default")
    listening.open()
    yield listening
    listening.close()


def test_a_task_queued_wakes_a_listener(listener):
    figures_refresh_task.enqueue()  # autocommit: committed at once

    assert listener.wait(LONG_WAIT_SECONDS) is True


def test_a_listener_not_woken_waits_its_time_out(listener):
    assert listener.wait(QUIET_SECONDS) is False


def test_the_wakeup_comes_with_the_commit_that_queues_the_task(listener):
    with transaction.atomic():
        figures_refresh_task.enqueue()
        # Not yet: a worker woken now would not see the task.
        assert listener.wait(QUIET_SECONDS) is False

    assert listener.wait(LONG_WAIT_SECONDS) is True


def test_a_task_queued_and_rolled_back_wakes_no_one(listener):
    with pytest.raises(RuntimeError), transaction.atomic():
        figures_refresh_task.enqueue()
        raise RuntimeError("the request failed")

    assert listener.wait(QUIET_SECONDS) is False


def test_a_task_queued_after_a_savepoint_rolled_back_wakes_a_listener(listener):
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            figures_refresh_task.enqueue()  # its wake-up goes with the savepoint
            raise RuntimeError("one step failed")
        figures_refresh_task.enqueue()

    assert DBTaskResult.objects.count() == 1
    assert listener.wait(LONG_WAIT_SECONDS) is True


def test_a_task_deferred_to_later_wakes_no_one(listener):
    figures_refresh_task.using(run_after=timezone.now() + dt.timedelta(hours=1)).enqueue()

    assert DBTaskResult.objects.count() == 1
    assert listener.wait(QUIET_SECONDS) is False


def test_tasks_queued_together_wake_one_look_at_the_queue(listener):
    with transaction.atomic():
        for _ in range(3):
            figures_refresh_task.enqueue()

    assert listener.wait(LONG_WAIT_SECONDS) is True
    assert listener.wait(QUIET_SECONDS) is False


def test_a_listener_whose_connection_broke_sleeps_then_listens_again(listener):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [listener.connection.info.backend_pid])

    assert listener.wait(QUIET_SECONDS) is False  # the broken connection: a plain sleep
    assert listener.connection is None
    assert listener.wait(QUIET_SECONDS) is False  # listening again, on a new connection
    figures_refresh_task.enqueue()
    assert listener.wait(LONG_WAIT_SECONDS) is True


# --------------------------------------------------------------------------
# manage.py task_worker
# --------------------------------------------------------------------------


@pytest.fixture
def slow_looking_worker(task_workers) -> subprocess.Popen:
    """A task_worker that looks at the queue by itself only every 10 minutes."""
    [worker] = task_workers(1, interval=SLOW_INTERVAL_SECONDS)
    return worker


def worker_listening() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s", [f"LISTEN {task_wakeups.CHANNEL}"])
        return cursor.fetchone()[0] > 0


def test_an_idle_task_worker_runs_a_task_as_soon_as_it_is_queued(slow_looking_worker):
    deadline = time.monotonic() + LONG_WAIT_SECONDS
    while not worker_listening():
        assert slow_looking_worker.poll() is None, slow_looking_worker.stderr.read().decode()
        assert time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.05)
    time.sleep(0.5)  # most likely past its first look at the queue, which found nothing: it waits

    result = figures_refresh_task.enqueue()

    while DBTaskResult.objects.get(pk=result.id).status not in ("SUCCESSFUL", "FAILED"):
        assert slow_looking_worker.poll() is None, slow_looking_worker.stderr.read().decode()
        assert time.monotonic() < deadline, f"the task still waits, {SLOW_INTERVAL_SECONDS} s before the worker's next look"
        time.sleep(0.05)
    assert DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL"


def test_a_task_worker_stops_at_once_when_told_while_it_waits(slow_looking_worker):
    deadline = time.monotonic() + LONG_WAIT_SECONDS
    while not worker_listening():
        assert time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.05)

    slow_looking_worker.terminate()

    assert slow_looking_worker.wait(timeout=LONG_WAIT_SECONDS) == 0
