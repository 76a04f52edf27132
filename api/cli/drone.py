"""`cropwatch drone analyze`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import fail, migrate_database

app = typer.Typer(help="Drone orthomosaics.", no_args_is_help=True)
SHOWN = ("sensor", "crs", "width", "height", "analysed_area_ha", "area_covered_pct", "canopy_cover_pct", "growth_score",
         "damaged_area_ha", "damaged_pct", "damage_method", "warnings", "seconds")


def _area(code: str) -> Any:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.orm import GrowingArea

    with Session(get_engine()) as session:
        area = session.scalar(select(GrowingArea).where(GrowingArea.code == code.strip().upper()))
    if area is None:
        fail(f"no growing area with code {code}")
    return area


@app.command("analyze")
def drone_analyze(
    ortho: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="orthomosaic GeoTIFF, any CRS")],
    out: Annotated[Path, typer.Option("--out", help="folder for canopy.tif, growth.tif, damage.tif, summary.json")],
    sensor: Annotated[str | None, typer.Option(help="sensor profile (default: guessed from bands)")] = None,
    area: Annotated[str | None, typer.Option(help="growing-area code: clip to it and record the result")] = None,
    method: Annotated[str, typer.Option(help="auto (model if one fits the sensor) or index_anomaly")] = "auto",
    workers: Annotated[int, typer.Option(help="parallel windows")] = 2,
    compression: Annotated[str, typer.Option(
        help="the maps' compression: deflate (every GIS tool reads it) or zstd (as the service stores them: "
             "faster to write, 0.84 against 0.97 s for a 26 MP mosaic, and about 10 % smaller; GDAL 2.3 and later, "
             "QGIS, ArcGIS Pro)")] = "deflate",
) -> None:
    """Analyse an orthomosaic window by window into growth and damage maps (COG) and a summary."""
    from shapely.geometry import shape
    from sqlalchemy.orm import Session
    from tqdm import tqdm

    from api.db import get_engine
    from api.services.analysis import load_damage_model, record_drone_observation
    from inference.drone import analyze_orthomosaic
    from inference.errors import CropwatchError

    migrate_database()  # the active damage model and the areas are read from it: a new data folder has none yet
    area_obj = _area(area) if area else None
    boundary = shape(area_obj.boundary_geojson) if area_obj is not None else None
    model = load_damage_model() if method == "auto" else None
    with tqdm(total=100, desc="analysing", unit="%", file=sys.stderr) as bar:
        try:
            summary = analyze_orthomosaic(ortho, out, sensor=sensor, damage_model=model, area_boundary_wgs84=boundary,
                                          workers=workers, progress=lambda f: bar.update(round(100 * f) - bar.n),
                                          compression=compression)
        except CropwatchError as exc:
            fail(str(exc))
    shown = {k: v for k, v in summary.model_dump(mode="json").items() if k in SHOWN}
    if area_obj is not None:
        with Session(get_engine()) as session:
            shown["observation_id"] = record_drone_observation(session, area_obj.id, summary, out)
    typer.echo(json.dumps(shown, indent=2))
