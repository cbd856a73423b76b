"""Rate-limit settings ("600/min", or "none"), read by settings.py at start-up
and by accounts.throttling and accounts.auth_failures at each request (so
override_settings works)."""
from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

# What DRF's parse_rate understands, spelled out: it reads only the first
# letter of the period, so "10/mango" would silently be ten a minute.
RATE_PATTERN = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")
OFF = {"", "none"}


def rate_setting(name: str, value: str) -> str | None:
    """The rate a setting asks for, or None when it turns the limit off;
    ImproperlyConfigured for anything else."""
    value = value.strip()
    if value.lower() in OFF:
        return None
    if not RATE_PATTERN.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as '600/min' (a number per s, min, hour or day), or 'none'; not {value!r}."
        )
    return value


PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parts(rate: str) -> tuple[int, int]:
    """A rate rate_setting accepted, as (requests, period in seconds): "30/min" is (30, 60)."""
    count, period = rate.split("/")
    return int(count), PERIOD_SECONDS[period[0]]
