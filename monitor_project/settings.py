"""Settings for Store Monitor, read from the environment (and an optional .env file)."""
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from common.rates import rate_setting

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
    "drf_spectacular",  # the OpenAPI schema (/api/schema/) and its Swagger UI (/api/docs/)
    "drf_spectacular_sidecar",  # the Swagger UI's files, served as static files instead of from a CDN
    "django_tasks",
    "django_tasks_db",
    # The history of closures and business hours (who, when, before and after), in the admin.
    "simple_history",
    # The apps, lowest layer first (docs/architecture.md).
    "accounts",
    "stores",
    "reports",
    "alerts",
    # Last: its ready() runs once every app above is ready.
    "monitor_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files, before anything else reads the request (WhiteNoise's documented place).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy on every answer but the static files (CONTENT_SECURITY_POLICY below).
    "monitor_project.middleware.ContentSecurityPolicyMiddleware",
    # API faults as JSON (503 database_unavailable, 500 server_error), before
    # CommonMiddleware: docs/errors.md.
    "monitor_project.middleware.ApiErrorMiddleware",
    # Control characters in the pages' paths and query strings: 404 and 400, before any view.
    "monitor_project.middleware.PageParameterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The user behind each history row (simple_history); an API token's user once DRF has authenticated it.
    "simple_history.middleware.HistoryRequestMiddleware",
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
                # The page header's organizations and roles (monitor/base.html).
                "accounts.context_processors.member_roles",
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

# The cache keeps the API rate limits, the failed login and credential
# counts, and a flag against re-planning a report twice. By default each
# process's own memory (a limit is then counted per gunicorn worker); servers
# that share one cache count exactly: CACHE_URL=dbcache://store_monitor_cache
# (after `manage.py createcachetable`, nothing new to run), or
# redis://host:6379/0 (with the redis package installed).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://store-monitor")}

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

# Failed logins (accounts/login_limit.py): after MONITOR_LOGIN_MAX_FAILURES for
# one username, or MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS from one address,
# within MONITOR_LOGIN_LOCKOUT_MINUTES, its logins are refused for that long.
# 0 turns a limit off. The first backend does the refusing.
MONITOR_LOGIN_MAX_FAILURES = env.int("MONITOR_LOGIN_MAX_FAILURES", default=5)
MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS = env.int("MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS", default=20)
MONITOR_LOGIN_LOCKOUT_MINUTES = env.int("MONITOR_LOGIN_LOCKOUT_MINUTES", default=15)
if MONITOR_LOGIN_LOCKOUT_MINUTES <= 0 or min(MONITOR_LOGIN_MAX_FAILURES, MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS) < 0:
    raise ImproperlyConfigured("MONITOR_LOGIN_LOCKOUT_MINUTES must be positive and the MONITOR_LOGIN_MAX_* not negative.")
AUTHENTICATION_BACKENDS = [
    "accounts.login_limit.LoginLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Static files are served by WhiteNoise (MIDDLEWARE) from STATIC_ROOT, filled
# by `manage.py collectstatic`. With STATIC_MANIFEST (the default when DEBUG
# is off) collectstatic gives each file a name with a hash of its content and
# gzip copies, so browsers may cache them for ever; pages then need the
# manifest collectstatic writes. Tests and benchmarks, which never collect,
# turn it off.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# HTTPS, secure by default when DEBUG is off: HTTP redirects to HTTPS, the
# session and CSRF cookies are sent over HTTPS only, and browsers are told to
# use HTTPS only for a year, subdomains included (HSTS, with the preload
# flag). Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER names the
# header it sets to "https" (e.g. X-Forwarded-Proto; the proxy must overwrite
# it on every request), or every request looks like HTTP and is redirected
# for ever. README, "Production".
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
_PROXY_SSL_HEADER = env.str("SECURE_PROXY_SSL_HEADER", default="").strip()
if _PROXY_SSL_HEADER and not _PROXY_SSL_HEADER.replace("-", "").isalnum():
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is a header name, such as X-Forwarded-Proto.")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
# Behind a proxy: the Host it received (X-Forwarded-Host), and the client's
# address for the login limits (the last X-Forwarded-For entry).
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
USE_X_FORWARDED_FOR = env.bool("USE_X_FORWARDED_FOR", default=False)
# Content-Security-Policy (django-csp): the pages, the admin and Swagger UI
# load scripts, styles, images and fonts from this site only, and run no
# inline script or style unless it carries the response's nonce (none of ours
# does; request.csp_nonce is there for a template that would need one). No
# plugins, no framing, forms post here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # Swagger UI draws some of its icons as data: images.
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Token <key>`, checked against hashed keys (accounts.ApiToken).
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "stores.device_keys.StoreKeyAuthentication",
    ],
    # A user (not a device key); a read-only token for reads only.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsAccountUser", "accounts.permissions.TokenAllowsMethod"],
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],
    # JSON only: DRF's browsable API pages need inline styles and scripts,
    # which the Content-Security-Policy refuses; Swagger UI (/api/docs/) is
    # the API's page for people.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "common.errors.json_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per user and per device key, at MONITOR_THROTTLE_OWNER / _DEVICE.
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.OwnerRateThrottle", "accounts.throttling.DeviceRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema, generated from the views (and their @extend_schema
# notes in stores/openapi.py and reports/openapi.py); CI fuzzes the API
# against it with schemathesis (.ci/run).
SPECTACULAR_SETTINGS = {
    "TITLE": "Store Monitor API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Register stores with their time zone and business hours, post their devices' polls, and get CSV "
        "reports of uptime and downtime inside business hours over the last hour, day and week.\n\n"
        "Every request needs credentials: a user's token (`Authorization: Token <key>`), a logged-in "
        "session, or, for posting polls only, the store's device key (`X-Store-Key: <key>`). "
        'Every error is JSON: `{"code", "message", "errors"}` (`errors`, per field, for invalid input).'
    ),
    # /api/schema/ and /api/docs/ are public (drf-spectacular's default); every
    # operation they list needs credentials. They are not in the schema themselves.
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Request and response components apart, so read-only fields are not asked for in bodies.
    "COMPONENT_SPLIT_REQUEST": True,
    # Several choice sets have fields named "status": name their enums.
    "ENUM_NAME_OVERRIDES": {
        "PollStatusEnum": "stores.models.PollStatus",
        "ReportStatusEnum": "reports.models.ReportStatus",
        "ReportRunningEnum": ["Running"],
        "ReportFailedEnum": ["Failed"],
    },
}

# API rate limits (accounts/throttling.py), read at each request: requests per
# user (token or session) and per store device key, as "600/min", "10/s",
# "5000/hour"; "" or "none" turns one off. Over it: 429 with Retry-After.
# Counted in the cache (CACHE_URL above; see accounts/throttling.py).
MONITOR_THROTTLE_OWNER = env.str("MONITOR_THROTTLE_OWNER", default="600/min")
MONITOR_THROTTLE_DEVICE = env.str("MONITOR_THROTTLE_DEVICE", default="120/min")
# Wrong API tokens and device keys per client address (accounts/auth_failures.py):
# past it, the address's credentials are not checked (429) until the period is over.
MONITOR_THROTTLE_AUTH_FAILURES = env.str("MONITOR_THROTTLE_AUTH_FAILURES", default="30/min")
for _name in ("MONITOR_THROTTLE_OWNER", "MONITOR_THROTTLE_DEVICE", "MONITOR_THROTTLE_AUTH_FAILURES"):
    rate_setting(_name, globals()[_name])  # a bad rate stops start-up

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
# Incidents (docs/semantics.md, section 8): a store in trouble this long opens one; more
# than FLAP_LIMIT within an hour is flapping. monitor_alerts evaluates every EVERY seconds.
MONITOR_ALERT_GRACE_MINUTES = env.int("MONITOR_ALERT_GRACE_MINUTES", default=10)
MONITOR_ALERT_FLAP_LIMIT = env.int("MONITOR_ALERT_FLAP_LIMIT", default=4)
MONITOR_ALERT_EVERY_SECONDS = env.int("MONITOR_ALERT_EVERY_SECONDS", default=30)
if MONITOR_ALERT_GRACE_MINUTES < 0 or MONITOR_ALERT_FLAP_LIMIT < 1 or MONITOR_ALERT_EVERY_SECONDS < 1:
    raise ImproperlyConfigured(
        "MONITOR_ALERT_GRACE_MINUTES must be 0 or more, MONITOR_ALERT_FLAP_LIMIT and MONITOR_ALERT_EVERY_SECONDS 1 or more."
    )
# Notifications (alerts.notifications). Reminders of an open, unacknowledged
# incident every REMIND minutes inside business hours (0: none). Webhook and
# Apprise URLs that resolve to loopback, private or link-local addresses are
# refused (server-side request forgery) unless ALLOW_PRIVATE. SITE_URL starts
# the links to store pages in emails and Apprise messages.
MONITOR_ALERT_REMIND_MINUTES = env.int("MONITOR_ALERT_REMIND_MINUTES", default=60)
if MONITOR_ALERT_REMIND_MINUTES < 0:
    raise ImproperlyConfigured("MONITOR_ALERT_REMIND_MINUTES must be 0 (no reminders) or a positive number of minutes.")
MONITOR_WEBHOOK_ALLOW_PRIVATE = env.bool("MONITOR_WEBHOOK_ALLOW_PRIVATE", default=False)
MONITOR_SITE_URL = env.str("MONITOR_SITE_URL", default="http://127.0.0.1:8000")
# Seconds one webhook, email or Apprise attempt may take.
MONITOR_NOTIFY_TIMEOUT_SECONDS = env.int("MONITOR_NOTIFY_TIMEOUT_SECONDS", default=10)
# Email through Django's backend, from EMAIL_URL (django-environ): consolemail:// prints
# them (development), smtp+tls://user:password@host:587 sends them (production).
globals().update(
    {name: value for name, value in env.email_url("EMAIL_URL", default="consolemail://").items() if value not in (None, "")}
)
EMAIL_TIMEOUT = MONITOR_NOTIFY_TIMEOUT_SECONDS
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Store Monitor <store-monitor@localhost>")
# The dashboard's figures are recomputed in the background when older than this.
MONITOR_DASHBOARD_REFRESH_MINUTES = env.int("MONITOR_DASHBOARD_REFRESH_MINUTES", default=10)
# A poll stamped further ahead than this is refused: device clocks drift, but not by hours.
MONITOR_MAX_CLOCK_SKEW_SECONDS = 300
MONITOR_MAX_POLL_BATCH = 10_000
# A request body larger than this is refused with 413 body_too_large. A batch
# of 10,000 polls with 64-character ids takes 1.5 MB (1.9 MB indented, 2.6 MB
# with ids of 64 non-ASCII characters): 4 MiB admits any of them.
MONITOR_MAX_BODY_BYTES = env.int("MONITOR_MAX_BODY_BYTES", default=4 * 1024 * 1024)
if MONITOR_MAX_BODY_BYTES <= 0:
    raise ImproperlyConfigured("MONITOR_MAX_BODY_BYTES must be a positive number of bytes.")
DATA_UPLOAD_MAX_MEMORY_SIZE = MONITOR_MAX_BODY_BYTES
# A report is computed in chunks of this many stores, one task each, so
# several `task_worker` processes (on one or more machines) share it. Each
# chunk costs some fixed work (its task, claim and save, its reads' own
# overhead): fewer, larger chunks cost less, up to about this size
# (docs/scaling.md has the figures against 2,000 and 8,000).
MONITOR_REPORT_CHUNK_SIZE = env.int("MONITOR_REPORT_CHUNK_SIZE", default=4000)
# A worker holds a chunk for this long; a chunk still unfinished after it is
# taken for lost (its worker died) and queued again, at most
# MONITOR_REPORT_CHUNK_MAX_ATTEMPTS times in all. A chunk takes a small
# fraction of it (bench/RESULTS.md).
MONITOR_REPORT_CHUNK_LEASE_SECONDS = env.int("MONITOR_REPORT_CHUNK_LEASE_SECONDS", default=60)
MONITOR_REPORT_CHUNK_MAX_ATTEMPTS = env.int("MONITOR_REPORT_CHUNK_MAX_ATTEMPTS", default=3)
# Reports one user may have running at once; the next request is refused
# (429 too_many_reports) until one finishes. 0 turns the limit off.
MONITOR_MAX_RUNNING_REPORTS = env.int("MONITOR_MAX_RUNNING_REPORTS", default=3)
if MONITOR_MAX_RUNNING_REPORTS < 0:
    raise ImproperlyConfigured("MONITOR_MAX_RUNNING_REPORTS must be 0 (no limit) or a positive number.")
for _name in ("MONITOR_REPORT_CHUNK_SIZE", "MONITOR_REPORT_CHUNK_LEASE_SECONDS", "MONITOR_REPORT_CHUNK_MAX_ATTEMPTS"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be a positive number.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
