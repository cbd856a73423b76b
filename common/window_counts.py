"""Counts that live for a fixed window from their first event, in Django's
default cache: the failed-login and failed-credential limits count with it.

Per process unless CACHE_URL names a shared cache. Read-then-write, not
atomic across keys: events at the same instant may count a little late.
"""
from __future__ import annotations

import time

from django.core.cache import cache


def window_count(key: str, *, period: int) -> int:
    """Add one to the count at `key`, which lives for `period` seconds from
    its first event (`window_started(key)` says when that was); returns the
    new count."""
    if cache.add(key, 0, timeout=period):
        cache.set(f"{key}:started", time.time(), timeout=period)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr(): a new window
        cache.set(f"{key}:started", time.time(), timeout=period)
        cache.set(key, 1, timeout=period)
        return 1


def window_started(key: str) -> float | None:
    """When the count at `key` began (time.time()), or None when there is none."""
    return cache.get(f"{key}:started")
