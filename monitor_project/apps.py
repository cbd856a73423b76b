import gc

from django.apps import AppConfig


class MonitorProjectConfig(AppConfig):
    """The process's own setup, once every app is ready (listed last)."""

    name = "monitor_project"
    verbose_name = "Store Monitor"

    def ready(self) -> None:
        # What exists now (Django, the apps, their modules) lives as long as the
        # process: frozen, a full collection no longer walks it. Such a
        # collection, walking it all, cost a worker's report or a web worker's
        # request tens of milliseconds.
        gc.freeze()
