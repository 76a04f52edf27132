"""Spray maps through the API: from an analysed flight or an uploaded damage raster, with an exclusion; every format
downloads and reads back; the pesticide log; bad input refused with nothing written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyogrio
import pytest
import rasterio
from shapely.geometry import mapping

from tests.api.test_flights import area_over, post_flight, wait_job
from tests.conftest import row_counts
from tests.data.make_damage import canal_wgs84, damage_raster, field_boundary_wgs84
from tests.data.make_rasters import synthetic_rgba

CANAL = {"name": "canal", "kind": "water", "buffer_m": 10, "geojson": mapping(canal_wgs84())}


def test_spray_map_from_flight_and_all_downloads(flight_client, tmp_path: Path) -> None:  # noqa: F811
    client, tok = flight_client
    src = synthetic_rgba(tmp_path / "field.tif")
    client.post("/v1/areas", json=area_over(src, shrink=0.05), headers=tok["admin"])
    job = wait_job(client, tok["pilot"], post_flight(client, tok["pilot"], src, area_code="VN-STOR-0001").json()["id"])
    assert job["status"] == "succeeded"
    r = client.post("/v1/spray-maps", json={"job_id": job["id"], "config": {"swath_m": 5, "rate_l_per_ha": 18,
                                                                           "product": "Chess 50WG"}},
                    headers=tok["pilot"])
    assert r.status_code == 201, r.text
    sm = r.json()
    s = sm["summary"]
    assert s["treated_area_ha"] > 0 and 0 < s["saving_pct"] < 100 and s["rate_unit"] == "L/ha"
    assert sm["damage_model"]["name"] in ("index_anomaly", "drone_damage_unet_small")
    assert sm["zones"]["type"] == "FeatureCollection"
    for fmt in ("geojson", "shp", "kml", "kmz", "gpkg", "dji", "isoxml"):
        d = client.get(f"/v1/spray-maps/{sm['id']}/download?format={fmt}", headers=tok["pilot"])
        assert d.status_code == 200, (fmt, d.text)
        ext = {"geojson": ".geojson", "kml": ".kml", "gpkg": ".gpkg"}.get(fmt, ".zip")
        p = tmp_path / f"x_{fmt}{ext}"
        p.write_bytes(d.content)
        if fmt in ("geojson", "kml", "gpkg"):
            meta, *_ = pyogrio.raw.read(p, layer="spray_zones" if fmt == "gpkg" else None)
            assert "4326" in meta["crs"]
        elif fmt == "shp":
            meta, _, geoms, fields = pyogrio.raw.read(f"/vsizip/{p}")
            assert list(meta["fields"])[:4] == ["zone_id", "rate", "unit", "rate_class"] and len(geoms) == s["zones"]
        elif fmt == "kmz":
            assert zipfile.ZipFile(p).namelist() == ["doc.kml"]
        elif fmt == "dji":
            names = zipfile.ZipFile(p).namelist()
            assert any(n.endswith("rate_map.tif") for n in names) and any(n.endswith("manifest.json") for n in names)
            with rasterio.open(f"/vsizip/{p}/prescription_VN-STOR-0001/rate_map.tif") as r:
                assert r.crs.to_epsg() == 4326 and r.read(1).max() == 18
        else:
            assert "TASKDATA/TASKDATA.XML" in zipfile.ZipFile(p).namelist()
    assert client.get(f"/v1/spray-maps/{sm['id']}/download?format=pdf", headers=tok["pilot"]).status_code == 422
    png = client.get(f"/v1/spray-maps/{sm['id']}/preview.png", headers=tok["pilot"])
    assert png.content[:4] == b"\x89PNG"
    assert client.get(f"/v1/spray-maps/{sm['id']}", headers=tok["farmer"]).status_code == 404


def test_spray_map_from_raster_with_exclusion_golden(flight_client, tmp_path: Path) -> None:  # noqa: F811
    client, tok = flight_client
    area = {"code": "VN-STOR-0007", "name": "golden", "crop": "rice", "province": "Sóc Trăng",
            "boundary": mapping(field_boundary_wgs84())}
    assert client.post("/v1/areas", json=area, headers=tok["admin"]).status_code == 201
    cfg = {"swath_m": 7, "heading_deg": 0, "smoothing": False, "buffer_m": 0, "min_zone_area_m2": 0,
           "exclusions": [CANAL]}
    with damage_raster(tmp_path / "d.tif").open("rb") as fh:
        r = client.post("/v1/spray-maps/from-raster", files={"file": ("d.tif", fh)},
                        data={"area_code": "VN-STOR-0007", "config": json.dumps(cfg)}, headers=tok["pilot"])
    assert r.status_code == 201, r.text
    s = r.json()["summary"]
    assert s["treated_area_ha"] == pytest.approx(0.0784, rel=0.005)
    assert s["product_volume_l"] == pytest.approx(1.568, rel=0.005)
    assert s["excluded_area_ha"] == pytest.approx(0.2, rel=0.005)
    # the pesticide log
    log = {"applied_on": "2026-11-27T07:00:00+07:00", "product": "Chess 50WG", "active_ingredient": "Pymetrozine",
           "dose_l_per_ha": 20, "volume_l": 1.6, "operator": "pilot", "spray_map_id": r.json()["id"]}
    a = client.post("/v1/areas/VN-STOR-0007/spray-applications", json=log, headers=tok["pilot"])
    assert a.status_code == 201, a.text
    hist = client.get("/v1/areas/VN-STOR-0007/spray-applications", headers=tok["admin"]).json()
    assert [h["product"] for h in hist] == ["Chess 50WG"]
    bad = client.post("/v1/areas/VN-STOR-0007/spray-applications", json={**log, "spray_map_id": 9999},
                      headers=tok["pilot"])
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [({"swath_m": 0}, 422, "swath_m"),
     ({"rate_l_per_ha": 80, "drone": {"flow_l_per_min": 8, "speed_km_h": 21.6, "swath_m": 7}}, 422, "cannot reach"),
     ({"exclusions": [{"name": "x", "geojson": {"type": "Polygon", "coordinates": [[[105.97, 9.56], [105.98, 9.57],
                                                                                      [105.98, 9.56], [105.97, 9.57],
                                                                                      [105.97, 9.56]]]}}]},
      422, "not a valid geometry"),
     ({"bogus": 1}, 422, "bogus"),
     ({"heading_deg": "NaN"}, 422, "heading_deg"),  # a 500 from the grid's geometry before
     ({"swath_m": "Infinity"}, 422, "swath_m")],
)
def test_bad_spray_plans_write_nothing(flight_client, tmp_path, engine, change, status, words) -> None:  # noqa: F811
    client, tok = flight_client
    area = {"code": "VN-STOR-0007", "name": "golden", "crop": "rice", "province": "Sóc Trăng",
            "boundary": mapping(field_boundary_wgs84())}
    client.post("/v1/areas", json=area, headers=tok["admin"])
    before = row_counts(engine)
    with damage_raster(tmp_path / "d.tif").open("rb") as fh:
        r = client.post("/v1/spray-maps/from-raster", files={"file": ("d.tif", fh)},
                        data={"area_code": "VN-STOR-0007", "config": json.dumps(change)}, headers=tok["pilot"])
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert row_counts(engine) == before


def test_boundary_not_overlapping_the_damage_raster(flight_client, tmp_path, engine) -> None:  # noqa: F811
    client, tok = flight_client
    from shapely.geometry import box

    client.post("/v1/areas", json={"code": "VN-STOR-0008", "name": "far", "crop": "rice", "province": "Sóc Trăng",
                                   "boundary": mapping(box(106.5, 10.5, 106.501, 10.501))}, headers=tok["admin"])
    before = row_counts(engine)
    with damage_raster(tmp_path / "d.tif").open("rb") as fh:
        r = client.post("/v1/spray-maps/from-raster", files={"file": ("d.tif", fh)},
                        data={"area_code": "VN-STOR-0008"}, headers=tok["pilot"])
    assert r.status_code == 422 and "does not overlap" in r.json()["detail"]
    assert row_counts(engine) == before


def test_operator_boundary_belongs_to_the_spray_map(flight_client, tmp_path, engine) -> None:  # noqa: F811
    """A boundary drawn or uploaded by the operator is the plan's field; the area's record keeps its own. The product
    dose gives the product (not the mix) per field and per tank."""
    from shapely.geometry import box, shape

    from inference.geo import reproject
    from tests.data.make_damage import X0, Y0

    client, tok = flight_client
    area = {"code": "VN-STOR-0009", "name": "west half", "crop": "rice", "province": "Sóc Trăng",
            "boundary": mapping(field_boundary_wgs84())}
    assert client.post("/v1/areas", json=area, headers=tok["admin"]).status_code == 201
    half = reproject(box(X0, Y0, X0 + 100, Y0 + 100), "EPSG:32648", "EPSG:4326")
    cfg = {"swath_m": 7, "heading_deg": 0, "smoothing": False, "buffer_m": 0, "min_zone_area_m2": 0,
           "product_dose_per_ha": 0.3, "product_dose_unit": "kg",
           "drone": {"swath_m": 7, "flow_l_per_min": 12, "speed_km_h": 21.6, "tank_l": 40}}
    feature = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                           "geometry": mapping(half)}]}

    def post(boundary: object, code: str = "VN-STOR-0009"):
        with damage_raster(tmp_path / "d.tif").open("rb") as fh:
            return client.post("/v1/spray-maps/from-raster", files={"file": ("d.tif", fh)},
                               data={"area_code": code, "config": json.dumps(cfg),
                                     "boundary": boundary if isinstance(boundary, str) else json.dumps(boundary)},
                               headers=tok["pilot"])

    r = post(feature)
    assert r.status_code == 201, r.text
    sm = r.json()
    assert sm["summary"]["field_area_ha"] == pytest.approx(1.0, rel=0.01)
    assert shape(sm["boundary"]).symmetric_difference(half).area < 0.01 * half.area
    q = sm["summary"]["product_quantity"]
    mix = sm["summary"]["spray_volume_l"]
    assert q["unit"] == "kg" and q["per_litre_of_mix"] == pytest.approx(0.3 / 20)
    assert q["per_field"] == pytest.approx(0.3 / 20 * mix, abs=1e-3) and q["per_tank"] == pytest.approx(0.6)
    stored = client.get("/v1/areas/VN-STOR-0009", headers=tok["admin"]).json()["boundary"]
    assert shape(stored).equals_exact(field_boundary_wgs84(), 1e-9)
    before = row_counts(engine)
    far = mapping(box(106.5, 10.5, 106.501, 10.501))
    for bad, words in ((far, "does not overlap area VN-STOR-0009"), (mapping(canal_wgs84()), "Polygon"),
                       ("{not json", "not valid JSON"), ([1, 2], "JSON object")):
        r = post(bad)
        assert r.status_code == 422 and words in r.json()["detail"], (bad, r.text)
        if bad is far:  # named, for the operator's page to say it in Vietnamese
            assert r.json()["reason"] == "plan_boundary_off_area"
    assert row_counts(engine) == before


def test_vector_files_become_geojson(flight_client, tmp_path) -> None:  # noqa: F811
    """The page's uploads: a zipped Shapefile in UTM comes back as EPSG:4326 GeoJSON; junk is a 4xx that says so."""
    import numpy as np
    import shapely

    from inference.geo import reproject

    client, tok = flight_client
    utm = reproject(canal_wgs84(), "EPSG:4326", "EPSG:32648")
    shp = tmp_path / "canal.shp"
    pyogrio.raw.write(shp, np.array([shapely.to_wkb(utm)], dtype=object), [np.array(["canal"], dtype=object)],
                      ["name"], geometry_type="LineString", crs="EPSG:32648", driver="ESRI Shapefile")
    zpath = tmp_path / "canal.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in tmp_path.glob("canal.*"):
            if p.suffix != ".zip":
                zf.write(p, p.name)
    with zpath.open("rb") as fh:
        r = client.post("/v1/vectors/geojson", files={"file": ("canal.zip", fh)}, headers=tok["pilot"])
    assert r.status_code == 200, r.text
    fc = r.json()
    assert "32648" in fc["source_crs"] and fc["features"][0]["properties"]["name"] == "canal"
    got = shapely.geometry.shape(fc["features"][0]["geometry"])
    assert got.hausdorff_distance(canal_wgs84()) < 1e-6
    bowtie = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
        [[105.97, 9.56], [105.98, 9.57], [105.98, 9.56], [105.97, 9.57], [105.97, 9.56]]]}}
    swapped = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
        [[9.56, 105.97], [9.57, 105.97], [9.57, 105.98], [9.56, 105.97]]]}}
    for name, feature, words in (("bowtie.geojson", bowtie, "Self-intersection"),
                                 ("swapped.geojson", swapped, "latitude and longitude swapped")):
        r = client.post("/v1/vectors/geojson", files={"file": (name, json.dumps(feature).encode())}, headers=tok["pilot"])
        assert r.status_code == 200 and words in " ".join(r.json()["warnings"]), (name, r.text)
    r = client.post("/v1/vectors/geojson", files={"file": ("x.kml", b"not a kml")}, headers=tok["pilot"])
    assert r.status_code == 422 and "x.kml" in r.json()["detail"]
    r = client.post("/v1/vectors/geojson", files={"file": ("x.txt", b"hello")}, headers=tok["pilot"])
    assert 400 <= r.status_code < 500 and ".geojson" in r.json()["detail"]
