"""Failed API credentials, limited per client address.

A wrong token or device key costs the server a hash and a lookup, and a
line in the log: past MONITOR_THROTTLE_AUTH_FAILURES ("30/min") failures
from one address, every request from it that carries credentials is
answered 429 (with Retry-After) without checking them, until the period
that began with its first failure is over. Requests whose credentials are
right are never counted, so devices behind one address that post with
their own keys are not held back by each other; only failures are.

Counted in Django's default cache, like the login limits
(accounts.login_limit): per process unless CACHE_URL names a shared cache.
"""
from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from common.rates import rate_parts, rate_setting
from common.window_counts import window_count, window_started

from .login_limit import client_address

SETTING = "MONITOR_THROTTLE_AUTH_FAILURES"


def _subject(request: HttpRequest) -> tuple[str, int, int] | None:
    """(cache key stem, failures allowed, period in seconds), or None when off or the address is unknown."""
    rate = rate_setting(SETTING, getattr(settings, SETTING))
    address = client_address(request)
    if rate is None or address is None:
        return None
    allowed, period = rate_parts(rate)
    return f"auth-failures:{hashlib.sha256(address.encode()).hexdigest()[:32]}", allowed, period


def auth_failure_wait(request: HttpRequest) -> int | None:
    """Seconds until this address's credentials are checked again; None when they are checked now."""
    subject = _subject(request)
    if subject is None:
        return None
    stem, allowed, period = subject
    failures = cache.get(f"{stem}:failures")
    if failures is None or failures < allowed:
        return None  # every request with credentials asks: the start is read only past the limit
    started = window_started(f"{stem}:failures")
    if started is None:
        return None
    remaining = started + period - time.time()
    return math.ceil(remaining) if remaining > 0 else None


def auth_failure_record(request: HttpRequest) -> None:
    subject = _subject(request)
    if subject is None:
        return
    stem, _allowed, period = subject
    # The count lives for one period from the first failure.
    window_count(f"{stem}:failures", period=period)

