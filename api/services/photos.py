"""Farmers' photos: the served model (loaded once, swapped atomically on activation), upload -> score -> record,
reading, thumbnails and feedback."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import visible_area
from api.orm import Account, GrowingArea, Observation, PhotoFeedback, Role, utcnow
from api.schemas import FeedbackCreate, FeedbackPublic, FeedbackRecorded, PhotoPublic
from api.security import can_see, visible_areas
from api.services import labels
from api.services.area_status import note_observation
from api.services.areas import area_at
from api.settings import Settings, get_settings
from api.storage import content_path, remove_if_created, store_bytes, write_once
from inference.advice_detail import current_advice_detail
from inference.bundle import active_bundle_path
from inference.errors import (
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    StorageFull,
    TooLarge,
    Unavailable,
    Unsupported,
    reason,
)
from inference.lesion_patch_model import load_photo_model
from inference.photo import PhotoScorer
from inference.photo_io import sniff_format
from inference.results import PhotoResult, as_dict

log = logging.getLogger("cropwatch.photos")

TASK = "field_photo"
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic"}


def make_scorer(bundle_dir: Path, settings: Settings) -> PhotoScorer:
    """A scorer for a bundle with the deployment's photo limits."""
    return PhotoScorer(load_photo_model(bundle_dir, settings.photo_model_threads), max_bytes=settings.max_photo_bytes,
                       max_pixels=settings.max_photo_pixels, overlap=settings.photo_overlap)


class PhotoModelHolder:
    """Holds the active PhotoScorer; requests read `scorer`. Which version is active is the database's word
    (api.services.model_registry); `load` swaps the scorer in memory (no restart)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._scorer: PhotoScorer | None = None
        self.error: str | None = None

    def load_active(self, version: str | None) -> None:
        """At start-up: `version` (the database's active one) or, without one, the models folder's ACTIVE default;
        a failure is kept in `error` (the service still serves records without a photo model)."""
        try:
            path = self.models_dir / TASK / version if version else active_bundle_path(TASK, self.models_dir)
            self._serve(path)
        except Exception as exc:  # noqa: BLE001
            self.error = str(exc)

    def load(self, version: str) -> PhotoScorer:
        """Check and load `version` and serve it from now on (in this process)."""
        try:
            return self._serve(self.models_dir / TASK / version)
        except (BadInput, FileNotFoundError) as exc:
            raise NotFound(f"cannot activate {version}: {reason(exc)}") from exc

    def _serve(self, path: Path) -> PhotoScorer:
        scorer = make_scorer(path, get_settings())
        with self._lock:
            self._scorer, self.error = scorer, None
        return scorer

    def sync(self, version: str) -> None:
        """Serve `version` unless it is already served (the model watcher's callback)."""
        current = self._scorer
        if current is None or current.model.bundle.path != self.models_dir / TASK / version:
            self.load(version)

    @property
    def scorer(self) -> PhotoScorer | None:
        return self._scorer

    @property
    def classes(self) -> set[str]:
        """The served model's classes (empty without a model): always valid labels for a photo."""
        scorer = self._scorer
        return set(scorer.model.classes) if scorer else set()


def read_limited(stream: BinaryIO, limit: int) -> bytes:
    """Read an upload into memory, refusing it as soon as it passes `limit` bytes."""
    buf = io.BytesIO()
    while chunk := stream.read(1 << 20):
        buf.write(chunk)
        if buf.tell() > limit:
            raise TooLarge(f"the photo is larger than {limit // 2**20} MiB; send the camera's photo",
                           "photo_too_many_bytes")
    return buf.getvalue()


def check_upload(content_type: str | None, data: bytes) -> None:
    """Type checks before any decoding: the declared content type and the file's magic bytes."""
    if content_type and not (content_type.startswith("image/") or content_type in ("application/octet-stream", "")):
        raise Unsupported(f"content type {content_type} is not an image; send a JPEG or PNG photo", "not_a_photo")
    if data and sniff_format(data[:16]) is None:
        raise Unsupported("this file is not a JPEG, PNG, WebP or HEIC photo; take a photo with the camera",
                          "not_a_photo")


def locate_area(session: Session, account: Account, result: PhotoResult,
                lat: float | None, lon: float | None) -> GrowingArea:
    """The area containing the form's location, or else the photo's EXIF GPS."""
    where = (lon, lat) if lat is not None else (result.photo.lon, result.photo.lat)
    if where[0] is None or where[1] is None:
        raise BadInput("say which growing area this is: give area_code, or lat and lon, or send a photo with GPS "
                       "(turn on location for the camera)", "no_area_given")
    area = area_at(session, where[0], where[1], visible_areas(select(GrowingArea), account))
    if area is None:
        raise BadInput(f"the location lat={where[1]:.6f}, lon={where[0]:.6f} is outside every growing area you may "
                       "use; give area_code", "outside_every_area")
    return area


def record_photo(session: Session, account: Account, area: GrowingArea, data: bytes, result: PhotoResult,
                 point: tuple[float | None, float | None], device: str | None = None,
                 observed_at: datetime | None = None, idempotency_key: str | None = None) -> Observation:
    """Store the photo once by content and write the result to the area's record; nothing is left on failure."""
    data_dir = get_settings().data_dir
    rel, digest, created = store_bytes(data_dir, "photos", data, SUFFIX[result.photo.format])
    try:
        obs = Observation(
            area_id=area.id, source="photo", scores=as_dict(result), schema_version=result.schema_version,
            model_name=result.model.name, model_version=result.model.version,
            lon=point[0], lat=point[1], file_path=str(rel), file_sha256=digest, created_by_id=account.id,
            device=(device or "").strip()[:100] or result.photo.device, observed_at=observed_at or utcnow(),
            idempotency_key=idempotency_key,
        )
        session.add(obs)
        note_observation(area, obs)
        session.commit()
    except Exception:
        session.rollback()
        still_used = session.scalar(select(Observation.id).where(Observation.file_sha256 == digest))
        remove_if_created(data_dir, rel, created and still_used is None)
        raise
    return obs


def seen_upload(session: Session, account: Account, key: str | None, data: bytes,
                area_code: str | None = None) -> PhotoPublic | None:
    """The record an upload with this Idempotency-Key made before (the same photo sent again after a dropped link or a
    second tap), or None; 409 when the key came with another photo, or for another area than the record's."""
    if not key:
        return None
    obs = session.scalars(select(Observation).where(Observation.created_by_id == account.id,
                                                    Observation.idempotency_key == key)).first()
    if obs is None:
        return None
    if obs.file_sha256 != hashlib.sha256(data).hexdigest():
        raise Conflict(f"Idempotency-Key {key!r} was sent with another photo (photo {obs.id}); send each new photo "
                       "with a new key", "upload_key_reused")
    area = session.get(GrowingArea, obs.area_id)
    assert area is not None
    if area_code and area_code != area.code:
        raise Conflict(f"Idempotency-Key {key!r} recorded this photo in area {area.code}, not {area_code}; send it to "
                       "another area with a new key", "upload_key_reused")
    return to_public(obs, area.code, session)


def score_and_record(session: Session, account: Account, scorer: PhotoScorer, data: bytes,
                     area_code: str | None, lat: float | None, lon: float | None,
                     device: str | None = None, idempotency_key: str | None = None) -> tuple[PhotoPublic, bool]:
    """The whole upload: area check, scoring, area from the location when not given, storage and record. Returns the
    record and whether it is new. The caller asks seen_upload first (before waiting for a scoring slot); a send of
    the same photo with the same key recorded meanwhile is found by the key's unique index, and its record returned."""
    if account.role is Role.drone_operator:
        raise Forbidden("drone operators upload flights, not photos")
    if (lat is None) != (lon is None):
        raise BadInput("give both lat and lon, or neither")
    area = visible_area(session, account, area_code) if area_code else None
    # end the read transaction: the connection goes back to the pool while the photo is scored (tens of ms of CPU)
    # instead of being held, so concurrent uploads never queue for connections; loaded rows reload afterwards
    session.rollback()
    result, drawing = scorer.score_with_drawing(data)
    if area is None:
        area = locate_area(session, account, result, lat, lon)
    point = (lon, lat) if lat is not None else (result.photo.lon, result.photo.lat)
    try:
        obs = record_photo(session, account, area, data, result, point, device, idempotency_key=idempotency_key)
    except IntegrityError:  # the same key recorded meanwhile by a concurrent send of the same photo
        seen = seen_upload(session, account, idempotency_key, data, area_code)
        if seen is None:
            raise
        return seen, False
    if drawing is not None:
        keep_drawing(obs, drawing)
    # a new record: its result is the one just scored (the stored JSON reads back to it) and it has no feedback yet
    return to_public(obs, area.code, session, result=result), True


def feedback_with_authors(session: Session, obs_ids: list[int]) -> list[tuple[PhotoFeedback, str]]:
    """The feedback on these photos with the username of who gave it, oldest first."""
    if not obs_ids:
        return []
    rows = session.execute(select(PhotoFeedback, Account.username).join(Account, PhotoFeedback.account_id == Account.id)
                           .where(PhotoFeedback.observation_id.in_(obs_ids)).order_by(PhotoFeedback.id)).all()
    return [(fb, user) for fb, user in rows]


def to_public(obs: Observation, area_code: str, session: Session, result: PhotoResult | None = None) -> PhotoPublic:
    """The photo record as the API shows it. `result`: given for a record just written, which has no feedback yet:
    the stored JSON is not validated back into the result it was made from, nor its feedback looked up."""
    fb = feedback_with_authors(session, [obs.id]) if result is None else []
    return PhotoPublic(
        id=obs.id, area_code=area_code, observed_at=obs.observed_at,
        result=result if result is not None else PhotoResult.model_validate(current_advice_detail(obs.scores)),
        image_url=f"/v1/photos/{obs.id}/image", thumbnail_url=f"/v1/photos/{obs.id}/thumbnail",
        lesions_url=f"/v1/photos/{obs.id}/lesions.jpg" if measured_severity(obs) else None,
        feedback=[FeedbackPublic(label=f.label, confirmed=f.confirmed, comment=f.comment, other_name=f.other_name,
                                 model_label=f.model_label, model_version=f.model_version, by=user,
                                 created_at=f.created_at) for f, user in fb],
    )


def visible_photo(session: Session, account: Account, photo_id: int) -> tuple[Observation, GrowingArea]:
    obs = session.get(Observation, photo_id)
    area = session.get(GrowingArea, obs.area_id) if obs is not None and obs.source == "photo" else None
    if obs is None or area is None or not can_see(area, account):
        raise NotFound(f"no photo {photo_id} that you may see")
    return obs, area


def thumbnail_path(obs: Observation, side_px: int = 320) -> Path:
    """A JPEG thumbnail of the stored photo (made once, then cached; written atomically)."""
    from PIL import Image, ImageOps

    data_dir = get_settings().data_dir
    thumb = data_dir / "thumbnails" / f"{obs.file_sha256}.jpg"
    if not thumb.exists():
        thumb.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(data_dir / str(obs.file_path)) as src:
            src.draft("RGB", (side_px, side_px))
            im = ImageOps.exif_transpose(src).convert("RGB")
            im.thumbnail((side_px, side_px))
            tmp = thumb.with_suffix(".part")
            im.save(tmp, "JPEG", quality=82)
            tmp.replace(thumb)
    return thumb


def measured_severity(obs: Observation) -> bool:
    """Whether the photo's result has a severity (not a retake or a field patch)."""
    return (obs.scores.get("severity") or {}).get("ses") is not None


def measured_preset(obs: Observation) -> str:
    """The lesion preset a photo's severity was measured with (results stored before presets were named: "sensitive")."""
    return str(obs.scores["severity"].get("segmentation") or "sensitive")


def drawing_path(obs: Observation) -> Path:
    """Where the drawing of what a photo's severity measured is kept, relative to the data dir: one per record (the
    same photo scored again, by other code, draws its own) and lesion preset, under the photo's content hash."""
    preset = re.sub(r"[^\w.-]", "_", measured_preset(obs))
    return content_path("drawings", str(obs.file_sha256), f"-{obs.id}-{preset}.jpg")


def keep_drawing(obs: Observation, jpeg: bytes) -> None:
    """Keep the drawing made while scoring; the record stands without it (the drawing is made again when asked
    for) when the disk refuses it."""
    try:
        write_once(get_settings().data_dir, drawing_path(obs), jpeg, "the lesion drawing")
    except (StorageFull, OSError) as exc:
        log.warning("photo %s: the lesion drawing was not kept (%s); it is drawn again when asked for", obs.id, exc)


def lesion_overlay(obs: Observation, scorer: PhotoScorer) -> bytes:
    """JPEG of the lesions a stored photo's severity measured: the drawing made when it was scored; for a photo
    scored before drawings were kept, drawn once from the stored photo (PhotoScorer.lesion_overlay with the result's
    preset; results from before presets were named were measured with "sensitive") and kept. 404 when no severity
    was measured."""
    if not measured_severity(obs):
        raise NotFound(f"photo {obs.id} has no severity (its result is {obs.scores['diagnosis']['status']}): "
                       "nothing was measured to draw")
    kept = get_settings().data_dir / drawing_path(obs)
    if kept.exists():
        return kept.read_bytes()
    jpeg = scorer.lesion_overlay((get_settings().data_dir / str(obs.file_path)).read_bytes(), measured_preset(obs))
    keep_drawing(obs, jpeg)
    return jpeg


MASK_KINDS = ("leaf", "lesions", "canopy")
# masks are analysed again from the stored photo (0.1-0.3 s, up to 0.3 GB for a 16 MP photo): at most this many at
# once, the next wait, so that a burst of requests cannot take the server's memory or the uploads' cores
MASKS_AT_ONCE = threading.BoundedSemaphore(2)
MASK_WAIT_S = 30.0


def photo_mask(obs: Observation, scorer: PhotoScorer, kind: str, full_size: bool = True) -> bytes:
    """PNG of one mask of what a stored photo's result measured (PhotoMasks): the leaf, the lesions the severity
    counted (with the result's lesion preset; 404 when no severity was measured) or the green canopy; at the photo's
    upright size or as analysed. Analysed again from the stored photo by the code served now (about 35 ms)."""
    if kind not in MASK_KINDS:
        raise NotFound(f"no mask {kind!r}; the masks are {', '.join(MASK_KINDS)}")
    measured = measured_severity(obs)
    if kind == "lesions" and not measured:
        raise NotFound(f"photo {obs.id} has no severity (its result is {obs.scores['diagnosis']['status']}): no "
                       "lesion was counted, so there is no lesion mask")
    data = (get_settings().data_dir / str(obs.file_path)).read_bytes()
    if not MASKS_AT_ONCE.acquire(timeout=MASK_WAIT_S):
        raise Unavailable("the server is drawing other masks; ask again in a minute", "masks_busy")
    try:
        masks = scorer.measured_masks(data, measured_preset(obs) if measured else None)
        full_rgb = scorer.full_size_rgb(data) if full_size and kind == "canopy" else None
        return masks.png(kind, full_size, full_rgb)
    finally:
        MASKS_AT_ONCE.release()


def add_feedback(session: Session, account: Account, obs: Observation, data: FeedbackCreate,
                 known_classes: set[str]) -> FeedbackRecorded:
    """Confirm or correct a diagnosis (agronomists, admins, or the area's farmer) with a label from the registry."""
    if account.role is Role.drone_operator:
        raise Forbidden("drone operators cannot label photos")
    model_label = str(obs.scores["diagnosis"]["label"])
    label = data.label
    if label is None:
        if data.verdict != "right":
            raise BadInput("give a label (what it is), or verdict 'right' to confirm the model's answer")
        if model_label not in known_classes:  # "unsure": nothing to confirm
            raise BadInput(f"the model answered {model_label!r}, which is not a label; say what it is with 'label'")
        label = model_label
    if data.verdict == "right" and label != model_label:
        raise BadInput(f"verdict 'right' confirms the model's answer {model_label!r}; for another label say 'wrong'")
    lab = labels.check_label(session, label, data.other_name, known_classes)
    fb = PhotoFeedback(observation_id=obs.id, account_id=account.id, label=label, confirmed=label == model_label,
                       comment=data.comment, other_name=(data.other_name or "").strip() or None if lab.kind == "other"
                       else None, model_label=model_label, model_version=obs.model_version)
    session.add(fb)
    session.commit()
    return FeedbackRecorded(id=fb.id, photo_id=obs.id, label=fb.label, confirmed=fb.confirmed, kind=lab.kind,
                            other_name=fb.other_name, model_label=model_label, model_version=fb.model_version)
