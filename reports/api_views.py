"""The report API: HTTP in, services, HTTP out: the seed endpoints (trigger_report, get_report) and /api/reports/."""
from __future__ import annotations

import uuid

from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ApiError, validation_error

from .models import Report, ReportStatus
from .openapi import GetReportSchema, get_report_schema, report_viewset_schema, trigger_schema
from .downloads import report_csv_response
from .selectors import COLUMN_SETS, ReportFileMissing, ReportNotExtended, report_list
from .serializers import ReportSerializer, TriggerReportSerializer
from .services import AsOfOutOfRange, TooManyRunningReports, report_limits, report_trigger, report_watched


def trigger(request: Request) -> Response:
    data = request.data if request.data is not None else {}
    serializer = TriggerReportSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    try:
        report = report_trigger(
            user=request.user,
            as_of=serializer.validated_data.get("as_of"),
            **report_limits(
                user=request.user,
                organization=serializer.validated_data.get("organization"),
                group=serializer.validated_data.get("group"),
            ),
        )
    except AsOfOutOfRange as exc:
        raise validation_error(str(exc), {"as_of": [str(exc)]}) from None
    except TooManyRunningReports as exc:
        raise ApiError(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            code="too_many_reports",
            message=str(exc),
            retry_after=exc.retry_after,
        ) from None
    return Response({"report_id": str(report.id), "status": ReportStatus.RUNNING}, status=status.HTTP_202_ACCEPTED)


def csv_columns(request: Request) -> str:
    """?columns=: "default" (the seed's seven) or "extended"; 400 for anything else."""
    columns = request.query_params.get("columns", "default")
    if columns not in COLUMN_SETS:
        message = f"columns must be one of {', '.join(COLUMN_SETS)}, not {columns!r}."
        raise validation_error(message, {"columns": [message]}, code="unknown_columns")
    return columns


def report_answer(report: Report, columns: str = "default"):
    """Running: 202 with progress; complete: the CSV; failed: 409 with the reason."""
    if report.status == ReportStatus.COMPLETE:
        try:
            return report_csv_response(report, columns=columns)
        except ReportNotExtended:
            raise ApiError(
                status_code=status.HTTP_400_BAD_REQUEST,
                code="report_not_extended",
                message="This report was made before the extended columns existed; trigger a new one for them.",
            ) from None
        except ReportFileMissing:
            raise ApiError(
                status_code=status.HTTP_404_NOT_FOUND,
                code="report_file_missing",
                message="The report is complete but its file is no longer in storage; trigger it again.",
            ) from None
    if report.status == ReportStatus.FAILED:
        return Response(
            {"code": "report_failed", "status": "Failed", "message": report.error or "The report failed."},
            status=status.HTTP_409_CONFLICT,
        )
    return Response(
        {"status": "Running", "stores_done": report.stores_done, "stores_total": report.stores_total},
        status=status.HTTP_202_ACCEPTED,
    )


def _visible_report(request: Request, report_id) -> Report:
    try:
        report_uuid = uuid.UUID(str(report_id))
    except ValueError:
        raise validation_error("report_id must be a UUID.", {"report_id": ["Must be a UUID."]}) from None
    report = report_watched(user=request.user, report_id=report_uuid)
    if report is None:
        raise ApiError(status_code=status.HTTP_404_NOT_FOUND, code="not_found", message="No such report.")
    return report


class TriggerReportView(APIView):
    @trigger_schema
    def post(self, request: Request) -> Response:
        return trigger(request)


class GetReportView(APIView):
    schema = GetReportSchema()

    @get_report_schema
    def get(self, request: Request, report_id: str | None = None):
        report_id = report_id or request.query_params.get("report_id")
        if not report_id:
            raise validation_error("Give report_id.", {"report_id": ["This field is required."]})
        columns = csv_columns(request)
        return report_answer(_visible_report(request, report_id), columns)


@report_viewset_schema
class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Reports the user asked for (all of them for a superuser); POST triggers one."""

    serializer_class = ReportSerializer

    def get_queryset(self):
        return report_list(user=self.request.user)

    def get_object(self) -> Report:
        return _visible_report(self.request, self.kwargs["pk"])

    def create(self, request: Request) -> Response:
        return trigger(request)

    @action(detail=True, methods=["get"])
    def csv(self, request: Request, pk: str):
        columns = csv_columns(request)
        return report_answer(self.get_object(), columns)
