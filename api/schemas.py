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
