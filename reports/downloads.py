"""A complete report's CSV as an HTTP attachment, for the API and the report pages."""
from __future__ import annotations

from django.http import FileResponse

from .models import Report
from .selectors import report_csv_file


def report_csv_response(report: Report, *, columns: str = "default") -> FileResponse:
    """A complete report's CSV as an attachment, with the seed's seven columns
    or (columns="extended") all of them; the API and the report pages both
    serve it. ReportFileMissing when the file is gone, ReportNotExtended for
    extended columns of a report made before them."""
    suffix = "-extended" if columns == "extended" else ""
    return FileResponse(
        report_csv_file(report=report, columns=columns),
        as_attachment=True,
        filename=f"report-{report.id}{suffix}.csv",
        content_type="text/csv",
    )
