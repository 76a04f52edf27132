"""`cropwatch datasets export-feedback`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Datasets for retraining.", no_args_is_help=True)


@app.command("export-feedback")
def datasets_export_feedback(
    out_dir: Annotated[Path, typer.Argument(help="folder to write: one sub-folder per label + manifest.csv")],
) -> None:
    """Write photos whose diagnosis was confirmed or corrected as a dataset the training notebooks read."""
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.services.feedback import export_feedback

    with Session(get_engine()) as session:
        n = export_feedback(session, out_dir)
    typer.echo(f"wrote {n} labelled photos to {out_dir}")
