"""Every API error is JSON: {"code": machine-readable, "message": for people, "errors": per field}.

docs/errors.md lists every refused input and fault with its answer.
"""
from __future__ import annotations

import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import is_valid_path
from django.utils.http import escape_leading_slashes
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """An error with its own code and status, raised by views."""

    def __init__(
        self, *, status_code: int, code: str, message: str, errors: dict | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.errors = errors
        # DRF's handler turns `wait` into the Retry-After header.
        self.wait = retry_after


class Refusal(Exception):
    """A refusal raised below the views (a service, a selector) that knows its
    API answer: the JSON handler answers it as an ApiError with this status
    and code; pages and commands catch it and show the message."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    @property
    def message(self) -> str:
        return str(self)


# Field errors with a code of their own, which then becomes the answer's
# `code` (and their message its `message`), so that a client can branch on
# them without reading `errors`: docs/errors.md.
INVALID_STORE_ID = "invalid_store_id"
FIELD_CODES_OF_THE_ANSWER = frozenset({INVALID_STORE_ID})


def _coded_message(detail, codes: frozenset[str]) -> tuple[str, str] | None:
    """The first error in `detail` whose code is one of `codes`: (code, "field: message")."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            found = _coded_message(value, codes)
            if found is not None:
                code, message = found
                return code, message if key == "non_field_errors" else f"{key}: {message}"
    elif isinstance(detail, list):
        for item in detail:
            found = _coded_message(item, codes)
            if found is not None:
                return found
    elif getattr(detail, "code", None) in codes:
        return detail.code, str(detail)
    return None


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return f"{key}: {_first_message(value)}" if key != "non_field_errors" else _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def json_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return body_too_large_response()
    if isinstance(exc, Refusal):
        exc = ApiError(status_code=exc.status_code, code=exc.code, message=exc.message)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = {"code": exc.detail.code, "message": str(exc.detail)}
        if exc.errors:
            body["errors"] = exc.errors
    elif isinstance(exc, exceptions.ValidationError):
        code, message = _coded_message(exc.detail, FIELD_CODES_OF_THE_ANSWER) or ("invalid", _first_message(exc.detail))
        body = {"code": code, "message": message, "errors": exc.detail}
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        body = {"code": code, "message": str(detail)}
    response.data = body
    return response


def validation_error(message: str, errors: dict | None = None, code: str = "invalid") -> ApiError:
    return ApiError(status_code=status.HTTP_400_BAD_REQUEST, code=code, message=message, errors=errors)


# --------------------------------------------------------------------------
# Outside DRF's views: unknown paths, bodies too large, faults. API paths
# answer JSON in the same shape; the pages for people (HTML_PATH_PREFIXES)
# keep Django's HTML error pages.
# --------------------------------------------------------------------------

# The pages for people: the admin, the dashboard and the report pages. Every
# other path is the API's, known or not.
HTML_PATH_PREFIXES = ("/admin/", "/dashboard/", "/reports/")
# Seconds a client is asked to wait before retrying when the database is unavailable.
RETRY_AFTER_SECONDS = 5
DATABASE_ERRORS = (OperationalError, InterfaceError)

SERVER_ERROR_MESSAGE = "Something went wrong on the server. It has been logged; try again later."
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable for a moment; try again in a few seconds."


def is_api_path(path: str) -> bool:
    """Every path but the pages' and the static files' (known or not) is the API's."""
    files = tuple(
        "/" + url.lstrip("/") for url in (settings.STATIC_URL, settings.MEDIA_URL) if url and "://" not in url
    )
    return not path.startswith(HTML_PATH_PREFIXES + files)


def error_response(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status_code)


def body_too_large_response() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        "body_too_large",
        f"The request body is larger than the {limit:,} bytes this server takes (MONITOR_MAX_BODY_BYTES).",
    )


def fault_response(exc: BaseException | None) -> JsonResponse:
    """An unexpected exception as the API answers it: 503 when the database
    is unavailable (retrying is safe: every write is one transaction), else
    500. Never any detail of the exception: that goes to the log."""
    if isinstance(exc, DATABASE_ERRORS):
        response = error_response(
            status.HTTP_503_SERVICE_UNAVAILABLE, "database_unavailable", DATABASE_UNAVAILABLE_MESSAGE
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", SERVER_ERROR_MESSAGE)


# Django's error handlers (urls.py: handler400 and the others). They answer
# what happens outside a DRF view: an unknown path, a refused request.


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path_info):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return body_too_large_response()
    return error_response(status.HTTP_400_BAD_REQUEST, "bad_request", "The request could not be understood.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path_info):
        return defaults.permission_denied(request, exception)
    return error_response(
        status.HTTP_403_FORBIDDEN, "permission_denied", "You do not have permission to perform this action."
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path_info):
        return defaults.page_not_found(request, exception)
    return not_found_response(request)


def not_found_response(request: HttpRequest) -> JsonResponse:
    """404 for an unknown API path, or 308 to the path with its trailing
    slash: Django's CommonMiddleware would answer a 301 (after which clients
    send a GET, refused with 405), and with DEBUG on raise for a POST."""
    target = slash_target(request)
    if target is not None:
        response = error_response(
            status.HTTP_308_PERMANENT_REDIRECT,
            "trailing_slash",
            f"This address ends with a slash: {request.method} {target}",
        )
        response["Location"] = target
        return response
    return error_response(status.HTTP_404_NOT_FOUND, "not_found", f"No such path: {request.path}")


SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


def slash_target(request: HttpRequest) -> str | None:
    """For an unsafe method (POST...) to a path that exists only with a
    trailing slash, the address with it (as CommonMiddleware computes it)."""
    path = request.path_info
    if request.method in SAFE_METHODS or not settings.APPEND_SLASH or path.endswith("/"):
        return None
    urlconf = getattr(request, "urlconf", None)
    if is_valid_path(path, urlconf) or not is_valid_path(f"{path}/", urlconf):
        return None
    return escape_leading_slashes(request.get_full_path(force_append_slash=True))


def handler500(request: HttpRequest) -> HttpResponse:
    if not is_api_path(request.path_info):
        return defaults.server_error(request)
    # Called while Django handles the exception: it is the one being handled.
    return fault_response(sys.exception())
