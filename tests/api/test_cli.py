"""The `cropwatch` command: db upgrade, areas import and export (in a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from tests.data.make_areas import write_fixtures


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_import_export_round_trip(tmp_path: Path) -> None:
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "var")}
    env.pop("CROPWATCH_DATABASE_URL", None)
    r = run(["db", "upgrade"], env)
    assert r.returncode == 0, r.stderr
    code = "from api.bootstrap import ensure_admin; print(ensure_admin()); print(ensure_admin())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.splitlines()
    assert out[0].startswith("('admin', ") and out[1] == "None"  # credentials are made once
    fx = write_fixtures(tmp_path / "fx")
    r = run(["areas", "import", str(fx["geojson"])], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["created"] == ["VN-STOR-0001", "VN-STOR-0002", "VN-STOR-0003"]
    r = run(["areas", "import", str(fx["geojson"])], env)
    # the same file again: its areas are in already, as given: unchanged, not refused (exit 0, nothing created)
    assert r.returncode == 0 and json.loads(r.stdout)["unchanged"] == ["VN-STOR-0001", "VN-STOR-0002", "VN-STOR-0003"]
    assert json.loads(r.stdout)["created"] == []
    out_file = tmp_path / "out.geojson"
    r = run(["areas", "export", "--out", str(out_file)], env)
    assert r.returncode == 0 and "wrote 3 areas" in r.stdout
    src = json.loads(fx["geojson"].read_text())["features"]
    got = json.loads(out_file.read_text())["features"]
    assert all(shape(a["geometry"]).equals_exact(shape(b["geometry"]), 1e-12) for a, b in zip(src, got, strict=True))
    gpkg = tmp_path / "out.gpkg"
    r = run(["areas", "export", "--format", "gpkg", "--out", str(gpkg)], env)
    assert r.returncode == 0 and "wrote 3 areas" in r.stdout and gpkg.read_bytes().startswith(b"SQLite format 3")
    r = run(["areas", "import", str(fx["zipslip"])], env)
    assert r.returncode == 2 and "outside the archive" in r.stderr


def test_cli_spray_plan_reads_boundaries_in_any_format_and_crs(tmp_path: Path) -> None:
    """`cropwatch spray plan --boundary field.shp --exclude canal.kml`: a Shapefile in UTM (not zipped) and a KML
    are read like area import reads them; the plan is the same as from EPSG:4326 GeoJSON."""
    import pyogrio
    from shapely.geometry import mapping

    from inference.geo import reproject
    from tests.data.make_damage import canal_wgs84, damage_raster, field_boundary_wgs84

    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "var")}
    dmg = damage_raster(tmp_path / "damage.tif")
    gj, kml, shp = tmp_path / "field.geojson", tmp_path / "canal.kml", tmp_path / "field.shp"
    gj.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(field_boundary_wgs84())}))
    utm = reproject(field_boundary_wgs84(), "EPSG:4326", "EPSG:32648")
    pyogrio.raw.write(shp, np.array([shapely.to_wkb(utm)], dtype=object), [np.array(["field"], dtype=object)],
                      ["name"], geometry_type="Polygon", crs="EPSG:32648", driver="ESRI Shapefile")
    pyogrio.raw.write(kml, np.array([shapely.to_wkb(canal_wgs84())], dtype=object), [np.array(["canal"], dtype=object)],
                      ["name"], geometry_type="LineString", crs="EPSG:4326", driver="KML")
    canal_gj = tmp_path / "canal.geojson"
    canal_gj.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(canal_wgs84())}))
    plans = {}
    for name, b, x in (("geojson", gj, canal_gj), ("shp_kml", shp, kml)):
        out = tmp_path / f"zones_{name}.geojson"
        r = run(["spray", "plan", str(dmg), "--boundary", str(b), "--exclude", str(x), "--out", str(out)], env)
        assert r.returncode == 0, r.stderr
        plans[name] = json.loads(r.stdout)
    a, b = plans["geojson"], plans["shp_kml"]
    assert a["field_area_ha"] == pytest.approx(b["field_area_ha"], rel=1e-4)
    assert a["excluded_area_ha"] == pytest.approx(b["excluded_area_ha"], rel=1e-3) and a["excluded_area_ha"] > 0
    # `spray export --format shp --out zones.shp` writes a Shapefile there, not a zip under that name
    r = run(["spray", "export", str(tmp_path / "zones_geojson.geojson"), "--format", "shp", "--out",
             str(tmp_path / "zones.shp")], env)
    assert r.returncode == 0, r.stderr
    assert {p.suffix for p in tmp_path.glob("zones.*")} >= {".shp", ".shx", ".dbf", ".prj"}
    assert len(pyogrio.read_info(tmp_path / "zones.shp")["fields"]) > 0
    junk = tmp_path / "junk.shp"
    junk.write_bytes(b"\xff\xfe not a shapefile")
    r = run(["spray", "plan", str(dmg), "--boundary", str(junk), "--out", str(tmp_path / "z.geojson")], env)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "junk.shp" in (r.stderr + r.stdout)
    assert not (tmp_path / "z.geojson").exists()


def test_cli_drone_analyze_works_in_a_new_data_folder(tmp_path: Path) -> None:
    """`cropwatch drone analyze` straight after install: the data folder has no database yet (it read the active
    damage model from a table that did not exist, and crashed with a traceback)."""
    from tests.data.make_rasters import synthetic_rgba

    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "new")}
    env.pop("CROPWATCH_DATABASE_URL", None)
    ortho = synthetic_rgba(tmp_path / "ortho.tif")
    r = run(["drone", "analyze", str(ortho), "--out", str(tmp_path / "out"), "--workers", "1"], env)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["analysed_area_ha"] > 0 and isinstance(shown["warnings"], list)  # the summary's warnings, printed
    assert {"canopy.tif", "growth.tif", "damage.tif", "summary.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
