"""SQLAlchemy 2 models of the growing-area records.

Geometries are stored as GeoJSON text in EPSG:4326 with their bounding box in plain columns, so that the same schema
runs on SQLite and PostgreSQL; containment is checked with shapely after a bbox pre-filter.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database: SQLite keeps no time zone, so values read back from it are
    marked UTC (they were written as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None:  # naive from SQLite; in the session's zone from PostgreSQL: UTC either way
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class Base(DeclarativeBase):
    pass


class Role(str, enum.Enum):
    farmer = "farmer"
    agronomist = "agronomist"
    drone_operator = "drone_operator"
    admin = "admin"


class AreaStatus(str, enum.Enum):
    active = "active"
    suspended = "suspended"
    revoked = "revoked"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=20))
    province: Mapped[str | None] = mapped_column(String(100), default=None)
    cooperative: Mapped[str | None] = mapped_column(String(200), default=None)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # tokens issued before this moment are refused (password change, sign-out everywhere)
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # an agronomist may promote or roll back served models only when an admin gave them this right
    can_promote: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class GrowingArea(Base):
    """A planting area with its code ("mã số vùng trồng"); boundary in EPSG:4326."""

    __tablename__ = "growing_areas"
    __table_args__ = (Index("ix_growing_areas_bbox", "min_lon", "min_lat", "max_lon", "max_lat"),
                      Index("ix_growing_areas_centroid", "centroid_lon", "centroid_lat"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    crop: Mapped[str] = mapped_column(String(64), index=True)
    variety: Mapped[str | None] = mapped_column(String(100), default=None)
    sowing_date: Mapped[date | None] = mapped_column(Date, default=None)  # of the current season (days after sowing)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True, default=None)
    cooperative: Mapped[str | None] = mapped_column(String(200), default=None)
    commune: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    district: Mapped[str | None] = mapped_column(String(100), default=None)
    province: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    status: Mapped[AreaStatus] = mapped_column(
        Enum(AreaStatus, name="area_status", native_enum=False, length=20), default=AreaStatus.active
    )
    boundary_geojson: Mapped[dict[str, Any]] = mapped_column(JSON)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    area_ha: Mapped[float] = mapped_column(Float)
    utm_epsg: Mapped[int] = mapped_column(Integer)
    # an agronomist's reason for accepting an overlap with another owner's area
    overlap_override_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    # migration 0009: the season label (e.g. "Đông Xuân 2026-2027"), a point inside the boundary for the base map's
    # clusters, and the area's latest status, kept up to date as observations are written (api/services/area_status)
    season: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    centroid_lon: Mapped[float | None] = mapped_column(Float, default=None)
    centroid_lat: Mapped[float | None] = mapped_column(Float, default=None)
    latest_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    latest_growth: Mapped[float | None] = mapped_column(Float, default=None)
    latest_damage_pct: Mapped[float | None] = mapped_column(Float, default=None)
    latest_diagnosis: Mapped[str | None] = mapped_column(String(64), default=None)
    latest_ses: Mapped[int | None] = mapped_column(Integer, default=None)

    owner: Mapped[Account | None] = relationship(lazy="joined")


class Observation(Base):
    """One scored photo, drone analysis or other measurement of an area, kept as history."""

    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))  # photo | drone | manual
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    schema_version: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str | None] = mapped_column(String(100), default=None)
    model_version: Mapped[str | None] = mapped_column(String(50), default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    file_path: Mapped[str | None] = mapped_column(Text, default=None)  # relative to the data dir
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    device: Mapped[str | None] = mapped_column(String(100), default=None)  # phone make and model (EXIF), if known
    # migration 0009: what a photo named (a disease, "no_symptom" or "unsure") and its SES, for the outbreak layer
    diagnosis: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    ses: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # migration 0010: the upload's Idempotency-Key (the farmer's page sends one per chosen photo): a photo sent
    # again after a dropped link is the first record, not a second one
    idempotency_key: Mapped[str | None] = mapped_column(String(100), default=None)

    __table_args__ = (Index("ux_observations_idempotency", "created_by_id", "idempotency_key", unique=True),)


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Job(Base):
    """A background job (drone analysis), recorded so that a restart or a lost worker loses none."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # drone_analysis
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", native_enum=False, length=20), default=JobStatus.queued, index=True
    )
    progress_pct: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_reason: Mapped[str | None] = mapped_column(String(64), default=None)  # the error's reason code, for pages
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("growing_areas.id"), default=None, index=True)
    observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class PhotoFeedback(Base):
    """An agronomist's or farmer's confirmation or correction of a photo diagnosis: the next model's labels."""

    __tablename__ = "photo_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    label: Mapped[str] = mapped_column(String(64))
    confirmed: Mapped[bool] = mapped_column(default=False)  # True when label equals the model's answer
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    other_name: Mapped[str | None] = mapped_column(String(100), default=None)  # the farmer's name for "other"
    model_label: Mapped[str | None] = mapped_column(String(64), default=None)  # what the model answered
    model_version: Mapped[str | None] = mapped_column(String(50), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class LabelClass(Base):
    """A label a photo can be given (the class registry): seeded from api/data/label_classes.csv, extended by
    agronomists without code. kind: disease | pest | healthy | other | unsure."""

    __tablename__ = "label_classes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    added_by: Mapped[str] = mapped_column(String(100), default="seed")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PhotoReview(Base):
    """An agronomist's decision on a photo's label: confirm (the farmer's or model's label), correct (another label)
    or reject (not usable). The newest review of a photo counts; only confirmed or corrected labels enter training."""

    __tablename__ = "photo_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    action: Mapped[str] = mapped_column(String(16))  # confirm | correct | reject
    label: Mapped[str | None] = mapped_column(String(64), default=None)  # None when rejected
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DroneLabel(Base):
    """A polygon an agronomist drew on a flight: real damage, healthy canopy or a look-alike (stubble, water, shadow,
    soil), in EPSG:4326; exported with the flight's orthomosaic as a training scene for the drone damage model."""

    __tablename__ = "drone_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    label: Mapped[str] = mapped_column(String(32))
    geometry_geojson: Mapped[dict[str, Any]] = mapped_column(JSON)
    area_m2: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SprayMap(Base):
    """A spray plan made from a damage map: its config and the model that made the damage map, for reproduction."""

    __tablename__ = "spray_maps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    damage_path: Mapped[str | None] = mapped_column(Text, default=None)  # the damage raster the plan was made from
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), default=None)
    zones_geojson: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    damage_model_name: Mapped[str | None] = mapped_column(String(100), default=None)
    damage_model_version: Mapped[str | None] = mapped_column(String(50), default=None)
    source_observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SprayApplication(Base):
    """What was actually sprayed: the pesticide log that a planting-area code requires."""

    __tablename__ = "spray_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("growing_areas.id"), index=True)
    spray_map_id: Mapped[int | None] = mapped_column(ForeignKey("spray_maps.id"), default=None)
    applied_on: Mapped[datetime] = mapped_column(UtcDateTime())
    product: Mapped[str] = mapped_column(String(200))
    active_ingredient: Mapped[str] = mapped_column(String(200))
    dose_l_per_ha: Mapped[float | None] = mapped_column(Float, default=None)
    volume_l: Mapped[float] = mapped_column(Float)
    operator: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # checks against the permitted-products list (migration 0006)
    registration_number: Mapped[str | None] = mapped_column(String(64), default=None)
    listed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    dose_per_ha: Mapped[float | None] = mapped_column(Float, default=None)
    dose_unit: Mapped[str | None] = mapped_column(String(8), default=None)
    water_l_per_ha: Mapped[float | None] = mapped_column(Float, default=None)
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    phi_days: Mapped[int | None] = mapped_column(Integer, default=None)
    planned_harvest_on: Mapped[date | None] = mapped_column(Date, default=None)
    warnings: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), default=None)

    __table_args__ = (Index("ux_spray_applications_idempotency", "area_id", "idempotency_key", unique=True),)


class PermittedProduct(Base):
    """One row of the list of plant-protection products permitted in Vietnam, as imported by an admin
    (`cropwatch products import`); `is_sample` marks the small illustrative list that ships with the service."""

    __tablename__ = "permitted_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trade_name: Mapped[str] = mapped_column(String(200), index=True)
    active_ingredient: Mapped[str] = mapped_column(String(300))
    registration_number: Mapped[str | None] = mapped_column(String(64), default=None)
    crops: Mapped[str | None] = mapped_column(Text, default=None)
    target: Mapped[str | None] = mapped_column(Text, default=None)
    phi_days: Mapped[int | None] = mapped_column(Integer, default=None)
    max_dose_per_ha: Mapped[float | None] = mapped_column(Float, default=None)
    dose_unit: Mapped[str | None] = mapped_column(String(8), default=None)
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(Text, default=None)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RevokedToken(Base):
    """A signed-out access token (its id), kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class ModelActivation(Base):
    """One switch of a served model: the newest row of a task names the version every server serves (the ACTIVE
    file in the models folder is only the default of a database without activations)."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    previous_version: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(16), default="activate")  # activate | rollback
    actor: Mapped[str] = mapped_column(String(100))  # the account's username, or "cli:<os user>"
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    forced: Mapped[bool] = mapped_column(default=False)  # promoted although the comparison refused it
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
