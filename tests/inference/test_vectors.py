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
