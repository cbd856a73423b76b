"""JSON answers for the API's faults (docs/errors.md).

DRF's exception handler (common.errors.json_exception_handler)
answers what a client did wrong. This middleware answers what went wrong on
the server, for API paths only (the pages for people keep Django's pages):
an exception a view let through is 503 `database_unavailable` with
Retry-After when the database is unreachable (the request's transaction was
rolled back; Django drops the broken connection when the request ends and
the next request connects again), else 500 `server_error`. Never a
traceback, also with DEBUG on: it goes to the log, and to
`got_request_exception`'s receivers (error trackers, the test client).

Exceptions raised outside views (in other middleware) reach Django's
handler500, which common.errors.handler500 answers the same way;
unknown paths reach handler404. With DEBUG on Django uses neither (it shows
its debug pages): this middleware answers as they would.

Also here: PageParameterMiddleware (control characters in pages' paths and
query strings) and ContentSecurityPolicyMiddleware (django-csp's, with an
ordinary answer's policy built once).
"""
from __future__ import annotations

import re
from functools import lru_cache

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import BadRequest
from django.core.signals import got_request_exception, setting_changed
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.log import log_response

from common.errors import DATABASE_ERRORS, fault_response, is_api_path, not_found_response, slash_target


class ApiErrorMiddleware:
    """Put it before CommonMiddleware, so that with DEBUG on it answers a POST
    without its trailing slash before CommonMiddleware raises for it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.DEBUG or not is_api_path(request.path_info):
            return self.get_response(request)
        # DEBUG only: what handler404 answers in production.
        if slash_target(request) is not None:
            return not_found_response(request)
        response = self.get_response(request)
        if response.status_code == 404 and _is_django_html_page(response):
            return not_found_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path_info):
            return None  # Django's handling: its HTML 500 page (or the debug page)
        response = fault_response(exception)
        if not isinstance(exception, DATABASE_ERRORS):
            # As Django does for an exception it handles (error trackers listen).
            got_request_exception.send(sender=None, request=request)
        # With the traceback, once (Django would log the response again without it).
        log_response(
            "%s: %s", response.reason_phrase, request.path, response=response, request=request, exception=exception
        )
        return response


def _is_django_html_page(response: HttpResponse) -> bool:
    # A DRF Response (it has .data) is the API's own answer, whatever its renderer.
    return not hasattr(response, "data") and response.get("Content-Type", "").startswith("text/html")


# C0 controls (NUL included), DEL and C1 controls: no page parameter or path
# of ours holds one, and PostgreSQL refuses NUL in any text it is given.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


class PageParameterMiddleware:
    """The pages for people (dashboard, reports, admin) refuse control
    characters before any view or query sees them: in the path 404 (no such
    page), in the query string 400, on both databases alike. The API checks
    its own input (docs/errors.md)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            if CONTROL_CHARACTERS.search(request.path_info):
                raise Http404("No such page.")
            if any(CONTROL_CHARACTERS.search(text) for key in request.GET for text in (key, *request.GET.getlist(key))):
                raise BadRequest("A control character in the query string.")
        return self.get_response(request)


# What a view's decorator (csp_update, csp_exempt...) sets on its answer.
_PER_ANSWER_POLICY = (
    "_csp_config", "_csp_update", "_csp_replace", "_csp_exempt",
    "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro",
)  # fmt: skip


@lru_cache(maxsize=1)
def _plain_policies() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(header, policy, excluded path prefixes) of each header, as the settings make them."""
    return tuple(
        (header, build_policy(report_only=report_only), tuple((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()))
        for header, name, report_only in (
            (HEADER, "CONTENT_SECURITY_POLICY", False),
            (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
        )
    )


@receiver(setting_changed)
def _policies_forget(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _plain_policies.cache_clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the policy of an ordinary answer (no
    nonce used, no decorator's change) built once per process instead of for
    every answer: the same header, and building it was about a twentieth of
    a device poll's work. Any other answer goes through django-csp as is."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(request, "_csp_nonce", None) is not None or any(hasattr(response, name) for name in _PER_ANSWER_POLICY):
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (500, 404):
            return response  # as django-csp: Django's debug pages keep their inline styles
        for header, policy, excluded in _plain_policies():
            if policy and header not in response and not request.path_info.startswith(excluded):
                response[header] = policy
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
