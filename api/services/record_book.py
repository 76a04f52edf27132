"""The record book (nhật ký canh tác) of a growing area: every photo, flight, other observation, spray map and spray
application, oldest first, in the area's local time. One gathering step (`gather`) and three renderings: CSV (one row
per event), GeoJSON (the boundary, then the events with their geometry) and the PDF (api/services/record_book_pdf)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry import mapping, shape
from shapely.ops import unary_union
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import GrowingArea, Job, Observation, SprayMap
from api.schemas import SprayApplicationPublic
from api.services import growth, products
from api.services.area_status import refused_photo
from api.services.review import reviewed_labels
from api.services.spray_maps import list_applications
from api.services.spreadsheets import csv_row, text_stays_text
from api.settings import get_settings

CSV_COLUMNS = ["time", "kind", "id", "summary", "diagnosis", "ses", "growth_score", "canopy_cover_pct", "damaged_pct",
               "product", "active_ingredient", "registration_number", "dose_per_ha", "dose_unit", "water_l_per_ha",
               "volume_l", "operator", "phi_days", "harvest_allowed_from", "treated_area_ha", "saving_pct",
               "model", "device", "lon", "lat", "link", "review", "planned_harvest_on", "notes"]


REVIEWED = {"confirm": "confirmed", "correct": "corrected", "reject": "rejected"}


@dataclass
class Event:
    time: datetime
    kind: str  # photo | flight | observation | spray_map | spray_application
    id: int
    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] | None = None


@dataclass
class RecordBook:
    area: GrowingArea
    events: list[Event]
    growth: dict[str, Any]
    applications: list[SprayApplicationPublic]
    time_zone: str
    refused_photos: int = 0  # photos the quality gate refused (retake): counted, not listed


def gather(session: Session, area: GrowingArea) -> RecordBook:
    """Photos the quality gate refused (too dark, blurred, not a plant) are left out, counted: a record book listing
    "photo not scored" beside each real observation is noise to an inspector (they stay in the database, and
    GET /v1/areas/{code}/observations?include_refused=true lists them)."""
    tz = products.zone(get_settings().time_zone)
    events: list[Event] = []
    jobs = dict(session.execute(select(Job.observation_id, Job.id).where(Job.area_id == area.id)).all())
    everything = list(session.scalars(select(Observation).where(Observation.area_id == area.id)))
    observed = [o for o in everything if not refused_photo(o)]
    reviews = reviewed_labels(session, [o.id for o in observed if o.source == "photo"])
    for obs in observed:
        events.append(_observation_event(obs, jobs.get(obs.id), tz, reviews.get(obs.id)))
    for sm in session.scalars(select(SprayMap).where(SprayMap.area_id == area.id)):
        events.append(_spray_map_event(sm, tz))
    apps = list_applications(session, area)[::-1]  # oldest first
    events += [_application_event(a) for a in apps]
    events.sort(key=lambda e: (e.time, e.kind, e.id))
    return RecordBook(area, events, growth.growth_series(session, area), apps, tz.key,
                      len(everything) - len(observed))


def _observation_event(obs: Observation, job_id: int | None, tz: Any,
                       review: tuple[str, str | None] | None = None) -> Event:
    """A photo's diagnosis is the newest review's label where an agronomist reviewed it ("review" says which and
    what the model said), else the model's."""
    s = obs.scores or {}
    point = {"type": "Point", "coordinates": [obs.lon, obs.lat]} if obs.lon is not None and obs.lat is not None \
        else None
    model = f"{obs.model_name} {obs.model_version or ''}".strip() if obs.model_name else None
    when = obs.observed_at.astimezone(tz)
    if obs.source == "photo":
        d = s.get("diagnosis") or {}  # a refused photo never comes here (gather leaves it out)
        label = d.get("label") if d.get("status") == "diagnosed" else d.get("status")
        summary = f"photo: {label}"
        reviewed = None
        if review is not None:
            action, reviewed_label = review
            reviewed = f"{REVIEWED[action]}: {reviewed_label}" if reviewed_label else "rejected"
            summary += f" (agronomist {reviewed}; the model said {label})" if reviewed_label != label else \
                " (confirmed by an agronomist)"
            label = reviewed_label  # a rejected photo names no disease (as in the weekly report)
        measured = {"ses": (s.get("severity") or {}).get("ses"), "growth_score": (s.get("growth") or {}).get("score"),
                    "canopy_cover_pct": (s.get("growth") or {}).get("canopy_cover_pct")}
        if reviewed == "rejected":  # nor a severity or a growth score: the photo is not of this crop, or unusable
            measured = dict.fromkeys(measured)
        values = {"diagnosis": label, "review": reviewed, **measured, "model": model, "device": obs.device,
                  "link": f"/v1/photos/{obs.id}"}
        return Event(when, "photo", obs.id, summary, values, point)
    if obs.source == "drone":
        values = {"growth_score": s.get("growth_score"), "canopy_cover_pct": s.get("canopy_cover_pct"),
                  "damaged_pct": s.get("damaged_pct"), "model": model,
                  "link": f"/v1/jobs/{job_id}" if job_id else None}
        summary = f"flight: {s.get('analysed_area_ha', 0):.2f} ha analysed, {s.get('damaged_pct', 0):.1f} % damaged"
        return Event(when, "flight", job_id or obs.id, summary, values, point)
    return Event(when, "observation", obs.id, f"{obs.source}: " + ", ".join(f"{k}={v}" for k, v in s.items()
                                                                            if not isinstance(v, dict | list)),
                 {"model": model}, point)


def _spray_map_event(sm: SprayMap, tz: Any) -> Event:
    s = sm.summary or {}
    zones = [shape(f["geometry"]) for f in (sm.zones_geojson or {}).get("features", [])
             if f.get("geometry") and (f.get("properties") or {}).get("rate", 1) > 0]
    geom = mapping(unary_union(zones)) if zones else None
    summary = (f"spray map: {s.get('treated_area_ha', 0):.2f} ha treated of {s.get('field_area_ha', 0):.2f} ha, "
               f"{s.get('saving_pct', 0):.0f} % saved against blanket spraying")
    values = {"treated_area_ha": s.get("treated_area_ha"), "saving_pct": s.get("saving_pct"),
              "volume_l": s.get("product_volume_l"), "product": s.get("product"),
              "model": f"{sm.damage_model_name} {sm.damage_model_version or ''}".strip() if sm.damage_model_name
              else None, "link": f"/v1/spray-maps/{sm.id}"}
    return Event(sm.created_at.astimezone(tz), "spray_map", sm.id, summary, values, geom)


def _application_event(a: SprayApplicationPublic) -> Event:
    dose = f"{a.dose_per_ha:g} {a.dose_unit}/ha" if a.dose_per_ha is not None else "dose not recorded"
    summary = f"sprayed {a.product} ({a.active_ingredient}), {dose}, {a.volume_l:g} L by {a.operator}"
    values = {"product": a.product, "active_ingredient": a.active_ingredient,
              "registration_number": a.registration_number, "dose_per_ha": a.dose_per_ha, "dose_unit": a.dose_unit,
              "water_l_per_ha": a.water_l_per_ha, "volume_l": a.volume_l, "operator": a.operator,
              "phi_days": a.phi_days, "harvest_allowed_from": a.harvest_allowed_from,
              "planned_harvest_on": a.planned_harvest_on, "notes": a.notes}
    if too_early(a):
        summary += f"; harvest planned on {a.planned_harvest_on}, inside the pre-harvest interval"
    return Event(a.applied_on, "spray_application", a.id, summary, values)


def too_early(a: SprayApplicationPublic) -> bool:
    """Whether the harvest planned with this spray falls inside its pre-harvest interval."""
    return bool(a.planned_harvest_on and a.harvest_allowed_from and a.planned_harvest_on < a.harvest_allowed_from)


def harvest_allowed_from(book: RecordBook) -> Any:
    """The first day every recorded spray's pre-harvest interval has passed (None: no interval recorded)."""
    days = [a.harvest_allowed_from for a in book.applications if a.harvest_allowed_from]
    return max(days) if days else None


def _rows(book: RecordBook) -> list[dict[str, Any]]:
    """One dict per event, CSV_COLUMNS' keys; times in ISO 8601 with their offset (the area's local time)."""
    rows = []
    for e in book.events:
        pt = e.geometry["coordinates"] if e.geometry and e.geometry["type"] == "Point" else (None, None)
        rows.append({**e.values, "time": e.time.isoformat(), "kind": e.kind, "id": e.id, "summary": e.summary,
                     "lon": pt[0], "lat": pt[1]})
    return rows


def to_csv(book: RecordBook) -> str:
    """One row per event (UTF-8 without a byte-order mark: scripts read it; Excel users take the .xlsx)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(csv_row(r) for r in _rows(book))
    return buf.getvalue()


def to_xlsx(book: RecordBook, vietnamese: tuple[list[str], list[list[Any]]] | None = None) -> bytes:
    """The CSV's rows as an Excel workbook, sheet "Nhật ký" under a title row: Excel on Windows opens a UTF-8 CSV
    without a byte-order mark as Windows-1258 and garbles Vietnamese; a workbook has no encoding to guess. With
    `vietnamese` (headers, rows: record_book_pdf.vietnamese_rows), a first sheet "Nhật ký canh tác" for the clerk:
    Vietnamese headers and wording, real dates (the keyed sheet, for scripts, stays as it was)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    if vietnamese is not None:
        _vietnamese_sheet(wb.active, book, *vietnamese)
        ws = wb.create_sheet()
    else:
        ws = wb.active
    ws.title = "Nhật ký"
    a = book.area
    ws.append([f"Nhật ký canh tác {a.code} – {a.name} ({a.crop}), giờ {book.time_zone}"])
    ws.append(CSV_COLUMNS)
    for r in _rows(book):
        ws.append([_cell(r.get(c)) for c in CSV_COLUMNS])
    text_stays_text(ws.iter_rows())
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _vietnamese_sheet(ws: Any, book: RecordBook, headers: list[str], rows: list[list[Any]]) -> None:
    from openpyxl.styles import Font

    from api.services.crops import crop_names

    a = book.area
    crop = crop_names().get(a.crop or "", {}).get("vi") or a.crop
    ws.title = "Nhật ký canh tác"
    ws.append([f"Nhật ký canh tác – mã số vùng trồng {a.code} – {a.name} ({crop}); giờ địa phương ({book.time_zone})"])
    ws.append(headers)
    for r in rows:
        ws.append(r)
    text_stays_text(ws.iter_rows(min_row=3))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "dd/mm/yyyy hh:mm"
            elif hasattr(cell.value, "isoformat"):
                cell.number_format = "dd/mm/yyyy"
    ws.column_dimensions["A"].width, ws.column_dimensions["C"].width = 17, 60
    ws.freeze_panes = "A3"


def _cell(v: Any) -> Any:
    """A value Excel can hold: numbers and text as they are, dates and anything else as text."""
    return v if v is None or isinstance(v, (int, float, str)) else str(v)


def to_geojson(book: RecordBook) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: the area (boundary and attributes), then each event (a photo's point, a spray
    map's treated zones; no geometry when none is known)."""
    a = book.area
    area_props = {"kind": "area", "code": a.code, "name": a.name, "crop": a.crop, "variety": a.variety,
                  "season": a.season, "sowing_date": a.sowing_date.isoformat() if a.sowing_date else None,
                  "commune": a.commune, "district": a.district, "province": a.province,
                  "area_ha": round(a.area_ha, 4), "time_zone": book.time_zone}
    feats: list[dict[str, Any]] = [{"type": "Feature", "id": a.code, "geometry": a.boundary_geojson,
                                    "properties": area_props}]
    for e in book.events:
        props = {"kind": e.kind, "id": e.id, "time": e.time.isoformat(), "summary": e.summary,
                 **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in e.values.items()}}
        feats.append({"type": "Feature", "id": f"{e.kind}-{e.id}", "geometry": e.geometry, "properties": props})
    return {"type": "FeatureCollection", "features": feats}
