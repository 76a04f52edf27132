"""`cropwatch models compare`: two bundle versions through the served pipeline on a frozen benchmark."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from api.cli.common import fail


def training_excludes(bundle_dir: Path, meta: dict[str, Any], rows: list[Any], benchmark: str) -> str:
    """Whether a bundle was trained without the benchmark's photos: from the benchmark it records as left out, or
    from its training manifest; unknown for a bundle with neither."""
    excluded = meta.get("training", {}).get("benchmark_excluded")
    if excluded is not None:
        return "yes" if excluded.split("@")[0] == benchmark.split("@")[0] else f"no (it left out {excluded})"
    if (bundle_dir / "manifest.csv").is_file():
        from datasets.field_photos import read_manifest

        trained = {str(Path(r.path).resolve()) for r in read_manifest(bundle_dir / "manifest.csv")
                   if r.split in ("train", "val")}
        n = sum(str(Path(r.path).resolve()) in trained for r in rows)
        return "yes (by its training manifest)" if n == 0 else f"no: {n} benchmark photos are in its training data"
    return "unknown: it may have trained on these photos, its figures may be optimistic"


def run_compare(task: str, version_a: str, version_b: str, benchmark: Path | None, out: Path | None) -> None:
    import numpy as np
    from tqdm import tqdm

    from api.services import model_registry as registry
    from api.services.photos import make_scorer
    from api.settings import get_settings
    from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_id, benchmark_path, read_benchmark
    from inference.errors import CropwatchError
    from inference.evaluation import LabelledPhoto, compare_scorers, format_comparison, regressions
    from inference.plots import plot_comparison, plot_confusion, plot_coverage_accuracy

    if task != "field_photo":
        fail(f"compare works for field_photo; {task} has no frozen benchmark yet")
    settings = get_settings()
    scorers = {}
    for v in (version_a, version_b):
        try:
            scorers[v] = make_scorer(settings.models_dir / task / registry.check_version_name(v), settings)
        except (CropwatchError, FileNotFoundError) as exc:
            fail(f"{task} {v}: {exc}")
    bench = benchmark or benchmark_path(DEFAULT_BENCHMARK[task])
    if not bench.is_file():
        fail(f"no benchmark manifest at {bench}")
    known = set(scorers[version_a].model.classes) & set(scorers[version_b].model.classes)
    rows = read_benchmark(bench)
    photos = [(r.source, LabelledPhoto(Path(r.path), r.label)) for r in rows if r.label in known]
    if not photos:
        fail(f"{bench} has no photo here of a class both versions know ({', '.join(sorted(known))})")
    bid = benchmark_id(bench)
    bar = lambda it: tqdm(it, desc="scoring", unit="photo", file=sys.stderr, total=len(photos))  # noqa: E731
    cmp = compare_scorers(scorers, photos, bar)
    regs = regressions(cmp, version_a, version_b, settings.promotion_margin)
    for line in format_comparison(cmp, f"{task}: {version_a} against {version_b} on {bid} ({len(photos)} photos)"):
        typer.echo(line)
    for v, s in scorers.items():
        typer.echo(f"{v} trained without the benchmark: "
                   f"{training_excludes(s.model.bundle.path, s.model.meta, rows, bid)}")
    if len(rows) > len(photos):
        typer.echo(f"left out: {len(rows) - len(photos)} photos of classes one of the versions does not know")
    record = {"task": task, "active": version_a, "candidate": version_b, "benchmark": bid,
              "margin": settings.promotion_margin, "regressions": regs,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "versions": {v: {k: r[k] for k in ("all", "per_source")} for v, r in cmp["versions"].items()}}
    path = registry.save_comparison(settings.data_dir, task, version_a, version_b, record)
    plots = out or path.with_suffix("")
    plots.mkdir(parents=True, exist_ok=True)
    plot_comparison(cmp, plots / "outcomes.png")
    plot_coverage_accuracy(cmp, plots / "coverage_accuracy.png")
    for v, r in cmp["versions"].items():
        names = [*scorers[v].model.classes, "(no answer)"]
        plot_confusion(np.array(r["all"]["confusion_matrix"]), names, plots / f"confusion_{v}.png", f"{v} on {bid}")
    (plots / "comparison.json").write_text(json.dumps(record, indent=1))
    typer.echo(f"comparison: {path}; plots: {plots}")
    if regs:
        typer.echo(f"{version_b} would be refused (margin {settings.promotion_margin}): " + "; ".join(regs))
    else:
        typer.echo(f"{version_b} may replace {version_a}: not worse by more than {settings.promotion_margin} on any "
                   "source or class")
