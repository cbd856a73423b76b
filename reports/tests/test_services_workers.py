"""Chunked reports across real `manage.py task_worker` processes, one of them
killed mid-chunk (PostgreSQL only: the workers and the test share the test
database, so its data must be committed, and SQLite's single writer would
make the workers take turns rather than run in parallel)."""
import os
import signal
import subprocess
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from reports.models import ChunkState, Report, ReportChunk, ReportStatus
from reports.services import report_trigger, reports_sweep

from .test_services import csv_text
from .test_services_chunks import AS_OF, DATABASE_TASKS, STORE_IDS, after_lease, one_chunk_csv, stores  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 30


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (worker processes beside the test); the database is {connection.vendor}")


@pytest.fixture
def workers(task_workers) -> list[subprocess.Popen]:
    """Two task_worker processes on the test database, planning chunks of one store."""
    return task_workers(2, interval=0.05, env={"MONITOR_REPORT_CHUNK_SIZE": "1"})


def wait_until_finished(report: Report, workers: list[subprocess.Popen]) -> Report:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        report.refresh_from_db()
        if report.status != ReportStatus.RUNNING:
            return report
        assert any(worker.poll() is None for worker in workers), "every worker exited"
        time.sleep(0.02)
    pytest.fail(f"report still running after {WAIT_SECONDS} s: {report.stores_done}/{report.stores_total}")


def test_workers_compute_the_chunks_of_one_report(owner, one_chunk_csv, settings, workers):
    settings.TASKS = DATABASE_TASKS
    report = report_trigger(user=owner, as_of=AS_OF)  # autocommit: queued at once

    report = wait_until_finished(report, workers)

    assert report.status == ReportStatus.COMPLETE, report.error
    assert csv_text(report) == one_chunk_csv
    assert report.stores_done == report.stores_total == len(STORE_IDS)
    assert not ReportChunk.objects.exists()


def test_a_worker_killed_mid_chunk_leaves_it_to_the_sweep(owner, one_chunk_csv, settings, workers):
    settings.TASKS = DATABASE_TASKS
    ours = {worker.pid: worker for worker in workers}
    report = report_trigger(user=owner, as_of=AS_OF)

    victim = None
    deadline = time.monotonic() + WAIT_SECONDS
    while victim is None and time.monotonic() < deadline:
        if not ReportChunk.objects.filter(report=report, state=ChunkState.RUNNING).exists():
            time.sleep(0.001)
            continue
        # Holding the report's row lock, no chunk can be finished (nor claimed):
        # a chunk running now has a worker between its claim and its rows.
        with transaction.atomic():
            Report.objects.select_for_update().get(pk=report.pk)
            running = ReportChunk.objects.filter(report=report, state=ChunkState.RUNNING).first()
            if running is not None:
                victim = ours[int(running.worker.rsplit(":", 1)[1])]
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait(timeout=10)
    assert victim is not None, "no chunk was ever seen running"

    survivor = next(worker for worker in workers if worker is not victim)
    # The survivor does every other chunk; the dead worker's chunk waits for its lease.
    deadline = time.monotonic() + WAIT_SECONDS
    while ReportChunk.objects.filter(report=report).exclude(state=ChunkState.DONE).count() > 1:
        assert time.monotonic() < deadline, "the other chunks were not done"
        time.sleep(0.02)
    lost = ReportChunk.objects.get(report=report, state=ChunkState.RUNNING)
    assert lost.rows == "" and lost.attempts == 1
    report.refresh_from_db()
    assert report.status == ReportStatus.RUNNING

    # As `manage.py reports_sweep` (or the report's watchdog) will, once the lease is over.
    assert reports_sweep(now=after_lease(settings, timezone.now())).requeued == 1

    report = wait_until_finished(report, [survivor])
    assert report.status == ReportStatus.COMPLETE, report.error
    assert csv_text(report) == one_chunk_csv
