"""An area's growth over time: the growth score and canopy cover of every scored photo and analysed flight, with days
after sowing when the area's sowing date is recorded, and links to the photo, its thumbnail, the flight and its maps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import GrowingArea, Job, Observation
from api.services.review import reviewed_labels
from inference.results import covers_its_area


def growth_series(session: Session, area: GrowingArea, since: datetime | None = None,
                  until: datetime | None = None) -> dict[str, Any]:
    """Oldest first. A photo gives its growth score (leaf colour on a close-up, canopy cover on a field patch) and,
    for a field patch, its canopy cover; a flight gives the field's growth score and canopy cover."""
    q = (select(Observation, Job.id).outerjoin(Job, Job.observation_id == Observation.id)
         .where(Observation.area_id == area.id, Observation.source.in_(("photo", "drone"))))
    if since:
        q = q.where(Observation.observed_at >= since)
    if until:
        q = q.where(Observation.observed_at <= until)
    rows = session.execute(q.order_by(Observation.observed_at)).all()
    # a photo an agronomist rejected (not a rice leaf, another field) says nothing of this crop's growth
    rejected = {o for o, (action, _) in reviewed_labels(session, [obs.id for obs, _ in rows if obs.source == "photo"])
                .items() if action == "reject"}
    points = [p for obs, job_id in rows
              if obs.id not in rejected and (p := _point(obs, job_id, area.sowing_date)) is not None]
    return {"area_code": area.code, "crop": area.crop, "variety": area.variety, "sowing_date": area.sowing_date,
            "points": points, "n_photos": sum(p["source"] == "photo" for p in points),
            "n_flights": sum(p["source"] == "drone" for p in points)}


def _point(obs: Observation, job_id: int | None, sowing: date | None) -> dict[str, Any] | None:
    s = obs.scores or {}
    if obs.source == "photo":
        if not (s.get("quality") or {}).get("ok", True):
            return None  # a photo the quality gate refused (too dark, blurred, not a plant) says nothing about growth
        g = s.get("growth") or {}
        score, cover, method = g.get("score"), g.get("canopy_cover_pct"), g.get("method")
        links = {"photo_url": f"/v1/photos/{obs.id}", "image_url": f"/v1/photos/{obs.id}/image",
                 "thumbnail_url": f"/v1/photos/{obs.id}/thumbnail"}
        extra = {"diagnosis": (s.get("diagnosis") or {}).get("label"), "ses": (s.get("severity") or {}).get("ses")}
    else:
        if not covers_its_area(s):
            return None  # a flight over a strip or a corner of the area says nothing of the field's growth
        score, cover, method = s.get("growth_score"), s.get("canopy_cover_pct"), "drone"
        links = {"flight_url": f"/v1/jobs/{job_id}", "preview_url": f"/v1/jobs/{job_id}/files/preview.png"} \
            if job_id else {}
        extra = {"damaged_pct": s.get("damaged_pct"), "flight_id": job_id}
    if score is None and cover is None:
        return None
    day = obs.observed_at.date()
    return {"observation_id": obs.id, "source": obs.source, "observed_at": obs.observed_at,
            "growth_score": None if score is None else round(float(score), 1),
            "canopy_cover_pct": None if cover is None else round(float(cover), 1), "method": method,
            "days_after_sowing": (day - sowing).days if sowing else None, **links, **extra}
