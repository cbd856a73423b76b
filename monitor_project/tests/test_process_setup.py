import gc

from django.apps import apps
from django.conf import settings


def test_the_process_setup_runs_once_every_app_is_ready():
    # Listed last, so its ready() sees every other app's modules loaded.
    assert settings.INSTALLED_APPS[-1] == "monitor_project"
    assert apps.get_app_config("monitor_project").ready.__module__ == "monitor_project.apps"


def test_objects_alive_at_startup_are_frozen_out_of_full_collections():
    # Django's own objects, from before any test ran, sit in the permanent generation.
    assert gc.get_freeze_count() > 10_000
