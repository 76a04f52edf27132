"""Drone flights as jobs: upload, validation before any work, progress, results, restart recovery (local mode) and
Celery workers over the real Redis, including a worker killed in the middle of a job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from api.orm import Job, JobStatus, Role
from api.settings import get_settings
from inference.geo import reproject
from inference.sensors import validate_raster
from tests.conftest import make_account, row_counts, token_for
from tests.data.make_rasters import bali_crop, broken, deep_rgba, synthetic_rgba

REDIS_ENV = "CROPWATCH_TEST_REDIS_URL"
REQUIRE = os.environ.get("CROPWATCH_REQUIRE_SERVICES") == "1"


def area_over(raster: Path, code: str = "VN-STOR-0001", shrink: float = 0.2) -> dict:
    info = validate_raster(raster)
    a, _, c, _, e, f = info.transform
    x0, x1, y1, y0 = c, c + a * info.width, f, f + e * info.height
    dx, dy = (x1 - x0) * shrink, (y1 - y0) * shrink
    geom = reproject(box(x0 + dx, y0 + dy, x1 - dx, y1 - dy), info.crs, "EPSG:4326")
    return {"code": code, "name": "Ruộng bay", "crop": "rice", "boundary": mapping(geom), "province": "Sóc Trăng"}


def wait_job(client: TestClient, headers: dict, job_id: int, timeout: float = 120) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        j = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if j["status"] in ("succeeded", "failed"):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {j}")


def analysed(client: TestClient, tok: dict, *paths: Path) -> list[dict]:
    """Each orthomosaic uploaded by the pilot for VN-STOR-0001 (accepted: 202) and its job once it has finished."""
    jobs = []
    for path in paths:
        r = post_flight(client, tok["pilot"], path, area_code="VN-STOR-0001")
        assert r.status_code == 202, r.text
        jobs.append(wait_job(client, tok["pilot"], r.json()["id"]))
    return jobs


def post_flight(client: TestClient, headers: dict, path: Path, **form: str):
    with path.open("rb") as fh:
        return client.post("/v1/flights", files={"file": (path.name, fh, "image/tiff")}, data=form, headers=headers)


def test_flight_job_local_mode(flight_client, tmp_path: Path) -> None:
    client, tok = flight_client
    src = bali_crop(tmp_path / "bali.tif")
    assert client.post("/v1/areas", json=area_over(src), headers=tok["admin"]).status_code == 201
    r = post_flight(client, tok["pilot"], src, area_code="VN-STOR-0001")
    assert r.status_code == 202, r.text
    job = wait_job(client, tok["pilot"], r.json()["id"])
    assert job["status"] == "succeeded" and job["progress_pct"] == 100, job
    assert job["params"]["ortho"] == f"flights/{job['id']}/ortho.tif"  # relative: no server folder in a response
    assert job["result"]["clipped_to_area"] and job["result"]["damage_method"] in ("model", "index_anomaly")
    tif = client.get(job["files"]["damage.tif"], headers=tok["pilot"])
    assert tif.status_code == 200
    p = tmp_path / "d.tif"
    p.write_bytes(tif.content)
    with rasterio.open(p) as d, rasterio.open(src) as s:
        assert d.crs == s.crs and d.transform == s.transform
        assert d.compression.value == "DEFLATE"  # the download every GIS tool reads; stored as ZSTD
        deflated = d.read(1)
    stored = client.get(job["files"]["damage.tif"] + "?compression=zstd", headers=tok["pilot"])
    p.write_bytes(stored.content)
    with rasterio.open(p) as d:
        assert d.compression.value == "ZSTD" and (d.read(1) == deflated).all()
    wrong = client.get(job["files"]["damage.tif"] + "?compression=lzw", headers=tok["pilot"])
    assert wrong.status_code == 422 and "deflate" in wrong.text
    png = client.get(job["files"]["preview.png"], headers=tok["pilot"])
    assert png.content[:4] == b"\x89PNG"
    obs = client.get("/v1/areas/VN-STOR-0001/observations?source=drone", headers=tok["admin"]).json()
    assert len(obs) == 1 and obs[0]["scores"]["canopy_cover_pct"] == job["result"]["canopy_cover_pct"]
    assert client.get(f"/v1/jobs/{job['id']}", headers=tok["farmer"]).status_code == 404
    check_tiles(client, tok, job)


def test_a_12_bit_flight_goes_through_with_its_bit_depth(flight_client, tmp_path: Path) -> None:
    """A 12-bit RGB + alpha mosaic, refused before 2026-12-03: the upload's validation reads its bit depth, the job
    carries it (the analysis, the preview and the ortho tile use it: the tile looks like the 8-bit mosaic's), and
    the summary's notices say it."""
    import io

    import morecantile
    import numpy as np
    from PIL import Image

    client, tok = flight_client
    src = bali_crop(tmp_path / "bali.tif")
    deep = deep_rgba(src, tmp_path / "bali12.tif")
    assert client.post("/v1/areas", json=area_over(src), headers=tok["admin"]).status_code == 201
    jobs = analysed(client, tok, src, deep)
    eight, twelve = jobs
    assert twelve["status"] == "succeeded" and twelve["params"]["raster"]["scale"] == 4095
    assert twelve["result"]["notices"] == ["bit_depth"] and twelve["result"]["sensor"] == "rgba16"
    assert twelve["result"]["canopy_cover_pct"] == eight["result"]["canopy_cover_pct"]
    w, s, e, n = eight["result"]["bounds_wgs84"]
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, 20)
    tiles = [np.asarray(Image.open(io.BytesIO(client.get(f"/v1/jobs/{j['id']}/tiles/ortho/{t.z}/{t.x}/{t.y}.png",
                                                          headers=tok["pilot"]).content)).convert("RGBA")).astype(int)
             for j in jobs]
    assert np.abs(tiles[0] - tiles[1]).max() <= 2


def test_a_flight_with_no_valid_pixel_fails_with_its_reason(flight_client, tmp_path: Path) -> None:
    """A mosaic that is all alpha 0 passes the upload's checks (two blocks decode) and fails in the job: the job says
    why with the refusal's reason code (the operator page says it in Vietnamese), not only in English, and leaves no
    half-written analysis behind."""
    client, tok = flight_client
    src = bali_crop(tmp_path / "bali.tif")
    empty = tmp_path / "empty.tif"
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    data[3] = 0
    with rasterio.open(empty, "w", **prof) as dst:
        dst.write(data)
    assert client.post("/v1/areas", json=area_over(src), headers=tok["admin"]).status_code == 201
    r = post_flight(client, tok["pilot"], empty, area_code="VN-STOR-0001")
    assert r.status_code == 202, r.text
    job = wait_job(client, tok["pilot"], r.json()["id"])
    assert job["status"] == "failed" and job["error_reason"] == "raster_no_valid_pixels", job
    assert "no valid pixel" in job["error"]
    assert not (get_settings().data_dir / "flights" / str(job["id"]) / "analysis").exists()


def test_a_bgr_export_goes_through_a_job_in_its_own_band_order(flight_client, tmp_path: Path) -> None:
    """A 3-band file tagged blue, green, red: its band order travels with the job (the job record once refused it with
    a 500 and left the flight's folder behind, which then failed the next upload too)."""
    from rasterio.enums import ColorInterp as CI

    client, tok = flight_client
    src = bali_crop(tmp_path / "bali.tif")
    bgr = tmp_path / "bgr.tif"
    with rasterio.open(src) as ds:
        data, prof = ds.read(), ds.profile.copy()
    with rasterio.open(bgr, "w", **{**prof, "count": 3, "photometric": "MINISBLACK", "nodata": 0}) as dst:
        dst.write(data[[2, 1, 0]])
        dst.colorinterp = [CI.blue, CI.green, CI.red]
    assert client.post("/v1/areas", json=area_over(src), headers=tok["admin"]).status_code == 201
    (bgr_job, rgba_job) = analysed(client, tok, bgr, src)
    assert bgr_job["status"] == "succeeded", bgr_job
    assert any("tagged blue, green, red" in w for w in bgr_job["result"]["warnings"])
    assert bgr_job["result"]["canopy_cover_pct"] == pytest.approx(rgba_job["result"]["canopy_cover_pct"], abs=0.05)


def check_tiles(client: TestClient, tok: dict, job: dict) -> None:
    """Map tiles of the ortho and of each analysis map: opaque over the field, transparent far away, same access
    rules as the job."""
    import io

    import morecantile
    import numpy as np
    from PIL import Image

    w, s, e, n = job["result"]["bounds_wgs84"]
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, 20)
    url = f"/v1/jobs/{job['id']}/tiles/{{}}/{t.z}/{t.x}/{t.y}.png"
    for layer in ("ortho", "canopy", "growth", "damage"):
        r = client.get(url.format(layer), headers=tok["pilot"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", (layer, r.text[:200])
        rgba = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
        assert rgba.shape == (256, 256, 4)
        if layer in ("ortho", "growth"):
            assert (rgba[..., 3] > 0).mean() > 0.5, layer  # the field is drawn, not the background
    far = client.get(f"/v1/jobs/{job['id']}/tiles/ortho/20/0/0.png", headers=tok["pilot"])
    assert far.status_code == 200 and np.asarray(Image.open(io.BytesIO(far.content)).convert("RGBA"))[..., 3].max() == 0
    assert client.get(url.format("ndvi"), headers=tok["pilot"]).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/tiles/ortho/3/9/0.png", headers=tok["pilot"]).status_code == 404
    assert client.get(url.format("ortho"), headers=tok["farmer"]).status_code == 404


# the finer name a page translates (the operator's page says these in Vietnamese)
REASONS = {"jpeg_renamed": "raster_not_tiff", "no_crs": "raster_no_georeference", "single_band": "raster_bands",
           "huge_truncated": "raster_too_many_pixels", "truncated": "raster_truncated", "no_overlap": "raster_outside_area",
           "farmer": "role_not_allowed"}


@pytest.mark.parametrize(
    ("kind", "status", "words"),
    [("jpeg_renamed", 415, "not a GeoTIFF"), ("no_crs", 422, "no CRS"), ("single_band", 422, "match no sensor"),
     ("huge_truncated", 413, "gigapixel"), ("truncated", 422, "truncated"), ("no_overlap", 422, "does not overlap"),
     ("unknown_area", 404, "no growing area"), ("farmer", 403, "drone operators")],
)
def test_bad_flights_leave_nothing(flight_client, tmp_path: Path, engine, app_settings, kind, status, words) -> None:
    client, tok = flight_client
    good = synthetic_rgba(tmp_path / "field.tif")
    far = area_over(good)
    far["boundary"] = mapping(box(106.5, 10.5, 106.51, 10.51))
    client.post("/v1/areas", json=far, headers=tok["admin"])
    files = broken(tmp_path / "broken")
    path, code, who = files.get(kind, good), "VN-STOR-0001", "pilot"
    if kind == "unknown_area":
        code = "VN-STOR-0404"
    if kind == "farmer":
        who = "farmer"
    before = row_counts(engine)
    r = post_flight(client, tok[who], path, area_code=code)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"] and r.json().get("reason") == REASONS.get(kind), r.json()
    assert row_counts(engine) == before
    leftovers = [p for p in (app_settings / "flights").rglob("*") if p.is_file()] if (app_settings / "flights").exists() else []
    assert leftovers == []


def test_interrupted_job_is_resumed_at_start_up(app_settings: Path, db, tmp_path: Path) -> None:
    from api.app import create_app

    src = synthetic_rgba(tmp_path / "field.tif")
    make_account(db, "admin", Role.admin)
    with db() as s:
        job = Job(kind="drone_analysis", status=JobStatus.running, attempts=1, progress_pct=40.0,
                  params={"ortho": str(src), "sensor": "rgba", "method": "auto"})
        gone = Job(kind="drone_analysis", status=JobStatus.running, attempts=3, params={"ortho": str(src)})
        s.add_all([job, gone])
        s.commit()
        ids = (job.id, gone.id)
    with TestClient(create_app()) as c:  # start-up recovers the jobs a stopped service left behind
        tok = token_for(c, "admin")
        done = wait_job(c, tok, ids[0])
        assert done["status"] == "succeeded" and done["attempts"] == 2
        failed = c.get(f"/v1/jobs/{ids[1]}", headers=tok).json()
        assert failed["status"] == "failed" and "interrupted 3 times" in failed["error"]
        r = c.post(f"/v1/jobs/{ids[1]}/retry", headers=tok)
        assert r.status_code == 202
        assert wait_job(c, tok, ids[1])["status"] == "succeeded"


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        reason = f"{REDIS_ENV} is not set: no Redis named for the Celery tests"
        if REQUIRE:
            pytest.fail(reason)
        pytest.skip(reason)
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as exc:
        if REQUIRE:
            pytest.fail(f"Redis at {url}: {exc}")
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    return url


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--loglevel", "WARNING"], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
def test_celery_worker_runs_job_and_survives_a_killed_worker(
    redis_url: str, db_url: str, app_settings: Path, db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.app import create_app

    monkeypatch.setattr(get_settings(), "jobs", "celery")
    monkeypatch.setattr(get_settings(), "redis_url", redis_url)  # Celery reads its broker from Settings
    env = {**os.environ, "CROPWATCH_JOBS": "celery", "CROPWATCH_REDIS_URL": redis_url, "CROPWATCH_DATABASE_URL": db_url,
           "CROPWATCH_DATA_DIR": str(app_settings), "CROPWATCH_CELERY_VISIBILITY_S": "4"}
    make_account(db, "admin", Role.admin)
    small = synthetic_rgba(tmp_path / "small.tif")
    big = synthetic_rgba(tmp_path / "big.tif", width=3000, height=3000, blocks=256)
    w1 = start_worker(env, tmp_path / "w1.log")
    try:
        with TestClient(create_app()) as c:
            tok = token_for(c, "admin")
            c.post("/v1/areas", json=area_over(small), headers=tok)
            r = post_flight(c, tok, small, area_code="VN-STOR-0001", method="index_anomaly")
            assert r.status_code == 202, r.text
            assert wait_job(c, tok, r.json()["id"], 90)["status"] == "succeeded"

            c.post("/v1/areas", json=area_over(big, "VN-STOR-0002"), headers=tok)
            jid = post_flight(c, tok, big, area_code="VN-STOR-0002", method="index_anomaly").json()["id"]
            t0 = time.time()
            while c.get(f"/v1/jobs/{jid}", headers=tok).json()["progress_pct"] <= 0 and time.time() - t0 < 60:
                time.sleep(0.1)
            mid = c.get(f"/v1/jobs/{jid}", headers=tok).json()
            assert mid["status"] == "running" and 0 < mid["progress_pct"] < 100, mid
            os.killpg(w1.pid, signal.SIGKILL)  # the worker dies in the middle of the job
            w1.wait(10)
            time.sleep(5)  # past the visibility timeout
            w2 = start_worker(env, tmp_path / "w2.log")
            try:
                done = wait_job(c, tok, jid, 180)
            finally:
                os.killpg(w2.pid, signal.SIGTERM)
                w2.wait(30)
            assert done["status"] == "succeeded" and done["attempts"] == 2, done
    finally:
        if w1.poll() is None:
            os.killpg(w1.pid, signal.SIGKILL)
