"""Request and response schemas (Create, Update, Public per entity)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.orm import AreaStatus, Role
from inference.results import DroneSummary, JobParams, ModelRef, PhotoResult, SprayPlanSummary


def _no_control_chars(v: str | None) -> str | None:
    """Text is stored alike on SQLite and PostgreSQL: no NUL or other control characters (PostgreSQL refuses NUL)."""
    if v is not None and any(ord(c) < 32 and c not in "\t\n\r" for c in v):
        raise ValueError("must not contain control characters (such as NUL)")
    return v


_NoControl = AfterValidator(_no_control_chars)
Name64 = Annotated[str, Field(max_length=64), _NoControl]
Name100 = Annotated[str, Field(max_length=100), _NoControl]
Name200 = Annotated[str, Field(max_length=200), _NoControl]
ReqName64 = Annotated[str, Field(min_length=1, max_length=64), _NoControl]
ReqName200 = Annotated[str, Field(min_length=1, max_length=200), _NoControl]
Note2000 = Annotated[str, Field(max_length=2000), _NoControl]
Note5000 = Annotated[str, Field(max_length=5000), _NoControl]
DbId = Annotated[int, Field(ge=1, le=2_147_483_647, description="a record id")]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    full_name: Name200 = ""
    role: Role
    province: Name100 | None = None
    cooperative: Name200 | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
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


class AreaBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ReqName200
    crop: ReqName64 = Field(description="e.g. rice, sugarcane, shallot, fruit")
    variety: Name100 | None = Field(default=None, description="e.g. ST25")
    cooperative: Name200 | None = None
    commune: Name100 | None = None
    district: Name100 | None = None
    province: Name100 | None = None


class AreaCreate(AreaBase):
    code: str = Field(description="Planting-area code, e.g. VN-STOR-0001")
    boundary: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon in EPSG:4326 (lon, lat)")
    owner_username: str | None = Field(default=None, description="Owner account; default: the caller")
    perennial: bool | None = Field(default=None, description="Perennial crop (legal minimum 1 ha instead of 0.1 ha)")
    overlap_override_reason: Note2000 | None = Field(
        default=None, description="agronomists and admins: why an overlap with another owner's area is accepted")


class AreaUpdate(BaseModel):
    """Only the fields given change; name, crop, status and boundary cannot be emptied (null is refused)."""

    model_config = ConfigDict(extra="forbid")
    name: ReqName200 = None  # type: ignore[assignment]
    crop: ReqName64 = None  # type: ignore[assignment]
    variety: Name100 | None = None
    cooperative: Name200 | None = None
    commune: Name100 | None = None
    district: Name100 | None = None
    province: Name100 | None = None
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
    warnings: list[str]
    source_crs: str | None


class FeedbackPublic(BaseModel):
    label: str
    confirmed: bool
    comment: str | None
    created_at: datetime


class FeedbackRecorded(BaseModel):
    id: int
    photo_id: int
    label: str
    confirmed: bool


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


class PhotoModelPublic(BaseModel):
    name: str
    version: str
    classes: list[str]
    metrics: dict[str, Any]


class ModelActivated(BaseModel):
    active: str


class JobPublic(BaseModel):
    id: int
    kind: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress_pct: float
    area_code: str | None
    error: str | None
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
    applied_on: datetime
    product: str
    active_ingredient: str
    dose_l_per_ha: float
    volume_l: float
    operator: str
    spray_map_id: int | None
    notes: str | None


class PhotoPublic(BaseModel):
    id: int
    area_code: str
    observed_at: datetime
    image_url: str
    thumbnail_url: str
    result: PhotoResult
    feedback: list[FeedbackPublic] = []


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: ReqName64 = Field(description="the right class name, or 'healthy', 'other' for what the model does not know")
    comment: Note2000 | None = None


class ModelActivate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str


class SprayMapCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: DbId = Field(description="a succeeded drone analysis job; its damage map and area are used")
    config: dict[str, Any] = Field(default_factory=dict, description="SprayPlanConfig (swath_m, rate_l_per_ha, ...)")
    boundary: dict[str, Any] | None = Field(
        default=None, description="the operator's field boundary for this plan: a GeoJSON Polygon or MultiPolygon, "
        "Feature or FeatureCollection in EPSG:4326 that overlaps the area; default: the area's boundary. It belongs "
        "to the spray map and never changes the area's record")


class SprayApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    applied_on: datetime
    product: ReqName200 = Field(description="trade name, on Vietnam's permitted list")
    active_ingredient: ReqName200
    dose_l_per_ha: float = Field(gt=0, le=1000)
    volume_l: float = Field(gt=0)
    operator: ReqName200
    spray_map_id: DbId | None = None
    notes: Note5000 | None = None
