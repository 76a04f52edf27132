"""Request and response schemas (Create, Update, Public per entity)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from api.orm import AreaStatus, Role
from inference.results import DroneSummary, JobParams, ModelRef, PhotoResult, SprayPlanSummary


def _no_control_chars(v: str | None) -> str | None:
    """Text is stored alike on SQLite and PostgreSQL: no NUL or other control characters (PostgreSQL refuses NUL)."""
    if v is not None and any(ord(c) < 32 and c not in "\t\n\r" for c in v):
        raise ValueError("must not contain control characters (such as NUL)")
    return v


def _clean_text(v: Any) -> Any:
    """Vietnamese text in one form: Unicode NFC (macOS and some keyboards send "Sóc Trăng" decomposed, NFD, which
    compared unequal to the composed form: an agronomist's own province's areas were refused and hidden) and no
    surrounding spaces (a name of spaces only is then empty, and refused where a name is required)."""
    return unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v


_NoControl = AfterValidator(_no_control_chars)
_Clean = BeforeValidator(_clean_text)
Name64 = Annotated[str, _Clean, Field(max_length=64), _NoControl]
Name100 = Annotated[str, _Clean, Field(max_length=100), _NoControl]
Name200 = Annotated[str, _Clean, Field(max_length=200), _NoControl]
ReqName64 = Annotated[str, _Clean, Field(min_length=1, max_length=64), _NoControl]
ReqName200 = Annotated[str, _Clean, Field(min_length=1, max_length=200), _NoControl]
Note2000 = Annotated[str, _Clean, Field(max_length=2000), _NoControl]
Note5000 = Annotated[str, _Clean, Field(max_length=5000), _NoControl]
DbId = Annotated[int, Field(ge=1, le=2_147_483_647, description="a record id")]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    full_name: Name200 = ""
    role: Role
    province: Name100 | None = None
    cooperative: Name200 | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class AccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    full_name: str
    role: Role
    province: str | None
    cooperative: str | None
    is_active: bool
    can_promote: bool = Field(description="may promote and roll back served models (agronomists an admin chose)")


class AreaBase(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: ReqName200
    crop: ReqName64 = Field(description="e.g. rice, sugarcane, shallot, fruit; a known crop in any of its names "
                            "(lúa, Lúa, Rice) is stored as its name (rice)")
    variety: Name100 | None = Field(default=None, description="e.g. ST25")
    cooperative: Name200 | None = None
    commune: Name100 | None = None
    district: Name100 | None = None
    province: Name100 | None = None
    sowing_date: date | None = Field(default=None, description="sowing or transplanting date of the current season "
                                     "(growth is then shown against days after sowing)")
    season: Name64 | None = Field(default=None, description="the current season, e.g. 'Đông Xuân 2026-2027' "
                                  "(the base map filters by it)")


class AreaCreate(AreaBase):
    code: str = Field(description="Planting-area code, e.g. VN-STOR-0001")
    boundary: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon in EPSG:4326 (lon, lat)")
    owner_username: str | None = Field(default=None, description="Owner account; default: the caller")
    perennial: bool | None = Field(default=None, description="Perennial crop (legal minimum 1 ha instead of 0.1 ha)")
    overlap_override_reason: Note2000 | None = Field(
        default=None, description="agronomists and admins: why an overlap with another owner's area is accepted")


class AreaUpdate(BaseModel):
    """Only the fields given change; name, crop, status and boundary cannot be emptied (null is refused)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: ReqName200 = None  # type: ignore[assignment]
    crop: ReqName64 = None  # type: ignore[assignment]
    variety: Name100 | None = None
    cooperative: Name200 | None = None
    commune: Name100 | None = None
    district: Name100 | None = None
    province: Name100 | None = None
    sowing_date: date | None = None
    season: Name64 | None = None
    status: AreaStatus = None  # type: ignore[assignment]
    boundary: dict[str, Any] = None  # type: ignore[assignment]
    owner_username: Name64 | None = None
    overlap_override_reason: Note2000 | None = Field(
        default=None, description="agronomists and admins: why an overlap with another owner's area is accepted")


class AreaPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    crop: str
    variety: str | None
    owner_username: str | None
    cooperative: str | None
    commune: str | None
    district: str | None
    province: str | None
    status: AreaStatus
    sowing_date: date | None = None
    season: str | None = None
    boundary: dict[str, Any]
    area_ha: float
    utm_epsg: int
    created_at: datetime
    updated_at: datetime
    overlap_override_reason: str | None = None
    warnings: list[str] = []


class AreaPage(BaseModel):
    items: list[AreaPublic]
    total: int
    limit: int
    offset: int


class ImportRejection(BaseModel):
    feature: int
    code: str | None
    reason: str


class ImportReport(BaseModel):
    created: list[str]
    rejected: list[ImportRejection]
    unchanged: list[str] = Field(default_factory=list, description="codes registered already with the same owner and "
                                 "boundary: a file imported again is not refused for its areas already in")
    warnings: list[str]
    source_crs: str | None


class FeedbackPublic(BaseModel):
    label: str
    confirmed: bool = Field(description="the label is the model's answer (the farmer said 'right')")
    comment: str | None
    other_name: str | None = Field(default=None, description="the farmer's name for it, with label 'other'")
    model_label: str | None = Field(default=None, description="what the model answered")
    model_version: str | None = None
    by: str | None = Field(default=None, description="the username of who gave it")
    created_at: datetime


class FeedbackRecorded(BaseModel):
    id: int
    photo_id: int
    label: str
    confirmed: bool
    kind: str = Field(default="disease", description="the label's kind: disease, pest, healthy, other, unsure")
    other_name: str | None = None
    model_label: str | None = None
    model_version: str | None = None


class LabelPublic(BaseModel):
    name: str
    kind: str = Field(description="disease | pest | healthy | other | unsure")
    name_vi: str
    name_en: str
    active: bool = True
    added_by: str = "seed"
    in_model: bool = Field(default=False, description="the served model can answer it")


class LabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: ReqName64 = Field(description="identifier: lower-case letters, digits, underscores (e.g. 'tungro')")
    kind: str = Field(description="disease | pest | healthy | other | unsure")
    name_vi: ReqName200
    name_en: ReqName200


class ObservationPublic(BaseModel):
    """One entry of an area's history: a scored photo, a drone analysis, ..."""

    id: int
    source: str = Field(description="photo | drone | manual")
    observed_at: datetime
    scores: dict[str, Any] = Field(description="the result document (PhotoResult or DroneSummary)")
    schema_version: str
    model_name: str | None
    model_version: str | None
    lon: float | None
    lat: float | None
    device: str | None = Field(default=None, description="a photo's phone make and model, when known")


class PhotoModelPublic(BaseModel):
    name: str
    version: str
    classes: list[str]
    metrics: dict[str, Any]


class ModelActivated(BaseModel):
    active: str
    previous: str | None = None
    activation_id: int | None = None


class JobPublic(BaseModel):
    id: int
    kind: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress_pct: float
    area_code: str | None
    error: str | None
    error_reason: str | None = Field(default=None, description="why a failed job failed, as a code (the refusals' "
                                     "`reason`, e.g. raster_no_valid_pixels, raster_truncated): pages say it in "
                                     "their language")
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    params: JobParams | None = None
    result: DroneSummary | None = None
    observation_id: int | None
    files: dict[str, str] = Field(description="download links, once the job has succeeded")


class SprayMapPublic(BaseModel):
    id: int
    area_code: str
    created_at: datetime
    summary: SprayPlanSummary
    config: dict[str, Any] = Field(description="the SprayPlanConfig the plan was made with")
    job_id: int | None
    damage_model: ModelRef | None
    downloads: dict[str, str]
    preview: str
    zones: dict[str, Any] | None = Field(default=None, description="GeoJSON FeatureCollection (EPSG:4326) with rates")
    boundary: dict[str, Any] | None = Field(default=None, description="the field boundary the plan was made for "
                                            "(GeoJSON geometry, EPSG:4326)")
    exclusions: dict[str, Any] | None = Field(default=None, description="the buffered exclusions (GeoJSON geometry)")


class SprayApplicationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    applied_on: datetime = Field(description="in the record's time zone")
    time_zone: str | None = None
    product: str
    registration_number: str | None = None
    active_ingredient: str
    listed: bool | None = Field(default=None, description="on the permitted-products list when recorded")
    dose_l_per_ha: float | None = None
    dose_per_ha: float | None = None
    dose_unit: str | None = None
    water_l_per_ha: float | None = None
    volume_l: float
    operator: str
    spray_map_id: int | None
    phi_days: int | None = Field(default=None, description="pre-harvest interval of the product, days")
    harvest_allowed_from: date | None = Field(default=None, description="first day the crop may be harvested")
    planned_harvest_on: date | None = None
    warnings: list[str] = []
    idempotency_key: str | None = None
    notes: str | None


class PermittedProductPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    trade_name: str
    active_ingredient: str
    registration_number: str | None
    crops: str | None
    target: str | None
    phi_days: int | None
    max_dose_per_ha: float | None
    dose_unit: str | None
    is_sample: bool
    source: str | None


class PhotoPublic(BaseModel):
    id: int
    area_code: str
    observed_at: datetime
    image_url: str
    thumbnail_url: str
    lesions_url: str | None = Field(default=None, description="JPEG of what the severity measured: leaf outlined, "
                                    "lesions in magenta; none when no severity was measured (retake, field patch)")
    result: PhotoResult
    feedback: list[FeedbackPublic] = []


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    label: ReqName64 | None = Field(default=None, description="the right label from the class registry "
                                   "(GET /v1/labels): a disease, a pest, 'healthy', 'not_sure', or 'other' with "
                                   "other_name; omit it with verdict 'right' to confirm the model's answer")
    verdict: Literal["right", "wrong"] | None = Field(default=None, description="'right': the model's answer is right")
    other_name: Name100 | None = Field(default=None, description="with label 'other': what it is, in words")
    comment: Note2000 | None = None


class ModelActivate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    version: ReqName64
    reason: Note2000 | None = Field(default=None, description="why; required with force")
    force: bool = Field(default=False, description="promote although the comparison with the active version "
                                                   "refused it, or without one (a reason is required)")


class ModelCompare(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    version_b: ReqName64 = Field(description="the candidate")
    version_a: Name64 | None = Field(default=None, description="default: the active version")


class ModelRollback(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    reason: Note2000 | None = None


class ModelActivationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    task: str
    version: str
    previous_version: str | None
    action: str
    actor: str
    reason: str | None
    forced: bool
    comparison: dict[str, Any] | None = Field(default=None, description="the comparison the promotion passed: "
                                              "benchmark, margin, regressions, created_at")
    created_at: datetime


class ModelVersionPublic(BaseModel):
    version: str
    active: bool
    architecture: str | None
    metrics: dict[str, Any]
    files: list[str] = Field(description="the bundle's model card and plots, under /v1/models/{task}/{version}/")
    warning: str | None = Field(default=None, description="why it is no candidate to serve (a quick-subset run)")
    error: str | None = Field(default=None, description="why the folder is no readable bundle (a broken model.json)")


class SprayMapCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    job_id: DbId = Field(description="a succeeded drone analysis job; its damage map and area are used")
    config: dict[str, Any] = Field(default_factory=dict, description="SprayPlanConfig (swath_m, rate_l_per_ha, ...)")
    boundary: dict[str, Any] | None = Field(
        default=None, description="the operator's field boundary for this plan: a GeoJSON Polygon or MultiPolygon, "
        "Feature or FeatureCollection in EPSG:4326 that overlaps the area; default: the area's boundary. It belongs "
        "to the spray map and never changes the area's record")


class SprayApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    applied_on: datetime = Field(description="when it was sprayed; a time without a zone is read in `time_zone`")
    time_zone: str | None = Field(default=None, max_length=64, description="IANA zone of the farm (default: the "
                                  "service's, Asia/Ho_Chi_Minh); times are returned in it")
    product: ReqName200 = Field(description="trade name, on Vietnam's permitted list")
    registration_number: str | None = Field(default=None, max_length=64, description="the product's registration "
                                            "number; found from the list when absent")
    active_ingredient: Name200 | None = Field(default=None, description="default: the list's")
    dose_l_per_ha: float | None = Field(default=None, gt=0, le=1000, description="product dose in L/ha (older "
                                        "clients); prefer dose_per_ha with dose_unit")
    dose_per_ha: float | None = Field(default=None, gt=0, le=100_000, description="product dose per ha")
    dose_unit: Literal["L", "mL", "kg", "g"] | None = Field(default=None, description="unit of dose_per_ha")
    water_l_per_ha: float | None = Field(default=None, gt=0, le=2000, description="spray volume (water), L/ha")
    volume_l: float = Field(gt=0, le=1_000_000, description="litres of spray mix applied (at most 5000 L per ha of "
                            "the area)")
    operator: ReqName200
    spray_map_id: DbId | None = None
    planned_harvest_on: date | None = Field(default=None, description="checked against the pre-harvest interval")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100, description="the same key "
                                        "posted again returns the first record instead of a duplicate (also as "
                                        "the Idempotency-Key header)")
    notes: Note5000 | None = None

    @model_validator(mode="after")
    def _dose(self) -> SprayApplicationCreate:
        if self.applied_on.year < 2000:  # year 1 gave a 500 from the time-zone arithmetic; 1900 an odd +07:06 zone
            raise ValueError(f"applied_on {self.applied_on.date()} is before 2000: check the date")
        if self.planned_harvest_on is not None and self.planned_harvest_on < self.applied_on.date():
            raise ValueError(f"planned_harvest_on {self.planned_harvest_on} is before the spray ({self.applied_on.date()}):"
                             " check both dates")
        if self.dose_per_ha is None and self.dose_l_per_ha is None:
            raise ValueError("give the product's dose: dose_per_ha with dose_unit (or dose_l_per_ha)")
        if self.dose_per_ha is not None and self.dose_unit is None:
            raise ValueError("dose_unit is required with dose_per_ha (L, mL, kg or g)")
        if self.dose_per_ha is None:  # an older client's dose: the same dose in the one form the log checks and prints
            self.dose_per_ha, self.dose_unit = self.dose_l_per_ha, "L"
        return self


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    action: Literal["confirm", "correct", "reject"] = Field(
        description="confirm: the farmer's label (or the given one); correct: the given label; reject: not usable")
    label: Name64 | None = Field(default=None, description="a disease, pest or 'healthy' from GET /v1/labels")
    note: Note2000 | None = None
    only_if_unreviewed: bool = Field(
        default=False, description="refuse (409, reason review_already_reviewed) when the photo has a review already: "
        "two reviewers working one queue, the second on a page shown before the first decided")


class ReviewPublic(BaseModel):
    id: int
    photo_id: int
    action: str
    label: str | None
    note: str | None
    by: str
    created_at: datetime


class ReviewSeverity(BaseModel):
    affected_pct: float = Field(description="lesion share of the leaf, %")
    ses: int = Field(description="IRRI SES grade 0-9 of the result's disease scale")
    segmentation: str | None = Field(description="the lesion preset it was measured with (none: results stored "
                                     "before presets were named, measured with 'sensitive')")


class LabelProbability(BaseModel):
    label: str
    probability: float


class ReviewModelAnswer(BaseModel):
    label: str | None = Field(description="the diagnosis label (a disease, 'unsure', 'no_symptom' or 'retake')")
    status: str | None = Field(description="diagnosed | unsure | retake | ...")
    confidence: float | None
    version: str | None = Field(description="the model version that scored the photo")
    top2: list[LabelProbability] = Field(description="the two most likely diseases, likeliest first")


class ReviewFarmerLabel(BaseModel):
    label: str
    other_name: str | None
    comment: str | None
    by: str = Field(description="the username of who gave it")
    created_at: datetime


class ReviewQueueItem(BaseModel):
    photo_id: int
    area_code: str
    observed_at: datetime
    image_url: str
    thumbnail_url: str
    lesions_url: str | None = Field(default=None, description="what the severity counted, drawn (GET "
                                    "/v1/photos/{id}/lesions.jpg); none when no severity was measured")
    severity: ReviewSeverity | None = Field(default=None, description="the photo's stored severity; none when no "
                                            "severity was measured")
    reason: str = Field(description="disagreement | farmer_unsure | model_unsure | agreement (the queue's order)")
    model: ReviewModelAnswer = Field(description="what the model answered")
    farmer: ReviewFarmerLabel | None = Field(description="the farmer's newest label, if any")
    device: str | None


class ReviewQueue(BaseModel):
    queued: int
    items: list[ReviewQueueItem]


class DroneLabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    label: Literal["damage", "healthy_canopy", "stubble", "water", "bare_soil", "shadow"] = Field(
        description="what is on the ground: real damage, healthy canopy, or a look-alike that is not damage")
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon in longitude/latitude (EPSG:4326)")
    note: Note2000 | None = None
