import gc

from django.apps import AppConfig


class MonitorProjectConfig(AppConfig):
    """The process's own setup, once every app is ready (listed last)."""

    name = "monitor_project"
    verbose_name = "Store Monitor"

    def ready(self) -> None:
        from django_tasks_db.compat import task_enqueued

        from common.task_wakeups import task_queued_notify

        # Idle workers wake when a task is queued (PostgreSQL).
        task_enqueued.connect(task_queued_notify, dispatch_uid="task_queued_notify")
        # What exists now (Django, the apps, their modules) lives as long as the
        # process: frozen, a full collection no longer walks it. Such a
        # collection, walking it all, cost a worker's report or a web worker's
        # request tens of milliseconds.
        gc.freeze()
