"""Ground truth drawn on flights (/v1/flights/{id}/labels) and farmers' photos inside a flight, to guide where to
look; exported for notebook 04 by `cropwatch datasets export-drone-labels`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import CurrentAccount, IdPath, ReviewerAccount, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas import DroneLabelCreate
from api.services import drone_labels, flights

router = APIRouter(prefix="/v1/flights/{job_id}", tags=["drone labels"], responses=ERROR_RESPONSES)


@router.get("/labels")
def list_labels(job_id: IdPath, session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    """The flight's labels as a GeoJSON FeatureCollection (each with label, training class, area, who, when)."""
    job, _ = flights.visible_job(session, account, job_id)
    return drone_labels.collection(session, job)


@router.post("/labels", status_code=201)
def add_label(job_id: IdPath, data: DroneLabelCreate, session: SessionDep, account: ReviewerAccount,
              ) -> dict[str, Any]:
    """Draw a label on the flight (agronomists, admins): damage, healthy canopy, stubble, water, bare soil, shadow."""
    job, _ = flights.visible_job(session, account, job_id)
    row = drone_labels.add(session, account, job, data.label, data.geometry, data.note)
    return drone_labels.feature(row, account.username)


@router.delete("/labels/{label_id}", status_code=204, response_class=Response)
def delete_label(job_id: IdPath, label_id: IdPath, session: SessionDep, account: ReviewerAccount) -> Response:
    """Remove a label drawn by mistake."""
    job, _ = flights.visible_job(session, account, job_id)
    drone_labels.delete(session, job, label_id)
    return Response(status_code=204)


@router.get("/photos")
def flight_photos(job_id: IdPath, session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    """Farmers' geotagged photos inside the flight's footprint, with their diagnosis and severity (GeoJSON points)."""
    job, _ = flights.visible_job(session, account, job_id)
    return drone_labels.photos_in_flight(session, account, job)
