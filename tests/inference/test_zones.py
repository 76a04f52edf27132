"""Golden geometry of spray zones: known damage, boundary and a canal crossing the field; areas in m2, buffers and
volumes within stated tolerances; every export read back with GDAL (pyogrio, rasterio) and ISOXML against its schema."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from pydantic import ValidationError
from shapely.geometry import Polygon, box, mapping

from datasets.field_photos import SHARED_DIR
from inference.errors import BadInput
from inference.geo import reproject
from inference.spray_export import FORMATS, export
from inference.zones import DroneProfile, ExclusionLayer, SprayPlanConfig, main_direction_deg, plan_from_geojson, plan_spray
from tests.data.make_damage import X0, Y0, canal_wgs84, damage_raster, field_boundary_wgs84, spots_raster

ISOXML_XSD = SHARED_DIR / "schemas" / "isoxml" / "ISO11783_TaskFile_V4-3.xsd"
AREA_TOL = 0.005  # 0.5 %: two reprojections between EPSG:4326 and UTM


def cfg(**kw) -> SprayPlanConfig:
    base = {"swath_m": 7, "heading_deg": 0, "smoothing": False, "buffer_m": 0, "min_zone_area_m2": 0}
    return SprayPlanConfig(**(base | kw))


@pytest.fixture
def dmg(tmp_path: Path) -> str:
    return str(damage_raster(tmp_path / "damage.tif"))


def canal(buffer_m: float = 10.0) -> ExclusionLayer:
    return ExclusionLayer(name="canal", kind="water", buffer_m=buffer_m, geojson=mapping(canal_wgs84()))


def test_golden_zones_volume_and_saving(dmg: str) -> None:
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[canal()]))
    treated = [z for z in plan.zones if z.rate_l_per_ha > 0]
    assert len(treated) == 1 and treated[0].rate_class == "full" and treated[0].rate_l_per_ha == 20
    assert (plan.summary.damaged_cells, plan.summary.damaged_cells_not_sprayed) == (16, 0)
    assert treated[0].area_m2 == pytest.approx(28 * 28, rel=AREA_TOL)  # 16 cells of 7 m
    s = plan.summary
    assert s.excluded_area_ha * 1e4 == pytest.approx(20 * 100, rel=AREA_TOL)  # canal + 10 m each side
    assert s.sprayable_area_ha * 1e4 == pytest.approx(200 * 100 - 2000, rel=AREA_TOL)
    assert s.product_volume_l == pytest.approx(20 * 0.0784, rel=AREA_TOL)
    assert s.blanket_volume_l == pytest.approx(20 * 1.8, rel=AREA_TOL)
    assert s.saving_pct == pytest.approx(100 * (1 - 1.568 / 36), abs=0.05)
    # untreated remainder: the rest of the sprayable field, on both sides of the canal
    none_area = sum(z.area_m2 for z in plan.zones if z.rate_l_per_ha == 0)
    assert none_area == pytest.approx(18000 - 784, rel=AREA_TOL)
    canal_utm = reproject(canal_wgs84(), "EPSG:4326", "EPSG:32648")
    assert all(z.geometry_utm.distance(canal_utm) >= 10 - 0.05 for z in plan.zones)


def test_a_south_up_damage_raster_plans_as_its_north_up_twin(tmp_path: Path, dmg: str) -> None:
    """Rows stored south to north (a positive pixel height): planned like the same raster stored north-up (every
    plan was refused before: "the field boundary does not overlap the damage raster")."""
    south_up = tmp_path / "south_up.tif"
    with rasterio.open(dmg) as d:
        t, prof, arr = d.transform, d.profile, d.read(1)
    prof["transform"] = rasterio.Affine(t.a, 0, t.c, 0, -t.e, t.f + t.e * d.height)
    with rasterio.open(south_up, "w", **prof) as d:
        d.write(arr[::-1], 1)
    a = plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[canal()]))
    b = plan_spray(str(south_up), field_boundary_wgs84(), cfg(exclusions=[canal()]))
    assert [(z.rate_class, z.rate_l_per_ha) for z in a.zones] == [(z.rate_class, z.rate_l_per_ha) for z in b.zones]
    assert [z.area_m2 for z in a.zones] == pytest.approx([z.area_m2 for z in b.zones])
    assert (a.summary.damaged_cells, a.summary.product_volume_l) == (b.summary.damaged_cells, b.summary.product_volume_l)


def test_the_damage_raster_is_sampled_in_chunks_with_the_same_plan(dmg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The field's window is read CHUNK_PX pixels at a time (memory bounded whatever the raster's resolution): the
    same plan as reading it at once."""
    from inference import zones

    whole = plan_spray(dmg, field_boundary_wgs84(), cfg())
    monkeypatch.setattr(zones, "CHUNK_PX", 997)  # about two rows of this raster at a time
    chunked = plan_spray(dmg, field_boundary_wgs84(), cfg())
    assert chunked.to_geojson() == whole.to_geojson()


def test_the_part_of_the_field_without_imagery_is_left_out_not_rated_zero(tmp_path: Path, dmg: str) -> None:
    """A damage raster over the western 60 m of the 200 m field only: the other 140 m are no-spray "no imagery"
    (said in a warning), not a 0 L/ha zone, and the saving is against spraying the 60 m; kept through GeoJSON."""
    strip = tmp_path / "strip.tif"
    with rasterio.open(dmg) as d:
        prof, arr = d.profile, d.read(1)
        c_east = d.index(X0 + 60, Y0)[1]
    arr[:, c_east:] = 255
    with rasterio.open(strip, "w", **prof) as d:
        d.write(arr, 1)
    plan = plan_spray(str(strip), field_boundary_wgs84(), cfg())
    s = plan.summary
    assert s.no_imagery_area_ha * 1e4 == pytest.approx(140 * 100, rel=0.06)  # up to the 7 m cell that holds x = 60
    assert s.sprayable_area_ha + s.no_imagery_area_ha == pytest.approx(s.field_area_ha, rel=AREA_TOL)
    assert "no imagery" in s.warnings[0]
    assert all(z.geometry_utm.bounds[2] <= X0 + 63 + 0.01 for z in plan.zones)  # nothing planned beyond the strip
    assert s.blanket_volume_l == pytest.approx(20 * s.sprayable_area_ha, rel=AREA_TOL)
    again = plan_from_geojson(json.loads(json.dumps(plan.to_geojson())))
    assert again.summary.no_imagery_area_ha == s.no_imagery_area_ha and again.summary.warnings == s.warnings
    assert plan_spray(dmg, field_boundary_wgs84(), cfg()).summary.no_imagery_area_ha == 0  # covered: as before


def test_buffer_around_treated_zone(dmg: str) -> None:
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg(buffer_m=2))
    t = [z for z in plan.zones if z.rate_l_per_ha > 0][0]
    assert t.area_m2 == pytest.approx(32 * 32, rel=AREA_TOL)  # mitred 2 m margin on each side
    assert plan.summary.product_volume_l == pytest.approx(20 * 0.1024, rel=AREA_TOL)


def test_spot_and_full_classes_and_continuous(tmp_path: Path, dmg: str) -> None:
    # cells half covered by damage: shift the grid by half a cell so edge cells see 50 % damage
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg(spot_threshold=0.05, full_threshold=0.6))
    rates = {z.rate_l_per_ha for z in plan.zones}
    assert rates == {0.0, 20.0}
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg(rate_mode="continuous", min_rate_l_per_ha=10,
                                                          max_rate_l_per_ha=25))
    assert max(z.rate_l_per_ha for z in plan.zones) == 25 and plan.summary.blanket_volume_l == pytest.approx(50, rel=AREA_TOL)


def test_default_smoothing_keeps_a_hotspot_one_swath_wide(tmp_path: Path) -> None:
    """A 5 m patch of damage inside one 7 m cell, the plan's defaults (smoothing on, 50 m2 minimum, 2 m buffer): it is
    sprayed. The smoothing once lowered cells too and erased every patch under about 2 x 2 cells."""
    tif = str(spots_raster(tmp_path / "spot.tif", [(71.5, 50.5, 76.5, 55.5)]))
    plan = plan_spray(tif, field_boundary_wgs84(), SprayPlanConfig(heading_deg=0))
    treated = [z for z in plan.zones if z.rate_l_per_ha > 0]
    spot = reproject(box(X0 + 71.5, Y0 + 50.5, X0 + 76.5, Y0 + 55.5), "EPSG:32648", f"EPSG:{plan.utm_epsg}")
    assert len(treated) == 1 and treated[0].rate_class == "full"
    assert treated[0].geometry_utm.contains(spot.buffer(-0.01))
    assert treated[0].area_m2 == pytest.approx(11 * 11, rel=AREA_TOL)  # the 7 m cell with its 2 m buffer
    assert plan.summary.saving_pct < 100
    assert (plan.summary.damaged_cells, plan.summary.damaged_cells_not_sprayed, plan.summary.warnings) == (1, 0, [])
    # a minimum zone larger than the hotspot leaves it unsprayed, and the summary says so
    plan = plan_spray(tif, field_boundary_wgs84(), SprayPlanConfig(heading_deg=0, min_zone_area_m2=200))
    assert plan.summary.treated_area_ha == 0 and plan.summary.damaged_cells_not_sprayed == 1
    assert "1 of 1 cells" in plan.summary.warnings[0] and "min_zone_area_m2" in plan.summary.warnings[0]


def test_unsprayed_damage_counts_only_the_field(tmp_path: Path) -> None:
    """Damage beyond a triangular field's hypotenuse (inside its bounding box, where the grid also lies) is not the
    field's: no warning. Damage under a canal's no-spray buffer is the field's and is not sprayed: said."""
    outside = str(spots_raster(tmp_path / "ne.tif", [(150, 70, 180, 95)]))
    triangle = reproject(Polygon([(X0, Y0), (X0 + 200, Y0), (X0, Y0 + 100)]), "EPSG:32648", "EPSG:4326")
    plan = plan_spray(outside, triangle, cfg())
    assert (plan.summary.damaged_cells, plan.summary.damaged_cells_not_sprayed, plan.summary.warnings) == (0, 0, [])
    canal_damage = str(spots_raster(tmp_path / "canal.tif", [(143, 42, 157, 56)]))
    plan = plan_spray(canal_damage, field_boundary_wgs84(), cfg(exclusions=[canal()]))
    s = plan.summary
    # 6 damaged cells: the 4 inside the 20 m buffer are unsprayed; 2 reach 1 m past it, and that sliver is sprayed
    assert s.treated_area_ha < 0.005 and (s.damaged_cells, s.damaged_cells_not_sprayed) == (6, 4)
    assert "no-spray area" in s.warnings[0]
    # the plan rebuilt from its GeoJSON (downloads, `cropwatch spray export`) keeps what only the raster could tell
    again = plan_from_geojson(json.loads(json.dumps(plan.to_geojson())))
    assert (again.summary.damaged_cells, again.summary.damaged_cells_not_sprayed) == (6, 4)
    assert again.summary.warnings == s.warnings


def test_smoothing_fills_a_gap_and_keeps_the_ring(tmp_path: Path) -> None:
    """A 21 m ring of damage around one clean 7 m cell: without smoothing the centre is left out, with it the drone
    flies one block of 9 cells. The filter before also filled the centre, but lowered the ring's 4 corners (each sees
    3 damaged neighbours of 9)."""
    ring = [(14, 14, 35, 21), (14, 28, 35, 35), (14, 21, 21, 28), (28, 21, 35, 28)]
    tif = str(spots_raster(tmp_path / "ring.tif", ring))
    centre = reproject(box(X0 + 21, Y0 + 21, X0 + 28, Y0 + 28), "EPSG:32648", "EPSG:32648")
    plain = plan_spray(tif, field_boundary_wgs84(), cfg())
    smooth = plan_spray(tif, field_boundary_wgs84(), cfg(smoothing=True))
    for plan, treated_area, centre_treated in ((plain, 8 * 49, False), (smooth, 9 * 49, True)):
        t = [z for z in plan.zones if z.rate_l_per_ha > 0]
        assert sum(z.area_m2 for z in t) == pytest.approx(treated_area, rel=AREA_TOL)
        assert any(z.geometry_utm.contains(centre.centroid) for z in t) == centre_treated


def test_min_zone_area_drops_small_zones(dmg: str) -> None:
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg(min_zone_area_m2=1000))
    assert all(z.rate_l_per_ha == 0 for z in plan.zones)
    assert plan.summary.product_volume_l == 0 and plan.summary.saving_pct == 100


def test_main_direction_of_a_rotated_field() -> None:
    rect = Polygon([(0, 0), (200, 0), (200, 60), (0, 60)])
    from shapely import affinity

    assert main_direction_deg(affinity.rotate(rect, 30, origin=(0, 0))) == pytest.approx(30, abs=1e-6)


def test_drone_profile_flight_time_and_reachability(dmg: str) -> None:
    drone = DroneProfile(swath_m=7, flow_l_per_min=12, speed_km_h=21.6, tank_l=40)
    assert drone.max_rate_l_per_ha() == pytest.approx(600 * 12 / (21.6 * 7))
    plan = plan_spray(dmg, field_boundary_wgs84(), cfg(drone=drone))
    d = plan.summary.drone
    assert d.flight_time_min == pytest.approx(784 / (7 * 6) / 60, abs=0.1) and d.tank_loads == 1
    with pytest.raises(BadInput, match="cannot reach 60 L/ha"):
        plan_spray(dmg, field_boundary_wgs84(), cfg(rate_l_per_ha=60, drone=drone))


def test_bad_plans_are_refused(dmg: str) -> None:
    with pytest.raises(ValidationError):
        SprayPlanConfig(swath_m=0)
    far = reproject(box(X0 + 5000, Y0, X0 + 5200, Y0 + 100), "EPSG:32648", "EPSG:4326")
    with pytest.raises(BadInput, match="does not overlap"):
        plan_spray(dmg, far, cfg())
    bowtie = {"type": "Polygon", "coordinates": [[[105.97, 9.56], [105.98, 9.57], [105.98, 9.56], [105.97, 9.57],
                                                  [105.97, 9.56]]]}
    with pytest.raises(BadInput, match="not a valid geometry"):
        plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[ExclusionLayer(name="x", geojson=bowtie)]))
    everything = ExclusionLayer(name="all", buffer_m=500, geojson=mapping(field_boundary_wgs84()))
    with pytest.raises(BadInput, match="cover the whole field") as refused:
        plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[everything]))
    assert refused.value.reason == "plan_all_excluded"


def test_only_a_damage_map_is_planned(tmp_path: Path, dmg: str) -> None:
    """The orthomosaic given instead of damage.tif was planned as damage (100 % of the field treated, no warning),
    and the canopy map as none: each is refused, saying what to give."""
    with rasterio.open(dmg) as src:
        prof, band = src.profile, src.read(1)
    rgba = tmp_path / "ortho.tif"
    with rasterio.open(rgba, "w", **{**prof, "count": 4, "nodata": None}) as d:
        d.write(np.stack([band] * 4))
    with pytest.raises(BadInput, match="4 bands") as refused:
        plan_spray(str(rgba), field_boundary_wgs84(), cfg())
    assert refused.value.reason == "plan_not_a_damage_map"
    canopy = tmp_path / "canopy.tif"
    with rasterio.open(canopy, "w", **prof) as d:
        d.write((band > 0).astype(np.uint8), 1)
        d.update_tags(CROPWATCH_LAYER="canopy")  # as `drone analyze` tags its maps
    with pytest.raises(BadInput, match="canopy map"):
        plan_spray(str(canopy), field_boundary_wgs84(), cfg())
    grey = tmp_path / "grey.tif"  # a one-band greyscale photo of the field: values up to 254
    with rasterio.open(grey, "w", **prof) as d:
        d.write(np.full_like(band, 180), 1)
    with pytest.raises(BadInput, match="outside 0-100"):
        plan_spray(str(grey), field_boundary_wgs84(), cfg())
    untagged = tmp_path / "earlier" / "growth.tif"  # an analysis from before the tag: known by its name
    untagged.parent.mkdir()
    with rasterio.open(untagged, "w", **prof) as d:
        d.write(band, 1)
    with pytest.raises(BadInput, match="growth map"):
        plan_spray(str(untagged), field_boundary_wgs84(), cfg())
    # a damage map re-saved as float32 by a GIS (nodata -1) plans as the original did
    as_float = tmp_path / "damage_float.tif"
    with rasterio.open(as_float, "w", **{**prof, "dtype": "float32", "nodata": -1}) as d:
        d.write(np.where(band == 255, -1, band).astype(np.float32), 1)
    a, b = plan_spray(str(as_float), field_boundary_wgs84(), cfg()), plan_spray(dmg, field_boundary_wgs84(), cfg())
    assert a.summary.product_volume_l == b.summary.product_volume_l and a.summary.treated_pct == b.summary.treated_pct


@pytest.fixture
def plan(dmg: str):
    return plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[canal()], product="Chess 50WG"))


@pytest.mark.parametrize("fmt", ["geojson", "shp", "kml", "kmz", "gpkg"])
def test_vector_exports_read_back(plan, tmp_path: Path, fmt: str) -> None:
    out = export(plan, fmt, tmp_path / f"zones{FORMATS[fmt]}", "VN-STOR-0001")
    path = f"/vsizip/{out}" if fmt == "shp" else str(out)  # GDAL opens the KMZ itself
    meta, _, geoms, fields = pyogrio.raw.read(path, layer="spray_zones" if fmt in ("gpkg", "kml", "kmz") else None)
    assert "4326" in meta["crs"]
    names = list(meta["fields"])
    rates = fields[names.index("rate")] if "rate" in names else None
    import shapely

    got = sorted((round(float(r), 3), round(reproject(shapely.from_wkb(g), "EPSG:4326", "EPSG:32648").area))
                 for r, g in zip(rates, geoms, strict=True))
    want = sorted((round(z.rate_l_per_ha, 3), round(z.area_m2)) for z in plan.zones)
    assert len(got) == len(want)
    for (r1, a1), (r2, a2) in zip(got, want, strict=True):
        assert r1 == r2 and a1 == pytest.approx(a2, rel=AREA_TOL, abs=1)
    cut = 10 if fmt == "shp" else None  # dBase field names: 10 characters
    assert {n[:cut] for n in ("zone_id", "rate", "unit", "rate_class", "area_ha", "damaged_fraction")} <= set(names)


@pytest.mark.parametrize("fmt", ["kml", "kmz"])
def test_kml_has_the_field_exclusions_and_fills_by_class(plan, tmp_path: Path, fmt: str) -> None:
    """Google Earth and QGIS show fills by rate class (the map legend's colours), the field boundary and the
    exclusions; a reader without libkml still gets every attribute in the description."""
    from inference.kml import CLASS_RGBA, kml_colour

    out = export(plan, fmt, tmp_path / f"zones{FORMATS[fmt]}", "VN-STOR-0001")
    layers = [str(n) for n, _ in pyogrio.list_layers(out)]
    assert layers == ["spray_zones", "field_boundary", "exclusions"]
    field = pyogrio.raw.read(out, layer="field_boundary")[2]
    import shapely

    assert reproject(shapely.from_wkb(field[0]), "EPSG:4326", "EPSG:32648").area == pytest.approx(20_000, rel=0.01)
    text = (zipfile.ZipFile(out).read("doc.kml").decode() if fmt == "kmz" else out.read_text())
    for cls in ("none", "full"):
        assert f'<Style id="rate_{cls}">' in text and kml_colour(*CLASS_RGBA[cls]) in text
    import html

    assert "<styleUrl>#rate_full</styleUrl>" in text and "<td>damaged_fraction</td>" in html.unescape(text)


def test_dji_package(plan, tmp_path: Path) -> None:
    out = export(plan, "dji", tmp_path / "dji.zip", "VN-STOR-0001")
    assert out.stat().st_size < 10 * 1024 * 1024
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("prescription_VN-STOR-0001/manifest.json"))
        zf.extractall(tmp_path / "x")
    root = tmp_path / "x" / "prescription_VN-STOR-0001"
    assert {"rate_map.tif", "rate_map.tfw", "boundary/VN-STOR-0001.shp", "boundary/VN-STOR-0001.prj"} <= {
        n.split("prescription_VN-STOR-0001/")[1] for n in names}
    assert manifest["unit"] == "L/ha" and manifest["product"] == "Chess 50WG" and manifest["rates_l_per_ha"] == [0, 20]
    import hashlib

    for rel, digest in manifest["sha256"].items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest
    with rasterio.open(root / "rate_map.tif") as d:
        assert d.crs.to_epsg() == 4326 and d.count == 1
        grid = d.read(1)
        px_m2 = abs(d.transform.a * d.transform.e) * 111_320**2 * math.cos(math.radians(9.56))
    treated_m2 = float((grid == 20).sum()) * px_m2
    assert treated_m2 == pytest.approx(784, rel=0.05)
    assert set(np.unique(grid)) <= {-1.0, 0.0, 20.0}
    tfw = (root / "rate_map.tfw").read_text().split()
    assert float(tfw[0]) == pytest.approx(d.transform.a) and float(tfw[3]) == pytest.approx(d.transform.e)


def test_isoxml_passes_the_v43_schema(plan, tmp_path: Path) -> None:
    from lxml import etree

    if not ISOXML_XSD.exists():
        pytest.skip(f"no ISOXML schema at {ISOXML_XSD}")
    out = export(plan, "isoxml", tmp_path / "iso.zip", "VN-STOR-0001")
    with zipfile.ZipFile(out) as zf:
        xml = zf.read("TASKDATA/TASKDATA.XML")
        grd = zf.read("TASKDATA/GRD00001.BIN")
    schema = etree.XMLSchema(etree.parse(str(ISOXML_XSD)))
    doc = etree.fromstring(xml)
    schema.assertValid(doc)
    g = doc.find(".//GRD")
    cols, rows = int(g.get("E")), int(g.get("F"))
    assert len(grd) == cols * rows == int(g.get("H"))
    codes = np.frombuffer(grd, np.uint8).reshape(rows, cols)
    tzn = {int(t.get("A")): int(t.find("PDV").get("B")) for t in doc.iter("TZN")}
    assert tzn[max(tzn)] == 2000  # 20 L/ha = 2000 mm3/m2
    cell_m2 = float(g.get("C")) * 111_320 * float(g.get("D")) * 111_320 * math.cos(math.radians(9.56))
    assert (codes == max(tzn)).sum() * cell_m2 == pytest.approx(784, rel=0.05)
    # the examples shipped with the schema fail it (too many fraction digits): ours must not be like them
    bad = Path(ISOXML_XSD).parent / "examples" / "grid_Type1" / "TASKDATA.XML"
    assert not schema.validate(etree.parse(str(bad)))


def test_a_line_exclusion_needs_a_width(dmg: str) -> None:
    """A power line given with buffer 0 excluded nothing and the plan said nothing (the DJI package had no obstacle):
    now a 422 that says what to give; a polygon with buffer 0 is its own outline, as before."""
    from shapely.geometry import LineString

    c = field_boundary_wgs84().centroid
    line = ExclusionLayer(name="line0", kind="power_line", buffer_m=0,
                          geojson=mapping(LineString([(c.x - 0.0005, c.y - 0.0005), (c.x + 0.0005, c.y + 0.0005)])))
    with pytest.raises(BadInput, match="no buffer") as refused:
        plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[line]))
    assert refused.value.reason == "plan_exclusion_without_width"
    wide = plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[line.model_copy(update={"buffer_m": 3.0})]))
    assert not wide.exclusions_utm.is_empty
    pond = ExclusionLayer(name="pond", kind="water", buffer_m=0,
                          geojson=mapping(box(c.x - 0.0002, c.y - 0.0002, c.x + 0.0002, c.y + 0.0002)))
    assert plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[pond])).exclusions_utm.area > 0


def test_dji_names_are_plain_and_boundaries_oriented(plan, tmp_path: Path) -> None:
    """A name with spaces and diacritics ("Hòa Tú 1", as the CLI takes any --area-code) becomes plain ASCII in the
    package's paths, kept as it is in the manifest; the field boundary in the plan GeoJSON and the GeoPackage is
    oriented as the zones are (outer rings counter-clockwise, holes clockwise: it kept the input's, and a hole
    given counter-clockwise made geodesic areas add it instead of taking it away)."""
    import shapely
    from shapely.geometry import shape

    out = export(plan, "dji", tmp_path / "dji.zip", "Đồng Hòa Tú 1")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("prescription_Dong_Hoa_Tu_1/manifest.json"))
    assert all(n.isascii() and " " not in n for n in names)
    assert manifest["area_code"] == "Đồng Hòa Tú 1" and manifest["boundary"] == "boundary/Dong_Hoa_Tu_1.shp"
    b = shape(plan.to_geojson()["cropwatch"]["boundary"])
    polys = getattr(b, "geoms", [b])
    assert all(p.exterior.is_ccw and all(not r.is_ccw for r in p.interiors) for p in polys)
    gpkg = export(plan, "gpkg", tmp_path / "z.gpkg", "VN-STOR-0001")
    field = shapely.from_wkb(pyogrio.raw.read(gpkg, layer="field_boundary")[2][0])
    assert all(p.exterior.is_ccw for p in getattr(field, "geoms", [field]))


def test_isoxml_of_more_rates_than_zone_codes_is_a_type2_grid(plan, tmp_path: Path) -> None:
    """A continuous plan of 260 rates (a type-1 grid names at most 250 treatment zones, one byte a cell) is written
    as a type-2 grid, each cell its own rate in mm3/m2 as a 32-bit value, and passes the schema (it was a 500)."""
    from dataclasses import replace

    from lxml import etree

    if not ISOXML_XSD.exists():
        pytest.skip(f"no ISOXML schema at {ISOXML_XSD}")
    treated = [z for z in plan.zones if z.rate_l_per_ha > 0]
    many = replace(plan, zones=[*plan.zones, *(replace(treated[0], rate_l_per_ha=30.0 + i / 10) for i in range(260))])
    out = export(many, "isoxml", tmp_path / "iso.zip", "VN-STOR-0001")
    with zipfile.ZipFile(out) as zf:
        doc = etree.fromstring(zf.read("TASKDATA/TASKDATA.XML"))
        grd = zf.read("TASKDATA/GRD00001.BIN")
    etree.XMLSchema(etree.parse(str(ISOXML_XSD))).assertValid(doc)
    g = doc.find(".//GRD")
    cols, rows = int(g.get("E")), int(g.get("F"))
    assert g.get("I") == "2" and g.get("J") == "2" and len(grd) == 4 * cols * rows == int(g.get("H"))
    cells = np.frombuffer(grd, "<i4").reshape(rows, cols)
    from inference.spray_export import rate_grid

    grid = rate_grid(many)[0]
    assert np.array_equal(cells, np.flipud(np.where(grid > 0, np.round(grid * 100), 0)).astype("<i4"))
    assert cells.max() > 3000  # the last-drawn rates, above 30 L/ha, are in the cells
    # every value is a rate of the plan (L/ha x 100), or 0 (outside the field, not sprayed); the first row is the
    # southern one: the grid raster's last row (north up) is ISOXML's first
    assert set(np.unique(cells)) <= {0} | {round(z.rate_l_per_ha * 100) for z in many.zones}
    assert np.array_equal(cells[0], np.where(grid[-1] > 0, np.round(grid[-1] * 100), 0).astype("<i4"))


def test_no_zone_is_a_sliver_that_exports_empty(tmp_path: Path) -> None:
    """A continuous plan on a 2 m grid turned 33 degrees over the real Bali damage map cuts slivers along the grid:
    under a quarter of a square metre they were zones that EPSG:4326 exports with no geometry (3 of 1,520 here, one
    rated 40 L/ha in the helper's run; the KML held 3 zones fewer than the summary). Every zone now has one."""
    from inference.drone import DamageModel, analyze_orthomosaic
    from inference.sensors import validate_raster
    from tests.data.make_rasters import BALI

    models = Path(__file__).resolve().parents[2] / "models" / "drone_damage"
    analyze_orthomosaic(BALI, tmp_path / "a", damage_model=DamageModel(models / (models / "ACTIVE").read_text().strip()))
    i = validate_raster(BALI)
    a, _, c, _, e, f = i.transform
    field = reproject(box(c + 20 * a, f + 700 * e, c + 660 * a, f + 40 * e), i.crs, "EPSG:4326")
    plan = plan_spray(str(tmp_path / "a" / "damage.tif"), field, cfg(
        cell_size_m=2, heading_deg=33, rate_mode="continuous", rate_l_per_ha=40, min_rate_l_per_ha=5,
        damage_threshold_pct=3, spot_threshold=0.01, full_threshold=0.9))
    assert len(plan.zones) > 100 and all(z.area_m2 >= 0.25 for z in plan.zones)
    feats = plan.zones_geojson()["features"]
    assert len(feats) == len(plan.zones) and all(f["geometry"]["coordinates"] for f in feats)


def test_a_boundary_or_exclusion_without_a_usable_geometry_is_refused(dmg: str) -> None:
    """A Feature with a null geometry, an exclusion with one, and an exclusion with latitude and longitude swapped or
    still in metres: each a BadInput that says so (they were a 500: AttributeError, GEOSException)."""
    from inference.geo import geojson_geometries, validate_boundary

    with pytest.raises(BadInput, match="no geometry"):  # as the spray-map service reads a boundary Feature
        validate_boundary(geojson_geometries({"type": "Feature", "geometry": None, "properties": {}})[0])
    lon, lat = canal_wgs84().centroid.x, canal_wgs84().centroid.y
    swapped = Polygon([(lat, lon), (lat + 1e-4, lon), (lat + 1e-4, lon + 1e-4), (lat, lon)])
    metres = box(X0, Y0, X0 + 10, Y0 + 10)
    for geom, words in ((None, "no geometry"), (mapping(swapped), "latitude and longitude swapped"),
                        (mapping(metres), "projected CRS")):
        layer = ExclusionLayer(name="pond", kind="water", buffer_m=0,
                               geojson={"type": "Feature", "geometry": geom, "properties": {}})
        with pytest.raises(BadInput, match=words) as e:
            plan_spray(dmg, field_boundary_wgs84(), cfg(exclusions=[layer]))
        assert e.value.reason == "plan_exclusion_invalid"
