"""Farmers' photos: upload and score, read, image and thumbnail, feedback."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.areas import area_at
from api.db import get_session
from api.orm import Account, GrowingArea, Observation, PhotoFeedback, Role
from api.routers.areas import get_visible_area
from api.schemas import FeedbackCreate, PhotoPublic, PhotoResult
from api.security import CurrentAccount, can_see, visible_areas
from api.settings import get_settings
from api.storage import remove_if_created, store_bytes
from inference.photo import PhotoScorer
from inference.photo_io import PhotoError, sniff_format

router = APIRouter(prefix="/v1/photos", tags=["photos"])
SessionDep = Annotated[Session, Depends(get_session)]
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic"}


def get_scorer(request: Request) -> PhotoScorer:
    holder = request.app.state.photo_models
    if holder.scorer is None:
        raise HTTPException(503, detail=f"no photo model is loaded ({holder.error}); an admin must activate one")
    return holder.scorer


def _read_limited(file: UploadFile, limit: int) -> bytes:
    buf = io.BytesIO()
    while chunk := file.file.read(1 << 20):
        buf.write(chunk)
        if buf.tell() > limit:
            raise HTTPException(413, detail=f"the photo is larger than {limit // 2**20} MiB; send the camera's photo")
    return buf.getvalue()


def _public(obs: Observation, area_code: str, session: Session) -> PhotoPublic:
    fb = session.scalars(select(PhotoFeedback).where(PhotoFeedback.observation_id == obs.id)).all()
    return PhotoPublic(
        id=obs.id, area_code=area_code, observed_at=obs.observed_at, result=PhotoResult.model_validate(obs.scores),
        image_url=f"/v1/photos/{obs.id}/image", thumbnail_url=f"/v1/photos/{obs.id}/thumbnail",
        feedback=[{"label": f.label, "confirmed": f.confirmed, "comment": f.comment,
                   "created_at": f.created_at.isoformat()} for f in fb],
    )


@router.post("", response_model=PhotoPublic, status_code=201)
async def upload_photo(
    session: SessionDep,
    account: CurrentAccount,
    scorer: Annotated[PhotoScorer, Depends(get_scorer)],
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or HEIC photo of a leaf or a patch of field")],
    area_code: Annotated[str | None, Form(description="planting-area code; default: the area at the location")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
) -> PhotoPublic:
    """Score a photo and write it to the growing area's record."""
    settings = get_settings()
    if (lat is None) != (lon is None):
        raise HTTPException(422, detail="give both lat and lon, or neither")
    area: GrowingArea | None = get_visible_area(area_code, session, account) if area_code else None
    if file.content_type and not (file.content_type.startswith("image/") or file.content_type in
                                  ("application/octet-stream", "")):
        raise HTTPException(415, detail=f"content type {file.content_type} is not an image; send a JPEG or PNG photo")
    data = _read_limited(file, settings.max_photo_bytes)
    if sniff_format(data[:16]) is None and data:
        raise HTTPException(415, detail="this file is not a JPEG, PNG, WebP or HEIC photo; take a photo with the camera")
    try:
        result = await run_in_threadpool(scorer.score, data)
    except PhotoError as exc:
        raise HTTPException(exc.status, detail=str(exc)) from exc
    if area is None:
        where = (lon, lat) if lat is not None else (result["photo"]["lon"], result["photo"]["lat"])
        if where[0] is None:
            raise HTTPException(422, detail="say which growing area this is: give area_code, or lat and lon, or "
                                            "send a photo with GPS (turn on location for the camera)")
        area = area_at(session, where[0], where[1], visible_areas(select(GrowingArea), account))
        if area is None:
            raise HTTPException(422, detail=f"the location lat={where[1]:.6f}, lon={where[0]:.6f} is outside every "
                                            "growing area you may use; give area_code")
    if account.role is Role.drone_operator:
        raise HTTPException(403, detail="drone operators upload flights, not photos")
    point = (lon, lat) if lat is not None else (result["photo"]["lon"], result["photo"]["lat"])
    rel, digest, created = store_bytes(settings.data_dir, "photos", data, SUFFIX[result["photo"]["format"]])
    try:
        obs = Observation(
            area_id=area.id, source="photo", scores=result, schema_version=result["schema_version"],
            model_name=result["model"]["name"], model_version=result["model"]["version"],
            lon=point[0], lat=point[1], file_path=str(rel), file_sha256=digest, created_by_id=account.id,
        )
        session.add(obs)
        session.commit()
    except Exception:
        session.rollback()
        still_used = session.scalar(select(Observation.id).where(Observation.file_sha256 == digest))
        remove_if_created(settings.data_dir, rel, created and still_used is None)
        raise
    return _public(obs, area.code, session)


def _visible_photo(photo_id: int, session: Session, account: Account) -> tuple[Observation, GrowingArea]:
    obs = session.get(Observation, photo_id)
    area = session.get(GrowingArea, obs.area_id) if obs is not None and obs.source == "photo" else None
    if obs is None or area is None or not can_see(area, account):
        raise HTTPException(404, detail=f"no photo {photo_id} that you may see")
    return obs, area


@router.get("/{photo_id}", response_model=PhotoPublic)
def read_photo(photo_id: int, session: SessionDep, account: CurrentAccount) -> PhotoPublic:
    """A scored photo and its feedback."""
    obs, area = _visible_photo(photo_id, session, account)
    return _public(obs, area.code, session)


@router.get("/{photo_id}/image")
def photo_image(photo_id: int, session: SessionDep, account: CurrentAccount) -> FileResponse:
    """The uploaded photo as stored."""
    obs, _ = _visible_photo(photo_id, session, account)
    return FileResponse(get_settings().data_dir / str(obs.file_path))


@router.get("/{photo_id}/thumbnail")
def photo_thumbnail(photo_id: int, session: SessionDep, account: CurrentAccount) -> FileResponse:
    """A 320 px JPEG thumbnail (made once, then cached)."""
    from PIL import Image, ImageOps

    obs, _ = _visible_photo(photo_id, session, account)
    data_dir = get_settings().data_dir
    thumb = data_dir / "thumbnails" / f"{obs.file_sha256}.jpg"
    if not thumb.exists():
        thumb.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(data_dir / str(obs.file_path)) as src:
            src.draft("RGB", (320, 320))
            im = ImageOps.exif_transpose(src).convert("RGB")
            im.thumbnail((320, 320))
            tmp = thumb.with_suffix(".part")
            im.save(tmp, "JPEG", quality=82)
            tmp.replace(thumb)
    return FileResponse(thumb, media_type="image/jpeg")


@router.post("/{photo_id}/feedback", status_code=201)
def photo_feedback(
    photo_id: int, data: FeedbackCreate, session: SessionDep, account: CurrentAccount, request: Request
) -> dict:  # type: ignore[type-arg]
    """Confirm or correct a diagnosis (agronomists, admins, or the area's farmer)."""
    obs, _ = _visible_photo(photo_id, session, account)
    if account.role is Role.drone_operator:
        raise HTTPException(403, detail="drone operators cannot label photos")
    holder = request.app.state.photo_models
    known = set(holder.scorer.model.classes) if holder.scorer else set()
    allowed = known | {"healthy", "other"}
    if data.label not in allowed:
        raise HTTPException(422, detail=f"label must be one of: {', '.join(sorted(allowed))}")
    fb = PhotoFeedback(observation_id=obs.id, account_id=account.id, label=data.label,
                       confirmed=data.label == obs.scores["diagnosis"]["label"], comment=data.comment)
    session.add(fb)
    session.commit()
    return {"id": fb.id, "photo_id": obs.id, "label": fb.label, "confirmed": fb.confirmed}
