"""manage.py task_worker: django-tasks-db's db_worker (the same options),
which on PostgreSQL also wakes the moment a task is queued instead of at its
next look at the queue (common.task_wakeups)."""

import gc
import importlib
import signal
import sys
from types import FrameType
from typing import Any

from django_tasks_db.management.commands import db_worker

from common import task_wakeups

# The modules defining the project's tasks. django-tasks imports a task's
# module when it first runs one of its tasks: imported here, before the
# worker looks at the queue, a worker's first report chunk or planning does
# not wait for them (numpy aside, which the apps load, about 7 ms).
TASK_MODULES = ("reports.services", "reports.figures", "alerts.notifications")


class Command(db_worker.Command):
    help = (
        "Run the background tasks (reports, dashboard figures, notifications): django-tasks-db's db_worker, "
        "woken as soon as a task is queued on PostgreSQL; --interval is then the longest wait between looks at the queue"
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Told to stop before django-tasks-db's worker takes the signals over
        # (it does once it is built, after the listening connection opens):
        # stop cleanly, as it does when idle, not killed mid-import.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _stop_while_starting)
        for name in TASK_MODULES:
            importlib.import_module(name)
        # Like the apps' modules (monitor_project.apps), out of full collections.
        gc.freeze()
        with task_wakeups.woken_when_queued(db_worker):
            super().handle(*args, **options)


def _stop_while_starting(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
