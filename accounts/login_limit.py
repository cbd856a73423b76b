"""Failed password logins, limited per username and per client address.

After MONITOR_LOGIN_MAX_FAILURES failed logins for one username, or
MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS from one address, within
MONITOR_LOGIN_LOCKOUT_MINUTES, every login for that username (or from that
address) is refused for MONITOR_LOGIN_LOCKOUT_MINUTES, right password or not:
checking it would tell a guesser when they had found it. A successful login
clears its username's count.

Three pieces:

- `user_login_failed` and `user_logged_in` (Django's signals, sent by
  `authenticate()` and `login()` whatever the login page) count and clear;
- LoginLimitBackend, first in AUTHENTICATION_BACKENDS, refuses a locked
  username or address for every login path (the admin's page, any
  code calling authenticate()), before any password is
  checked;
- LimitedAdminAuthenticationForm, the admin's login form (the pages'
  LOGIN_URL), says why instead of "wrong password".

Counts live in Django's default cache: per process unless CACHE_URL names a
shared one, so with N gunicorn workers a guesser gets up to N times the
attempts, which still turns a brute force into a handful of guesses an hour.
Usernames are keyed case-insensitively and hashed (cache keys stay short and
plain). Behind a proxy every request comes from the proxy's address: set
USE_X_FORWARDED_FOR so the client's is read from X-Forwarded-For (see
client_address), or the per-address limit would lock everyone out at once.
"""
from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver
from django.http import HttpRequest

from common.window_counts import window_count


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or behind a proxy (USE_X_FORWARDED_FOR)
    the last X-Forwarded-For entry, the one the proxy itself appended (those
    before it are whatever the client sent, and could be forged)."""
    if request is None:
        return None
    if settings.USE_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR") or None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _subjects(username: str | None, request: HttpRequest | None) -> list[tuple[str, int]]:
    """(cache key stem, failures allowed) for the username and the address; a limit of 0 is off."""
    subjects = []
    if username and settings.MONITOR_LOGIN_MAX_FAILURES > 0:
        subjects.append((f"login-limit:user:{_digest(username.casefold())}", settings.MONITOR_LOGIN_MAX_FAILURES))
    address = client_address(request)
    if address and settings.MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS > 0:
        subjects.append((f"login-limit:addr:{_digest(address)}", settings.MONITOR_LOGIN_MAX_FAILURES_PER_ADDRESS))
    return subjects


def _period() -> int:
    return settings.MONITOR_LOGIN_LOCKOUT_MINUTES * 60


def lockout_remaining(*, username: str | None, request: HttpRequest | None) -> int:
    """Seconds until this username and address may log in again; 0 if they may now."""
    now = time.time()
    remaining = 0.0
    for stem, _limit in _subjects(username, request):
        until = cache.get(f"{stem}:locked")
        if until is not None:
            remaining = max(remaining, until - now)
    return math.ceil(remaining) if remaining > 0 else 0


def record_failure(*, username: str | None, request: HttpRequest | None) -> None:
    period = _period()
    for stem, limit in _subjects(username, request):
        if cache.get(f"{stem}:locked") is not None:
            # Refused while locked: it does not extend the lock.
            continue
        count_key = f"{stem}:failures"
        # The count lives for one period from the first failure.
        if window_count(count_key, period=period) >= limit:
            cache.add(f"{stem}:locked", time.time() + period, timeout=period)
            cache.delete(count_key)


def record_success(*, username: str) -> None:
    for stem, _limit in _subjects(username, None):
        cache.delete(f"{stem}:failures")


def _username(credentials: dict) -> str | None:
    value = credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username"))
    return value if isinstance(value, str) else None


@receiver(user_login_failed, dispatch_uid="accounts.login_limit.failed")
def _on_login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    record_failure(username=_username(credentials), request=request)


@receiver(user_logged_in, dispatch_uid="accounts.login_limit.logged_in")
def _on_logged_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    record_success(username=user.get_username())


class LoginLimitBackend:
    """Refuses every login of a locked username or address (PermissionDenied
    stops authenticate() before the other backends); otherwise lets the next
    backend decide. It authenticates nobody, and has no get_user(): a session
    never names it as its backend."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, **credentials):
        if username is None:
            username = _username(credentials)
        if lockout_remaining(username=username, request=request):
            raise PermissionDenied("Too many failed logins.")
        return None


def wait_text(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


class LimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, saying when logins are refused for a while."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked_out": (
            "Too many failed logins for this username or from your address: logins are refused for now. "
            "Try again in %(wait)s."
        ),
    }

    def _locked_out_error(self) -> ValidationError | None:
        remaining = lockout_remaining(username=self.cleaned_data.get("username"), request=self.request)
        if not remaining:
            return None
        return ValidationError(self.error_messages["locked_out"], code="locked_out", params={"wait": wait_text(remaining)})

    def clean(self):
        error = self._locked_out_error()
        if error is not None:
            raise error
        try:
            return super().clean()
        except ValidationError as exc:
            # This failure may be the one that locked the username or address.
            raise self._locked_out_error() or exc from None
