"""Ground truth for the drone damage model, drawn on flights: an agronomist outlines real damage, healthy canopy and
look-alikes (stubble, water, shadow, bare soil) on the operator's map, guided by farmers' geotagged photos inside the
flight. Exported as training scenes in the label format notebook 04 trains from (datasets/drone.py): the flight's
orthomosaic beside a GeoJSON FeatureCollection (EPSG:4326) of polygons with a `class` attribute, where pixels outside
every polygon are ignored (`"unlabelled": "ignore"`) because nobody looked at them."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

from shapely.geometry import box, mapping, shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import Account, DroneLabel, GrowingArea, Job, JobStatus, Observation
from api.security import visible_areas
from api.storage import folder_written_whole
from inference.errors import BadInput, Conflict, NotFound
from inference.geo import reproject, utm_epsg_for

# what an agronomist draws -> the training class of datasets/drone.py ("not_damaged": the index rule decides canopy
# or soil inside it, but never damage: a look-alike that must not be flagged)
LABELS: dict[str, str] = {"damage": "damaged", "healthy_canopy": "canopy", "stubble": "soil_water",
                          "water": "soil_water", "bare_soil": "soil_water", "shadow": "not_damaged"}
MAX_VERTICES = 5000


def _flight_bounds(job: Job) -> Any:
    if job.status is not JobStatus.succeeded or not job.result:
        raise Conflict(f"flight {job.id} is not analysed yet; label it once its job has succeeded")
    w, s, e, n = job.result["bounds_wgs84"]
    return box(w, s, e, n)


def check_geometry(job: Job, geometry: dict[str, Any]) -> tuple[Any, float]:
    """A valid polygon inside the flight's footprint; returns it and its area in m²."""
    try:
        g = shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInput(f"geometry is not GeoJSON ({exc}); send a Polygon in longitude/latitude") from exc
    if g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty:
        raise BadInput(f"a label is a Polygon or MultiPolygon, not {g.geom_type}")
    if not g.is_valid:
        raise BadInput("the polygon crosses itself; redraw it without crossing edges")
    if sum(len(r) for r in _rings(g)) > MAX_VERTICES:
        raise BadInput(f"the polygon has more than {MAX_VERTICES} vertices; simplify it")
    if not g.intersects(_flight_bounds(job)):
        raise BadInput("the polygon lies outside the flight's orthomosaic; draw it on the flight")
    c = g.centroid
    area = reproject(g, "EPSG:4326", f"EPSG:{utm_epsg_for(c.x, c.y)}").area
    return g, float(area)


def _rings(g: Any) -> list[Any]:
    polys = list(g.geoms) if g.geom_type == "MultiPolygon" else [g]
    return [r.coords for p in polys for r in (p.exterior, *p.interiors)]


def add(session: Session, account: Account, job: Job, label: str, geometry: dict[str, Any],
        note: str | None) -> DroneLabel:
    if label not in LABELS:
        raise BadInput(f"label must be one of: {', '.join(LABELS)}")
    g, area = check_geometry(job, geometry)
    row = DroneLabel(job_id=job.id, label=label, geometry_geojson=mapping(g), area_m2=round(area, 2), note=note,
                     account_id=account.id)
    session.add(row)
    session.commit()
    return row


def delete(session: Session, job: Job, label_id: int) -> None:
    row = session.get(DroneLabel, label_id)
    if row is None or row.job_id != job.id:
        raise NotFound(f"flight {job.id} has no label {label_id}")
    session.delete(row)
    session.commit()


def feature(row: DroneLabel, by: str | None = None) -> dict[str, Any]:
    return {"type": "Feature", "id": row.id, "geometry": row.geometry_geojson,
            "properties": {"id": row.id, "label": row.label, "class": LABELS[row.label], "area_m2": row.area_m2,
                           "note": row.note, "by": by, "created_at": row.created_at.isoformat(),
                           "flight_id": row.job_id}}


def collection(session: Session, job: Job) -> dict[str, Any]:
    rows = session.execute(select(DroneLabel, Account.username).join(Account, DroneLabel.account_id == Account.id)
                           .where(DroneLabel.job_id == job.id).order_by(DroneLabel.id)).all()
    return {"type": "FeatureCollection", "unlabelled": "ignore", "features": [feature(r, u) for r, u in rows]}


def photos_in_flight(session: Session, account: Account, job: Job) -> dict[str, Any]:
    """Farmers' geotagged photos inside the flight's footprint, as points with their diagnosis and severity."""
    w, s, e, n = _flight_bounds(job).bounds
    q = visible_areas(select(Observation, GrowingArea.code).join(GrowingArea, Observation.area_id == GrowingArea.id)
                      .where(Observation.source == "photo", Observation.lon.between(w, e),
                             Observation.lat.between(s, n)), account).order_by(Observation.id.desc()).limit(2000)
    feats = []
    for obs, code in session.execute(q).all():
        d, sev = obs.scores.get("diagnosis", {}), obs.scores.get("severity", {})
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [obs.lon, obs.lat]},
                      "properties": {"photo_id": obs.id, "area_code": code, "observed_at": obs.observed_at.isoformat(),
                                     "diagnosis": d.get("label"), "status": d.get("status"),
                                     "confidence": d.get("confidence"), "ses": sev.get("ses"),
                                     "thumbnail_url": f"/v1/photos/{obs.id}/thumbnail"}})
    return {"type": "FeatureCollection", "features": feats}


def export(session: Session, out_dir: Path, job_ids: list[int] | None = None, overwrite: bool = False) -> list[dict]:
    """Each labelled flight as a training scene: OUT/flight_<id>.tif (the orthomosaic), OUT/flight_<id>.geojson and
    OUT/scenes.csv (name, tif, labels, split, area_code, n_labels). Written beside OUT and renamed into place."""
    q = select(Job).where(Job.id.in_(select(DroneLabel.job_id))).order_by(Job.id)
    if job_ids:
        q = q.where(Job.id.in_(job_ids))
    scenes = []
    with folder_written_whole(out_dir, overwrite) as tmp:
        for job in session.scalars(q):
            name = f"flight_{job.id}"
            fc = collection(session, job)
            _link_or_copy(Path(job.params["ortho"]), tmp / f"{name}.tif")
            (tmp / f"{name}.geojson").write_text(json.dumps(fc, ensure_ascii=False))
            area = session.get(GrowingArea, job.area_id) if job.area_id else None
            scenes.append({"name": name, "tif": f"{name}.tif", "labels": f"{name}.geojson", "split": "train",
                           "area_code": area.code if area else "", "n_labels": len(fc["features"]),
                           "labels_present": " ".join(sorted({f["properties"]["label"] for f in fc["features"]}))})
        with (tmp / "scenes.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["name", "tif", "labels", "split", "area_code", "n_labels", "labels_present"])
            w.writeheader()
            w.writerows(scenes)
    return scenes


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)  # same disk: no copy of a multi-GB orthomosaic
    except OSError:
        shutil.copyfile(src, dest)
