"""Settings come from the environment; each case runs in a fresh interpreter."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def load_settings(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "TASK_BACKEND", "CONN_MAX_AGE"}
    }
    code = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'monitor_project.settings'\n"
        "from django.conf import settings\n"
        f"print(json.dumps({expression}, default=str))"
    )
    # ENV_FILE=/dev/null: a developer's .env must not fill in what a case leaves out.
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env={**clean, "ENV_FILE": os.devnull, **env},
        capture_output=True,
        text=True,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = load_settings({"DEBUG": "false"}, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_runs_on_a_development_key():
    result = load_settings({"DEBUG": "true"}, "settings.SECRET_KEY")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)


def test_sqlite_default_uses_wal_immediate_transactions_and_a_busy_timeout():
    result = load_settings({"SECRET_KEY": "x"}, "settings.DATABASES['default']")
    assert result.returncode == 0, result.stderr
    database = json.loads(result.stdout)
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"].endswith("db.sqlite3")
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert database["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


def test_postgres_url_gets_no_sqlite_options():
    result = load_settings(
        {"SECRET_KEY": "x", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x"}, "settings.DATABASES['default']"
    )
    assert result.returncode == 0, result.stderr
    database = json.loads(result.stdout)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert "transaction_mode" not in database.get("OPTIONS", {})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 0),
        ({"CONN_MAX_AGE": "60"}, 60),
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x?conn_max_age=30"}, 30),
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x?conn_max_age=30", "CONN_MAX_AGE": "0"}, 0),
    ],
    ids=["default: a connection per request", "from CONN_MAX_AGE", "from the URL", "CONN_MAX_AGE wins"],
)
def test_conn_max_age(env, expected):
    result = load_settings({"SECRET_KEY": "x", **env}, "settings.DATABASES['default']['CONN_MAX_AGE']")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


@pytest.mark.parametrize(
    ("name", "backend"),
    [("database", "django_tasks_db.DatabaseBackend"), ("immediate", "django_tasks.backends.immediate.ImmediateBackend")],
)
def test_task_backend_setting(name, backend):
    result = load_settings({"SECRET_KEY": "x", "TASK_BACKEND": name}, "settings.TASKS['default']['BACKEND']")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == backend


def test_unknown_task_backend_fails_loudly():
    result = load_settings({"SECRET_KEY": "x", "TASK_BACKEND": "redis"}, "settings.TASKS")
    assert result.returncode != 0
    assert "TASK_BACKEND must be one of" in result.stderr


def test_sqlite_connection_is_in_wal_mode(tmp_path):
    """On a file database, the connection really runs in WAL mode."""
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'monitor_project.settings'\n"
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode'); print(cursor.fetchone()[0])\n"
        "cursor.execute('PRAGMA busy_timeout'); print(cursor.fetchone()[0])"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL"}},
        "SECRET_KEY": "x",
        "ENV_FILE": os.devnull,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'wal.sqlite3'}",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    journal_mode, busy_timeout = result.stdout.split()
    assert journal_mode == "wal"
    assert int(busy_timeout) >= 5000


@pytest.mark.parametrize(
    ("env", "backend", "location"),
    [
        ({}, "django.core.cache.backends.locmem.LocMemCache", "store-monitor"),
        ({"CACHE_URL": "dbcache://store_monitor_cache"}, "django.core.cache.backends.db.DatabaseCache", "store_monitor_cache"),
    ],
    ids=["each process's memory by default", "shared through the database"],
)
def test_the_cache_is_set_and_configurable(env, backend, location):
    """The rate limits and failure counts live in it: several servers share
    counts by pointing CACHE_URL at one cache."""
    result = load_settings({"SECRET_KEY": "x", **env}, "settings.CACHES['default']")
    assert result.returncode == 0, result.stderr
    cache = json.loads(result.stdout)
    assert (cache["BACKEND"], cache["LOCATION"]) == (backend, location)
