"""Test settings: the real settings, with tasks run inline and a throwaway key.

pytest-django imports settings before any conftest runs, so the environment
defaults for tests are set here.
"""
import os
import tempfile

os.environ.setdefault("TASK_BACKEND", "immediate")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="store-monitor-media-"))

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests speak plain HTTP (the test client, the browser tests' live server),
# whatever DEBUG says: no redirect to HTTPS, no HTTPS-only cookies, no HSTS.
# tests/test_deploy.py checks the production defaults in a process of their own.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# Static files are never collected for tests: no manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# No API rate limits, but where a test sets them (override_settings: the
# throttles read these at each request).
MONITOR_THROTTLE_OWNER = MONITOR_THROTTLE_DEVICE = MONITOR_THROTTLE_AUTH_FAILURES = "none"
