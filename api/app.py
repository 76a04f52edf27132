"""The FastAPI application: lifespan (models and the job runner), routers, static pages, health, error shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm import Session

from api import __version__
from api.db import get_session, new_session
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.jobs import LocalJobRunner, make_runner, recover_jobs
from api.routers import (
    areas,
    auth,
    basemap,
    drone_labels,
    flights,
    labels,
    models,
    photos,
    records,
    spray,
    trace,
    vectors,
)
from api.scoring import ScoringPool, available_cores
from api.services.model_registry import ModelWatcher
from api.services.photos import TASK, PhotoModelHolder
from api.settings import get_settings
from inference import allocator, canopy

log = logging.getLogger("cropwatch.api")
STATIC_DIR = Path(__file__).resolve().parent / "static"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Models are loaded once here and handed to routes through app.state; the database must be migrated.
    allocator.tune()  # the heap keeps raster windows' arrays (inference.allocator), before the threads get busy
    settings = get_settings()
    holder = PhotoModelHolder(settings.models_dir)
    watcher = ModelWatcher(TASK, new_session, settings.models_dir, holder.sync, settings.model_poll_s)
    version = await run_in_threadpool(watcher.current)
    await run_in_threadpool(holder.load_active, version)
    await run_in_threadpool(canopy.warm_up)  # the canopy's colour table (0.25 s), before the first request needs it
    watcher.start(version)
    app.state.photo_models = holder
    processes = available_cores() if settings.scoring_processes is None else settings.scoring_processes
    pool = app.state.scoring_pool = ScoringPool(processes, settings.photo_model_threads,
                                                holder.scorer) if processes else None
    if pool is not None:
        await run_in_threadpool(pool.warm)  # the processes spawned and the bundle loaded (a few seconds) first
    runner = make_runner()
    app.state.jobs = runner
    if isinstance(runner, LocalJobRunner):
        await run_in_threadpool(recover_jobs, runner)
    yield
    watcher.stop()
    runner.shutdown()
    if pool is not None:
        pool.shutdown()


def install_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from api/static/vendor/swagger-ui (`make vendor`), so the API's documentation page works
    on a server or a laptop without the internet; / (the farmer's page) and /favicon.ico (none)."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="data:,",  # no outside request, no 404
                                   swagger_ui_parameters={"validatorUrl": None})  # no badge from validator.swagger.io

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/app/")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in every page's console


def create_app() -> FastAPI:
    app = FastAPI(
        title="cropwatch",
        version=__version__,
        description="Crop monitoring for smallholder farms: growing-area records, photo diagnosis, drone analysis.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served below from the vendored Swagger UI: FastAPI's own page loads it from a CDN
        redoc_url=None,  # ReDoc would too, and nothing links to it
    )
    install_docs(app)
    app.include_router(auth.router)
    app.include_router(areas.router)
    app.include_router(photos.router)
    app.include_router(models.router)
    app.include_router(labels.router)
    app.include_router(flights.router)
    app.include_router(drone_labels.router)
    app.include_router(spray.router)
    app.include_router(vectors.router)
    app.include_router(basemap.router)
    app.include_router(records.router)
    app.include_router(trace.router)

    app.mount("/app", StaticFiles(directory=STATIC_DIR / "farmer", html=True), name="farmer")
    app.mount("/operator", StaticFiles(directory=STATIC_DIR / "operator", html=True), name="operator")
    app.mount("/review", StaticFiles(directory=STATIC_DIR / "review", html=True), name="review")
    app.mount("/map", StaticFiles(directory=STATIC_DIR / "map", html=True), name="map")
    app.mount("/models", StaticFiles(directory=STATIC_DIR / "models", html=True), name="models")
    app.mount("/shared", StaticFiles(directory=STATIC_DIR / "shared"), name="shared")
    app.mount("/vendor", StaticFiles(directory=STATIC_DIR / "vendor"), name="vendor")

    @app.get("/health", tags=["health"])
    def health(session: Annotated[Session, Depends(get_session)]) -> dict[str, str]:
        """Liveness and database reachability; the zone the records' local times are in (the pages show times in
        it, not in the browser's zone)."""
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "time_zone": get_settings().time_zone}

    install_error_handlers(app)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        try:
            response: Response = await call_next(request)
        except Exception:  # a bug: logged with its traceback; the client gets the error shape, the connection lives
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            response = JSONResponse(status_code=500, content={
                "detail": "internal error; it was logged for the operators. Try again, or report it if it persists",
                "code": "internal"})
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith("/v1/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
    return app
