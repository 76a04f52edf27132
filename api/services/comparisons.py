"""Two bundle versions through the served pipeline on the frozen benchmark: the side-by-side table, the plots and the
stored record the promotion gate reads. One path for `cropwatch models compare`, the models page and notebooks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.services import model_registry as registry
from api.settings import get_settings
from inference.errors import BadInput, CropwatchError, NotFound
from inference.metrics import counts_scores


def training_excludes(bundle_dir: Path, meta: dict[str, Any], rows: list[Any], benchmark: str) -> str:
    """Whether a bundle was trained without the benchmark's photos: from the benchmark it records as left out, or
    from its training manifest; unknown for a bundle with neither."""
    excluded = meta.get("training", {}).get("benchmark_excluded")
    if excluded is not None:
        if excluded.split("@")[0] == benchmark.split("@")[0]:
            return "yes"
        left_out = _benchmark_photos(excluded.split("@")[0])
        if rows and left_out and all(str(Path(r.path).resolve()) in left_out for r in rows):
            return f"yes (every photo is in {excluded}, which it left out)"
        return f"no (it left out {excluded})"
    if (bundle_dir / "manifest.csv").is_file():
        from datasets.field_photos import read_manifest

        trained = {str(Path(r.path).resolve()) for r in read_manifest(bundle_dir / "manifest.csv")
                   if r.split in ("train", "val")}
        n = sum(str(Path(r.path).resolve()) in trained for r in rows)
        return "yes (by its training manifest)" if n == 0 else f"no: {n} benchmark photos are in its training data"
    return "unknown: it may have trained on these photos, its figures may be optimistic"


def _benchmark_photos(name: str) -> set[str]:
    """The resolved paths of a frozen benchmark's photos, by its name (empty when no such file is shipped)."""
    from datasets.benchmark import benchmark_path, read_benchmark

    path = benchmark_path(name)
    return {str(Path(r.path).resolve()) for r in read_benchmark(path)} if path.is_file() else set()


@dataclass
class Comparison:
    record: dict[str, Any]  # what is stored and what the promotion gate reads
    lines: list[str]  # the printed report
    path: Path  # the stored record
    plots: Path  # folder of outcomes.png, coverage_accuracy.png, confusion_<version>.png


def compare(task: str, version_a: str, version_b: str, benchmark: Path | None = None, out: Path | None = None,
            progress: Callable[[Iterable[Any]], Iterable[Any]] = lambda it: it) -> Comparison:
    """Compare two versions of `task` on its frozen benchmark; store the record and draw the plots."""
    import numpy as np

    from api.services.photos import make_scorer
    from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_id, benchmark_path, read_benchmark
    from inference.evaluation import LabelledPhoto, compare_scorers, format_comparison, regressions
    from inference.plots import plot_comparison, plot_confusion, plot_coverage_accuracy

    if registry.check_task(task) == "drone_damage":
        return compare_drone(version_a, version_b, benchmark, out, progress)
    settings = get_settings()
    scorers = {}
    for v in (version_a, version_b):
        try:
            scorers[v] = make_scorer(settings.models_dir / task / registry.check_version_name(v), settings)
        except FileNotFoundError as exc:
            raise NotFound(f"{task} {v}: {exc}") from exc
        except CropwatchError as exc:
            raise type(exc)(f"{task} {v}: {exc}") from exc
    bench = benchmark or benchmark_path(DEFAULT_BENCHMARK[task])
    if not bench.is_file():
        raise NotFound(f"no benchmark manifest at {bench}")
    known = set(scorers[version_a].model.classes) & set(scorers[version_b].model.classes)
    rows = read_benchmark(bench)
    photos = [(r.source, LabelledPhoto(Path(r.path), r.label)) for r in rows if r.label in known]
    if not photos:
        raise BadInput(f"{bench} has no photo of a class both versions know ({', '.join(sorted(known))})")
    bid = benchmark_id(bench)
    cmp = compare_scorers(scorers, photos, progress)
    regs = regressions(cmp, version_a, version_b, settings.promotion_margin)
    lines = list(format_comparison(cmp, f"{task}: {version_a} against {version_b} on {bid} ({len(photos)} photos)"))
    lines += [f"{v} trained without the benchmark: {training_excludes(s.model.bundle.path, s.model.meta, rows, bid)}"
              for v, s in scorers.items()]
    if len(rows) > len(photos):
        lines.append(f"left out: {len(rows) - len(photos)} photos of classes one of the versions does not know")
    record = {"task": task, "active": version_a, "candidate": version_b, "benchmark": bid,
              "margin": settings.promotion_margin, "regressions": regs,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "versions": {v: {k: r[k] for k in ("all", "per_source")} for v, r in cmp["versions"].items()}}

    def draw(plots: Path) -> None:
        plot_comparison(cmp, plots / "outcomes.png")
        plot_coverage_accuracy(cmp, plots / "coverage_accuracy.png")
        for v, r in cmp["versions"].items():
            names = [*scorers[v].model.classes, "(no answer)"]
            plot_confusion(np.array(r["all"]["confusion_matrix"]), names, plots / f"confusion_{v}.png",
                           f"{v} on {bid}")

    return _store(record, lines, out, draw, "on any source or class")


def _store(record: dict[str, Any], lines: list[str], out: Path | None, draw: Callable[[Path], None],
           scope: str) -> Comparison:
    """Save the record where the promotion gate reads it, draw the plots beside it (or in `out`), and end the report
    with where they are and whether the candidate may replace the active version."""
    a, b, margin, regs = record["active"], record["candidate"], record["margin"], record["regressions"]
    frozen = registry.current_benchmark(record["task"])
    apart = record["benchmark"] if frozen is not None and record["benchmark"] != frozen else None
    path = registry.save_comparison(get_settings().data_dir, record["task"], a, b, record, apart)
    plots = out or path.with_suffix("")
    plots.mkdir(parents=True, exist_ok=True)
    draw(plots)
    (plots / "comparison.json").write_text(json.dumps(record, indent=1))
    lines.append(f"comparison: {path}; plots: {plots}")
    lines.append(f"{b} would be refused (margin {margin}): " + "; ".join(regs) if regs else
                 f"{b} may replace {a}: not worse by more than {margin} {scope}")
    if apart:
        lines.append(f"note: this comparison is on {apart}, not on the frozen benchmark {frozen}: it is kept apart and "
                     "does not count for promotion")
    return Comparison(record, lines, path, plots)


def stored(task: str, version_a: str, version_b: str) -> dict[str, Any]:
    """A stored comparison record, with the names of its plots."""
    path = registry.comparison_path(get_settings().data_dir, registry.check_task(task),
                                    registry.check_version_name(version_a), registry.check_version_name(version_b))
    if not path.is_file():
        raise NotFound(f"{task}: {version_a} and {version_b} were not compared; compare them first")
    rec = json.loads(path.read_text())
    rec["plots"] = sorted(p.name for p in path.with_suffix("").glob("*.png"))
    return rec


def compare_drone(version_a: str, version_b: str, benchmark: Path | None = None, out: Path | None = None,
                  progress: Callable[[Iterable[Any]], Iterable[Any]] = lambda it: it) -> Comparison:
    """Two drone damage bundles through the real raster pipeline on the benchmark's scenes (default: the held-out
    Bali scenes of drone_damage-v1; or a folder of labelled scenes from `export-drone-labels`): precision, recall and
    F1 of the damaged class per scene and pooled; a drop of more than the margin on any scene is a regression."""
    from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_id, benchmark_path, drone_scenes
    from datasets.drone import read_scenes

    settings = get_settings()
    bundles = {v: settings.models_dir / "drone_damage" / registry.check_version_name(v) for v in (version_a, version_b)}
    for v, d in bundles.items():
        if not (d / "model.json").is_file():
            raise NotFound(f"drone_damage {v}: no bundle at {d}")
    bench = benchmark or benchmark_path(DEFAULT_BENCHMARK["drone_damage"])
    if bench.is_dir():  # labelled real flights
        scenes, bid = read_scenes(bench, 0.0), f"{bench.name}@labelled-scenes"
    else:
        scenes, bid = drone_scenes(bench, settings.data_dir / "benchmarks"), benchmark_id(bench)
    if not scenes:  # nothing compared says nothing: never "may replace"
        raise BadInput(f"the benchmark {bench} holds no labelled scene; give a folder from `cropwatch datasets "
                       "export-drone-labels`, or leave --benchmark out for the held-out Bali scenes")
    per, totals = _score_scenes(bundles, scenes, settings.data_dir / "comparisons" / ".work", progress)
    pooled = {v: counts_scores(*totals[v]) for v in bundles}
    versions = {v: {"all": {**pooled[v], "macro_f1": pooled[v]["f1"]}, "per_source": per[v]} for v in bundles}
    margin = settings.promotion_margin
    regs = [f"{name}: F1 {per[version_a][name]['f1']} -> {per[version_b][name]['f1']}" for name in per[version_a]
            if per[version_b][name]["f1"] < per[version_a][name]["f1"] - margin]
    lines = [f"drone_damage: {version_a} against {version_b} on {bid} ({len(scenes)} scenes, damaged class)",
             f"{'scene':<24}{version_a:>26}{version_b:>26}", f"{'':<24}{'F1  precision  recall':>26}"
             f"{'F1  precision  recall':>26}"]
    for name in [*per[version_a], "all (pooled)"]:
        cells = [versions[v]["all"] if name == "all (pooled)" else per[v][name] for v in bundles]
        lines.append(f"{name:<24}" + "".join(f"{c['f1']:>8.3f}{c['precision']:>10.3f}{c['recall']:>8.3f}"
                                             for c in cells))
    record = {"task": "drone_damage", "active": version_a, "candidate": version_b, "benchmark": bid,
              "margin": margin, "regressions": regs, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "versions": versions}
    return _store(record, lines, out, lambda plots: _plot_drone(versions, plots / "outcomes.png", bid),
                  "F1 on any scene")


def _score_scenes(bundles: dict[str, Path], scenes: list[Any], work: Path,
                  progress: Callable[[Iterable[Any]], Iterable[Any]]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Per version: damage scores per scene, and tp/fp/fn pooled over the scenes (damage probability >= 50)."""
    import shutil

    import rasterio

    from datasets.drone import CLASSES, IGNORE, label_raster
    from inference.drone import DamageModel, analyze_orthomosaic
    from inference.metrics import damage_counts

    per: dict[str, dict[str, Any]] = {v: {} for v in bundles}
    totals = {v: [0, 0, 0] for v in bundles}
    for s in progress(scenes):
        truth = label_raster(s.tif, s.labels)
        valid, damaged = truth != IGNORE, truth == CLASSES.index("damaged")
        for v, d in bundles.items():
            analyze_orthomosaic(s.tif, work / v / s.name, damage_model=DamageModel(d))
            with rasterio.open(work / v / s.name / "damage.tif") as ds:
                dmg = ds.read(1)
            pred = (dmg >= 50) & (dmg != 255)
            counts = damage_counts(pred, damaged, valid)
            per[v][s.name] = counts_scores(*counts)
            totals[v] = [a + b for a, b in zip(totals[v], counts, strict=True)]
    shutil.rmtree(work, ignore_errors=True)
    return per, totals


def _plot_drone(versions: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(versions.values()))["per_source"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(names), 3.2))
    width = 0.8 / len(versions)
    for i, (v, r) in enumerate(versions.items()):
        ax.bar([k + i * width for k in range(len(names))], [r["per_source"][n]["f1"] for n in names], width, label=v)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(names))], names, rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("damage F1")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
