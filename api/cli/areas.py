"""`cropwatch areas import|export|stamps`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import cli_account, fail, write_text_atomic

app = typer.Typer(help="Growing-area records.", no_args_is_help=True)


@app.command("import")
def areas_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON, KML/KMZ or zipped Shapefile")],
    as_user: Annotated[str | None, typer.Option("--as", help="account that imports (default: the first admin)")] = None,
    all_or_nothing: bool = typer.Option(False, help="reject the whole file if any feature is rejected"),
) -> None:
    """Import growing areas from a vector file in any CRS; prints a per-feature report."""
    from api.services.areas import import_areas
    from inference.vectors import VectorFileError, read_vector

    try:
        data = read_vector(file)
    except VectorFileError as exc:
        fail(f"{file}: {exc}")
    session, account = cli_account(as_user)
    with session:
        report = import_areas(session, data, account, all_or_nothing=all_or_nothing)
        session.commit()
    typer.echo(json.dumps(report.model_dump(), ensure_ascii=False, indent=2))
    if report.rejected:
        raise typer.Exit(1)


@app.command("export")
def areas_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write; default stdout (not gpkg)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="geojson, csv, kml or gpkg")] = "geojson",
) -> None:
    """Export all growing areas as GeoJSON, KML or GeoPackage (EPSG:4326), or CSV."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.orm import GrowingArea
    from api.services.areas import EXPORT_TYPES, export
    from inference.errors import NotFound

    if fmt not in EXPORT_TYPES:
        raise typer.BadParameter("--format must be geojson, csv, kml or gpkg")
    if fmt == "gpkg" and out is None:
        fail("a GeoPackage needs --out FILE.gpkg")
    with Session(get_engine()) as session:
        areas = list(session.scalars(select(GrowingArea).order_by(GrowingArea.code)).unique())
        try:
            body = export(areas, fmt)
        except NotFound as exc:
            fail(str(exc))
    if out is None:
        sys.stdout.write(str(body))
        return
    write_text_atomic(out, body)
    typer.echo(f"wrote {len(areas)} areas to {out}")


@app.command("stamps")
def areas_stamps(
    commune: Annotated[str, typer.Option("--commune", help="the commune, as recorded on the areas")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the PDF to write")],
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="address buyers reach the service at (default: CROPWATCH_PUBLIC_BASE_URL)")] = None,
) -> None:
    """Print the traceability stamps (QR code and area code) of a commune's active areas as an A4 PDF."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.orm import AreaStatus, GrowingArea
    from api.services.place_names import canonical_place
    from api.services.trace import stamps_pdf
    from api.settings import get_settings
    from inference.errors import NotFound

    base = base_url or get_settings().public_base_url
    if not base:
        fail("give --base-url (e.g. https://cropwatch.example.vn) or set CROPWATCH_PUBLIC_BASE_URL: the QR codes "
             "must point where buyers can reach the service")
    with Session(get_engine()) as session:
        commune = canonical_place(session, "commune", commune) or commune
        areas = list(session.scalars(select(GrowingArea).where(
            GrowingArea.commune == commune, GrowingArea.status == AreaStatus.active).order_by(GrowingArea.code)))
        try:
            pdf = stamps_pdf(areas, base, f"Tem truy xuất – {commune}")
        except NotFound as exc:
            fail(str(exc))
    write_text_atomic(out, pdf)
    typer.echo(f"{len(areas)} stamps written to {out}")
