"""Reading vector files: text encodings."""

from __future__ import annotations

from pathlib import Path

from inference.vectors import read_vector
from tests.data.make_areas import feature_collection, write_shapefile_zip


def test_a_shapefile_without_its_cpg_keeps_vietnamese_text(tmp_path: Path) -> None:
    """QGIS and GDAL write UTF-8 text; without the .cpg that says so, GDAL read it as Latin-1 ("Ruá»\\x99ng")."""
    fc = feature_collection(1)
    fc["features"][0]["properties"] = {"code": "VN-STOR-0001", "name": "Ruộng Bà Tư", "province": "Sóc Trăng"}
    for cpg in (True, False):
        got = read_vector(write_shapefile_zip(tmp_path / f"areas_{cpg}.zip", fc, with_cpg=cpg)).features[0].properties
        assert (got["name"], got["province"]) == ("Ruộng Bà Tư", "Sóc Trăng"), cpg


def test_the_areas_csv_is_read_back_as_a_clerk_saves_it(tmp_path) -> None:
    """The areas' CSV export, edited in a spreadsheet and saved as "CSV UTF-8" (a byte-order mark), imports: WKT
    boundaries, empty cells as None, the export's apostrophe before formula-like text taken off; a row whose WKT is
    broken is that row's error; no boundary column, or an ANSI file, is refused saying what to do."""
    import pytest

    from inference.vectors import VectorFileError, read_vector

    p = tmp_path / "areas.csv"
    p.write_bytes("\ufeffcode,name,commune,boundary_wkt\n"
                  "VN-STOR-0001,Ruộng Bà Tư,'=cmd,\"POLYGON ((105.97 9.56, 105.98 9.56, 105.98 9.57, 105.97 9.56))\"\n"
                  "VN-STOR-0002,,Hòa Tú 1,POLYGON ((1 2\n"
                  "VN-STOR-0003,\"two\nlines\u2028here\",x,POINT (1 2)\n".encode())
    data = read_vector(p)
    ok, bad, multi = data.features
    assert multi.properties["name"] == "two\nlines\u2028here"  # a quoted line break stays in its field
    assert data.source_crs == "EPSG:4326" and ok.geometry is not None and ok.geometry.geom_type == "Polygon"
    assert ok.properties == {"code": "VN-STOR-0001", "name": "Ruộng Bà Tư", "commune": "=cmd"}
    assert bad.geometry is None and "not WKT" in (bad.error or "") and bad.properties["name"] is None
    (tmp_path / "no_wkt.csv").write_text("code,name\nVN-STOR-0001,x\n", encoding="utf-8")
    with pytest.raises(VectorFileError, match="boundary_wkt"):
        read_vector(tmp_path / "no_wkt.csv")
    (tmp_path / "ansi.csv").write_bytes("code,name,boundary_wkt\nVN-STOR-0001,Ru\xf4ng,POINT (1 2)\n".encode("cp1258"))
    with pytest.raises(VectorFileError, match="CSV UTF-8"):
        read_vector(tmp_path / "ansi.csv")


def test_a_windows_1258_shapefile_keeps_its_last_characters(tmp_path: Path) -> None:
    """A Shapefile written in Windows-1258 (Vietnamese; older tools, -lco ENCODING=CP1258) with its .cpg: GDAL's
    decoder lost the last character of every value and field name ("Ruộng Bà T", the field "cod" for "code", so the
    import refused it for want of a code)."""
    fc = feature_collection(1)
    fc["features"][0]["properties"] = {"code": "VN-STOR-0001", "name": "Ruộng Bà Tư", "crop": "lúa",
                                       "commune": "Hòa Tú 1"}
    got = read_vector(write_shapefile_zip(tmp_path / "a.zip", fc, encoding="CP1258")).features[0].properties
    assert got == {"code": "VN-STOR-0001", "name": "Ruộng Bà Tư", "crop": "lúa", "commune": "Hòa Tú 1"}


def test_a_csv_from_qgis_or_a_vietnamese_excel_is_read(tmp_path: Path) -> None:
    """QGIS and ogr2ogr name the geometry column "WKT"; an Excel whose decimal mark is a comma separates columns with
    ";". Both were refused ("needs one of boundary_wkt, wkt, geometry"; "the CSV has no boundary column")."""
    wkt = "POLYGON ((105.97 9.56, 105.98 9.56, 105.98 9.57, 105.97 9.56))"
    (tmp_path / "qgis.csv").write_text(f'WKT,code,name\n"{wkt}",VN-STOR-0001,Ruộng\n', encoding="utf-8")
    (tmp_path / "excel.csv").write_text(f"code;name;boundary_wkt\nVN-STOR-0001;Ruộng, Bà Tư;{wkt}\n", encoding="utf-8")
    for name, want in (("qgis.csv", "Ruộng"), ("excel.csv", "Ruộng, Bà Tư")):
        (f,) = read_vector(tmp_path / name).features
        assert f.geometry is not None and f.geometry.geom_type == "Polygon", name
        assert f.properties == {"code": "VN-STOR-0001", "name": want}, name


def test_an_unclosed_ring_is_said_in_words(tmp_path: Path) -> None:
    """A polygon whose last position does not repeat the first: the feature's error says so, not GEOS's
    "IllegalArgumentException: Points of LinearRing do not form a closed linestring"."""
    import json

    ring = [[105.97, 9.56], [105.98, 9.56], [105.98, 9.57], [105.97, 9.57]]
    p = tmp_path / "open.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "VN-STOR-0001"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    (f,) = read_vector(p).features
    assert f.geometry is None and "not closed" in (f.error or "") and "Exception" not in (f.error or "")
