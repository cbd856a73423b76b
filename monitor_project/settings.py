"""Settings for Store Monitor, read from the environment (and an optional .env file)."""
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Values already in the environment win over the file's.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))

DEBUG = env.bool("DEBUG", default=False)
# Development may run on a throwaway key; production must set its own.
_DEV_SECRET_KEY = "dev-insecure-store-monitor-key"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_tasks",
    "django_tasks_db",
    "stores",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "monitor_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "monitor_project.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Seconds a database connection is kept for the next requests. 0 (Django's
# default) connects per request, which on PostgreSQL forks a server process
# each time: a web server under load should keep them (e.g. 60).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=DATABASES["default"].get("CONN_MAX_AGE", 0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task worker write at the same time: WAL lets readers
    # go on during a write, IMMEDIATE takes the write lock at BEGIN (so a
    # transaction never fails to upgrade a read lock), and the timeout makes a
    # writer wait for the other instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Device keys and tokens are shown once in messages: keep them server-side,
# not in a (signed but readable) cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Pages for people share the admin's login, look and logout.
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "dashboard"

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "stores.authentication.StoreKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["stores.permissions.IsAccountUser"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "monitor_project.errors.json_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
TASK_BACKEND = env.str("TASK_BACKEND", default="database")
if TASK_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"TASK_BACKEND must be one of {sorted(_TASK_BACKENDS)}, not {TASK_BACKEND!r}.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASK_BACKEND], "QUEUES": ["default"]}}

# A poll vouches for the store's state for this long; after it, the store is
# down (no signal). Spans are cut at gaps this long, so changing it applies to
# spans written from then on.
MONITOR_STALE_AFTER_MINUTES = env.int("MONITOR_STALE_AFTER_MINUTES", default=120)
if MONITOR_STALE_AFTER_MINUTES <= 0:
    raise ImproperlyConfigured("MONITOR_STALE_AFTER_MINUTES must be a positive number of minutes.")
MONITOR_SPAN_RETENTION_DAYS = env.int("MONITOR_SPAN_RETENTION_DAYS", default=90)
# The dashboard's figures are recomputed in the background when older than this.
MONITOR_DASHBOARD_REFRESH_MINUTES = env.int("MONITOR_DASHBOARD_REFRESH_MINUTES", default=10)
# A poll stamped further ahead than this is refused: device clocks drift, but not by hours.
MONITOR_MAX_CLOCK_SKEW_SECONDS = 300
MONITOR_MAX_POLL_BATCH = 10_000
# A report is computed in chunks of this many stores, one task each, so
# several `db_worker` processes (on one or more machines) share it.
MONITOR_REPORT_CHUNK_SIZE = env.int("MONITOR_REPORT_CHUNK_SIZE", default=2000)
# A worker holds a chunk for this long; a chunk still unfinished after it is
# taken for lost (its worker died) and queued again, at most
# MONITOR_REPORT_CHUNK_MAX_ATTEMPTS times in all. A chunk of 2,000 stores
# takes well under a second.
MONITOR_REPORT_CHUNK_LEASE_SECONDS = env.int("MONITOR_REPORT_CHUNK_LEASE_SECONDS", default=60)
MONITOR_REPORT_CHUNK_MAX_ATTEMPTS = env.int("MONITOR_REPORT_CHUNK_MAX_ATTEMPTS", default=3)
for _name in ("MONITOR_REPORT_CHUNK_SIZE", "MONITOR_REPORT_CHUNK_LEASE_SECONDS", "MONITOR_REPORT_CHUNK_MAX_ATTEMPTS"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be a positive number.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
