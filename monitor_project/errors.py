"""Every API error is JSON: {"code": machine-readable, "message": for people, "errors": per field}."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """An error with its own code and status, raised by views."""

    def __init__(self, *, status_code: int, code: str, message: str, errors: dict | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.errors = errors


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return f"{key}: {_first_message(value)}" if key != "non_field_errors" else _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def json_exception_handler(exc, context):
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
        body = {"code": "invalid", "message": _first_message(exc.detail), "errors": exc.detail}
    else:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        body = {"code": code, "message": str(detail)}
    response.data = body
    return response


def validation_error(message: str, errors: dict | None = None, code: str = "invalid") -> ApiError:
    return ApiError(status_code=status.HTTP_400_BAD_REQUEST, code=code, message=message, errors=errors)

