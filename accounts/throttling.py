"""API rate limits: one per user (token or session), one per device key.

The rates are read from the settings on every request (MONITOR_THROTTLE_OWNER,
MONITOR_THROTTLE_DEVICE: "600/min", "10/s", "5000/hour", "none"), not from
DRF's THROTTLE_RATES, which DRF reads once at import: so override_settings
works in tests, and "" or "none" turns a limit off.

A throttled request gets 429 with a Retry-After header (seconds) and the
JSON error body {"code": "throttled", "message": ...}.

The history of each principal's requests is kept in Django's default cache.
That cache is in-process memory unless CACHE_URL names a shared one, so
each gunicorn worker counts on its own: with N workers a client may get up
to N times the rate. That is accepted on one machine; a shared cache (the
database's, or Redis) makes the limit exact across workers and machines. The check is read-then-write, not atomic: requests
arriving at the same instant may pass a few over the limit.
"""
from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import SimpleRateThrottle

from common.rates import rate_setting

from .authentication import Device

class _SettingRateThrottle(SimpleRateThrottle):
    setting_name: str

    def get_rate(self) -> str | None:
        return rate_setting(self.setting_name, getattr(settings, self.setting_name))


class OwnerRateThrottle(_SettingRateThrottle):
    """Requests of one user, whichever token or session they come with."""

    scope = "owner"
    setting_name = "MONITOR_THROTTLE_OWNER"

    def get_cache_key(self, request, view) -> str | None:
        user = request.user
        if isinstance(user, Device) or not (user and user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


class DeviceRateThrottle(_SettingRateThrottle):
    """Requests made with one store's device key."""

    scope = "device"
    setting_name = "MONITOR_THROTTLE_DEVICE"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.user, Device):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.store.pk}


def owner_throttle_wait(request: HttpRequest) -> int | None:
    """The API's per-user limit for a page's action (asking for a report,
    refreshing the figures): None when the request may go on, else the
    seconds to wait. Counted together with the user's API requests: one
    budget per user, whichever door the requests come through."""
    throttle = OwnerRateThrottle()
    if throttle.allow_request(request, None):
        return None
    return max(1, math.ceil(throttle.wait() or 1))
