"""The department's base map: every area coloured by its latest status, and the outbreak layer (diagnoses of the
last days by disease). Both answer one indexed SQL query per view: polygons when the view holds few areas, otherwise
clusters aggregated on a grid in the database (cells of about CELL_PX screen pixels at the view's zoom), so that a
province of 50,000 areas answers in milliseconds with a few hundred features (benchmarks/map_bench.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, case, cast, func, select
from sqlalchemy.orm import Session

from api.orm import Account, AreaStatus, GrowingArea, Observation
from api.security import visible_areas
from api.services.crops import canonical_crop, crop_names
from api.services.place_names import canonical_place
from inference.errors import BadInput

POLYGONS_FROM_ZOOM = 13   # below this zoom, always clusters
MAX_POLYGONS = 2000       # a view holding more areas than this is clustered at any zoom
CELL_PX = 64              # cluster cell, in screen pixels (256-px web-map tiles)
HEALTHY = ("no_symptom", "unsure")


@dataclass(frozen=True)
class View:
    """The map's view: bbox (min_lon, min_lat, max_lon, max_lat in degrees) and web-map zoom."""

    bbox: tuple[float, float, float, float]
    zoom: int

    @classmethod
    def parse(cls, bbox: str, zoom: int) -> View:
        try:
            x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
        except ValueError as exc:
            raise BadInput("bbox must be min_lon,min_lat,max_lon,max_lat in degrees, e.g. 105.8,9.4,106.2,9.8") from exc
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise BadInput(f"bbox {bbox} is empty or outside the world; give min_lon < max_lon and min_lat < max_lat")
        return cls((x0, y0, x1, y1), zoom)

    @property
    def cell_deg(self) -> float:
        return 360.0 / (256 * 2 ** self.zoom) * CELL_PX


def _filtered(account: Account, commune: str | None, crop: str | None, season: str | None) -> Select[Any]:
    stmt = visible_areas(select(GrowingArea), account).where(GrowingArea.status != AreaStatus.revoked)
    crop = canonical_crop(crop) if crop else crop  # ?crop=lúa as /v1/areas reads it
    for col, value in ((GrowingArea.commune, commune), (GrowingArea.crop, crop), (GrowingArea.season, season)):
        if value:
            stmt = stmt.where(col == value)
    return stmt


def _in_view(view: View) -> Any:
    x0, y0, x1, y1 = view.bbox
    return and_(GrowingArea.centroid_lon >= x0, GrowingArea.centroid_lon <= x1,
                GrowingArea.centroid_lat >= y0, GrowingArea.centroid_lat <= y1)


def _cell(col: Any, origin: float, size: float) -> Any:
    return cast((col - origin) / size, Integer)  # non-negative, so the cast is a floor; cells fixed to the world


def area_layer(session: Session, account: Account, view: View, commune: str | None = None, crop: str | None = None,
               season: str | None = None) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: the areas' polygons with their status, or clusters (points) with counts."""
    base = _filtered(account, canonical_place(session, "commune", commune), crop, season).where(_in_view(view))
    n = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    if view.zoom >= POLYGONS_FROM_ZOOM and n <= MAX_POLYGONS:
        feats = [_polygon(a) for a in session.scalars(base.order_by(GrowingArea.code)).unique()]
        return {"type": "FeatureCollection", "mode": "polygons", "n_areas": n, "features": feats}
    return {"type": "FeatureCollection", "mode": "clusters", "n_areas": n,
            "features": _clusters(session, base, view)}


def _polygon(a: GrowingArea) -> dict[str, Any]:
    return {"type": "Feature", "id": a.code, "geometry": a.boundary_geojson, "properties": {
        "code": a.code, "name": a.name, "crop": a.crop, "variety": a.variety, "commune": a.commune,
        "season": a.season, "area_ha": round(a.area_ha, 3), "status": a.status.value,
        "latest_at": a.latest_at.isoformat() if a.latest_at else None, "growth": a.latest_growth,
        "damage_pct": a.latest_damage_pct, "diagnosis": a.latest_diagnosis, "ses": a.latest_ses}}


def _clusters(session: Session, base: Select[Any], view: View) -> list[dict[str, Any]]:
    sub = base.subquery()
    size = view.cell_deg
    gx, gy = _cell(sub.c.centroid_lon, -180.0, size), _cell(sub.c.centroid_lat, -90.0, size)
    diseased = case((and_(sub.c.latest_diagnosis.is_not(None), sub.c.latest_diagnosis.not_in(HEALTHY)), 1), else_=0)
    q = (select(gx.label("gx"), gy.label("gy"), func.count().label("n"), func.avg(sub.c.centroid_lon),
                func.avg(sub.c.centroid_lat), func.sum(sub.c.area_ha), func.avg(sub.c.latest_growth),
                func.max(sub.c.latest_damage_pct), func.sum(diseased), func.max(sub.c.latest_ses))
         .group_by("gx", "gy"))
    out = []
    for _, _, n, lon, lat, ha, growth, damage, n_dis, ses in session.execute(q):
        out.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                    "properties": {"cluster": True, "count": n, "area_ha": round(ha or 0.0, 2),
                                   "growth": None if growth is None else round(growth, 1),
                                   "damage_pct": damage, "diseased": int(n_dis or 0), "max_ses": ses}})
    return out


def outbreak_layer(session: Session, account: Account, view: View, days: int = 14, disease: str | None = None,
                   commune: str | None = None, crop: str | None = None, season: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """Diagnoses of the last `days` days by disease, aggregated on the same grid: one point per cell and disease,
    with the number of photos, of areas and the highest SES."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    areas = _filtered(account, canonical_place(session, "commune", commune), crop, season).where(
        _in_view(view)).subquery()
    lon = func.coalesce(Observation.lon, areas.c.centroid_lon)
    lat = func.coalesce(Observation.lat, areas.c.centroid_lat)
    size = view.cell_deg
    q = (select(_cell(lon, -180.0, size).label("gx"), _cell(lat, -90.0, size).label("gy"),
                Observation.diagnosis, func.count(), func.count(func.distinct(Observation.area_id)), func.avg(lon),
                func.avg(lat), func.max(Observation.ses), func.max(Observation.observed_at))
         .join(areas, areas.c.id == Observation.area_id)
         .where(Observation.source == "photo", Observation.observed_at >= since, Observation.diagnosis.is_not(None),
                Observation.diagnosis.not_in(HEALTHY))
         .group_by("gx", "gy", Observation.diagnosis))
    if disease:
        q = q.where(Observation.diagnosis == disease)
    feats: list[dict[str, Any]] = []
    for _, _, label, n, n_areas, x, y, ses, last in session.execute(q):
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
                      "properties": {"disease": label, "photos": n, "areas": n_areas, "max_ses": ses,
                                     "last_seen": last.isoformat() if hasattr(last, "isoformat") else str(last)}})
    totals: dict[str, int] = {}
    for f in feats:
        p = f["properties"]
        totals[p["disease"]] = totals.get(p["disease"], 0) + p["photos"]
    return {"type": "FeatureCollection", "since": since.isoformat(), "days": days, "totals": totals,
            "features": feats}


def filters(session: Session, account: Account) -> dict[str, Any]:
    """The communes, crops and seasons of the areas the account may see (the page's filter lists), and the crops'
    names in Vietnamese and English where the crop table has them (`crop_names`)."""
    sub = visible_areas(select(GrowingArea), account).subquery()
    out: dict[str, Any] = {}
    for key, col in (("communes", sub.c.commune), ("crops", sub.c.crop), ("seasons", sub.c.season)):
        out[key] = [v for (v,) in session.execute(select(col).where(col.is_not(None)).distinct().order_by(col))]
    names = crop_names()
    out["crop_names"] = {c: names[c] for c in out["crops"] if c in names}
    return out
