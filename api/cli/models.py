"""`cropwatch models evaluate|activate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail

app = typer.Typer(help="Model bundles: evaluate, activate.", no_args_is_help=True)


@app.command("evaluate")
def models_evaluate(
    bundle_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="folder with model.onnx + model.json")],
    data_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="one sub-folder of photos per class")],
    network_only: Annotated[bool, typer.Option("--network-only", help="the network alone, without the quality gate "
                                                                      "and decision rules of the served pipeline")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Evaluate a photo bundle as farmers meet it: the served pipeline (quality gate included) on a folder of class
    sub-folders; per class: right, wrong disease named, unsure, refused; macro-F1 with unsure counted wrong."""
    from tqdm import tqdm

    from api.services.photos import make_scorer
    from api.settings import get_settings
    from inference.errors import CropwatchError
    from inference.evaluation import evaluate_network, evaluate_pipeline, format_report, labelled_photos

    try:
        scorer = make_scorer(bundle_dir, get_settings())
    except CropwatchError as exc:
        fail(str(exc))
    photos, ignored = labelled_photos(data_dir, scorer.model.classes)
    if not photos:
        fail(f"{data_dir} has no photos in sub-folders named {', '.join(scorer.model.classes)}")
    bar = lambda it: tqdm(it, desc="scoring", unit="photo", file=sys.stderr, total=len(photos))  # noqa: E731
    m = evaluate_network(scorer.model, photos, bar) if network_only else evaluate_pipeline(scorer, photos, bar)
    if ignored:
        m["ignored_folders"] = ignored
    if as_json:
        typer.echo(json.dumps(m))
        return
    title = f"bundle {scorer.model.bundle.name} {scorer.model.bundle.version} on {data_dir} ({m['n']} photos)"
    for line in format_report(m, title):
        typer.echo(line)
    if ignored:
        typer.echo(f"ignored folders (not classes of this bundle): {', '.join(ignored)}")


@app.command("activate")
def models_activate(
    task: Annotated[str, typer.Argument(help="e.g. field_photo")],
    version: Annotated[str, typer.Argument(help="version folder under the models folder (CROPWATCH_MODELS_DIR)")],
) -> None:
    """Make a bundle version the one served (checked before it is switched). A running service picks it up at its
    next start; POST /v1/models/field_photo/activate switches a running one."""
    from api.settings import get_settings
    from inference.bundle import BundleError, set_active

    try:
        path = set_active(task, version, get_settings().models_dir)
    except BundleError as exc:
        fail(str(exc))
    typer.echo(f"active {task} model: {path}")
