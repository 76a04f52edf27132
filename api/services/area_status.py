"""An area's latest status for the base map (growth, damage, last diagnosis) and a point inside its boundary, kept on
the area row as observations are written, so that a map of 50,000 areas is one indexed query, not a scan of history.

Each observation updates what it tells: a photo the quality gate passed gives growth and, when it names a disease or
finds no symptom, the diagnosis and its SES; a flight gives growth and damage. An observation older than the area's
latest one changes nothing (the map shows the newest state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from shapely.geometry import shape

from api.orm import GrowingArea, Observation
from inference.results import covers_its_area


def centroid(geojson: dict[str, Any]) -> tuple[float, float]:
    """A point inside the boundary (shapely's representative point: inside even for an L-shaped field)."""
    p = shape(geojson).representative_point()
    return round(p.x, 7), round(p.y, 7)


def status_from(source: str, scores: dict[str, Any]) -> dict[str, Any]:
    """The latest_* values an observation's scores give (only the keys it tells)."""
    out: dict[str, Any] = {}
    if source == "drone":
        if not covers_its_area(scores):
            return out  # a flight over a strip or a corner of the area
        if scores.get("growth_score") is not None:
            out["latest_growth"] = round(float(scores["growth_score"]), 1)
        if scores.get("damaged_pct") is not None:
            out["latest_damage_pct"] = round(float(scores["damaged_pct"]), 2)
        return out
    if source != "photo" or not (scores.get("quality") or {}).get("ok", True):
        return out  # a refused photo (too dark, blurred, not a plant) tells nothing
    growth = (scores.get("growth") or {}).get("score")
    if growth is not None:
        out["latest_growth"] = float(growth)
    status = (scores.get("diagnosis") or {}).get("status")  # "retake" and "field_patch" say nothing of disease
    if status == "diagnosed":
        out["latest_diagnosis"] = scores["diagnosis"].get("label")
        out["latest_ses"] = (scores.get("severity") or {}).get("ses")
    elif status in ("no_symptom", "unsure"):
        out["latest_diagnosis"], out["latest_ses"] = status, 0 if status == "no_symptom" else None
    return out


def _newer(latest: datetime | None, when: datetime) -> bool:
    if latest is None:
        return True
    if (latest.tzinfo is None) != (when.tzinfo is None):  # SQLite hands back naive UTC in raw SQL
        latest, when = latest.replace(tzinfo=None), when.replace(tzinfo=None)
    return when >= latest


def refused_photo(obs: Observation) -> bool:
    """A photo the quality gate refused (the farmer was asked to take it again): scores.quality.ok is false."""
    return obs.source == "photo" and ((obs.scores or {}).get("quality") or {}).get("ok") is False


def refused_photo_sql() -> sa.ColumnElement[bool]:
    """refused_photo as a WHERE clause (SQLite and PostgreSQL alike; ok absent or null is not refused)."""
    return (Observation.source == "photo") & Observation.scores["quality"]["ok"].as_boolean().is_(False)


def note_observation(area: GrowingArea, obs: Observation) -> None:
    """Set the observation's diagnosis columns and update the area's latest status with it (the caller commits)."""
    values = status_from(obs.source, obs.scores or {})
    obs.diagnosis, obs.ses = values.get("latest_diagnosis"), values.get("latest_ses")
    if not values or not _newer(area.latest_at, obs.observed_at):
        return
    area.latest_at = obs.observed_at
    for k, v in values.items():
        setattr(area, k, v)


def backfill(bind: Any) -> None:
    """Fill centroids and latest status from the recorded boundaries and observations (migration 0009). Plain SQL
    tables, not the ORM, so that later migrations' columns never break this one."""
    areas = sa.table("growing_areas", sa.column("id"), sa.column("boundary_geojson", sa.JSON),
                     *(sa.column(c) for c in ("centroid_lon", "centroid_lat", "latest_at", "latest_growth",
                                              "latest_damage_pct", "latest_diagnosis", "latest_ses")))
    obs = sa.table("observations", sa.column("id"), sa.column("area_id"), sa.column("source"),
                   sa.column("observed_at"), sa.column("scores", sa.JSON), sa.column("diagnosis"), sa.column("ses"))
    latest: dict[int, dict[str, Any]] = {}
    for obs_id, area_id, source, when, scores in bind.execute(sa.select(
            obs.c.id, obs.c.area_id, obs.c.source, obs.c.observed_at, obs.c.scores).order_by(obs.c.observed_at)).all():
        values = status_from(source, scores or {})
        if values:
            latest.setdefault(area_id, {}).update(values, latest_at=when)
        if "latest_diagnosis" in values:
            bind.execute(obs.update().where(obs.c.id == obs_id)
                         .values(diagnosis=values["latest_diagnosis"], ses=values.get("latest_ses")))
    for area_id, geojson in bind.execute(sa.select(areas.c.id, areas.c.boundary_geojson)).all():
        lon, lat = centroid(geojson)
        bind.execute(areas.update().where(areas.c.id == area_id)
                     .values(centroid_lon=lon, centroid_lat=lat, **latest.get(area_id, {})))
