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
