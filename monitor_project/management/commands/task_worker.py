"""manage.py task_worker: django-tasks-db's db_worker (the same options),
which on PostgreSQL also wakes the moment a task is queued instead of at its
next look at the queue (common.task_wakeups)."""

from typing import Any

from django_tasks_db.management.commands import db_worker

from common import task_wakeups


class Command(db_worker.Command):
    help = (
        "Run the background tasks (reports, dashboard figures, notifications): django-tasks-db's db_worker, "
        "woken as soon as a task is queued on PostgreSQL; --interval is then the longest wait between looks at the queue"
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with task_wakeups.woken_when_queued(db_worker):
            super().handle(*args, **options)
