"""The `cropwatch` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="cropwatch: crop monitoring for smallholder farms.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
areas_app = typer.Typer(help="Growing-area records.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(areas_app, name="areas")
models_app = typer.Typer(help="Model bundles: evaluate, activate.", no_args_is_help=True)
app.add_typer(models_app, name="models")
photo_app = typer.Typer(help="Farmers' photos.", no_args_is_help=True)
app.add_typer(photo_app, name="photo")
datasets_app = typer.Typer(help="Datasets for retraining.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
drone_app = typer.Typer(help="Drone orthomosaics.", no_args_is_help=True)
app.add_typer(drone_app, name="drone")
spray_app = typer.Typer(help="Spray zones and spray maps.", no_args_is_help=True)
app.add_typer(spray_app, name="spray")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema (SQLite under the data dir by default)."""
    from api.migrate import upgrade
    from api.settings import get_settings

    url = get_settings().resolved_database_url()
    upgrade(url, revision)
    typer.echo(f"database at {_redact(url)} is at revision {revision}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: CROPWATCH_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: CROPWATCH_PORT or 8000")] = None,
    migrate: Annotated[bool, typer.Option(help="run `db upgrade` first")] = True,
) -> None:
    """Serve the API and pages (http://127.0.0.1:8000, docs at /docs)."""
    import uvicorn

    from api.bootstrap import ensure_admin
    from api.settings import get_settings

    settings = get_settings()
    if migrate:
        db_upgrade("head")
    created = ensure_admin()
    if created:
        typer.secho(
            f"\nCreated the first admin account (shown only this once):\n  username: {created[0]}\n"
            f"  password: {created[1]}\n",
            fg=typer.colors.YELLOW,
        )
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.host, port=port or settings.port)


def _cli_account(username: str | None):  # type: ignore[no-untyped-def]
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.orm import Account, Role

    session = Session(get_engine())
    stmt = select(Account).where(Account.username == username) if username else select(Account).where(
        Account.role == Role.admin
    ).order_by(Account.id)
    account = session.scalars(stmt).first()
    if account is None:
        typer.secho("no such account (run `cropwatch serve` once to create the admin)", fg="red", err=True)
        raise typer.Exit(2)
    return session, account


@areas_app.command("import")
def areas_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON, KML/KMZ or zipped Shapefile")],
    as_user: Annotated[str | None, typer.Option("--as", help="account that imports (default: the first admin)")] = None,
    all_or_nothing: bool = typer.Option(False, help="reject the whole file if any feature is rejected"),
) -> None:
    """Import growing areas from a vector file in any CRS; prints a per-feature report."""
    from api.areas import import_areas
    from inference.vectors import VectorFileError, read_vector

    try:
        data = read_vector(file)
    except VectorFileError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    session, account = _cli_account(as_user)
    with session:
        report = import_areas(session, data, account, all_or_nothing=all_or_nothing)
        session.commit()
    typer.echo(json.dumps(report.model_dump(), ensure_ascii=False, indent=2))
    if report.rejected:
        raise typer.Exit(1)


@areas_app.command("export")
def areas_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write; default stdout")] = None,
    fmt: Annotated[str, typer.Option("--format", help="geojson or csv")] = "geojson",
) -> None:
    """Export all growing areas as GeoJSON (EPSG:4326) or CSV."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from api.areas import export_csv, export_geojson
    from api.db import get_engine
    from api.orm import GrowingArea

    if fmt not in ("geojson", "csv"):
        raise typer.BadParameter("--format must be geojson or csv")
    with Session(get_engine()) as session:
        areas = list(session.scalars(select(GrowingArea).order_by(GrowingArea.code)).unique())
        text = export_csv(areas) if fmt == "csv" else json.dumps(export_geojson(areas), ensure_ascii=False)
    if out is None:
        sys.stdout.write(text)
    else:
        tmp = out.with_name(out.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        typer.echo(f"wrote {len(areas)} areas to {out}")


@models_app.command("evaluate")
def models_evaluate(
    bundle_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="folder with model.onnx + model.json")],
    data_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="one sub-folder of photos per class")],
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Accuracy and macro-F1 of a photo bundle on a folder of class sub-folders; unsure answers are scored by their
    top class and counted apart."""
    import numpy as np
    from tqdm import tqdm

    from datasets.field_photos import folder_dataset
    from inference.bundle import BundleError
    from inference.field_photo_model import FieldPhotoModel
    from inference.images import read_rgb
    from inference.metrics import classification_metrics

    try:
        model = FieldPhotoModel(bundle_dir)
    except BundleError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    classes = model.classes
    unknown = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and p.name not in classes)
    rows = folder_dataset(data_dir, classes)
    if not rows:
        typer.secho(f"error: {data_dir} has no photos in sub-folders named {', '.join(classes)}", fg="red", err=True)
        raise typer.Exit(2)
    y, pred, unsure = [], [], 0
    for r in tqdm(rows, desc="scoring", unit="photo", file=sys.stderr):
        p = model.predict(read_rgb(r.path, 2 * int(model.meta["input_size"])))
        y.append(classes.index(r.label))
        # an "unsure" answer is scored as the top class for accuracy/F1 and counted separately
        pred.append(classes.index(max(p.probabilities, key=p.probabilities.__getitem__)))
        unsure += p.label == "unsure"
    m = classification_metrics(np.array(y), np.array(pred), classes)
    m["unsure"] = unsure
    m["coverage"] = round(1 - unsure / len(rows), 4)
    if unknown:
        m["ignored_folders"] = unknown
    if as_json:
        typer.echo(json.dumps(m))
        return
    typer.echo(f"bundle {model.bundle.name} {model.bundle.version} on {data_dir} ({m['n']} photos)")
    typer.echo(f"accuracy  {m['accuracy']:.4f}")
    typer.echo(f"macro-F1  {m['macro_f1']:.4f}")
    typer.echo(f"unsure    {unsure} ({1 - m['coverage']:.1%})")
    for c, v in m["per_class"].items():
        typer.echo(f"  {c:<24} precision {v['precision']:.3f}  recall {v['recall']:.3f}  n={v['support']}")
    if unknown:
        typer.echo(f"ignored folders (not classes of this bundle): {', '.join(unknown)}")


@models_app.command("activate")
def models_activate(
    task: Annotated[str, typer.Argument(help="e.g. field_photo")],
    version: Annotated[str, typer.Argument(help="version folder under models/TASK/")],
) -> None:
    """Make a bundle version the one served (checked before it is switched)."""
    from inference.bundle import BundleError, set_active

    try:
        path = set_active(task, version)
    except BundleError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"active {task} model: {path}")


@photo_app.command("score")
def photo_score(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="photo files")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    bundle: Annotated[Path | None, typer.Option(help="bundle dir; default: the active field_photo bundle")] = None,
) -> None:
    """Score photos without a server: diagnosis, severity (SES 0-9), growth (0-100), quality, advice."""
    from tqdm import tqdm

    from api.settings import get_settings
    from inference.bundle import active_bundle_path
    from inference.field_photo_model import FieldPhotoModel
    from inference.photo import PhotoScorer
    from inference.photo_io import PhotoError

    scorer = PhotoScorer(FieldPhotoModel(bundle or active_bundle_path("field_photo", get_settings().models_dir)))
    failed = 0
    for path in tqdm(paths, desc="scoring", unit="photo", file=sys.stderr, disable=len(paths) < 2):
        try:
            r = scorer.score(path.read_bytes())
        except PhotoError as exc:
            failed += 1
            if as_json:
                typer.echo(json.dumps({"path": str(path), "error": str(exc), "status": exc.status}, ensure_ascii=False))
            else:
                typer.secho(f"{path}: {exc}", fg="red", err=True)
            continue
        if as_json:
            typer.echo(json.dumps({"path": str(path), **r}, ensure_ascii=False))
        else:
            d, sv, g = r["diagnosis"], r["severity"], r["growth"]
            typer.echo(
                f"{path}: {d['label']} ({d['status']}, confidence {d['confidence']:.2f}); "
                f"SES {sv['ses']} ({sv['affected_pct']}% of leaf); growth {g['score']} ({g['method']}); "
                f"quality {'ok' if r['quality']['ok'] else ', '.join(r['quality']['issues'])}\n  {r['advice']['en']}"
            )
    if failed:
        raise typer.Exit(1)


@datasets_app.command("export-feedback")
def datasets_export_feedback(
    out_dir: Annotated[Path, typer.Argument(help="folder to write: one sub-folder per label + manifest.csv")],
) -> None:
    """Write photos whose diagnosis was confirmed or corrected as a dataset the training notebooks read."""
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.feedback import export_feedback

    with Session(get_engine()) as session:
        n = export_feedback(session, out_dir)
    typer.echo(f"wrote {n} labelled photos to {out_dir}")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="jobs at once in this worker")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Start a Celery worker for drone analysis jobs (CROPWATCH_JOBS=celery, broker CROPWATCH_REDIS_URL)."""
    from api.celery_app import celery_app

    celery_app.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}", "--pool=prefork",
                            "-Q", "cropwatch", "--without-gossip", "--without-mingle"])


@drone_app.command("analyze")
def drone_analyze(
    ortho: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="orthomosaic GeoTIFF, any CRS")],
    out: Annotated[Path, typer.Option("--out", help="folder for canopy.tif, growth.tif, damage.tif, summary.json")],
    sensor: Annotated[str | None, typer.Option(help="sensor profile (default: guessed from bands)")] = None,
    area: Annotated[str | None, typer.Option(help="growing-area code: clip to it and record the result")] = None,
    method: Annotated[str, typer.Option(help="auto (model if one fits the sensor) or index_anomaly")] = "auto",
    workers: Annotated[int, typer.Option(help="parallel windows")] = 2,
) -> None:
    """Analyse an orthomosaic window by window into growth and damage maps (COG) and a summary."""
    from tqdm import tqdm

    from api.drone_jobs import load_damage_model, record_drone_observation
    from inference.drone import analyze_orthomosaic
    from inference.sensors import RasterError

    boundary = area_obj = None
    if area:
        from shapely.geometry import shape
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from api.db import get_engine
        from api.orm import GrowingArea

        with Session(get_engine()) as session:
            area_obj = session.scalar(select(GrowingArea).where(GrowingArea.code == area.strip().upper()))
        if area_obj is None:
            typer.secho(f"error: no growing area with code {area}", fg="red", err=True)
            raise typer.Exit(2)
        boundary = shape(area_obj.boundary_geojson)
    model = load_damage_model() if method == "auto" else None
    with tqdm(total=100, desc="analysing", unit="%", file=sys.stderr) as bar:
        def progress(f: float) -> None:
            bar.update(round(100 * f) - bar.n)

        try:
            summary = analyze_orthomosaic(ortho, out, sensor=sensor, damage_model=model,
                                          area_boundary_wgs84=boundary, workers=workers, progress=progress)
        except RasterError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2) from exc
    if area_obj is not None:
        obs_id = record_drone_observation(area_obj.id, summary, str(out))
        summary["observation_id"] = obs_id
    typer.echo(json.dumps({k: summary[k] for k in ("sensor", "crs", "width", "height", "analysed_area_ha",
                                                   "canopy_cover_pct", "growth_score", "damaged_area_ha",
                                                   "damaged_pct", "damage_method", "seconds")}, indent=2))


def _read_geojson(path: Path) -> dict:  # type: ignore[type-arg]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        typer.secho(f"error: {path} is not readable GeoJSON: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


@spray_app.command("plan")
def spray_plan(
    damage: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="damage.tif (0-100, nodata 255)")],
    boundary: Annotated[Path, typer.Option("--boundary", exists=True, help="field boundary GeoJSON (EPSG:4326)")],
    out: Annotated[Path, typer.Option("--out", help="ZONES.geojson to write")],
    exclude: Annotated[list[Path] | None, typer.Option("--exclude", exists=True,
                                                       help="exclusion layer GeoJSON (repeatable)")] = None,
    exclude_buffer_m: Annotated[float, typer.Option(help="buffer around each exclusion layer, m")] = 10.0,
    swath_m: Annotated[float, typer.Option("--swath-m", help="drone swath, m")] = 7.0,
    rate_l_per_ha: Annotated[float, typer.Option("--rate-l-per-ha", help="full rate, L/ha")] = 20.0,
    config: Annotated[Path | None, typer.Option(help="SprayPlanConfig JSON (options above override it)")] = None,
) -> None:
    """Make spray zones from a damage raster and a field boundary; prints the summary."""
    import time

    from pydantic import ValidationError

    from inference.zones import ExclusionLayer, PlanError, SprayPlanConfig, plan_spray

    fc = _read_geojson(boundary)
    geom = fc["features"][0]["geometry"] if fc.get("type") == "FeatureCollection" else fc.get("geometry", fc)
    raw = json.loads(config.read_text()) if config else {}
    raw.update(swath_m=swath_m, rate_l_per_ha=rate_l_per_ha)
    layers = [ExclusionLayer(name=p.stem, buffer_m=exclude_buffer_m, geojson=_read_geojson(p)) for p in exclude or []]
    try:
        cfg = SprayPlanConfig.model_validate(raw)
        cfg = cfg.model_copy(update={"exclusions": [*cfg.exclusions, *layers]})
        t0 = time.perf_counter()
        plan = plan_spray(str(damage), geom, cfg)
        seconds = time.perf_counter() - t0
    except (PlanError, ValidationError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(plan.to_geojson(), ensure_ascii=False))
    tmp.replace(out)
    typer.echo(json.dumps({**plan.summary, "planning_seconds": round(seconds, 3), "out": str(out)}, indent=2))


@spray_app.command("export")
def spray_export(
    zones: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="ZONES.geojson from `spray plan`")],
    fmt: Annotated[str, typer.Option("--format", help="geojson, shp, kml, kmz, gpkg, dji or isoxml")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    area_code: Annotated[str, typer.Option(help="name used inside the package")] = "field",
) -> None:
    """Export spray zones for GIS, DJI Agras or ISOBUS terminals."""
    import time

    from inference.spray_export import FORMATS, export
    from inference.zones import PlanError, plan_from_geojson

    if fmt not in FORMATS:
        typer.secho(f"error: --format must be one of {', '.join(FORMATS)}", fg="red", err=True)
        raise typer.Exit(2)
    try:
        plan = plan_from_geojson(_read_geojson(zones))
        t0 = time.perf_counter()
        export(plan, fmt, out, area_code)
    except (PlanError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {out} ({out.stat().st_size} bytes, {time.perf_counter() - t0:.3f} s)")


if __name__ == "__main__":
    app()
