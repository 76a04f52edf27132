"""`cropwatch spray plan|export`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import fail, read_geojson, read_geometries, write_text_atomic

if TYPE_CHECKING:
    from inference.zones import SprayPlan

VECTOR_FORMATS = "GeoJSON, KML/KMZ, Shapefile (.shp or zipped) or GeoPackage, any CRS"

app = typer.Typer(help="Spray zones and spray maps.", no_args_is_help=True)


@app.command("plan")
def spray_plan(
    damage: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="damage.tif (0-100, nodata 255)")],
    boundary: Annotated[Path, typer.Option("--boundary", exists=True, help=f"field boundary: {VECTOR_FORMATS}")],
    out: Annotated[Path, typer.Option("--out", help="ZONES.geojson to write")],
    exclude: Annotated[list[Path] | None, typer.Option("--exclude", exists=True,
                                                       help=f"exclusion layer (repeatable): {VECTOR_FORMATS}")] = None,
    exclude_buffer_m: Annotated[float, typer.Option(help="buffer around each exclusion layer, m")] = 10.0,
    swath_m: Annotated[float, typer.Option("--swath-m", help="drone swath, m")] = 7.0,
    rate_l_per_ha: Annotated[float, typer.Option("--rate-l-per-ha", help="full rate, L/ha")] = 20.0,
    config: Annotated[Path | None, typer.Option(help="SprayPlanConfig JSON (options above override it)")] = None,
) -> None:
    """Make spray zones from a damage raster and a field boundary; prints the summary."""
    from pydantic import ValidationError
    from shapely.ops import unary_union

    from inference.errors import CropwatchError
    from inference.geo import to_geojson
    from inference.zones import ExclusionLayer, SprayPlanConfig, plan_spray

    polys = [g for g in read_geometries(boundary, "boundary") if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        fail(f"{boundary}: the boundary must be a polygon")
    geom = to_geojson(unary_union(polys))
    raw = json.loads(config.read_text()) if config else {}
    raw.update(swath_m=swath_m, rate_l_per_ha=rate_l_per_ha)
    layers = [ExclusionLayer(name=p.stem, buffer_m=exclude_buffer_m,
                             geojson=to_geojson(unary_union(read_geometries(p, "exclusion")))) for p in exclude or []]
    try:
        cfg = SprayPlanConfig.model_validate(raw)
        cfg = cfg.model_copy(update={"exclusions": [*cfg.exclusions, *layers]})
        t0 = time.perf_counter()
        plan = plan_spray(str(damage), geom, cfg)
        seconds = time.perf_counter() - t0
    except (CropwatchError, ValidationError) as exc:
        fail(str(exc))
    write_text_atomic(out, json.dumps(plan.to_geojson(), ensure_ascii=False))
    summary = plan.summary.model_dump(mode="json") if plan.summary else {}
    typer.echo(json.dumps({**summary, "planning_seconds": round(seconds, 3), "out": str(out)}, indent=2))


@app.command("export")
def spray_export(
    zones: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="ZONES.geojson from `spray plan`")],
    fmt: Annotated[str, typer.Option("--format", help="geojson, shp, kml, kmz, gpkg, dji or isoxml")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    area_code: Annotated[str, typer.Option(help="name used inside the package")] = "field",
) -> None:
    """Export spray zones for GIS, DJI Agras or ISOBUS terminals."""
    from inference.errors import CropwatchError
    from inference.spray_export import export
    from inference.zones import plan_from_geojson

    try:
        plan = plan_from_geojson(read_geojson(zones))
        t0 = time.perf_counter()
        if fmt.lower() == "shp" and out.suffix.lower() == ".shp":  # a Shapefile asked for by name: its files, not a zip
            written = _shapefile_files(plan, out)
        else:
            export(plan, fmt, out, area_code)
            written = [out]
    except CropwatchError as exc:
        fail(str(exc))
    size = sum(p.stat().st_size for p in written)
    typer.echo(f"wrote {', '.join(map(str, written))} ({size} bytes, {time.perf_counter() - t0:.3f} s)")


def _shapefile_files(plan: SprayPlan, out: Path) -> list[Path]:
    """The Shapefile's files (.shp, .shx, .dbf, .prj, .cpg) named after OUT.shp, beside it (a zip written under the
    name zones.shp was no Shapefile for ogrinfo or QGIS). Written in a folder beside OUT, then moved over any
    earlier ones."""
    import os
    import tempfile

    from inference.spray_export import shapefile_files

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        written = []
        for f in shapefile_files(plan, Path(tmp), out.stem):
            target = out.with_suffix(f.suffix.lower())
            os.replace(f, target)
            written.append(target)
    return written
