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
"""
from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import BadRequest
from django.core.signals import got_request_exception
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
