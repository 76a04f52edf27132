"""`cropwatch models evaluate|activate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import fail, migrated_session

app = typer.Typer(help="Model bundles: evaluate, activate.", no_args_is_help=True)


@app.command("evaluate")
def models_evaluate(
    bundle_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="folder with model.onnx + model.json")],
    data_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="one sub-folder of photos per class")],
    network_only: Annotated[bool, typer.Option("--network-only", help="the network alone, without the quality gate "
                                                                      "and decision rules of the served pipeline")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
    split: Annotated[str | None, typer.Option(
        "--split", help="only the photos its manifest.csv puts in this split (test: the part of a feedback export "
                        "that training leaves out)")] = None,
    unknown_folders: Annotated[list[str] | None, typer.Option(
        "--unknown", help="a sub-folder of photos of a disease the bundle does not know and the label registry does "
                          "not name (e.g. 'Leaf smut'): scored apart, every known disease named for it counted wrong; "
                          "repeatable. Registry labels the bundle lacks (tungro, healthy, ...) are scored so "
                          "without it")] = None,
) -> None:
    """Evaluate a photo bundle as farmers meet it: the served pipeline (quality gate included) on a folder of class
    sub-folders; per class: right, wrong disease named, unsure, refused; macro-F1 with unsure counted wrong. Folders
    of classes the bundle does not know (tungro, healthy, ...) are scored apart: how often one of its diseases is
    named for them."""
    from api.services.model_registry import BUNDLE_TASKS
    from api.services.photos import make_scorer
    from api.settings import get_settings
    from inference.bundle import BundleError, load_bundle
    from inference.errors import CropwatchError
    from inference.evaluation import class_folders

    try:
        meta = load_bundle(bundle_dir, verify=False).meta
    except (BundleError, FileNotFoundError, ValueError) as exc:
        fail(f"{bundle_dir} is not a model bundle: {exc}")
    # by what the model does, not its name: 1.0.0 and 1.1.0 are "field_photo_efficientnet_lite0" (whole-image
    # classification), refused as not field-photo bundles with a pointer to the drone commands
    if meta.get("task") not in BUNDLE_TASKS["field_photo"]:
        fail(f"{bundle_dir} is a {meta.get('task')} bundle ({meta.get('model_name')}); `models evaluate` scores "
             "field-photo bundles on photos (drone bundles are compared on their held-out scenes: cropwatch models "
             "compare drone_damage A B)")
    try:
        scorer = make_scorer(bundle_dir, get_settings())
    except CropwatchError as exc:
        fail(str(exc))
    folders = class_folders(data_dir, scorer.model.classes, _label_names(), unknown_folders or ())
    photos, unknown = folders.known, folders.unknown
    if split is not None:
        photos, unknown = _in_split(photos, data_dir, split), _in_split(unknown, data_dir, split)
    if not photos and not unknown:
        others = [*folders.ignored, *folders.misspelt]
        found = f" (its sub-folders: {', '.join(others)})" if others else " (it has no sub-folders)"
        fail(f"{data_dir} has no photos in sub-folders named {', '.join(scorer.model.classes)}{found}")
    m = _metrics(scorer, photos, unknown, network_only)
    m.update({k: v for k, v in (("ignored_folders", folders.ignored), ("read_as", folders.read_as),
                                ("misspelt", folders.misspelt)) if v})
    if as_json:
        typer.echo(json.dumps(m))
        return
    _print_report(m, f"bundle {scorer.model.bundle.name} {scorer.model.bundle.version} on {data_dir}")
    _notes(m, len(photos), bool((scorer.model.meta.get("training") or {}).get("extra_datasets")))


def _label_names() -> dict[str, str]:
    """Every name of every label -> the label: the seed registry's names and aliases, and the labels agronomists added
    (`cropwatch labels add`, /review/), so that a folder named after one is scored as a class the bundle lacks."""
    from api.services.labels import registry, seed

    with migrated_session() as session:
        added = list(registry(session).values())
    return {n: lab.name for lab in (*added, *seed()) for n in (lab.name, lab.name_vi, lab.name_en, *lab.aliases) if n}


def _metrics(scorer: Any, photos: list, unknown: list, network_only: bool) -> dict[str, Any]:
    """The evaluation's figures: the bundle's classes (none when no photo of them), the classes it does not know, the
    files that could not be read, its classes without photos, and how many photos it trained on."""
    from tqdm import tqdm

    bar = lambda it: tqdm(it, desc="scoring", unit="photo", file=sys.stderr)  # noqa: E731
    m: dict[str, Any] = (_evaluate(scorer, photos, network_only, bar) if photos
                         else {"mode": "network_only" if network_only else "pipeline", "n": 0, "accuracy": None,
                               "macro_f1": None, "per_class": {}, "totals": {}})
    if unknown:
        m["unknown_classes"], bad = _evaluate_unknown(scorer, unknown, network_only, bar)
        if bad:
            m["unreadable"] = list(m.get("unreadable") or []) + bad
    missing = sorted(set(scorer.model.classes) - {p.label for p in photos})
    if missing and photos:
        m["classes_without_photos"] = missing
    seen = _photos_in_training(scorer.model.meta, [p.path for p in photos])
    if seen is not None:
        m["photos_in_training"] = seen
    return m


def _evaluate(scorer: Any, photos: list, network_only: bool, bar: Any) -> dict:
    from inference.evaluation import evaluate_network, evaluate_pipeline

    if network_only:
        return evaluate_network(scorer.model, photos, bar, scorer.max_pixels)
    return evaluate_pipeline(scorer, photos, bar)


def _evaluate_unknown(scorer: Any, photos: list, network_only: bool, bar: Any) -> tuple[dict, list[dict[str, str]]]:
    """evaluate_unknown of the photos of classes the bundle does not know, and the files that could not be read."""
    from inference.evaluation import evaluate_unknown, network_answers, pipeline_answers

    unreadable: list[dict[str, str]] = []
    answers = (network_answers(scorer.model, bar(photos), unreadable, scorer.max_pixels) if network_only
               else pipeline_answers(scorer, bar(photos), unreadable))
    return evaluate_unknown(answers), unreadable


def _print_report(m: dict, title: str) -> None:
    from inference.evaluation import format_report, format_unknown

    if m["n"]:
        for line in format_report(m, f"{title} ({m['n']} photos)"):
            typer.echo(line)
    else:
        typer.echo(f"{title}: no photo of the bundle's own classes; mode {m['mode']}")
    if m.get("unknown_classes"):
        for line in format_unknown(m["unknown_classes"]):
            typer.echo(line)


def _notes(m: dict, n: int, trained_with_extras: bool) -> None:
    """What the figures of `models evaluate` rest on: folders ignored, files unreadable, classes without photos, a
    small sample, photos the bundle trained on (or that this cannot be told)."""
    for folder, label in m.get("read_as", {}).items():
        typer.echo(f"note: folder {folder!r} read as {label}")
    for folder, label in m.get("misspelt", {}).items():
        typer.echo(f"left out: folder {folder!r} looks like {label} misspelt: rename it if it is {label}; if it is "
                   f"another disease, score it with --unknown {folder!r}")
    if m.get("ignored_folders"):
        typer.echo(f"ignored folders (no photos, or no class of this bundle nor label of the registry; a disease the "
                   f"bundle does not know: --unknown NAME): {', '.join(m['ignored_folders'])}")
    for u in m.get("unreadable", []):
        typer.echo(f"unreadable, counted refused: {u['path']}: {u['error']}")
    if m.get("classes_without_photos"):
        typer.echo(f"note: no photos of {', '.join(m['classes_without_photos'])}: each counts as F1 0 in the macro-F1 "
                   "above; add photos of every class for a macro-F1 to compare")
    if 0 < n < 30:
        typer.echo(f"note: only {n} photos: one photo moves accuracy by {100 / n:.0f} points")
    seen = m.get("photos_in_training")
    if seen is None and trained_with_extras:
        typer.echo("note: this bundle was trained with extra folders: whether these photos were among them cannot be "
                   "told here; evaluate a feedback export with --split test, which training leaves out")
    if seen:
        typer.echo(f"WARNING: {seen} of {n} photos were in this bundle's training data (the same file "
                   "content): these figures are optimistic. Evaluate on photos it never saw, e.g. the frozen benchmark "
                   "(cropwatch models compare)")


def _in_split(photos: list, data_dir: Path, split: str) -> list:
    """The photos that data_dir/manifest.csv (a feedback export's) puts in `split`; fails without a manifest."""
    import csv

    man = data_dir / "manifest.csv"
    if not man.is_file():
        fail(f"--split needs {man}: the manifest of `cropwatch datasets export-feedback` that names each photo's split")
    with man.open(encoding="utf-8", newline="") as fh:
        keep = {(data_dir / r["path"]).resolve() for r in csv.DictReader(fh) if (r.get("split") or "train") == split}
    return [p for p in photos if Path(p.path).resolve() in keep]


def _photos_in_training(meta: dict, paths: list[Path]) -> int | None:
    """How many of `paths` (by file content) the bundle trained on, when its training data is the default manifest
    without the benchmark (its data_sha256 says so; the shipped field-photo bundles); None when that cannot be told
    (extra folders, a subset, another data root)."""
    import hashlib

    from datasets.benchmark import without_benchmark
    from datasets.field_photos import build_manifest, load_config, manifest_hash

    want = (meta.get("training") or {}).get("data_sha256")
    try:
        rows = without_benchmark(build_manifest(load_config())[0], "field_photo")
        if not want or not rows or manifest_hash(rows) != want:
            return None
    except (OSError, ValueError):
        return None
    trained = {hashlib.sha256(Path(r.path).read_bytes()).digest() for r in rows}
    return sum(hashlib.sha256(p.read_bytes()).digest() in trained for p in paths)


@app.command("activate")
def models_activate(
    task: Annotated[str, typer.Argument(help="field_photo or drone_damage")],
    version: Annotated[str, typer.Argument(help="version folder under the models folder (CROPWATCH_MODELS_DIR)")],
    reason: Annotated[str | None, typer.Option("--reason", help="why; recorded, required with --force")] = None,
    force: Annotated[bool, typer.Option("--force", help="promote although the comparison refused it, or "
                                                        "without one")] = False,
) -> None:
    """Promote a bundle version: checked, compared with the active one on the frozen benchmark (run `models compare`
    first), recorded in the database with who and why. Every running server serves it within seconds."""
    from api.services import model_registry as registry
    from api.settings import get_settings
    from inference.errors import CropwatchError

    settings = get_settings()
    with migrated_session() as session:
        try:
            row = registry.promote(session, task, version, settings.models_dir, settings.data_dir,
                                   actor=registry.cli_actor(), reason=reason, force=force)
        except CropwatchError as exc:
            fail(str(exc))
        typer.echo(f"active {task} model: {row.version} (was {row.previous_version}); activation #{row.id}"
                   + (" (forced)" if force else ""))


@app.command("rollback")
def models_rollback(
    task: Annotated[str, typer.Argument(help="field_photo or drone_damage")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Undo the newest switch: serve the version served before it (recorded like an activation)."""
    from api.services import model_registry as registry
    from api.settings import get_settings
    from inference.errors import CropwatchError

    with migrated_session() as session:
        try:
            row = registry.rollback(session, task, get_settings().models_dir, actor=registry.cli_actor(),
                                    reason=reason)
        except CropwatchError as exc:
            fail(str(exc))
        typer.echo(f"active {task} model: {row.version} (rolled back from {row.previous_version})")


@app.command("history")
def models_history(task: Annotated[str, typer.Argument(help="field_photo or drone_damage")]) -> None:
    """Who switched the served model, when, from and to which version, and why (newest first)."""
    from api.services import model_registry as registry
    from api.settings import get_settings
    from inference.errors import CropwatchError

    with migrated_session() as session:
        try:
            rows = registry.history(session, registry.check_task(task))
        except CropwatchError as exc:
            fail(str(exc))
        active = registry.active_version(session, task, get_settings().models_dir)
    typer.echo(f"active {task} model: {active}")
    for r in rows:
        typer.echo(f"#{r.id} {r.created_at:%Y-%m-%d %H:%M:%S}Z {r.action:<8} {r.previous_version} -> {r.version} "
                   f"by {r.actor}{' (forced)' if r.forced else ''}: {r.reason or ''}")


@app.command("compare")
def models_compare(
    task: Annotated[str, typer.Argument(help="field_photo")],
    version_a: Annotated[str, typer.Argument(help="usually the active version")],
    version_b: Annotated[str, typer.Argument(help="the candidate")],
    benchmark: Annotated[Path | None, typer.Option("--benchmark", help="a frozen benchmark manifest (default: "
                                                   "datasets/benchmarks/field_photo-v1.csv)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="folder for the plots (default: the comparison's "
                                             "folder under CROPWATCH_DATA_DIR/comparisons)")] = None,
) -> None:
    """Both versions through the served pipeline on the frozen benchmark: the side-by-side table per source and per
    class, plots, and whether B may replace A (worse by more than CROPWATCH_PROMOTION_MARGIN anywhere: refused)."""
    from api.cli.compare import run_compare

    run_compare(task, version_a, version_b, benchmark, out)
