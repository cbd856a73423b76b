"""A complete report's CSV as an HTTP attachment, for the API and the report pages."""
from __future__ import annotations

from django.http import FileResponse

from .models import Report
from .selectors import report_csv_file


def report_csv_response(report: Report) -> FileResponse:
    """A complete report's CSV as an attachment (the API and the report pages
    both serve it); raises ReportFileMissing when the file is gone."""
    return FileResponse(
        report_csv_file(report=report), as_attachment=True, filename=f"report-{report.id}.csv", content_type="text/csv"
    )
