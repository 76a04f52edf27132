"""The department's base map with 50,000 generated areas (SQLite): what one map view costs through
`GET /v1/map/areas` and `GET /v1/map/outbreaks` at province, district and field zoom, side by side with the baseline
a map without clustering would load (`GET /v1/areas/export`, every polygon). Median of several runs in-process
(FastAPI TestClient: the server's work and the response size, not the network).

    python benchmarks/map_bench.py [--areas 50000] [--photos 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def generate(n_areas: int, n_photos: int, seed: int = 1) -> None:
    """Areas of about 1 ha on a jittered grid over Sóc Trăng (about 60 x 50 km), 14 % with a diagnosis; photo
    diagnoses spread over 30 days. Bulk inserts (the service's own validation is not what is measured here)."""
    import numpy as np
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.orm import Account, GrowingArea, Observation, Role

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_areas)))
    dx, dy = 0.55 / side, 0.45 / side
    now = datetime.now(UTC)
    labels = ["blast", "brown_spot", "bacterial_leaf_blight", "no_symptom", "unsure"]
    with Session(get_engine()) as s:
        owner = Account(username="bench", role=Role.farmer, password_hash="x")
        s.add(owner)
        s.flush()
        rows = []
        for i in range(n_areas):
            x = 105.70 + (i % side) * dx + rng.uniform(0, dx * 0.2)
            y = 9.35 + (i // side) * dy + rng.uniform(0, dy * 0.2)
            w, h = dx * 0.8, dy * 0.8
            ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
            diag = labels[int(rng.integers(0, 5))] if rng.random() < 0.14 else None
            rows.append({"code": f"VN-BENCH-{i:06d}", "name": f"bench {i}", "crop": ["rice", "shallot"][i % 7 == 0],
                         "commune": f"Xã {i // 2500}", "province": "Sóc Trăng", "owner_id": owner.id,
                         "boundary_geojson": {"type": "Polygon", "coordinates": [ring]}, "min_lon": x, "min_lat": y,
                         "max_lon": x + w, "max_lat": y + h, "area_ha": 1.0, "utm_epsg": 32648,
                         "centroid_lon": x + w / 2, "centroid_lat": y + h / 2, "latest_diagnosis": diag,
                         "latest_growth": float(rng.uniform(20, 95)), "latest_ses": 5 if diag else None})
        s.execute(insert(GrowingArea), rows)
        ids = [i for (i,) in s.execute(GrowingArea.__table__.select().with_only_columns(GrowingArea.id))]
        obs = [{"area_id": int(rng.choice(ids)), "source": "photo", "scores": {}, "schema_version": "1.0",
                "diagnosis": labels[int(rng.integers(0, 3))], "ses": int(rng.integers(1, 10)),
                "observed_at": now - timedelta(days=float(rng.uniform(0, 30)))} for _ in range(n_photos)]
        s.execute(insert(Observation), obs)
        s.commit()


def timed(client, url: str, headers: dict, runs: int) -> tuple[float, int, int]:
    times, r = [], None
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(url, headers=headers)
        times.append(1000 * (time.perf_counter() - t))
        assert r.status_code == 200, r.text[:300]
    body = r.json()
    n = len(body["features"]) if isinstance(body, dict) else 0
    return statistics.median(times), len(r.content), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--areas", type=int, default=50_000)
    ap.add_argument("--photos", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="map_bench_")
    os.environ["CROPWATCH_DATA_DIR"] = tmp
    os.environ.pop("CROPWATCH_DATABASE_URL", None)
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.bootstrap import ensure_admin
    from api.cli.service import db_upgrade

    db_upgrade("head")
    user, password = ensure_admin() or ("admin", "")
    t = time.perf_counter()
    generate(args.areas, args.photos)
    print(f"generated {args.areas:,} areas and {args.photos:,} photo diagnoses in {time.perf_counter() - t:.1f} s "
          f"(SQLite in {tmp})\n")
    views = [("province (zoom 9)", "105.6,9.3,106.4,9.9", 9),
             ("district (zoom 12)", "105.90,9.55,106.00,9.62", 12),
             ("fields (zoom 15)", "105.950,9.580,105.962,9.588", 15),
             ("fields (zoom 17)", "105.955,9.583,105.958,9.585", 17)]
    with TestClient(create_app()) as c:
        tok = c.post("/v1/auth/token", data={"username": user, "password": password}).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        rows = [("baseline: every area (/v1/areas/export)", *timed(c, "/v1/areas/export", h, max(1, args.runs // 2)))]
        for name, bbox, z in views:
            rows.append((f"/v1/map/areas, {name}", *timed(c, f"/v1/map/areas?bbox={bbox}&zoom={z}", h, args.runs)))
        for name, bbox, z in views[:2]:
            rows.append((f"/v1/map/outbreaks, {name}",
                         *timed(c, f"/v1/map/outbreaks?bbox={bbox}&zoom={z}", h, args.runs)))
    print(f"{'request':48} {'median ms':>10} {'bytes':>12} {'features':>9}")
    for name, ms, size, n in rows:
        print(f"{name:48} {ms:10.1f} {size:12,} {n:9,}")


if __name__ == "__main__":
    main()
