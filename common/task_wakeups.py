"""Task workers woken the moment a task is queued, on PostgreSQL.

django-tasks-db's worker (`db_worker`) looks at the queue, and when it finds
nothing, sleeps --interval seconds before it looks again: each task then
waits for a worker's next look, up to the whole interval, and a report's
chunks, queued by one worker, wait for the other to wake. Here, queueing a
task sends NOTIFY on the connection that inserted it, once its transaction
has committed (when the task can be seen), and an idle
worker LISTENs on a connection of its own instead of sleeping: it looks at
the queue as soon as a task is queued, and after its interval at the
latest, as before. A notification lost (the listening connection broken)
costs latency, never a task. On SQLite, nothing is sent and the worker
sleeps as django-tasks-db's does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from types import ModuleType
from typing import Any

import psycopg
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

CHANNEL = "store_monitor_tasks"


def task_queued_notify(sender: type, task_result: Any, **kwargs: Any) -> None:
    """task_enqueued's receiver: tell idle workers that a task can run now
    (not one deferred to later: it would only wake them for nothing). Inside
    a transaction, once, when it commits: a report's planning queues its
    chunks together, and the workers need one wake-up for them, not a
    statement each."""
    if not issubclass(sender, DatabaseBackend):
        return
    run_after = task_result.task.run_after
    if run_after is not None and run_after > timezone.now():
        return
    connection = connections[router.db_for_write(DBTaskResult)]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        _notify(connection)
    elif not any(getattr(hook, "func", None) is _notify for _, hook, _ in connection.run_on_commit):
        connection.on_commit(partial(_notify, connection))


def _notify(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


class QueueListener:
    """A connection of its own, LISTENing for queued tasks from its opening on
    (so a task queued while the worker runs another wakes the next wait)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.connection: psycopg.Connection | None = None

    def open(self) -> None:
        params = connections[self.alias].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.connection = psycopg.connect(**params, autocommit=True)
        self.connection.execute(f"LISTEN {CHANNEL}")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def wait(self, seconds: float) -> bool:
        """Return when a task is queued (True), or after `seconds` (False)."""
        try:
            if self.connection is None or self.connection.closed:
                self.open()
            assert self.connection is not None
            woken = False
            for _ in self.connection.notifies(timeout=seconds, stop_after=1):
                woken = True
            # Notifications that came together need one look at the queue, not one each.
            for _ in self.connection.notifies(timeout=0):
                pass
            return woken
        except psycopg.Error as exc:
            # The database away: sleep as the worker would, and listen again next time.
            logger.warning("Listening for queued tasks failed (%s); sleeping %s s instead", exc, seconds)
            self.close()
            time.sleep(seconds)
            return False


class _Clock:
    """Stands in for the `time` module inside a module that waits with
    time.sleep(): its sleep is `wait`, the rest is time's."""

    def __init__(self, wait: Callable[[float], object]) -> None:
        self.sleep = wait

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def woken_when_queued(worker_module: ModuleType) -> Iterator[None]:
    """Within it, the idle waits of `worker_module` (django-tasks-db's
    db_worker, whose loop sleeps with time.sleep(interval) when the queue is
    empty) end when a task is queued. On SQLite it changes nothing."""
    alias = router.db_for_write(DBTaskResult)
    if connections[alias].vendor != "postgresql":
        yield
        return
    listener = QueueListener(alias)
    try:
        listener.open()
    except psycopg.Error as exc:
        logger.warning("Listening for queued tasks failed (%s); the worker polls the queue", exc)
    original = worker_module.time
    worker_module.time = _Clock(listener.wait)
    try:
        yield
    finally:
        worker_module.time = original
        listener.close()
