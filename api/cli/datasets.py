"""`cropwatch datasets export-feedback` and `cropwatch datasets export-drone-labels`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, migrated_session

app = typer.Typer(help="Datasets for retraining.", no_args_is_help=True)


@app.command("export-feedback")
def datasets_export_feedback(
    out_dir: Annotated[Path, typer.Argument(help="folder to write: one sub-folder per label, manifest.csv and "
                                                 "dataset.json")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a non-empty folder")] = False,
) -> None:
    """Write the photos an agronomist confirmed or corrected on /review/ as a dataset folder the training pipeline
    reads (`python -m models.lesion_patch_pipeline --extra OUT_DIR`, notebook 05's EXTRA_DATASETS)."""
    from api.services.feedback import export_feedback
    from api.services.review import QUEUE_SCAN, queue
    from inference.errors import CropwatchError

    with migrated_session() as session:
        try:
            info = export_feedback(session, out_dir, overwrite)
        except CropwatchError as exc:
            fail(str(exc))
        waiting = queue(session, None, limit=0)[1]
    typer.echo(f"wrote {info['n_photos']} reviewed photos to {out_dir}")
    for label, per in info["per_label_and_source"].items():
        typer.echo(f"  {label:<24} {sum(per.values()):>5}  from {len(per)} source(s): "
                   + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
    if waiting:  # only confirmed or corrected photos are exported: say what is still waiting for an agronomist
        many = "at least " if waiting >= QUEUE_SCAN else ""  # the queue looks at the newest QUEUE_SCAN photos
        typer.echo(f"{many}{waiting} photo(s) with a farmer's correction or an unsure answer wait for review on "
                   "/review/ and are not in this export until an agronomist confirms or corrects them")


@app.command("export-drone-labels")
def datasets_export_drone_labels(
    out_dir: Annotated[Path, typer.Argument(help="folder to write: flight_<id>.tif + flight_<id>.geojson per labelled "
                                                 "flight, and scenes.csv")],
    flight: Annotated[list[int] | None, typer.Option("--flight", help="only this flight (job id); repeatable")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a non-empty folder")] = False,
) -> None:
    """Write the labels agronomists drew on flights as training scenes for notebook 04 (EXTRA_SCENES_DIR): each
    flight's orthomosaic beside its label polygons (GeoJSON with a `class` per polygon; unlabelled pixels ignored)."""
    from api.services.drone_labels import export
    from inference.errors import CropwatchError

    with migrated_session() as session:
        try:
            scenes = export(session, out_dir, flight or None, overwrite)
        except CropwatchError as exc:
            fail(str(exc))
    typer.echo(f"wrote {len(scenes)} labelled flights to {out_dir}")
    for s in scenes:
        typer.echo(f"  {s['name']:<14} area {s['area_code'] or '-':<16} {s['n_labels']:>4} polygons: "
                   f"{s['labels_present']}")
