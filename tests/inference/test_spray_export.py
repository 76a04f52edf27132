"""Exports that every reader gets right (issue #13, exports): a sweep of swath, buffer, heading and exclusion
settings in which every exported zone is valid in EPSG:4326 and RFC 7946-oriented, read back with GDAL; the DJI
package's zone and obstacle shapefiles and the world file's .prj; ISOXML's product, value presentation, obstacles
and position-lost zone."""

from __future__ import annotations

import itertools
import json
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pyogrio
import pytest
import shapely
from shapely.geometry import shape

from datasets.field_photos import SHARED_DIR
from inference.spray_export import export
from inference.zones import ExclusionLayer, SprayPlanConfig, plan_spray
from tests.data.make_damage import X0, Y0, canal_wgs84, damage_raster, field_boundary_wgs84

SWEEP = list(itertools.product([3.5, 7.0, 11.0], [0.0, 2.0], [None, 17.0], [False, True]))  # 24 settings


@pytest.fixture(scope="module")
def dmg(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(damage_raster(tmp_path_factory.mktemp("d") / "damage.tif"))


def config(swath: float, buffer: float, heading: float | None, canal: bool) -> SprayPlanConfig:
    excl = [ExclusionLayer(name="canal", kind="water", buffer_m=10, geojson=shapely.geometry.mapping(canal_wgs84()))]
    return SprayPlanConfig(swath_m=swath, buffer_m=buffer, heading_deg=heading, exclusions=excl if canal else [],
                           min_zone_area_m2=10)


def test_every_zone_is_valid_after_reprojection_over_the_sweep(dmg: str, tmp_path: Path) -> None:
    assert len(SWEEP) == 24
    invalid, clockwise, zones = [], 0, 0
    for k, (swath, buffer, heading, canal) in enumerate(SWEEP):
        plan = plan_spray(dmg, field_boundary_wgs84(), config(swath, buffer, heading, canal))
        fc = plan.zones_geojson()
        for f in fc["features"]:
            g = shape(f["geometry"])
            zones += 1
            if not g.is_valid or g.is_empty:
                invalid.append((k, f["properties"]["zone_id"], shapely.validation.explain_validity(g)))
            for p in getattr(g, "geoms", [g]):
                clockwise += not p.exterior.is_ccw
        out = export(plan, "gpkg", tmp_path / f"z{k}.gpkg", "VN-STOR-0001")
        _, _, geoms, _ = pyogrio.raw.read(out, layer="spray_zones")
        assert len(geoms) == len(fc["features"])  # GDAL drops no zone
        invalid += [(k, "gpkg") for g in geoms if not shapely.from_wkb(g).is_valid]
        # the three layers the README names are always there; exclusions empty without a canal
        assert [name for name, _ in pyogrio.list_layers(out)] == ["spray_zones", "field_boundary", "exclusions"]
        assert len(pyogrio.raw.read(out, layer="exclusions")[2]) == (1 if canal else 0)
        info = pyogrio.read_info(out, layer="exclusions")  # one type with or without exclusions
        assert info["geometry_type"] == "MultiPolygon" and list(info["fields"]) == ["name", "kind", "buffer_m"]
        assert list(info["dtypes"]) == ["object", "object", "float64"]  # text, text, a number, also in the empty layer
        out = export(plan, "kml", tmp_path / f"z{k}.kml", "VN-STOR-0001")
        _, _, geoms, _ = pyogrio.raw.read(out, layer="spray_zones")
        assert len(geoms) == len(fc["features"])
        invalid += [(k, "kml") for g in geoms if not shapely.from_wkb(g).is_valid]
    assert invalid == [] and clockwise == 0 and zones > 24


def test_dji_package_has_zones_obstacles_and_a_prj_for_the_world_file(dmg: str, tmp_path: Path) -> None:
    plan = plan_spray(dmg, field_boundary_wgs84(), config(7.0, 2.0, None, True))
    out = export(plan, "dji", tmp_path / "p.zip", "VN-STOR-0001")
    with zipfile.ZipFile(out) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        manifest = json.loads(zf.read("prescription_VN-STOR-0001/manifest.json"))
    for ext in ("shp", "shx", "dbf", "prj", "cpg"):
        assert f"zones/VN-STOR-0001_zones.{ext}" in names
    assert {"obstacles/VN-STOR-0001_obstacles.shp", "rate_map.prj", "rate_map.tfw"} <= names
    assert manifest["zones"] == "zones/VN-STOR-0001_zones.shp"
    meta, _, geoms, fields = pyogrio.raw.read(f"/vsizip/{out}/prescription_VN-STOR-0001/zones/VN-STOR-0001_zones.shp")
    assert "4326" in meta["crs"] and "damaged_fr" in list(meta["fields"])  # shapefile names: 10 characters
    assert len(geoms) == len(plan.zones)


def test_zone_damaged_fraction_is_the_zones_own(dmg: str) -> None:
    plan = plan_spray(dmg, field_boundary_wgs84(), config(7.0, 0.0, 0.0, False))
    treated = [z for z in plan.zones if z.rate_l_per_ha > 0]
    untreated = [z for z in plan.zones if z.rate_l_per_ha == 0]
    assert treated and untreated
    assert min(z.damaged_fraction for z in treated) > max(z.damaged_fraction for z in untreated)


def test_isoxml_product_presentation_obstacles_and_position_lost(dmg: str, tmp_path: Path) -> None:
    cfg = config(7.0, 2.0, None, True).model_copy(update={"product": "Beam 75WP"})
    out = export(plan_spray(dmg, field_boundary_wgs84(), cfg), "isoxml", tmp_path / "t.zip", "VN-STOR-0001")
    with zipfile.ZipFile(out) as zf:
        assert "TASKDATA/GRD00001.BIN" in zf.namelist()
        doc = ET.fromstring(zf.read("TASKDATA/TASKDATA.XML"))
    assert doc.find("PDT").get("B") == "Beam 75WP" and doc.find("VPN").get("E") == "L/ha"
    tsk = doc.find("TSK")
    zero = {t.get("A") for t in tsk.iter("TZN") if t.find("PDV").get("B") == "0"}
    assert tsk.get("I") in zero  # position lost: a 0 L/ha zone
    assert {p.get("A") for p in doc.iter("PLN")} == {"1", "6"}
    assert {p.get("B") for p in doc.iter("PLN") if p.get("A") == "6"} == {"canal"}  # the obstacle by its name
    xsd = SHARED_DIR / "schemas" / "isoxml" / "ISO11783_TaskFile_V4-3.xsd"
    if xsd.exists():  # the named obstacle still passes the v4.3 schema
        from lxml import etree

        with zipfile.ZipFile(out) as zf:
            etree.XMLSchema(etree.parse(str(xsd))).assertValid(etree.fromstring(zf.read("TASKDATA/TASKDATA.XML")))
    assert all(p.get("C") == "PDT1" and p.get("E") == "VPN1" for p in doc.iter("PDV"))


def test_a_zone_that_touches_itself_keeps_its_polygons_in_wgs84() -> None:
    """Reprojection can leave a zone's ring touching itself; make_valid then answers a GeometryCollection of a
    MultiPolygon and a line, and the export kept nothing of it (a 0.44 ha zone written with no coordinates). A hole a
    few millimetres wide is left out rather than written as a ring of too few points."""
    from shapely.geometry import Polygon

    from inference.geo import to_wgs84_valid

    x0, y0 = 580_000, 1_060_000
    spiked = Polygon([(x0, y0), (x0 + 20, y0 + 20), (x0 + 20, y0), (x0 + 10, y0 + 10), (x0 + 10, y0 + 30),
                      (x0 + 10, y0 + 10), (x0, y0 + 20), (x0, y0)])
    g = to_wgs84_valid(spiked, "EPSG:32648")
    assert g.is_valid and not g.is_empty and len(g.geoms) == 2
    slit = Polygon([(x0, y0), (x0 + 50, y0), (x0 + 50, y0 + 50), (x0, y0 + 50)],
                   [[(x0 + 10, y0 + 20), (x0 + 17, y0 + 20), (x0 + 17, y0 + 20.003), (x0 + 10, y0 + 20.003)],
                    [(x0 + 30, y0 + 30), (x0 + 40, y0 + 30), (x0 + 40, y0 + 40), (x0 + 30, y0 + 40)]])
    h = to_wgs84_valid(slit, "EPSG:32648")
    assert h.is_valid and len(h.interiors) == 1  # the 7 m x 3 mm slit is gone, the 10 m square hole stays


def test_every_export_names_each_no_spray_area(dmg: str, tmp_path: Path) -> None:
    """A canal (a line, 10 m buffer) and a pond (a polygon, water's default buffer), over a damage raster that covers
    the western 170 m of the field only: the GeoPackage, the KML and the DJI package's obstacles hold one feature per
    no-spray area by its name, kind and buffer (they were merged into one "buffered exclusions"), and the field
    without imagery is named as such. Their union is the plan's exclusions."""
    import rasterio

    from inference.geo import reproject
    from inference.zones import named_exclusions

    strip = tmp_path / "strip.tif"
    with rasterio.open(dmg) as d:
        prof, arr = d.profile, d.read(1)
        arr[:, d.index(X0 + 170, Y0)[1]:] = 255
    with rasterio.open(strip, "w", **prof) as d:
        d.write(arr, 1)
    pond = reproject(shapely.geometry.box(X0 + 20, Y0 + 20, X0 + 40, Y0 + 40), "EPSG:32648", "EPSG:4326")
    cfg = config(7.0, 2.0, None, True).model_copy(update={"exclusions": [
        ExclusionLayer(name="canal", kind="water", buffer_m=10, geojson=shapely.geometry.mapping(canal_wgs84())),
        ExclusionLayer(name="Ao cá nhà ông Sáu", kind="water", geojson=shapely.geometry.mapping(pond))]})
    plan = plan_spray(str(strip), field_boundary_wgs84(), cfg)
    named = named_exclusions(plan)
    assert [(x.name, x.kind) for x in named] == [("canal", "water"), ("Ao cá nhà ông Sáu", "water"),
                                                 ("no imagery", "no_imagery")]
    assert named[0].buffer_m == 10 and named[1].buffer_m == cfg.exclusions[1].buffer() > 0
    union = shapely.unary_union([x.geometry_utm for x in named])
    assert union.symmetric_difference(plan.exclusions_utm).area < 1.0  # m2
    assert named[2].geometry_utm.area == pytest.approx(30 * 100, rel=0.1)  # the 30 m strip without imagery
    _, _, geoms, fields = pyogrio.raw.read(export(plan, "gpkg", tmp_path / "z.gpkg", "VN-STOR-0001"), layer="exclusions")
    assert list(fields[0]) == ["canal", "Ao cá nhà ông Sáu", "no imagery"]
    assert list(fields[2]) == [10.0, cfg.exclusions[1].buffer(), 0.0]
    assert all(shapely.from_wkb(g).is_valid for g in geoms)
    kml = export(plan, "kml", tmp_path / "z.kml", "VN-STOR-0001").read_text()
    assert "canal: no spraying (water, 10 m buffer)" in kml and "Ao cá nhà ông Sáu: no spraying (water" in kml
    assert "no imagery: no spraying" in kml
    out = export(plan, "dji", tmp_path / "p.zip", "VN-STOR-0001")
    meta, _, geoms, fields = pyogrio.raw.read(
        f"/vsizip/{out}/prescription_VN-STOR-0001/obstacles/VN-STOR-0001_obstacles.shp", encoding="UTF-8")
    got = dict(zip(meta["fields"], fields, strict=True))
    assert list(got["name"]) == ["canal", "Ao cá nhà ông Sáu", "no imagery"] and set(got["kind"]) == {"no-spray"}
    assert len(geoms) == 3


def test_exports_hold_no_empty_exclusion_and_old_plans_still_export(dmg: str, tmp_path: Path) -> None:
    """A pole as a point with a 0.1 m buffer (0.03 m2, under what an export can draw) is in no file as an empty
    geometry (it was a KML placemark with no coordinates, an empty MultiPolygon, a null shape); a plan stored before
    a point without a buffer was refused still exports, its exclusions as one "buffered exclusions" area."""
    import json

    from inference.geo import reproject
    from inference.zones import plan_from_geojson

    pole = reproject(shapely.geometry.Point(X0 + 50, Y0 + 50), "EPSG:32648", "EPSG:4326")
    cfg = config(7.0, 2.0, None, True).model_copy(update={"exclusions": [
        *config(7.0, 2.0, None, True).exclusions,
        ExclusionLayer(name="pole", kind="power_line", buffer_m=0.1, geojson=shapely.geometry.mapping(pole))]})
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg)
    kml = export(plan, "kml", tmp_path / "z.kml", "VN-STOR-0001").read_text()
    assert "pole" not in kml and "<coordinates />" not in kml and "canal: no spraying" in kml
    _, _, geoms, fields = pyogrio.raw.read(export(plan, "gpkg", tmp_path / "z.gpkg", "VN-STOR-0001"), layer="exclusions")
    assert list(fields[0]) == ["canal"] and not any(shapely.from_wkb(g).is_empty for g in geoms)
    out = export(plan, "dji", tmp_path / "p.zip", "VN-STOR-0001")
    _, _, geoms, _ = pyogrio.raw.read(f"/vsizip/{out}/prescription_VN-STOR-0001/obstacles/VN-STOR-0001_obstacles.shp")
    assert len(geoms) == 1 and all(g is not None for g in geoms)
    fc = json.loads(json.dumps(plan.to_geojson()))
    fc["cropwatch"]["config"]["exclusions"][1].update(buffer_m=0.0)  # refused today: a point excludes nothing
    old = plan_from_geojson(fc)
    _, _, geoms, fields = pyogrio.raw.read(export(old, "gpkg", tmp_path / "o.gpkg", "VN-STOR-0001"), layer="exclusions")
    assert list(fields[0]) == ["buffered exclusions"] and len(geoms) == 1
    assert "buffered exclusions: no spraying" in export(old, "kml", tmp_path / "o.kml", "VN-STOR-0001").read_text()
