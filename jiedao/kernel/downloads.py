"""Spreadsheet downloads: one content type and one way to name the file, for every app's .xlsx."""

from __future__ import annotations

from django.http import HttpResponse

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(data: bytes, filename: str) -> HttpResponse:
    """``filename``: ASCII (ids, months, codes), so the header needs no encoding."""
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
