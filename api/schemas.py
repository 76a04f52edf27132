"""Request and response schemas (Create, Update, Public per entity)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.orm import AreaStatus, Role


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    full_name: str = ""
    role: Role
    province: str | None = None
    cooperative: str | None = None


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
    name: str = Field(min_length=1, max_length=200)
    crop: str = Field(min_length=1, max_length=64, description="e.g. rice, sugarcane, shallot, fruit")
    variety: str | None = Field(default=None, max_length=100, description="e.g. ST25")
    cooperative: str | None = None
    commune: str | None = None
    district: str | None = None
    province: str | None = None


class AreaCreate(AreaBase):
    code: str = Field(description="Planting-area code, e.g. VN-STOR-0001")
    boundary: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon in EPSG:4326 (lon, lat)")
    owner_username: str | None = Field(default=None, description="Owner account; default: the caller")
    perennial: bool | None = Field(default=None, description="Perennial crop (legal minimum 1 ha instead of 0.1 ha)")


class AreaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    crop: str | None = None
    variety: str | None = None
    cooperative: str | None = None
    commune: str | None = None
    district: str | None = None
    province: str | None = None
    status: AreaStatus | None = None
    boundary: dict[str, Any] | None = None
    owner_username: str | None = None


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


class Bilingual(BaseModel):
    vi: str
    en: str


class PhotoQuality(BaseModel):
    ok: bool
    sharpness: float = Field(description="variance of the Laplacian at 300 px short side; under 8 is blurry")
    brightness: float = Field(description="mean HSV value 0-255")
    clipped_pct: float
    issues: list[str] = Field(description="too_small, blurry, too_dark, too_bright, not_a_plant")
    messages: list[Bilingual]


class PhotoDiagnosis(BaseModel):
    label: str = Field(description="a class name of the model, or 'unsure'")
    status: str = Field(description="diagnosed | unsure | no_symptom | field_patch | retake")
    confidence: float = Field(description="calibrated probability of the top class, 0-1")
    probabilities: dict[str, float]
    in_distribution: bool
    ood_distance: float
    reason: str | None


class PhotoSeverity(BaseModel):
    ses: int | None = Field(description="IRRI SES grade 0-9 of the visible damage")
    affected_pct: float | None = Field(description="share of leaf area showing lesions, %")
    scale: str | None


class PhotoGrowth(BaseModel):
    model_config = ConfigDict(extra="allow")
    score: int | None = Field(description="growth score 0-100")
    method: str | None = Field(description="leaf_colour (close-up; with lcc_level 2-5) or canopy_cover (field patch)")


class PhotoResult(BaseModel):
    """Versioned result document of a scored photo."""

    model_config = ConfigDict(extra="allow")
    schema_version: str
    model: dict[str, str]
    photo: dict[str, Any]
    quality: PhotoQuality
    diagnosis: PhotoDiagnosis
    severity: PhotoSeverity
    growth: PhotoGrowth
    advice: Bilingual
    timings_ms: dict[str, float]


class PhotoPublic(BaseModel):
    id: int
    area_code: str
    observed_at: datetime
    image_url: str
    thumbnail_url: str
    result: PhotoResult
    feedback: list[dict[str, Any]] = []


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(description="the right class name, or 'healthy', 'other' for what the model does not know")
    comment: str | None = None


class ModelActivate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str


class SprayMapCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: int = Field(description="a succeeded drone analysis job; its damage map and area are used")
    config: dict[str, Any] = Field(default_factory=dict, description="SprayPlanConfig (swath_m, rate_l_per_ha, ...)")


class SprayApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    applied_on: datetime
    product: str = Field(min_length=1, max_length=200, description="trade name, on Vietnam's permitted list")
    active_ingredient: str = Field(min_length=1, max_length=200)
    dose_l_per_ha: float = Field(gt=0, le=1000)
    volume_l: float = Field(gt=0)
    operator: str = Field(min_length=1, max_length=200)
    spray_map_id: int | None = None
    notes: str | None = None
