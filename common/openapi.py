"""What the OpenAPI schema says about errors, shared by every endpoint's @extend_schema.

Documentation only: nothing here runs on a request. Every API error is
common.errors' JSON body; `error_responses(400, 404, ...)` gives an
operation's error answers with the usual meaning of each status, which a view
may reword (`error_responses(401, (404, "No such store."))`).
"""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .serializers import StrictSerializer


class ErrorSerializer(serializers.Serializer):
    """The body of every API error."""

    code = serializers.CharField(help_text='Machine-readable, e.g. "invalid", "not_found", "not_authenticated".')
    message = serializers.CharField(help_text="For people.")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text=(
            "Invalid input only: per field, a list of messages (for a list of objects, one object of "
            "messages per item); messages about the whole body are under non_field_errors."
        ),
    )

    class Meta:
        ref_name = "Error"


ERROR_MEANINGS = {
    400: "Invalid input: `errors` names the fields.",
    401: "No credentials, or wrong ones (an unknown token or device key).",
    403: (
        "The credentials may not do this: a role too low for the action (`role_too_low`), a read-only "
        "token used for anything but reading (`read_only_token`), a device key used anywhere but for "
        "posting polls, or a session request without its CSRF token."
    ),
    404: "No such resource among those the credentials may see.",
    409: "Conflicts with the current state.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not JSON (only application/json is accepted).",
    429: "Too many requests from these credentials: wait the seconds the Retry-After header gives.",
    503: "The database is unavailable for a moment: retry after the seconds the Retry-After header gives.",
}

# Every operation needs credentials (and may be refused them), is rate
# limited (accounts/throttling.py) and needs the database.
REQUEST_ERRORS = (401, 403, 429, 503)
# ... and every operation taking a body may get one it cannot read.
BODY_ERRORS = (400, 413, 415)


def error_responses(*answers: int | tuple[int, str]) -> dict[int, OpenApiResponse]:
    """The error answers for these statuses, each with its usual meaning or, given
    as (status, description), with its own: error_responses(*AUTH_ERRORS, (404, "No such store."))."""
    descriptions = {}
    for answer in answers:
        status, description = answer if isinstance(answer, tuple) else (answer, ERROR_MEANINGS[answer])
        descriptions[status] = description
    return {
        status: OpenApiResponse(ErrorSerializer, description=descriptions[status]) for status in sorted(descriptions)
    }


class ListSerializerFieldScheme(OpenApiSerializerFieldExtension):
    """A nested list of objects with a length limit (`Serializer(many=True, max_length=...)`):
    drf-spectacular leaves the limit out; this writes minItems and maxItems."""

    target_class = serializers.ListSerializer
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if self.target.min_length is not None:
            schema["minItems"] = self.target.min_length
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        return schema


class StrictSerializerScheme(OpenApiSerializerExtension):
    """A StrictSerializer refuses fields it does not know: additionalProperties is false."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
