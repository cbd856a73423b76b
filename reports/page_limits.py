"""The API's per-user rate limit on the pages' actions (accounts.throttling)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.throttling import owner_throttle_wait
from common.pages import admin_context


def too_many_requests(request: HttpRequest, *, message: str, retry_after: int) -> HttpResponse:
    """429 as a page, in the admin's look, with Retry-After."""
    context = {**admin_context(request, title="Too many requests"), "message": message}
    response = render(request, "monitor/too_many_requests.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def throttled_like_the_api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse the action with 429 while the user is over MONITOR_THROTTLE_OWNER."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = owner_throttle_wait(request)
        if wait is not None:
            return too_many_requests(
                request,
                message=f"You have sent more requests than your limit allows; try again in {wait} seconds.",
                retry_after=wait,
            )
        return view(request, *args, **kwargs)

    return wrapped
