"""Spray maps: planned once from a damage raster and an area's boundary with a SprayPlanConfig, stored as the plan
(zones with rates, the field, the exclusions and the config, in one GeoJSON document); every download and preview is
rendered from that stored plan, never re-planned. Also the pesticide log (spray applications)."""

from __future__ import annotations

import shutil
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import shapely
from pydantic import ValidationError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import Account, GrowingArea, Job, JobStatus, SprayApplication, SprayMap
from api.schemas import SprayApplicationCreate, SprayApplicationPublic, SprayMapPublic
from api.security import can_see
from api.services import products
from api.services.analysis import flight_dir
from api.services.crops import crop_names
from api.settings import get_settings
from inference.errors import BadInput, Conflict, NotFound
from inference.geo import geojson_geometries, validate_boundary
from inference.previews import render_spray_preview
from inference.results import ModelRef, SprayPlanSummary
from inference.spray_export import EXPORT_FORMATS, check_format, export
from inference.zones import SprayPlan, SprayPlanConfig, plan_from_geojson, plan_spray

# a spray record is of something done: a time later than now by more than this (a phone's clock, a zone mix-up) is
# refused, since the public trace page would show a pre-harvest interval that has not started
FUTURE_TOLERANCE = timedelta(hours=1)


def parse_config(raw: dict[str, Any]) -> SprayPlanConfig:
    try:
        return SprayPlanConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadInput(f"spray plan config: {problems}", reason="plan_config") from exc


def spray_dir(map_id: int) -> Path:
    return get_settings().data_dir / "spray_maps" / str(map_id)


def plan_boundary(area: GrowingArea, raw: dict[str, Any] | None) -> BaseGeometry:
    """The field a plan is made for: the operator's boundary (GeoJSON geometry, Feature or FeatureCollection of
    polygons, EPSG:4326), which must overlap the area, or the area's own boundary."""
    own = shape(area.boundary_geojson)
    if raw is None:
        return own
    parts = geojson_geometries(raw)
    if not parts:
        raise BadInput("boundary: give a GeoJSON Polygon, a Feature or a FeatureCollection of polygons")
    geoms = [validate_boundary(g) for g in parts]
    field = geoms[0] if len(geoms) == 1 else validate_boundary(shapely.union_all(geoms))
    if not field.intersects(own):
        raise BadInput(f"boundary: the drawn field does not overlap area {area.code}; draw it over the field or "
                       "choose the right area", reason="plan_boundary_off_area")
    return field


def to_public(sm: SprayMap, area: GrowingArea, with_zones: bool = True) -> SprayMapPublic:
    meta = (sm.zones_geojson or {}).get("cropwatch") or {}
    return SprayMapPublic(
        id=sm.id, area_code=area.code, created_at=sm.created_at, summary=SprayPlanSummary.model_validate(sm.summary),
        config=sm.config, job_id=sm.job_id,
        damage_model=ModelRef(name=sm.damage_model_name, version=sm.damage_model_version)
        if sm.damage_model_name else None,
        downloads={f: f"/v1/spray-maps/{sm.id}/download?format={f}" for f in EXPORT_FORMATS},
        preview=f"/v1/spray-maps/{sm.id}/preview.png", zones=sm.zones_geojson if with_zones else None,
        boundary=meta.get("boundary") if with_zones else None, exclusions=meta.get("exclusions") if with_zones else None)


def _record(session: Session, account: Account, area: GrowingArea, plan: SprayPlan, seconds: float,
            damage_path: str, job: Job | None) -> SprayMap:
    model = (job.result or {}).get("damage_model") if job else None
    summary = {**plan.summary.model_dump(mode="json"), "planning_seconds": round(seconds, 3)} if plan.summary else {}
    sm = SprayMap(area_id=area.id, config=plan.config.model_dump(mode="json"), summary=summary,
                  zones_geojson=plan.to_geojson(), damage_path=damage_path, job_id=job.id if job else None,
                  damage_model_name=(model or {}).get("name") or ((job.result or {}).get("damage_method") if job else
                                                                 None),
                  damage_model_version=(model or {}).get("version"),
                  source_observation_id=job.observation_id if job else None, created_by_id=account.id)
    session.add(sm)
    return sm


def create_from_job(session: Session, account: Account, job_id: int, raw_cfg: dict[str, Any],
                    boundary: dict[str, Any] | None = None) -> SprayMapPublic:
    """Plan from an analysed flight's damage map and area (or the operator's own boundary over it)."""
    job = session.get(Job, job_id)
    area = session.get(GrowingArea, job.area_id) if job and job.area_id else None
    if job is None or area is None or not can_see(area, account):
        raise NotFound(f"no analysed flight (job {job_id}) that you may see")
    if job.status is not JobStatus.succeeded:
        raise Conflict(f"job {job.id} is {job.status.value}; plan once its analysis has succeeded",
                       reason="plan_flight_not_ready")
    damage = str(flight_dir(job.id) / "analysis" / "damage.tif")
    t0 = time.perf_counter()
    plan = plan_spray(damage, plan_boundary(area, boundary), parse_config(raw_cfg))
    sm = _record(session, account, area, plan, time.perf_counter() - t0, damage, job)
    session.commit()
    return to_public(sm, area)


def create_from_raster(session: Session, account: Account, area: GrowingArea, damage_path: Path,
                       raw_cfg: dict[str, Any], boundary: dict[str, Any] | None = None) -> SprayMapPublic:
    """Plan from an uploaded damage raster (validated already); the raster is kept beside the spray map's files
    before the record is committed, and nothing is left behind if either fails."""
    t0 = time.perf_counter()
    plan = plan_spray(str(damage_path), plan_boundary(area, boundary), parse_config(raw_cfg))
    sm = _record(session, account, area, plan, time.perf_counter() - t0, str(damage_path), None)
    session.flush()
    dest = spray_dir(sm.id) / "damage.tif"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(damage_path, dest)
        sm.damage_path = str(dest)
        session.commit()
    except Exception:
        session.rollback()
        shutil.rmtree(spray_dir(sm.id), ignore_errors=True)
        raise
    return to_public(sm, area)


def visible_map(session: Session, account: Account, map_id: int) -> tuple[SprayMap, GrowingArea]:
    sm = session.get(SprayMap, map_id)
    area = session.get(GrowingArea, sm.area_id) if sm else None
    if sm is None or area is None or not can_see(area, account):
        raise NotFound(f"no spray map {map_id} that you may see")
    return sm, area


def stored_plan(session: Session, sm: SprayMap, area: GrowingArea) -> SprayPlan:
    """The plan as stored with the map. Maps stored before plans were kept whole are planned once more from their
    damage raster and config, and stored whole from then on."""
    if sm.zones_geojson and sm.zones_geojson.get("cropwatch"):
        return plan_from_geojson(sm.zones_geojson)
    plan = plan_spray(str(sm.damage_path), shape(area.boundary_geojson), SprayPlanConfig.model_validate(sm.config))
    sm.zones_geojson = plan.to_geojson()
    session.commit()
    return plan


def download_path(session: Session, sm: SprayMap, area: GrowingArea, fmt: str) -> Path:
    """The export file of a spray map in `fmt` (rendered once from the stored plan, then served from disk)."""
    f = check_format(fmt)
    stem = f"{area.code}_spray_map_{sm.id}_{fmt}" if fmt in ("dji", "isoxml", "shp") else \
        f"{area.code}_spray_map_{sm.id}"
    dest = spray_dir(sm.id) / f"{stem}{f.suffix}"
    if not dest.exists():
        export(stored_plan(session, sm, area), fmt, dest, area.code)
    return dest


def preview_path(sm: SprayMap, area: GrowingArea) -> Path:
    png = spray_dir(sm.id) / "preview.png"
    if not png.exists():  # the stored zones are already in EPSG:4326
        render_spray_preview(sm.zones_geojson or {}, shape(area.boundary_geojson), png)
    return png


def list_maps(session: Session, area: GrowingArea) -> list[SprayMapPublic]:
    maps = session.scalars(select(SprayMap).where(SprayMap.area_id == area.id).order_by(SprayMap.id.desc()))
    return [to_public(sm, area, with_zones=False) for sm in maps]


def _check_product(session: Session, data: SprayApplicationCreate,
                   crop: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Fields found from the permitted-products list and the warnings of the checks (among them a product whose
    registration names crops other than the area's `crop`); refuses an unlisted product unless the settings say to
    flag it."""
    products.ensure_sample(session)
    p = products.find_product(session, data.product, data.registration_number)
    warnings: list[str] = []
    if p is not None and data.registration_number and not products.same_name(data.product, p.trade_name):
        raise BadInput(f"product {data.product!r} does not match registration number {data.registration_number!r}, "
                       f"which the permitted-products list gives to {p.trade_name!r}: check both, or leave "
                       "registration_number out to find the product by its name")
    if p is None:
        if get_settings().unlisted_products == "refuse":
            raise BadInput(f"product {data.product!r} is not on the permitted-products list; check its trade name "
                           "(GET /v1/products?q=...) or ask an admin to import the current official list")
        warnings.append(f"product {data.product!r} is not on the permitted-products list")
        return {"listed": False, "active_ingredient": data.active_ingredient or "unknown"}, warnings
    if p.is_sample:
        warnings.append("checked against the sample products list, not the official one: ask an admin to import it")
    if crop and p.crops and not registered_for(p.crops, crop):
        warnings.append(f"{p.trade_name} is registered for {p.crops}, not for this area's crop ({crop}): a use off "
                        "its label is not permitted; check the product")
    if data.active_ingredient and products.normalise(data.active_ingredient) != products.normalise(p.active_ingredient):
        warnings.append(f"active ingredient {data.active_ingredient!r} differs from the list's "
                        f"{p.active_ingredient!r} for {p.trade_name}")
    dose = in_unit(data.dose_per_ha, data.dose_unit, p.dose_unit) if data.dose_per_ha and data.dose_unit else None
    if p.max_dose_per_ha and dose is not None and dose > p.max_dose_per_ha:
        warnings.append(f"dose {data.dose_per_ha:g} {data.dose_unit}/ha is above the label's {p.max_dose_per_ha:g} "
                        f"{p.dose_unit}/ha")
    return {"listed": True, "product": p.trade_name, "active_ingredient": data.active_ingredient or p.active_ingredient,
            "registration_number": data.registration_number or p.registration_number, "phi_days": p.phi_days}, warnings


def registered_for(crops: str, crop: str) -> bool:
    """Whether a product's registered crops (the list's text, "lúa (rice)") name the crop, by its name, or its
    Vietnamese or English name (api/data/crop_names.csv)."""
    names = crop_names().get(crop, {})
    text = unicodedata.normalize("NFC", crops).casefold()
    return any(unicodedata.normalize("NFC", n).casefold() in text for n in (crop, *names.values()) if n)


_PER_BASE = {"L": ("L", 1.0), "mL": ("L", 1e-3), "kg": ("kg", 1.0), "g": ("kg", 1e-3)}


def in_unit(amount: float, unit: str, target: str | None) -> float | None:
    """`amount` of `unit` in `target` (mL and L, g and kg); None when they measure different things (a volume against
    a weight) or a unit is unknown. 3000 mL/ha against a label's 0.3 L/ha was not checked before."""
    if target is None or unit not in _PER_BASE or target not in _PER_BASE:
        return None
    (base, f), (tbase, tf) = _PER_BASE[unit], _PER_BASE[target]
    return amount * f / tf if base == tbase else None


# The most spray mix a record may give per hectare of its area: a knapsack's high-volume rate is 400-800 L/ha, the
# schema's water rate allows 2000; 2.5x that leaves room for two passes. 1e300 L was stored and printed over six
# lines of the record book.
MAX_VOLUME_L_PER_HA = 5000.0


def _check_volume(data: SprayApplicationCreate, area: GrowingArea) -> None:
    most = MAX_VOLUME_L_PER_HA * max(area.area_ha, 0.01)
    if data.volume_l > most:
        raise BadInput(f"volume_l {data.volume_l:g} L is more than {MAX_VOLUME_L_PER_HA:g} L/ha over the area's "
                       f"{area.area_ha:.2f} ha ({most:g} L): give the litres of spray mix applied to this area (for "
                       "example 16 L per 16-litre knapsack)", reason="spray_volume_implausible")


def record_application(session: Session, account: Account, area: GrowingArea, data: SprayApplicationCreate,
                       idempotency_key: str | None = None) -> tuple[SprayApplicationPublic, bool]:
    """Record what was actually sprayed (the pesticide log of the planting-area code) after the checks; returns the
    record and whether it is new (an idempotency key seen before returns the first record)."""
    key = data.idempotency_key or idempotency_key
    if key:
        seen = session.scalars(select(SprayApplication).where(SprayApplication.area_id == area.id,
                                                              SprayApplication.idempotency_key == key)).first()
        if seen is not None:
            # the first record keeps the list's name for the product: compare what this request would store
            p = products.find_product(session, data.product, data.registration_number)
            asked = p.trade_name if p is not None else data.product
            if not products.same_name(seen.product, asked) or seen.volume_l != data.volume_l:
                raise Conflict(f"idempotency key {key!r} was used for another spray record of {area.code}")
            return application_public(seen), False
    if data.spray_map_id is not None:
        sm = session.get(SprayMap, data.spray_map_id)
        if sm is None or sm.area_id != area.id:
            raise BadInput(f"spray map {data.spray_map_id} is not a map of area {area.code}")
    tz_name = data.time_zone or get_settings().time_zone
    tz = products.zone(tz_name)
    applied = products.local_time(data.applied_on, tz)
    now = datetime.now(UTC)
    if applied > now + FUTURE_TOLERANCE:
        raise BadInput(f"applied_on {applied.astimezone(tz):%Y-%m-%d %H:%M} ({tz_name}) is in the future: the log "
                       "records sprays that were done; check the date, and the time zone of a time without one")
    _check_volume(data, area)
    found, warnings = _check_product(session, data, area.crop)
    allowed = products.harvest_allowed_from(applied.astimezone(tz), found.get("phi_days"))
    if allowed and data.planned_harvest_on and data.planned_harvest_on < allowed:
        warnings.append(f"the planned harvest on {data.planned_harvest_on} is inside the pre-harvest interval of "
                        f"{found['phi_days']} days: harvest from {allowed}")
    fields = data.model_dump(exclude={"applied_on", "time_zone", "idempotency_key"}) | found
    app = SprayApplication(area_id=area.id, created_by_id=account.id, applied_on=applied, time_zone=tz_name,
                           idempotency_key=key, warnings=warnings, **fields)
    session.add(app)
    session.commit()
    return application_public(app), True


def application_public(a: SprayApplication) -> SprayApplicationPublic:
    tz = products.zone(a.time_zone or get_settings().time_zone)
    applied = a.applied_on.astimezone(tz)
    return SprayApplicationPublic.model_validate(a).model_copy(update={
        "applied_on": applied, "warnings": a.warnings or [],
        "harvest_allowed_from": products.harvest_allowed_from(applied, a.phi_days)})


def list_applications(session: Session, area: GrowingArea) -> list[SprayApplicationPublic]:
    rows = session.scalars(select(SprayApplication).where(SprayApplication.area_id == area.id)
                           .order_by(SprayApplication.applied_on.desc()))
    return [application_public(a) for a in rows]
