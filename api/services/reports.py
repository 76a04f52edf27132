"""The weekly report for the plant-protection office: per commune and crop, the areas surveyed that week (a photo or
a flight), the diseases found with their severity and the area affected, and the sprays done. One row per commune,
crop and disease (a row without disease when none was found); as JSON, CSV or an XLSX workbook (a summary sheet and
a sheet of diseases). Weeks are ISO weeks in the service's local time zone."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import Account, AreaStatus, GrowingArea, Observation, SprayApplication
from api.security import visible_areas
from api.services import labels, products
from api.services.crops import crop_names
from api.services.place_names import canonical_place
from api.services.review import reviewed_labels
from api.services.spreadsheets import csv_row, text_stays_text
from api.settings import get_settings
from inference.errors import BadInput

COLUMNS = ["week", "commune", "crop", "areas", "areas_ha", "areas_surveyed", "surveyed_ha", "photos", "flights",
           "disease", "disease_photos", "disease_areas", "affected_ha", "mean_ses", "max_ses", "drone_damaged_ha",
           "sprays", "sprayed_areas", "sprayed_ha", "products"]
# the workbook is read in the office: Vietnamese headers, crops and diseases by name (the CSV and JSON keep the keys)
COLUMNS_VI = {"week": "Tuần", "commune": "Xã", "crop": "Cây trồng", "areas": "Số vùng trồng", "areas_ha": "Diện tích (ha)",
              "areas_surveyed": "Số vùng được kiểm tra", "surveyed_ha": "Diện tích kiểm tra (ha)", "photos": "Số ảnh",
              "flights": "Số chuyến bay", "disease": "Bệnh, dịch hại", "disease_photos": "Số ảnh có bệnh",
              "disease_areas": "Số vùng có bệnh", "affected_ha": "Diện tích nhiễm (ha)", "mean_ses": "SES trung bình",
              "max_ses": "SES cao nhất", "drone_damaged_ha": "Diện tích hại (drone, ha)", "sprays": "Số lần phun",
              "sprayed_areas": "Số vùng đã phun", "sprayed_ha": "Diện tích đã phun (ha)", "products": "Thuốc đã dùng"}
NOT_DISEASE = {"no_symptom", "unsure", "healthy", "other", None}


def parse_week(week: str | None, today: date) -> tuple[str, date]:
    """'2026-W48' -> (label, Monday); none -> the current week."""
    if not week:
        y, w, _ = today.isocalendar()
        week = f"{y}-W{w:02d}"
    m = re.fullmatch(r"(\d{4})-W(\d{2})", week, flags=re.ASCII)
    try:
        if m is None or not 2000 <= int(m[1]) <= 2999:
            raise ValueError(week)
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError as exc:
        raise BadInput(f"week {week!r} is not an ISO week of the years 2000-2999; write it as YYYY-Www, e.g. "
                       "2026-W48") from exc
    if monday > today:  # an empty report of a week to come read as "nothing happened"
        y, w, _ = today.isocalendar()
        raise BadInput(f"week {week} has not begun (this is {y}-W{w:02d}): choose this week or an earlier one")
    return week, monday


@dataclass
class Group:
    areas: dict[int, float] = field(default_factory=dict)  # id -> ha
    surveyed: set[int] = field(default_factory=set)
    photos: int = 0
    flights: int = 0
    damaged_ha: float = 0.0
    diseases: dict[str, list[tuple[int, int | None]]] = field(default_factory=lambda: defaultdict(list))
    sprays: int = 0
    sprayed: set[int] = field(default_factory=set)
    products: set[str] = field(default_factory=set)


def weekly(session: Session, account: Account, week: str | None = None, commune: str | None = None) -> dict[str, Any]:
    tz = products.zone(get_settings().time_zone)
    label, monday = parse_week(week, datetime.now(tz).date())
    start = datetime.combine(monday, time(), tz)
    end = start + timedelta(days=7)
    stmt = visible_areas(select(GrowingArea), account)
    if commune:  # in the spelling the areas have: "HÒA TÚ 1" or "Hoà Tú 1" finds "Hòa Tú 1"
        commune = canonical_place(session, "commune", commune)
        stmt = stmt.where(GrowingArea.commune == commune)
    areas = {a.id: a for a in session.scalars(stmt)}
    ids = list(areas)
    observed = _in_chunks(session, Observation, Observation.area_id, ids, Observation.observed_at, start, end)
    sprayed = _in_chunks(session, SprayApplication, SprayApplication.area_id, ids, SprayApplication.applied_on,
                         start, end)
    areas = _areas_of_the_week(areas, {o.area_id for o in observed} | {sp.area_id for sp in sprayed}, end)
    groups: dict[tuple[str, str], Group] = defaultdict(Group)
    for a in areas.values():
        groups[(a.commune or "", a.crop)].areas[a.id] = a.area_ha
    reviews = reviewed_labels(session, [o.id for o in observed if o.source == "photo"])
    # no disease: the model's non-answers, and the labels of the registry that are no disease or pest (healthy,
    # other, an agronomist's new "healthy"-kind label)
    not_disease = NOT_DISEASE | {n for n, lab in labels.registry(session).items() if lab.kind not in ("disease", "pest")}
    for obs in observed:
        g = groups[(areas[obs.area_id].commune or "", areas[obs.area_id].crop)]
        _count_observation(g, obs, reviews.get(obs.id), not_disease)
    for sp in sprayed:
        g = groups[(areas[sp.area_id].commune or "", areas[sp.area_id].crop)]
        g.sprays += 1
        g.sprayed.add(sp.area_id)
        g.products.add(sp.product)
    rows = [r for key in sorted(groups) for r in _rows(label, key, groups[key])]
    return {"week": label, "from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat(),
            "time_zone": tz.key, "commune": commune, "rows": rows}


def _areas_of_the_week(areas: dict[int, GrowingArea], active: set[int], end: datetime) -> dict[int, GrowingArea]:
    """The areas a week's report counts: those registered before the week ended, and those with a photo, flight or
    spray in it (photos dated by the phone may come before the area was registered); a revoked area only with such
    records, so that revoking a code later leaves the report of a week it was surveyed as it was."""
    return {i: a for i, a in areas.items()
            if i in active or (a.created_at < end and a.status is not AreaStatus.revoked)}


def _in_chunks(session: Session, model: Any, area_col: Any, ids: list[int], when: Any, start: datetime,
               end: datetime) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(ids), 900):  # SQLite's limit on bound parameters
        out += session.scalars(select(model).where(area_col.in_(ids[i:i + 900]), when >= start, when < end))
    return out


def _count_observation(g: Group, obs: Observation, review: tuple[str, str | None] | None = None,
                       not_disease: set[str | None] | frozenset[str | None] = frozenset(NOT_DISEASE)) -> None:
    """One photo or flight into its group. A photo's disease is the newest review's label where an agronomist
    reviewed it (a rejected photo names none), else the model's diagnosis."""
    s = obs.scores or {}
    if obs.source == "photo":
        if not (s.get("quality") or {}).get("ok", True):
            return  # a refused photo is no survey
        g.photos += 1
        disease = obs.diagnosis if review is None else review[1]
        if disease is not None and disease not in not_disease:
            g.diseases[disease].append((obs.area_id, obs.ses))
    elif obs.source == "drone":
        g.flights += 1
        g.damaged_ha += float(s.get("damaged_area_ha") or 0.0)
    g.surveyed.add(obs.area_id)


def _rows(week: str, key: tuple[str, str], g: Group) -> list[dict[str, Any]]:
    base = {"week": week, "commune": key[0], "crop": key[1], "areas": len(g.areas),
            "areas_ha": round(sum(g.areas.values()), 2), "areas_surveyed": len(g.surveyed),
            "surveyed_ha": round(sum(g.areas[i] for i in g.surveyed), 2), "photos": g.photos, "flights": g.flights,
            "drone_damaged_ha": round(g.damaged_ha, 2), "sprays": g.sprays, "sprayed_areas": len(g.sprayed),
            "sprayed_ha": round(sum(g.areas[i] for i in g.sprayed), 2), "products": "; ".join(sorted(g.products))}
    if not g.diseases:
        return [{**base, "disease": "", "disease_photos": 0, "disease_areas": 0, "affected_ha": 0.0,
                 "mean_ses": None, "max_ses": None}]
    out = []
    for disease in sorted(g.diseases):
        hits = g.diseases[disease]
        ses = [s for _, s in hits if s is not None]
        hit_areas = {a for a, _ in hits}
        out.append({**base, "disease": disease, "disease_photos": len(hits), "disease_areas": len(hit_areas),
                    "affected_ha": round(sum(g.areas[a] for a in hit_areas), 2),
                    "mean_ses": round(sum(ses) / len(ses), 1) if ses else None, "max_ses": max(ses) if ses else None})
    return out


REPORT_TYPES = {"json": "application/json", "csv": "text/csv",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def render(report: dict[str, Any], fmt: str, names_vi: dict[str, str] | None = None) -> str | bytes:
    """The report in one of REPORT_TYPES (the API and the CLI); `names_vi`: the diseases' Vietnamese names, for the
    workbook."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False)
    return to_csv(report) if fmt == "csv" else to_xlsx(report, names_vi)


def to_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(csv_row(r) for r in report["rows"])
    return buf.getvalue()


def to_xlsx(report: dict[str, Any], names_vi: dict[str, str] | None = None) -> bytes:
    """Two sheets: 'Tổng hợp' (one row per commune and crop) and 'Bệnh' (one row per commune, crop and disease),
    headed in Vietnamese, crops and diseases by their Vietnamese names."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    names_vi = names_vi or {}
    wb = Workbook()
    summary = wb.active
    summary.title = "Tổng hợp"
    summary.append([f"Báo cáo tuần {report['week']} ({report['from']} – {report['to']}, {report['time_zone']})"])
    sum_cols = [c for c in COLUMNS if c not in ("disease", "disease_photos", "disease_areas", "affected_ha",
                                                  "mean_ses", "max_ses")]
    summary.append([COLUMNS_VI[c] for c in sum_cols])
    seen = set()
    for r in report["rows"]:
        if (r["commune"], r["crop"]) not in seen:
            seen.add((r["commune"], r["crop"]))
            summary.append([_vi_value(c, r[c], names_vi) for c in sum_cols])
    diseases = wb.create_sheet("Bệnh")
    dis_cols = ["week", "commune", "crop", "disease", "disease_photos", "disease_areas", "affected_ha", "mean_ses",
                "max_ses"]
    diseases.append([COLUMNS_VI[c] for c in dis_cols])
    for r in report["rows"]:
        if r["disease"]:
            diseases.append([_vi_value(c, r[c], names_vi) for c in dis_cols])
    for ws in (summary, diseases):
        text_stays_text(ws.iter_rows())
    for ws, header_row in ((summary, 2), (diseases, 1)):
        for cell in ws[header_row]:
            cell.font = Font(bold=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _vi_value(column: str, value: Any, names_vi: dict[str, str]) -> Any:
    """A workbook cell: a crop or a disease by its Vietnamese name where one is known, anything else as it is."""
    if column == "crop" and isinstance(value, str):
        return crop_names().get(value, {}).get("vi", value)
    if column == "disease" and isinstance(value, str):
        return names_vi.get(value, value)
    return value
