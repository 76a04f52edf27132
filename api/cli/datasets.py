"""`cropwatch datasets export-feedback`."""

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
    from inference.errors import CropwatchError

    with migrated_session() as session:
        try:
            info = export_feedback(session, out_dir, overwrite)
        except CropwatchError as exc:
            fail(str(exc))
    typer.echo(f"wrote {info['n_photos']} reviewed photos to {out_dir}")
    for label, per in info["per_label_and_source"].items():
        typer.echo(f"  {label:<24} {sum(per.values()):>5}  from {len(per)} source(s): "
                   + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
