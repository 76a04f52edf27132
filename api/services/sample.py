"""The sample that `make run` loads into an empty database (`cropwatch sample load`): made-up growing areas in three
communes of Mỹ Xuyên (Sóc Trăng), real CC BY field photos scored by the served model and dated over the last days,
two spray records and a synthetic flight that the server analyses as any upload. See api/data/sample/README.md."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import Account, GrowingArea, Role
from api.schemas import AreaCreate, SprayApplicationCreate
from api.security import hash_password
from api.services import areas as area_service
from api.services.flights import create_flight_job
from api.services.photos import record_photo
from api.services.spray_maps import record_application
from inference.photo import PhotoScorer

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
PREFIX = "VN-MAU-"
COMMUNES = [("Hòa Tú 1", "mau_hoatu", (105.9700, 9.5600)), ("Gia Hòa 1", "mau_giahoa", (105.9350, 9.5850)),
            ("Ngọc Tố", "mau_ngocto", (106.0050, 9.5350))]
CROPS = [("rice", "ST25"), ("rice", "ST25"), ("rice", "OM5451"), ("shallot", "hành tím Vĩnh Châu")]
FIELD_M = (120.0, 80.0)


def loaded(session: Session) -> bool:
    return session.scalar(select(GrowingArea.id).where(GrowingArea.code == f"{PREFIX}0001")) is not None


def _owner(session: Session, username: str, commune: str) -> Account:
    acc = session.scalar(select(Account).where(Account.username == username))
    if acc is None:
        acc = Account(username=username, full_name=f"Nông dân mẫu ({commune})", role=Role.farmer,
                      province="Sóc Trăng", password_hash=hash_password(secrets.token_urlsafe(16)))
        session.add(acc)
        session.flush()
    return acc


def _polygon(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[round(x, 7), round(y, 7)] for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {"type": "Polygon", "coordinates": [ring]}


def _areas(session: Session, admin: Account, today: date) -> list[GrowingArea]:
    out = []
    dx = FIELD_M[0] / (111_320 * np.cos(np.radians(9.56)))
    dy = FIELD_M[1] / 111_320
    for c, (commune, username, (lon, lat)) in enumerate(COMMUNES):
        owner = _owner(session, username, commune)
        for k, (crop, variety) in enumerate(CROPS):
            x, y = lon + (k % 2) * dx * 1.15, lat + (k // 2) * dy * 1.2
            data = AreaCreate(code=f"{PREFIX}{4 * c + k + 1:04d}", name=f"Ruộng mẫu {4 * c + k + 1}", crop=crop,
                              variety=variety, commune=commune, district="Mỹ Xuyên", province="Sóc Trăng",
                              owner_username=owner.username, boundary=_polygon(x, y, x + dx, y + dy),
                              season="Đông Xuân 2026-2027" if crop == "rice" else None,
                              sowing_date=today - timedelta(days=30 + 5 * c) if crop == "rice" else None)
            area, _ = area_service.build_area(session, data, admin)
            session.add(area)
            out.append(area)
    session.commit()
    return out


def _photos(session: Session, scorer: PhotoScorer, fields: list[GrowingArea], now: datetime) -> int:
    rice = [a for a in fields if a.crop == "rice"]
    files = sorted((SAMPLE_DIR / "photos").glob("*.jpg"))
    for i, f in enumerate(files):
        area = rice[(i * 5) % len(rice)]
        data = f.read_bytes()
        result = scorer.score(data)
        point = (area.centroid_lon, area.centroid_lat)
        when = now - timedelta(days=18 * (len(files) - 1 - i) / max(len(files) - 1, 1), hours=2)
        assert area.owner is not None  # set by build_area
        record_photo(session, area.owner, area, data, result, point, "sample photo", observed_at=when)
    return len(files)


def synthetic_ortho(area: GrowingArea, seed: int = 7) -> bytes:
    """A 3-band GeoTIFF (UTM, 0.1 m) over the area and a margin: rice canopy with brown damage patches and soil
    gaps, seeded. Synthetic: for the sample only."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", f"EPSG:{area.utm_epsg}", always_xy=True)
    x0, y0 = t.transform(area.min_lon, area.min_lat)
    x1, y1 = t.transform(area.max_lon, area.max_lat)
    px, margin = 0.1, 8.0
    w, h = int((x1 - x0 + 2 * margin) / px), int((y1 - y0 + 2 * margin) / px)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((3, h, w), np.float32)
    img[0], img[1], img[2] = 60, 125, 45  # canopy green
    img += rng.normal(0, 9, img.shape).astype(np.float32)
    for cx, cy, r in rng.uniform([0.15 * w, 0.15 * h, 25], [0.85 * w, 0.85 * h, 70], (6, 3)):
        patch = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        img[:, patch] = np.array([150, 120, 70], np.float32)[:, None] + rng.normal(0, 10, (3, int(patch.sum())))
    buf = io.BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs=f"EPSG:{area.utm_epsg}",
                      transform=from_origin(x0 - margin, y1 + margin, px, px), photometric="RGB") as ds:
            ds.write(np.clip(img, 0, 255).astype(np.uint8))
        buf.write(mem.read())
    return buf.getvalue()


def load(session: Session, scorer: PhotoScorer | None, now: datetime | None = None) -> dict[str, Any]:
    """Load the sample once (nothing when its first area exists); returns what was loaded."""
    if loaded(session):
        return {"loaded": False, "reason": "the sample is already loaded"}
    admin = session.scalar(select(Account).where(Account.role == Role.admin).order_by(Account.id))
    if admin is None:
        raise RuntimeError("create an admin first (cropwatch serve does on first start)")
    now = now or datetime.now(UTC)
    fields = _areas(session, admin, now.date())
    n_photos = _photos(session, scorer, fields, now) if scorer else 0
    first = fields[0]
    for days, key in ((12, "sample-1"), (3, "sample-2")):
        record_application(session, admin, first, SprayApplicationCreate(
            applied_on=(now - timedelta(days=days)).replace(tzinfo=None, microsecond=0), product="Beam 75WP",
            dose_per_ha=0.3, dose_unit="kg", water_l_per_ha=20, volume_l=8.0, operator="Tổ dịch vụ bay mẫu",
            idempotency_key=key))
    job = create_flight_job(session, admin, first, io.BytesIO(synthetic_ortho(first)), "sample_ortho.tif", None,
                            "auto")
    return {"loaded": True, "areas": len(fields), "photos": n_photos, "sprays": 2, "flight_job": job.id}
