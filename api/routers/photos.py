"""Farmers' photos: upload and score, read, image and thumbnail, feedback."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from api.deps import CurrentAccount, IdPath, PhotoTakerAccount, ScorerDep, SessionDep
from api.errors import ERROR_RESPONSES, Unavailable
from api.schemas import FeedbackCreate, FeedbackRecorded, PhotoPublic
from api.scoring import available_cores
from api.services import photos
from api.settings import get_settings

router = APIRouter(prefix="/v1/photos", tags=["photos"], responses=ERROR_RESPONSES)


def scoring_slots(app: FastAPI) -> asyncio.Semaphore:
    """The process's photo-scoring slots for uploads: CROPWATCH_SCORING_SLOTS, default two per scoring process
    (api/scoring.py; one is scored while the next one's bytes are on their way) or, scoring in the server's threads,
    one per core the process may use. Scoring is CPU work (decode, leaf analysis, network); uploads beyond the slots
    wait their turn as coroutines, holding no thread and no database connection, instead of all scoring at once and
    sharing the cores in slices (figures: README, Benchmarks). Made on first use in the running event loop."""
    loop = asyncio.get_running_loop()
    held = getattr(app.state, "scoring_slots", None)
    if held is None or held[0] is not loop:
        pool = getattr(app.state, "scoring_pool", None)
        default = 2 * pool.processes if pool is not None else available_cores()
        held = app.state.scoring_slots = (loop, asyncio.Semaphore(get_settings().scoring_slots or default))
    return held[1]


class ServerBusy(Unavailable):
    """Every scoring slot stayed taken for CROPWATCH_SCORING_WAIT_S: 503 with Retry-After; nothing was stored."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@router.post("", response_model=PhotoPublic, status_code=201,
             responses={200: {"model": PhotoPublic, "description": "sent before with this Idempotency-Key: the first "
                                                                   "record, not scored again"}})
async def upload_photo(
    request: Request,
    response: Response,
    session: SessionDep,
    account: PhotoTakerAccount,
    scorer: ScorerDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or HEIC photo of a leaf or a patch of field")],
    area_code: Annotated[str | None, Form(description="planting-area code; default: the area at the location")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    device: Annotated[str | None, Form(max_length=100, description="the phone's make and model (the page reads it "
                                       "from EXIF before shrinking the photo); default: the photo's EXIF")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=100, description="one per photo the farmer chose: the "
                                                  "same photo sent again with it (a dropped link, a second tap) "
                                                  "returns the first record (200) instead of a second one")] = None,
) -> PhotoPublic:
    """Score a photo and write it to the growing area's record."""
    data = await run_in_threadpool(photos.read_limited, file.file, get_settings().max_photo_bytes)
    photos.check_upload(file.content_type, data)
    idempotency_key = (idempotency_key or "").strip() or None  # an empty header is no key
    seen = await run_in_threadpool(photos.seen_upload, session, account, idempotency_key, data, area_code)
    if seen is not None:  # before waiting for a slot: a photo sent again is not scored again
        response.status_code = 200
        return seen
    # end the sign-in check's transaction first: a waiting upload must not hold a pooled connection, or uploads
    # beyond the pool's size plus the slots would take every connection while the scoring ones wait for one
    await run_in_threadpool(session.rollback)
    slots, wait_s = scoring_slots(request.app), get_settings().scoring_wait_s
    try:
        async with asyncio.timeout(wait_s):
            await slots.acquire()
    except TimeoutError:
        raise ServerBusy(f"the service is scoring other photos and none was free for {wait_s:g} s; nothing was "
                         "stored: send the photo again in a minute", retry_after_s=30) from None
    try:
        public, created = await run_in_threadpool(photos.score_and_record, session, account, scorer, data, area_code,
                                                  lat, lon, device, idempotency_key)
    finally:
        slots.release()
    if not created:
        response.status_code = 200
    return public


@router.get("/{photo_id}", response_model=PhotoPublic)
def read_photo(photo_id: IdPath, session: SessionDep, account: CurrentAccount) -> PhotoPublic:
    """A scored photo and its feedback."""
    obs, area = photos.visible_photo(session, account, photo_id)
    return photos.to_public(obs, area.code, session)


@router.get("/{photo_id}/image", response_class=FileResponse)
def photo_image(photo_id: IdPath, session: SessionDep, account: CurrentAccount) -> FileResponse:
    """The uploaded photo as stored."""
    obs, _ = photos.visible_photo(session, account, photo_id)
    return FileResponse(get_settings().data_dir / str(obs.file_path))


@router.get("/{photo_id}/thumbnail", response_class=FileResponse)
def photo_thumbnail(photo_id: IdPath, session: SessionDep, account: CurrentAccount) -> FileResponse:
    """A 320 px JPEG thumbnail (made once, then cached)."""
    obs, _ = photos.visible_photo(session, account, photo_id)
    return FileResponse(photos.thumbnail_path(obs), media_type="image/jpeg")


@router.get("/{photo_id}/lesions.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG at the analysis size"}})
def photo_lesions(photo_id: IdPath, session: SessionDep, account: CurrentAccount, scorer: ScorerDep) -> Response:
    """What the severity measured: the photo at its analysis size (short side 300 px), everything beyond the leaf
    dimmed, the leaf outlined in white, the lesions counted in magenta, with the lesion preset the result names
    (`severity.segmentation`). Drawn from the masks the severity was computed on when the photo was scored, and
    kept; a photo scored before drawings were kept is drawn once from the stored photo by the code then served."""
    obs, _ = photos.visible_photo(session, account, photo_id)
    jpeg = photos.lesion_overlay(obs, scorer)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{photo_id}/masks/{kind}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "one-channel PNG, 255 inside"}})
def photo_mask(photo_id: IdPath, kind: Literal["leaf", "lesions", "canopy"], session: SessionDep,
               account: CurrentAccount, scorer: ScorerDep,
               size: Annotated[Literal["full", "analysed"], Query(
                   description="full: the photo's upright size (each analysed pixel a block); analysed: the "
                               "analysis size (short side 300 px)")] = "full") -> Response:
    """A mask of what the photo's result measured, to compare with a hand mask or look at: the leaf the severity
    was measured on, the lesions it counted (404 when the result has no severity) or the green vegetation the canopy
    cover is. Measured again from the stored photo."""
    obs, _ = photos.visible_photo(session, account, photo_id)
    png = photos.photo_mask(obs, scorer, kind, full_size=size == "full")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/{photo_id}/feedback", response_model=FeedbackRecorded, status_code=201)
def photo_feedback(photo_id: IdPath, data: FeedbackCreate, session: SessionDep, account: CurrentAccount,
                   request: Request) -> FeedbackRecorded:
    """Confirm or correct a diagnosis (agronomists, admins, or the area's farmer)."""
    obs, _ = photos.visible_photo(session, account, photo_id)
    return photos.add_feedback(session, account, obs, data, request.app.state.photo_models.classes)
