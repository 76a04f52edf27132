"""An area's record book (nhật ký canh tác) and the plant-protection office's weekly report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api.deps import DepartmentAccount, SessionDep, VisibleArea
from api.errors import ERROR_RESPONSES
from api.orm import GrowingArea
from api.services import labels, products, record_book, record_book_pdf, reports

router = APIRouter(tags=["records"], responses=ERROR_RESPONSES)
BOOK_TYPES = {"csv": "text/csv", "geojson": "application/geo+json", "pdf": "application/pdf",
              "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/v1/areas/{code}/record-book", response_class=Response,
            responses={200: {"content": {t: {} for t in BOOK_TYPES.values()}}})
def area_record_book(area: VisibleArea, session: SessionDep,
                     format: Annotated[str, Query(pattern="^(csv|geojson|pdf|xlsx)$")] = "pdf") -> Response:
    """The area's record book: every photo, flight, spray map and spray application, oldest first, in local time.
    CSV (one row per event), the same rows as an Excel workbook (xlsx: Vietnamese text intact in Excel), GeoJSON (the
    boundary, then the events), or a PDF in Vietnamese with the area's map, the growth chart and the spray table."""
    return Response(_book(session, area, format), media_type=BOOK_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="nhat-ky-{area.code}.{format}"'})


def _book(session: Session, area: GrowingArea, fmt: str) -> bytes | str:
    book = record_book.gather(session, area)
    if fmt == "csv":
        return record_book.to_csv(book)
    if fmt == "xlsx":
        return record_book.to_xlsx(book, (record_book_pdf.VI_SHEET_COLUMNS,
                                          record_book_pdf.vietnamese_rows(book, labels.names_vi(session))))
    if fmt == "geojson":
        return json.dumps(record_book.to_geojson(book), ensure_ascii=False, default=str)
    return record_book_pdf.render(book, labels.names_vi(session), datetime.now(products.zone(book.time_zone)))


@router.get("/v1/reports/weekly", response_class=Response,
            responses={200: {"content": {t: {"schema": {"type": "object"}} if t.endswith("json") else {}
                                         for t in reports.REPORT_TYPES.values()}}})
def weekly_report(session: SessionDep, account: DepartmentAccount,
                  week: Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W48; "
                                                    "default: this week")] = None,
                  commune: Annotated[str | None, Query(max_length=100)] = None,
                  format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json") -> Response:
    """The plant-protection office's weekly report: per commune and crop, areas surveyed, diseases found with
    severity and area affected, sprays done."""
    rep = reports.weekly(session, account, week, commune)
    name = f"bao-cao-tuan-{rep['week']}{'-' + commune if commune else ''}.{format}"
    return Response(reports.render(rep, format, labels.names_vi(session)), media_type=reports.REPORT_TYPES[format],
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
