"""Spray maps: made from a damage raster and an area's boundary with a SprayPlanConfig, stored with the config and the
model that made the damage map, exported on demand (cached under the data directory)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from shapely.geometry import shape

from api.orm import GrowingArea, SprayMap
from api.settings import get_settings
from inference.spray_export import FORMATS, export
from inference.zones import PlanError, SprayPlan, SprayPlanConfig, plan_spray


def parse_config(raw: dict[str, Any]) -> SprayPlanConfig:
    try:
        return SprayPlanConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PlanError(f"spray plan config: {problems}") from exc


def make_plan(damage_path: str, area: GrowingArea, cfg: SprayPlanConfig) -> tuple[SprayPlan, float]:
    t0 = time.perf_counter()
    plan = plan_spray(damage_path, shape(area.boundary_geojson), cfg)
    return plan, time.perf_counter() - t0


def spray_dir(map_id: int) -> Path:
    return get_settings().data_dir / "spray_maps" / str(map_id)


def download_path(sm: SprayMap, area: GrowingArea, fmt: str) -> tuple[Path, float]:
    """The export file of a spray map in `fmt` (made once, then served from disk); returns (path, seconds taken)."""
    if fmt not in FORMATS:
        raise PlanError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", 422)
    name = f"{area.code}_spray_map_{sm.id}_{fmt}{FORMATS[fmt]}" if fmt in ("dji", "isoxml", "shp") else \
        f"{area.code}_spray_map_{sm.id}{FORMATS[fmt]}"
    dest = spray_dir(sm.id) / name
    if dest.exists():
        return dest, 0.0
    t0 = time.perf_counter()
    plan, _ = make_plan(str(sm.damage_path), area, SprayPlanConfig.model_validate(sm.config))
    export(plan, fmt, dest, area.code)
    return dest, time.perf_counter() - t0
