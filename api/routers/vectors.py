"""Vector files to GeoJSON: the operator's page uploads a field boundary or exclusions in any format and CRS that
area import reads and gets them back in EPSG:4326 to show, edit and send with a spray plan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from shapely.geometry import mapping
from shapely.validation import explain_validity

from api.deps import CurrentAccount
from api.errors import ERROR_RESPONSES
from api.services import areas
from inference.errors import BadInput
from inference.geo import lonlat_bounds_problem

router = APIRouter(tags=["vectors"], responses=ERROR_RESPONSES)


@router.post("/v1/vectors/geojson", responses={200: {"content": {"application/geo+json": {}}}})
def vector_to_geojson(
    account: CurrentAccount,
    file: Annotated[UploadFile, File(description="GeoJSON, KML/KMZ, GeoPackage, Shapefile (zipped), any CRS")],
) -> dict[str, Any]:
    """The file's features as a GeoJSON FeatureCollection in EPSG:4326 (RFC 7946), with `source_crs`; nothing is
    stored. Features whose geometry cannot be read are left out and counted in `skipped`; `warnings` says what is
    wrong with those left out and with those kept that a plan will refuse (a self-intersecting outline, coordinates
    outside longitude/latitude), one line per feature, so the page can say it before the plan is asked for."""
    data = areas.read_vector_upload(file.file, file.filename)
    feats, warnings = [], []
    for f in data.features:
        if f.geometry is None or f.geometry.is_empty:
            warnings.append(f"feature {f.index}: {f.error or 'no geometry'}")
            continue
        feats.append({"type": "Feature", "properties": f.properties, "geometry": mapping(f.geometry)})
        problem = lonlat_bounds_problem(f.geometry) or (
            None if f.geometry.is_valid else f"not a valid geometry ({explain_validity(f.geometry)}); fix it, e.g. "
            "in QGIS with 'Fix geometries'")
        if problem:
            warnings.append(f"feature {f.index}: {problem}")
    if not feats:
        raise BadInput(f"{file.filename}: no feature has a readable geometry" +
                       (f" ({warnings[0]})" if warnings else ""))
    return {"type": "FeatureCollection", "features": feats, "source_crs": data.source_crs,
            "skipped": len(data.features) - len(feats), "warnings": warnings}
