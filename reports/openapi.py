"""The OpenAPI schema of the report endpoints: documentation-only serializers
for the bodies the views build by hand, and the @extend_schema of each view.
Nothing here runs on a request.
"""
from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers

from common.openapi import BODY_ERRORS, REQUEST_ERRORS, ErrorSerializer, error_responses

from .serializers import ReportSerializer, TriggerReportSerializer


class ReportTriggeredSerializer(serializers.Serializer):
    """A report just started."""

    report_id = serializers.UUIDField()
    status = serializers.ChoiceField(["Running"])


class ReportRunningSerializer(serializers.Serializer):
    """A report still running, with its progress."""

    status = serializers.ChoiceField(["Running"])
    stores_done = serializers.IntegerField(min_value=0)
    stores_total = serializers.IntegerField(min_value=0)


class ReportFailedSerializer(ErrorSerializer):
    """A failed report: the error body, with the report's status."""

    status = serializers.ChoiceField(["Failed"])

    class Meta:
        ref_name = "ReportFailed"


CSV_EXAMPLE = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,downtime_last_hour,downtime_last_day,"
    "downtime_last_week\n8419537941919820732,60.00,23.50,150.25,0.00,0.50,17.75\n"
)

NOT_A_UUID = (400, "report_id is missing or not a UUID.")

# The answers about one report: the CSV, its progress, or why it failed.
REPORT_ANSWERS = {
    (200, "text/csv"): OpenApiResponse(
        OpenApiTypes.STR,
        description=(
            "Complete: the CSV, as an attachment. One row per store the requester may see: uptime over the "
            "last hour in minutes, over the last day and week in hours, then the same for downtime, all "
            "inside business hours."
        ),
        examples=[OpenApiExample("Report", value=CSV_EXAMPLE)],
    ),
    202: OpenApiResponse(ReportRunningSerializer, description="Still running: progress in stores."),
    409: OpenApiResponse(ReportFailedSerializer, description='Failed: `code` is "report_failed", `message` says why.'),
    **error_responses(
        NOT_A_UUID,
        *REQUEST_ERRORS,
        (404, "No such report among the requester's (code not_found), or its file is gone (report_file_missing)."),
    ),
}

trigger_schema = extend_schema(
    tags=["reports"],
    summary="Start a report",
    description=(
        "Of every store the user may see, as of now or of `as_of` (from 1970, not in the future). The body "
        "may be left out. Fetch the report with its `report_id`. A user may have "
        "MONITOR_MAX_RUNNING_REPORTS reports running at once (3 by default): past it, 429 `too_many_reports`."
    ),
    request=TriggerReportSerializer,
    responses={
        202: OpenApiResponse(ReportTriggeredSerializer, description="Started."),
        **error_responses(
            *BODY_ERRORS,
            *REQUEST_ERRORS,
            (
                429,
                "Too many requests from these credentials (`throttled`), or too many of the user's reports "
                "running (`too_many_reports`): wait the seconds the Retry-After header gives.",
            ),
        ),
    },
    examples=[OpenApiExample("As of an instant", request_only=True, value={"as_of": "2024-01-08T22:00:00Z"})],
)


class GetReportSchema(AutoSchema):
    """/get_report?report_id=<id> and /get_report/<id> share a view: one
    operation each, the id in the query or in the path."""

    def get_operation_id(self):
        return "get_report_by_id" if "{report_id}" in self.path else "get_report"

    def get_override_parameters(self):
        if "{report_id}" in self.path:
            return [OpenApiParameter("report_id", OpenApiTypes.UUID, OpenApiParameter.PATH)]
        return [OpenApiParameter("report_id", OpenApiTypes.UUID, OpenApiParameter.QUERY, required=True)]


REPORT_ANSWER_DESCRIPTION = "202 with its progress while it runs, then 200 with the CSV; 409 if it failed."

COLUMNS_PARAMETER = OpenApiParameter(
    "columns",
    str,
    OpenApiParameter.QUERY,
    enum=["default", "extended"],
    description=(
        "default: the seven seed columns. extended: also no_signal_last_hour/day/week, "
        "closed_last_hour/day/week (in the seed columns' units) and uptime_percent_last_hour/day/week "
        "(empty when the store was not monitored in the window). Anything else is 400 `unknown_columns`; "
        "extended columns of a report made before them, 400 `report_not_extended`."
    ),
)

get_report_schema = extend_schema(
    tags=["reports"],
    summary="A report: its CSV, its progress, or why it failed",
    description=REPORT_ANSWER_DESCRIPTION,
    parameters=[COLUMNS_PARAMETER],
    responses=REPORT_ANSWERS,
)

report_viewset_schema = extend_schema_view(
    list=extend_schema(
        tags=["reports"],
        summary="The reports the user asked for",
        description="Every report, for a superuser; newest first.",
        responses={200: ReportSerializer(many=True), **error_responses(*REQUEST_ERRORS)},
    ),
    create=trigger_schema,
    retrieve=extend_schema(
        tags=["reports"],
        summary="A report's status",
        description="Running, Complete or Failed, with its progress and times; the CSV is at `csv/`.",
        responses={200: ReportSerializer, **error_responses(NOT_A_UUID, *REQUEST_ERRORS, (404, "No such report."))},
    ),
    csv=get_report_schema,
)
