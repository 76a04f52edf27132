"""An area's record book (nhật ký canh tác) and the plant-protection office's weekly report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep, VisibleArea
from api.errors import ERROR_RESPONSES
from api.orm import GrowingArea
from api.services import labels, products, record_book, record_book_pdf

router = APIRouter(tags=["records"], responses=ERROR_RESPONSES)
BOOK_TYPES = {"csv": "text/csv", "geojson": "application/geo+json", "pdf": "application/pdf"}


@router.get("/v1/areas/{code}/record-book", response_class=Response,
            responses={200: {"content": {t: {} for t in BOOK_TYPES.values()}}})
def area_record_book(area: VisibleArea, session: SessionDep,
                     format: Annotated[str, Query(pattern="^(csv|geojson|pdf)$")] = "pdf") -> Response:
    """The area's record book: every photo, flight, spray map and spray application, oldest first, in local time.
    CSV (one row per event), GeoJSON (the boundary, then the events), or a PDF in Vietnamese with the area's map,
    the growth chart and the spray table."""
    return Response(_book(session, area, format), media_type=BOOK_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="nhat-ky-{area.code}.{format}"'})


def _book(session: Session, area: GrowingArea, fmt: str) -> bytes | str:
    book = record_book.gather(session, area)
    if fmt == "csv":
        return record_book.to_csv(book)
    if fmt == "geojson":
        return json.dumps(record_book.to_geojson(book), ensure_ascii=False, default=str)
    names = {k: v.name_vi for k, v in labels.registry(session).items()}
    return record_book_pdf.render(book, names, datetime.now(products.zone(book.time_zone)))
