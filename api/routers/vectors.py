"""Vector files to GeoJSON: the operator's page uploads a field boundary or exclusions in any format and CRS that
area import reads and gets them back in EPSG:4326 to show, edit and send with a spray plan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from shapely.geometry import mapping

from api.deps import CurrentAccount
from api.errors import ERROR_RESPONSES
from api.services import areas
from inference.errors import BadInput

router = APIRouter(tags=["vectors"], responses=ERROR_RESPONSES)


@router.post("/v1/vectors/geojson", responses={200: {"content": {"application/geo+json": {}}}})
def vector_to_geojson(
    account: CurrentAccount,
    file: Annotated[UploadFile, File(description="GeoJSON, KML/KMZ, GeoPackage, Shapefile (zipped), any CRS")],
) -> dict[str, Any]:
    """The file's features as a GeoJSON FeatureCollection in EPSG:4326 (RFC 7946), with `source_crs`; nothing is
    stored. Features whose geometry cannot be read are left out and counted in `skipped`."""
    data = areas.read_vector_upload(file.file, file.filename)
    feats = [{"type": "Feature", "properties": f.properties, "geometry": mapping(f.geometry)}
             for f in data.features if f.geometry is not None and not f.geometry.is_empty]
    if not feats:
        raise BadInput(f"{file.filename}: no feature has a readable geometry")
    return {"type": "FeatureCollection", "features": feats, "source_crs": data.source_crs,
            "skipped": len(data.features) - len(feats)}
