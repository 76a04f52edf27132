"""Seeded generator of small growing-area vector fixtures near Sóc Trăng (EPSG:4326 and UTM 48N).

Run: python tests/data/make_areas.py OUT_DIR. The tests call `write_fixtures` into a temp dir, so nothing binary is
committed.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely

from datasets.samples import ORIGIN, feature_collection, field  # noqa: F401 - re-exported for the tests
from inference.geo import reproject


def write_shapefile_zip(out: Path, fc: dict, crs: str = "EPSG:32648", with_prj: bool = True,
                        with_cpg: bool = True, encoding: str = "UTF-8") -> Path:
    """Zipped Shapefile of `fc` reprojected to `crs` (UTM by default, to exercise reprojection on import); its text is
    `encoding` (UTF-8 by default; CP1258, Windows' Vietnamese, as older tools write), declared by a .cpg file unless
    `with_cpg` is False."""
    tmp = out.parent / (out.stem + "_shp")
    tmp.mkdir(parents=True, exist_ok=True)
    geoms = [reproject(shapely.geometry.shape(f["geometry"]), "EPSG:4326", crs) for f in fc["features"]]
    names = list(fc["features"][0]["properties"])
    field_data = [np.array([f["properties"][n] for f in fc["features"]], dtype=object) for n in names]
    shp = tmp / "areas.shp"
    pyogrio.raw.write(
        shp, np.array(shapely.to_wkb(geoms), dtype=object), field_data, names, crs=crs, driver="ESRI Shapefile",
        geometry_type="Polygon", encoding=encoding,
    )
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(tmp.iterdir()):
            if (p.suffix == ".prj" and not with_prj) or (p.suffix == ".cpg" and not with_cpg):
                continue
            zf.write(p, p.name)
    return out


def write_fixtures(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    fc = feature_collection()
    paths = {"geojson": out_dir / "areas.geojson"}
    paths["geojson"].write_text(json.dumps(fc, ensure_ascii=False))
    paths["shp_zip"] = write_shapefile_zip(out_dir / "areas_utm.zip", feature_collection(2, seed=1) | {
        "features": [
            {**f, "properties": {**f["properties"], "code": f"VN-STOR-01{i:02d}"}}
            for i, f in enumerate(feature_collection(2, seed=1)["features"])
        ]
    })
    paths["shp_noprj"] = write_shapefile_zip(out_dir / "areas_noprj.zip", fc, with_prj=False)
    zs = out_dir / "zipslip.zip"
    with zipfile.ZipFile(zs, "w") as zf:
        zf.writestr("../../evil.shp", b"x")
    paths["zipslip"] = zs
    return paths


if __name__ == "__main__":
    for k, v in write_fixtures(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/out")).items():
        print(k, v)
