"""Public traceability pages (no sign-in): what a buyer reads after scanning the stamp on the produce."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.errors import ERROR_RESPONSES
from api.services import trace
from api.settings import get_settings
from inference.errors import NotFound

router = APIRouter(prefix="/trace", tags=["traceability (public)"], responses=ERROR_RESPONSES)


def _base(request: Request) -> str:
    return (get_settings().public_base_url or str(request.base_url)).rstrip("/")


@router.get("/{code}", response_class=HTMLResponse)
def trace_page(code: str, session: SessionDep, request: Request) -> HTMLResponse:
    """The area's public page in Vietnamese and English: crop, variety, commune, season and the spray applications
    with their pre-harvest status. No personal data."""
    try:
        area = trace.find_area(session, code)
    except NotFound as exc:  # a buyer who scanned or typed a wrong code reads a page, not JSON
        return HTMLResponse(trace.not_found_html(code, str(exc)), status_code=404)
    return HTMLResponse(trace.page_html(trace.public_record(session, area), _base(request)))


@router.get("/{code}/record.json")
def trace_record(code: str, session: SessionDep) -> dict[str, Any]:
    """The same content as data."""
    return trace.public_record(session, trace.find_area(session, code))


@router.get("/{code}/qr.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def trace_qr_svg(code: str, session: SessionDep, request: Request) -> Response:
    """The stamp's QR code (SVG): the address of the public page."""
    area = trace.stamp_area(session, code)
    return Response(trace.qr_svg(trace.trace_url(_base(request), area.code)), media_type="image/svg+xml")


@router.get("/{code}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def trace_qr_png(code: str, session: SessionDep, request: Request) -> Response:
    """The stamp's QR code (PNG)."""
    area = trace.stamp_area(session, code)
    return Response(trace.qr_png(trace.trace_url(_base(request), area.code)), media_type="image/png")
