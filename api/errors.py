"""The one place where errors become HTTP responses: the cropwatch error family maps to status codes, and every
error the service sends has the same JSON body, `{"detail": "...", "code": "..."}` (plus `reason` and `errors` where
they apply), declared in the OpenAPI spec."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.throttle import RateLimited
from inference.errors import (
    BadInput,
    Conflict,
    CropwatchError,
    EmptyInput,
    Forbidden,
    NotFound,
    StorageFull,
    TooLarge,
    Unavailable,
    Unsupported,
    plain_problem,
)


class Unauthorized(CropwatchError):
    """No valid sign-in: the token is missing, forged or expired, or the password is wrong."""

    code = "unauthorized"


# most specific first: the first class an error is an instance of decides its status
STATUS: list[tuple[type[CropwatchError], int]] = [
    (EmptyInput, 400), (TooLarge, 413), (Unsupported, 415), (BadInput, 422), (Unauthorized, 401),
    (Forbidden, 403), (NotFound, 404), (Conflict, 409), (RateLimited, 429), (Unavailable, 503),
    (StorageFull, 507), (CropwatchError, 500),
]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "too_large", 415: "unsupported", 422: "bad_input", 429: "rate_limited",
               503: "unavailable"}


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str = Field(description="what was wrong and how to fix it")
    code: str = Field(description="stable machine-readable name: bad_input, too_large, not_found, ...")
    reason: str | None = Field(default=None, description="a finer stable name where there is one (photo uploads: "
                               "photo_empty, photo_too_many_bytes, not_a_photo, heic_unsupported, "
                               "photo_too_many_pixels, photo_unreadable, photo_too_small, photo_damaged, "
                               "no_area_given, outside_every_area; rasters: raster_not_tiff, raster_truncated, "
                               "raster_unreadable, raster_no_georeference, raster_too_many_pixels, raster_bands, "
                               "raster_value_range, raster_unknown_sensor, raster_outside_area, "
                               "raster_no_valid_pixels; spray plans: "
                               "plan_config, plan_boundary_off_area, plan_flight_not_ready, plan_outside_raster, "
                               "plan_cells_too_small, plan_all_excluded, plan_no_damage_pixels, "
                               "plan_rate_unreachable, plan_exclusion_without_width; areas: area_overlap; masks: "
                               "masks_busy; any upload: upload_empty, "
                               "upload_too_large), for a page to say it in its own language")
    errors: list[dict[str, Any]] | None = Field(default=None, description="per-field problems of a 422 validation")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 413, 415, 422, 507)
}


def status_of(exc: CropwatchError) -> int:
    """The HTTP status of a cropwatch error."""
    return next(s for cls, s in STATUS if isinstance(exc, cls))


def _body(detail: str, code: str, errors: list[dict[str, Any]] | None = None,
          reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    if reason is not None:
        body["reason"] = reason
    return body


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods the OpenAPI spec documents for the request's path (the most literal templates that match it:
    /v1/areas/export, not /v1/areas/{code})."""
    import re

    found: dict[int, set[str]] = {}
    for template, ops in app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            found.setdefault(template.count("{"), set()).update(m.upper() for m in ops)
    return sorted(found[min(found)]) if found else []


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the ErrorBody shape."""

    @app.exception_handler(CropwatchError)
    async def _cropwatch(_: Request, exc: CropwatchError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        retry_after = getattr(exc, "retry_after_s", None)  # RateLimited (429), a busy service (503)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return JSONResponse(status_code=status_of(exc), content=_body(str(exc), exc.code, reason=exc.reason),
                            headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of every route at this path, not only the first route's
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse(status_code=exc.status_code, content=_body(str(exc.detail), code), headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence per problem: where it is and what is wrong.
        problems = [plain_problem(e) for e in exc.errors()]
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse(status_code=422, content=_body("; ".join(problems), "bad_input", errors))
