"""Drone flights: upload an orthomosaic for an area, follow its analysis job, download the maps."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from api.deps import CurrentAccount, IdPath, PlannerAccount, SessionDep, visible_area
from api.errors import ERROR_RESPONSES
from api.schemas import JobPublic
from api.services import flights

router = APIRouter(tags=["flights"], responses=ERROR_RESPONSES)


@router.post("/v1/flights", response_model=JobPublic, status_code=202)
async def upload_flight(
    request: Request,
    session: SessionDep,
    account: PlannerAccount,
    file: Annotated[UploadFile, File(description="orthomosaic GeoTIFF (RGB or RGB + alpha, 8- or 16-bit; a multispectral "
                                                "stack, 16-bit or float reflectance)")],
    area_code: Annotated[str, Form(description="the growing area flown")],
    sensor: Annotated[str | None, Form(description="sensor profile; default: guessed from the bands")] = None,
    method: Annotated[str, Form(pattern="^(auto|index_anomaly)$")] = "auto",
) -> JobPublic:
    """Upload an orthomosaic (streamed to disk, validated) and start its analysis job."""
    area = visible_area(session, account, area_code)
    job = await run_in_threadpool(flights.create_flight_job, session, account, area, file.file, file.filename,
                                  sensor, method)
    request.app.state.jobs.submit(job.id)
    return flights.to_public(job, area.code)


@router.get("/v1/jobs/{job_id}", response_model=JobPublic)
def read_job(job_id: IdPath, session: SessionDep, account: CurrentAccount) -> JobPublic:
    """A job's status, progress in %, result and download links."""
    job, area = flights.visible_job(session, account, job_id)
    return flights.to_public(job, area.code if area else None)


@router.get("/v1/jobs", response_model=list[JobPublic])
def list_jobs(session: SessionDep, account: CurrentAccount, area_code: str | None = None) -> list[JobPublic]:
    """Recent jobs of the areas you may see (newest first)."""
    area = visible_area(session, account, area_code) if area_code else None
    return flights.list_jobs(session, account, area)


@router.get("/v1/jobs/{job_id}/files/{name}", response_class=FileResponse)
def job_file(job_id: IdPath, name: str, session: SessionDep, account: CurrentAccount,
             compression: Annotated[Literal["deflate", "zstd"], Query(
                 description="the maps' (canopy.tif, growth.tif, damage.tif) compression: deflate (the default), which "
                             "every GIS tool reads, or zstd, as the service stores them: smaller, read by GDAL 2.3 "
                             "and later (QGIS), rasterio and ArcGIS Pro")] = "deflate") -> FileResponse:
    """Download canopy.tif, growth.tif, damage.tif (COG), summary.json or preview.png of a finished analysis."""
    job, _ = flights.visible_job(session, account, job_id)
    path = flights.job_file(job, name, compression)
    return FileResponse(path, media_type=flights.DOWNLOADS[name], filename=f"job{job.id}_{name}")


@router.get("/v1/jobs/{job_id}/tiles/{layer}/{z}/{x}/{y}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "a 256 px PNG tile"}})
def job_tile(job_id: IdPath, layer: str, z: int, x: int, y: int, session: SessionDep,
             account: CurrentAccount) -> Response:
    """Web-map tile (XYZ, Web Mercator) of the orthomosaic (`ortho`) or of an analysis map (`canopy`, `growth`,
    `damage`), under the job's access rules; transparent outside the raster."""
    job, _ = flights.visible_job(session, account, job_id)
    png = flights.tile(job, layer, z, x, y)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/v1/jobs/{job_id}/retry", response_model=JobPublic, status_code=202)
def retry_job(job_id: IdPath, request: Request, session: SessionDep, account: CurrentAccount) -> JobPublic:
    """Run a failed job again."""
    job, area = flights.visible_job(session, account, job_id)
    flights.requeue_failed(session, account, job)
    request.app.state.jobs.submit(job.id)
    return flights.to_public(job, area.code if area else None)


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: IdPath, session: SessionDep, account: CurrentAccount) -> JobPublic:
    """Stop a queued or running job and remove its files."""
    job, area = flights.visible_job(session, account, job_id)
    flights.cancel(session, account, job)
    return flights.to_public(job, area.code if area else None)
