"""Field-photo designs tried for issue #10 under leave one source out and not kept, reproducible side by side with
the served design (1.7.0's LesionPatchConfig) in one run:

    python -m models.photo_design_trials
        [--trial leaf_fusion|mil_background|flip_tta|finetuned_leaf|feature_centring|head_types|off_leaf_background|all]
        [--max-images N]

- leaf_fusion: the issue's "lesion votes pooled per leaf and fused with the leaf model". A whole-leaf head (the leaf
  found by the candidate rule at the working size, the background neutralised, the leaf cropped, turned long side
  horizontal and letterboxed to 224 px; frozen EfficientNet-Lite0 features, the patch model's taps, averaged with a
  horizontally flipped copy; standardisation and a class-balanced logistic regression) trained on the same source as
  the patch head; each photo's pooled patch log-probabilities plus w x the leaf head's log-probabilities.
- mil_background: for a source without lesion boxes (Sethy -> roboflow, where the patch head has no background
  class), a background class learnt from the photo labels alone: a head trained on every candidate as its photo's
  disease, then, for `iters` rounds, each photo's candidates whose probability of the photo's disease is under `frac`
  x its best candidate's are relabelled background and the head trained again. The abstain rules are chosen on
  Sethy's grouped out-of-fold predictions with the same relabelling inside each fold.
- flip_tta: test-time augmentation: every candidate patch also mirrored left-right (and upside down), the patch
  probabilities and kNN distances averaged over the copies before pooling, in the rules' out-of-fold predictions too.
- finetuned_leaf: the leaf model fine-tuned, not frozen: the whole-image network of 1.1.0's recipe
  (models.field_photo.train: EfficientNet-Lite0 at 224 px, its last 6 blocks trained, background swap, leaf crop,
  early stop on the training source's own validation photos) trained on one source, beside the patch model trained
  on the same source; fused as leaf_fusion (log-probabilities, weight w), and as a gate: answer only where the two
  models name the same disease (with the patch rules, or with the network's confidence alone).
- feature_centring: each patch's network features minus alpha x the mean of its photo's candidate patches (a shift
  common to a photo's patches, its camera's or source's, cancelled per photo), in training and testing.
- head_types: other heads over the same frozen patch features: a class-balanced kNN vote (background patches
  included), the nearest class mean (cosine, softmax at a temperature), and the served logistic regression averaged
  with the nearest mean.
- off_leaf_background: background patches cut beyond each training photo's leaf (straw, soil, hands: the candidate
  rule's lesion colours off the leaf) added as the background class, to the Sethy head (no background class without
  lesion boxes) and to both.

Measured on 2026-12-02 and 2026-12-03 (392 photos outside the frozen benchmark): CHANGELOG and
models/field_photo/1.7.0/EVALUATION.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from unittest import mock

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from datasets.field_photos import DEFAULT_DATA_ROOT
from inference.lesion_patches import GREY, leaf_and_candidates, neutralise_background
from inference.metrics import classification_metrics
from inference.photo_io import decode_rgb
from models.lesion_patch import PATCH_MEAN, PATCH_STD, PatchFeatures, PatchHead, embed
from models.lesion_patch_pipeline import (
    Data,
    LesionPatchConfig,
    Patches,
    Pooled,
    choose_rules,
    fit_head,
    grouped_folds,
    load_data,
    pool_photos,
    predict_photos,
    report,
    rules_for,
    sethy_head,
)

LEAF_PX = 224


def leaf_image(path: str, cfg: LesionPatchConfig, size: int = LEAF_PX) -> np.ndarray:
    """The photo's leaf as the leaf head sees it: background neutralised, cropped to the leaf, long side horizontal,
    letterboxed (grey) to size x size. With fewer than 50 leaf pixels found there is no crop: the whole neutralised
    image, mostly grey (as measured on 2026-12-02)."""
    rgb = decode_rgb(path, cfg.working_short_side)
    leaf, _ = leaf_and_candidates(rgb)
    src = neutralise_background(rgb, leaf)
    ys, xs = np.nonzero(leaf)
    crop = src[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] if len(ys) >= 50 else src
    if crop.shape[0] > crop.shape[1]:
        crop = np.ascontiguousarray(np.rot90(crop))
    h, w = crop.shape[:2]
    r = cv2.resize(crop, (size, max(1, min(size, round(h * size / w)))), interpolation=cv2.INTER_AREA)
    out = np.full((size, size, 3), GREY, np.uint8)
    y0 = (size - r.shape[0]) // 2
    out[y0 : y0 + r.shape[0]] = r
    return out


def leaf_features(d: Data, cfg: LesionPatchConfig) -> np.ndarray:
    """(photos, features): the leaf image and its mirror through the frozen patch network, averaged."""
    net = PatchFeatures(backbone=cfg.backbone)
    rows = []
    for r in tqdm(d.rows, desc="leaf features", unit="photo"):
        im = leaf_image(r.path, cfg)
        batch = (np.stack([im, im[:, ::-1]]).astype(np.float32) / 255 - PATCH_MEAN) / PATCH_STD
        rows.append(embed(net, np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).mean(0))
    return np.stack(rows)


def leaf_head(L: np.ndarray, y: np.ndarray, imgs: np.ndarray, C: float) -> Callable[[np.ndarray], np.ndarray]:
    """A whole-leaf head trained on the photos `imgs`; returns photos -> log-probabilities."""
    sc = StandardScaler().fit(L[imgs])
    lr = LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(sc.transform(L[imgs]), y[imgs])
    return lambda te: np.log(lr.predict_proba(sc.transform(L[te])) + 1e-9)


def directions(d: Data, cfg: LesionPatchConfig) -> dict[str, tuple[np.ndarray, np.ndarray, PatchHead]]:
    """name -> (training photos, test photos, the served design's patch head for that direction)."""
    allc = list(range(len(d.classes)))
    R, S = np.where(d.src == "roboflow")[0], np.where(d.src == "sethy2020")[0]
    return {"roboflow -> Sethy": (R, S, fit_head(d, R, allc, cfg)),
            "Sethy -> roboflow": (S, R, sethy_head(d, S, cfg))}


def trial_leaf_fusion(d: Data, cfg: LesionPatchConfig, max_images: int | None = None,
                      weights: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0),
                      Cs: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03)) -> None:
    L = leaf_features(d, cfg)
    mf1 = lambda y, pred: classification_metrics(y, pred, d.classes)["macro_f1"]  # noqa: E731
    print("\nleaf_fusion: leave-one-source-out macro-F1 (likeliest disease, every photo)")
    print(f"{'direction':<18} {'leaf C':>7} {'patches':>8} {'leaf':>6} " + " ".join(f"{'w=' + str(w):>7}" for w in weights))
    for name, (tr, te, head) in directions(d, cfg).items():
        p = predict_photos(d, head, te, len(d.classes), cfg)
        y = d.y[te]
        for C in Cs:
            lq = leaf_head(L, d.y, tr, C)(te)
            fused = [mf1(y, (p.logq + w * lq).argmax(1)) for w in weights]
            print(f"{name:<18} {C:>7} {mf1(y, p.logq.argmax(1)):>8.3f} {mf1(y, lq.argmax(1)):>6.3f} "
                  + " ".join(f"{v:>7.3f}" for v in fused))


def mil_head(d: Data, imgs: np.ndarray, cfg: LesionPatchConfig, frac: float, iters: int) -> PatchHead:
    """A head with a background class learnt from the photo labels of `imgs` alone (the module's docstring)."""
    n = len(d.classes)
    m = np.isin(d.cands.img, imgs)
    X, im = d.cands.X[m], d.cands.img[m]
    own = d.y[im]
    head = PatchHead(C=cfg.C, k=cfg.knn_k, colour_weight=cfg.colour_weight).fit(X, own, background=None)
    for _ in range(iters):
        s = head.proba(X, n + 1)[np.arange(len(own)), own]
        best = np.zeros(len(d.y))
        np.maximum.at(best, im, s)
        t = np.where(s < frac * best[im], n, own)
        head = PatchHead(C=cfg.C, k=cfg.knn_k, colour_weight=cfg.colour_weight).fit(X, t, background=n)
    return head


def oof_rules(d: Data, imgs: np.ndarray, cfg: LesionPatchConfig, fit: Callable[[np.ndarray], PatchHead]):
    n, y = len(d.classes), d.y[imgs]
    out = Pooled(np.zeros((len(imgs), n)), np.zeros(len(imgs)), np.zeros(len(imgs)), np.zeros(len(imgs), bool))
    for tr, te in grouped_folds(y, d.grp[imgs], cfg.seed):
        p = predict_photos(d, fit(imgs[tr]), imgs[te], n, cfg)
        out.logq[te], out.dist[te], out.colour[te], out.found[te] = p.logq, p.dist, p.colour, p.found
    return choose_rules(out, y, cfg)


def trial_mil_background(d: Data, cfg: LesionPatchConfig, max_images: int | None = None) -> None:
    S, R = np.where(d.src == "sethy2020")[0], np.where(d.src == "roboflow")[0]
    n = len(d.classes)
    print("\nmil_background: Sethy -> roboflow (rules chosen on Sethy's grouped out-of-fold predictions)")
    print(f"{'head':<28} {'macro-F1':>8} {'answered':>8} {'acc. of answered':>16} {'ECE':>6}")
    r = report(predict_photos(d, sethy_head(d, S, cfg), R, n, cfg), d.y[R], rules_for(d, S, list(range(n)), cfg),
               d.classes)
    print(f"{'served design (no background)':<28} {r['macro_f1']:>8.3f} {r['answered']:>8.3f} "
          f"{r['answered_accuracy'] or 0:>16.3f} {r['ece']:>6.3f}")
    for frac in (0.3, 0.5, 0.7):
        for iters in (1, 2):
            fit = lambda imgs, f=frac, k=iters: mil_head(d, imgs, cfg, f, k)  # noqa: E731
            r = report(predict_photos(d, fit(S), R, n, cfg), d.y[R], oof_rules(d, S, cfg, fit), d.classes)
            print(f"{f'frac {frac}, {iters} round(s)':<28} {r['macro_f1']:>8.3f} {r['answered']:>8.3f} "
                  f"{r['answered_accuracy'] or 0:>16.3f} {r['ece']:>6.3f}")


def flipped_candidates(cfg: LesionPatchConfig, data_root, max_images: int | None, axis: int) -> np.ndarray:
    """The candidate patches' features of every photo with each patch mirrored along `axis` (3: left-right, 2: upside
    down), in the order of load_data's."""
    import models.lesion_patch_pipeline as pipeline

    def mirrored(model: PatchFeatures, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return embed(model, np.ascontiguousarray(np.flip(batch, axis)), batch_size)

    with mock.patch.object(pipeline, "embed", mirrored):
        return load_data(cfg, data_root, max_images).cands.X


def tta_predict(copies: list[np.ndarray]) -> Callable[..., Pooled]:
    """predict_photos with the patch probabilities and kNN distances averaged over `copies` of the candidates'
    features (the first: d.cands.X)."""

    def predict(d: Data, head: PatchHead, imgs: np.ndarray, n_cls: int, cfg: LesionPatchConfig) -> Pooled:
        m = np.isin(d.cands.img, imgs)
        P = np.mean([head.proba(X[m], n_cls + 1) for X in copies], 0)
        knn = np.mean([head.knn_distance(X[m]) for X in copies], 0)
        D = np.stack([knn, head.colour_distance(d.cands.X[m])], 1)
        return pool_photos(d, imgs, m, P, D, n_cls, cfg)

    return predict


def trial_flip_tta(d: Data, cfg: LesionPatchConfig, max_images: int | None = None) -> None:
    import models.lesion_patch_pipeline as pipeline

    lr = flipped_candidates(cfg, DEFAULT_DATA_ROOT, max_images, 3)
    ud = flipped_candidates(cfg, DEFAULT_DATA_ROOT, max_images, 2)
    n, allc = len(d.classes), list(range(len(d.classes)))
    print("\nflip_tta: leave one source out, macro-F1 / answered / accuracy of answered")
    for name, copies in (("served design", [d.cands.X]), ("+ left-right", [d.cands.X, lr]),
                         ("+ left-right + upside down", [d.cands.X, lr, ud])):
        cells = []
        with mock.patch.object(pipeline, "predict_photos", tta_predict(copies)):
            for tr, te, head in directions(d, cfg).values():
                r = report(pipeline.predict_photos(d, head, te, n, cfg), d.y[te], pipeline.rules_for(d, tr, allc, cfg),
                           d.classes)
                cells.append(f"{r['macro_f1']:.3f} / {r['answered']:.3f} / {r['answered_accuracy'] or 0:.3f}")
        print(f"{name:<28} roboflow -> Sethy {cells[0]}   Sethy -> roboflow {cells[1]}")


def gated_answers(patch_probs: np.ndarray, leaf_probs: np.ndarray, rule: np.ndarray, y: np.ndarray,
                  leaf_confidence: float = 0.8) -> dict[str, tuple[float, float | None]]:
    """gate -> (share answered, accuracy of the patch model's answers there) for the patch rules alone, the rules where
    the two models name the same disease, agreement alone, and agreement with the leaf network's probability at least
    `leaf_confidence`."""
    agree = patch_probs.argmax(1) == leaf_probs.argmax(1)
    right = patch_probs.argmax(1) == y
    gates = {"patch rules": rule, "patch rules and agreement": rule & agree, "agreement": agree,
             f"agreement, leaf >= {leaf_confidence:g}": agree & (leaf_probs.max(1) >= leaf_confidence)}
    return {k: (round(float(g.mean()), 3), round(float(right[g].mean()), 3) if g.any() else None)
            for k, g in gates.items()}


def trial_finetuned_leaf(d: Data, cfg: LesionPatchConfig, max_images: int | None = None,
                         weights: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)) -> None:
    from models.field_photo import FieldPhotoTrainConfig, serving_meta, train
    from models.field_photo_pipeline import evaluate_model

    tcfg = FieldPhotoTrainConfig(epochs=12, max_train_images=max_images)
    meta = serving_meta(d.classes, tcfg.input_size, tcfg.leaf_crop, tcfg.white_balance)
    n, allc = len(d.classes), list(range(len(d.classes)))
    mf1 = lambda y, pred: classification_metrics(y, pred, d.classes)["macro_f1"]  # noqa: E731
    print("\nfinetuned_leaf: leave one source out, the leaf network fine-tuned on the training source")
    for name, (tr, te, head) in directions(d, cfg).items():
        rows = [d.rows[i] for i in tr]
        net = train([r for r in rows if r.split == "train"], [r for r in rows if r.split != "train"], d.classes, tcfg,
                    progress=tqdm).model
        leaf = evaluate_model(net, [d.rows[i] for i in te], d.classes, meta, 1.0, tcfg.cache_short_side)["probs"]
        rules, p, y = rules_for(d, tr, allc, cfg), predict_photos(d, head, te, n, cfg), d.y[te]
        fused = "  ".join(f"w={w} {mf1(y, (p.logq + w * np.log(leaf + 1e-9)).argmax(1)):.3f}" for w in weights)
        print(f"{name}: macro-F1 leaf network {mf1(y, leaf.argmax(1)):.3f}, patches {mf1(y, p.logq.argmax(1)):.3f}, "
              f"fused {fused}")
        for gate, (share, acc) in gated_answers(np.exp(p.logq), leaf, rules.answered(p), y).items():
            print(f"   {gate:<28} answered {share:.3f}, accuracy {acc if acc is not None else float('nan'):.3f}")


def trial_finetuned_leaf_insource(d: Data, cfg: LesionPatchConfig, max_images: int | None = None,
                                  weights: tuple[float, ...] = (0.25, 0.5, 1.0)) -> None:
    """finetuned_leaf within the sources: grouped 5-fold out-of-fold predictions of both models (the patch model's
    folds trained as the final model is, insource_oof), fused, and the abstain rules chosen on them as the card's
    in-source figures are (choose_rules; `nested` judges them on folds they were not chosen on)."""
    from models.field_photo import FieldPhotoTrainConfig, serving_meta, train
    from models.field_photo_pipeline import evaluate_model
    from models.lesion_patch_pipeline import insource_oof, nested_rule_report

    tcfg = FieldPhotoTrainConfig(epochs=12, max_train_images=max_images)
    meta = serving_meta(d.classes, tcfg.input_size, tcfg.leaf_crop, tcfg.white_balance)
    leaf = np.zeros((len(d.y), len(d.classes)))
    for tr, te in tqdm(list(grouped_folds(d.y, d.grp, cfg.seed)), desc="folds"):
        rows = [d.rows[i] for i in tr]
        net = train([r for r in rows if r.split == "train"], [r for r in rows if r.split != "train"], d.classes,
                    tcfg).model
        leaf[te] = evaluate_model(net, [d.rows[i] for i in te], d.classes, meta, 1.0, tcfg.cache_short_side)["probs"]
    p = insource_oof(d, cfg)
    print("\nfinetuned_leaf_insource: grouped 5-fold, both sources (macro-F1 of the likeliest; unsure and accuracy of "
          "answered with rules chosen on the same predictions; nested: on other folds')")
    print(f"leaf network alone: macro-F1 {classification_metrics(d.y, leaf.argmax(1), d.classes)['macro_f1']:.3f}")
    for name, q in [("patches (1.7.0's design)", p)] + [
            (f"patches + {w} x leaf", Pooled(p.logq + w * np.log(leaf + 1e-9), p.dist, p.colour, p.found))
            for w in weights]:
        r = report(q, d.y, choose_rules(q, d.y, cfg), d.classes)
        nested = nested_rule_report(q, d.y, d.grp, cfg)
        print(f"{name:<26} macro-F1 {r['macro_f1']:.3f}, unsure {r['unsure']:.3f} (accuracy of answered "
              f"{r['answered_accuracy'] or 0:.3f}); nested unsure {nested['unsure']:.3f} "
              f"({nested['answered_accuracy'] or 0:.3f})")


def centred(d: Data, alpha: float) -> Data:
    """d with every patch's network features (not its 4 lesion-colour values, already relative to the photo's own
    leaf) minus alpha x the mean of its photo's candidate patches: a camera's or a source's shift common to all of a
    photo's patches cancels, per photo, as it would in serving (no other photo needed). A lesion box's photo without
    candidates uses its boxes' mean."""
    from dataclasses import replace

    from models.lesion_patch import N_COLOUR

    n = len(d.y)
    net = d.cands.X.shape[1] - N_COLOUR
    mean = np.zeros((n, net), np.float64)
    count = np.bincount(d.cands.img, minlength=n).astype(float)
    np.add.at(mean, d.cands.img, d.cands.X[:, :net])
    box_mean = np.zeros_like(mean)
    np.add.at(box_mean, d.boxes.img, d.boxes.X[:, :net])
    box_count = np.bincount(d.boxes.img, minlength=n).astype(float)
    mean = np.where(count[:, None] > 0, mean / np.maximum(count, 1)[:, None],
                    box_mean / np.maximum(box_count, 1)[:, None])

    def shift(p: Patches) -> Patches:
        X = p.X.copy()
        X[:, :net] -= (alpha * mean[p.img]).astype(X.dtype)
        return replace(p, X=X)

    return replace(d, boxes=shift(d.boxes), cands=shift(d.cands))


def trial_feature_centring(d: Data, cfg: LesionPatchConfig, max_images: int | None = None,
                           alphas: tuple[float, ...] = (0.0, 0.5, 0.75, 1.0)) -> None:
    """Leave one source out with each photo's patch features centred on its own candidates' mean (alpha 0: served)."""
    allc = list(range(len(d.classes)))
    print("\nfeature_centring: leave one source out, macro-F1 / answered / accuracy of answered / ECE")
    for alpha in alphas:
        dc = centred(d, alpha)
        cells = []
        for tr, te, head in directions(dc, cfg).values():
            r = report(predict_photos(dc, head, te, len(d.classes), cfg), d.y[te], rules_for(dc, tr, allc, cfg),
                       d.classes)
            cells.append(f"{r['macro_f1']:.3f} / {r['answered']:.3f} / {r['answered_accuracy'] or 0:.3f} / {r['ece']:.3f}")
        print(f"alpha {alpha:<5} roboflow -> Sethy {cells[0]}   Sethy -> roboflow {cells[1]}", flush=True)


@dataclass
class NearestMeanHead(PatchHead):
    """The served head's scaler and kNN bank, but class probabilities from the cosine similarity to each patch
    class's mean (standardised, L2-normalised features), softmax at temperature `tau`; `mix` > 0 averages them with
    the logistic regression's (1 - mix) x LR + mix x nearest mean."""

    tau: float = 0.1
    mix: float = 1.0
    means: np.ndarray | None = None
    classes_: np.ndarray | None = None

    def fit(self, X: np.ndarray, t: np.ndarray, background: int | None) -> NearestMeanHead:
        super().fit(X, t, background)
        Z = self._unit(X)
        self.classes_ = np.unique(t)
        m = np.stack([Z[t == c].mean(0) for c in self.classes_])
        self.means = m / np.linalg.norm(m, axis=1, keepdims=True)
        return self

    def _unit(self, X: np.ndarray) -> np.ndarray:
        Z = self.scaler.transform(X)
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)

    def proba(self, X: np.ndarray, n_out: int) -> np.ndarray:
        assert self.means is not None and self.classes_ is not None
        s = self._unit(X) @ self.means.T / self.tau
        p = np.exp(s - s.max(1, keepdims=True))
        out = np.zeros((len(X), n_out))
        out[:, self.classes_] = p / p.sum(1, keepdims=True)
        return out if self.mix >= 1 else (1 - self.mix) * super().proba(X, n_out) + self.mix * out


@dataclass
class KnnVoteHead(PatchHead):
    """Class probabilities from the `votes` nearest training patches of every class (background included; cosine
    similarity of standardised features), each vote weighted by 1 / its class's share of the training patches."""

    votes: int = 10
    train: np.ndarray | None = None
    labels: np.ndarray | None = None

    def fit(self, X: np.ndarray, t: np.ndarray, background: int | None) -> KnnVoteHead:
        super().fit(X, t, background)
        Z = self.scaler.transform(X)
        self.train, self.labels = (Z / np.linalg.norm(Z, axis=1, keepdims=True)).astype(np.float32), t
        return self

    def proba(self, X: np.ndarray, n_out: int) -> np.ndarray:
        assert self.train is not None and self.labels is not None
        Z = self.scaler.transform(X)
        near = np.argpartition(-(Z / np.linalg.norm(Z, axis=1, keepdims=True)) @ self.train.T, self.votes, 1)
        lab = self.labels[near[:, : self.votes]]
        out = np.full((len(X), n_out), 1e-3)
        for c in np.unique(self.labels):
            out[:, c] += (lab == c).sum(1) / np.mean(self.labels == c)
        return out / out.sum(1, keepdims=True)


HEAD_TYPES: dict[str, Callable[..., PatchHead]] = {
    "logistic regression (served)": PatchHead,
    "kNN vote, k 10": partial(KnnVoteHead, votes=10), "kNN vote, k 25": partial(KnnVoteHead, votes=25),
    "nearest class mean, tau 0.05": partial(NearestMeanHead, tau=0.05),
    "nearest class mean, tau 0.1": partial(NearestMeanHead, tau=0.1),
    "0.7 LR + 0.3 nearest mean": partial(NearestMeanHead, tau=0.1, mix=0.3),
    "0.5 LR + 0.5 nearest mean": partial(NearestMeanHead, tau=0.1, mix=0.5),
}


def trial_head_types(d: Data, cfg: LesionPatchConfig, max_images: int | None = None) -> None:
    """Leave one source out with another head over the same frozen patch features (pipeline's evaluate_loso, its
    rules chosen on the training source as served)."""
    from models import lesion_patch_pipeline as pipeline

    print("\nhead_types: leave one source out, macro-F1 / answered / accuracy of answered / ECE")
    for name, head in HEAD_TYPES.items():
        with mock.patch.object(pipeline, "PatchHead", head):
            out = pipeline.evaluate_loso(d, cfg)
        cells = [f"{r['macro_f1']:.3f} / {r['answered']:.3f} / {r['answered_accuracy'] or 0:.3f} / {r['ece']:.3f}"
                 for r in out.values()]
        print(f"{name:<30} roboflow -> Sethy {cells[0]}   Sethy -> roboflow {cells[1]}", flush=True)


def off_leaf_patches(d: Data, cfg: LesionPatchConfig) -> tuple[np.ndarray, np.ndarray]:
    """(features, photo index) of background patches cut beyond each photo's leaf: the candidate rule's lesion
    colours (yellow-brown, grey-white, dark) off the leaf and 3 px clear of it, not green, lit, not paper (straw,
    soil, hands, stubble), at most 6 parts a photo, cut and measured as candidates are."""
    from inference.lesion_patches import (
        GREEN_HSV,
        PAPER_HSV,
        box_patches,
        components,
        leaf_reference,
        lesion_colour,
        lesion_colours,
        to_batch,
    )
    from models.lesion_patch_pipeline import with_colour

    emb = d.embedder(cfg)
    xs, imgs = [], []
    for i, r in enumerate(tqdm(d.rows, desc="off-leaf patches", unit="photo")):
        rgb = decode_rgb(r.path, cfg.working_short_side)
        leaf, lesion = leaf_and_candidates(rgb)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        near = cv2.dilate(leaf.view(np.uint8), np.ones((7, 7), np.uint8)) > 0
        region = (lesion_colours(hsv) > 0) & (cv2.inRange(hsv, *GREEN_HSV) == 0) & ~near & \
            (cv2.inRange(hsv, (0, 0, 31), (255, 255, 255)) > 0) & (cv2.inRange(hsv, *PAPER_HSV) == 0)
        region = cv2.morphologyEx(region.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        ref = leaf_reference(lab, leaf, lesion)
        for c in components(region, 6, 4 * cfg.min_component_fraction):
            col = lesion_colour(lab, region, ref, (c.x0, c.y0, c.x1, c.y1))
            if col is not None:
                ps = box_patches(rgb, (c.x0, c.y0, c.x1, c.y1), cfg.patch_px, cfg.context)
                xs.append(with_colour(emb(to_batch(ps, PATCH_MEAN, PATCH_STD)), col, cfg))
                imgs += [i] * len(ps)
    return np.concatenate(xs), np.array(imgs, int)


def trial_off_leaf_background(d: Data, cfg: LesionPatchConfig, max_images: int | None = None) -> None:
    """Leave one source out with background patches from beyond the leaf added to training (the training photos'
    own): to the Sethy head, which has no background class without lesion boxes, and to both."""
    from models import lesion_patch_pipeline as pipeline

    BX, BI = off_leaf_patches(d, cfg)
    print(f"\noff_leaf_background: {len(BX)} patches ({int((d.src[BI] == 'sethy2020').sum())} Sethy); leave one source "
          "out, macro-F1 / answered / accuracy of answered / ECE")
    base_train_set = pipeline.train_set

    def train_set(dd: Data, imgs: np.ndarray, classes: list[int], sethy_labels: np.ndarray | None = None) -> tuple:
        X, t = base_train_set(dd, imgs, classes, sethy_labels)
        m = np.isin(BI, imgs)
        return np.concatenate([X, BX[m]]), np.concatenate([t, np.full(m.sum(), len(classes))])

    def sethy_bg_head(dd: Data, imgs: np.ndarray, cfg_: LesionPatchConfig) -> PatchHead:
        lab = np.where(np.isin(dd.cands.img, imgs) & (dd.src[dd.cands.img] == "sethy2020"), dd.y[dd.cands.img], -1)
        m = np.isin(BI, imgs) & (dd.src[BI] == "sethy2020")
        X = np.concatenate([dd.cands.X[lab >= 0], BX[m]])
        t = np.concatenate([lab[lab >= 0], np.full(m.sum(), len(dd.classes))])
        return PatchHead(C=cfg_.C, k=cfg_.knn_k, colour_weight=cfg_.colour_weight).fit(X, t, background=len(dd.classes))

    variants: list[tuple[str, dict[str, Any]]] = [
        ("served (no off-leaf patches)", {"train_set": base_train_set}),
        ("off-leaf background, Sethy head", {"sethy_head": sethy_bg_head}),
        ("off-leaf background, both heads", {"sethy_head": sethy_bg_head, "train_set": train_set})]
    for name, patches in variants:
        with mock.patch.multiple(pipeline, **patches):
            out = pipeline.evaluate_loso(d, cfg)
        cells = [f"{r['macro_f1']:.3f} / {r['answered']:.3f} / {r['answered_accuracy'] or 0:.3f} / {r['ece']:.3f}"
                 for r in out.values()]
        print(f"{name:<34} roboflow -> Sethy {cells[0]}   Sethy -> roboflow {cells[1]}", flush=True)


TRIALS = {"leaf_fusion": trial_leaf_fusion, "mil_background": trial_mil_background, "flip_tta": trial_flip_tta,
          "finetuned_leaf": trial_finetuned_leaf, "finetuned_leaf_insource": trial_finetuned_leaf_insource,
          "feature_centring": trial_feature_centring, "head_types": trial_head_types,
          "off_leaf_background": trial_off_leaf_background}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trial", choices=[*TRIALS, "all"], default="all")
    ap.add_argument("--max-images", type=int, default=None, help="a quick subset (its figures mean nothing)")
    a = ap.parse_args(argv)
    cfg = LesionPatchConfig()
    d = load_data(cfg, DEFAULT_DATA_ROOT, a.max_images)
    for name, trial in TRIALS.items():
        if a.trial in (name, "all"):
            trial(d, cfg, a.max_images)


if __name__ == "__main__":
    main()
