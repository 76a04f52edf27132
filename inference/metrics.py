"""Classification metrics (numpy only), shared by training notebooks and `cropwatch models evaluate`."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y, pred), 1)
    return cm


def classification_metrics(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    n = len(classes)
    cm = confusion(y, pred, n)
    per = {}
    f1s = []
    for i, c in enumerate(classes):
        tp, fp, fn = cm[i, i], cm[:, i].sum() - cm[i, i], cm[i, :].sum() - cm[i, i]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        f1s.append(f1)
        per[c] = {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f1), 4),
                  "support": int(cm[i].sum())}
    return {"n": int(len(y)), "accuracy": round(float((y == pred).mean()), 4), "macro_f1": round(float(np.mean(f1s)), 4),
            "per_class": per, "confusion_matrix": cm.tolist()}


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017)."""
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def damage_counts(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> tuple[int, int, int]:
    """True positives, false positives and false negatives of the damaged class over valid pixels (bool masks)."""
    p, t = pred & valid, truth & valid
    return int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())


def counts_scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1 and IoU from counts; `damaged_px` is the truth's size (tp + fn)."""
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
            "iou": round(tp / (tp + fp + fn), 4) if tp + fp + fn else 0.0, "damaged_px": tp + fn}


def damage_scores(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 and IoU of the damaged class (pred, truth: bool masks)."""
    return counts_scores(*damage_counts(pred, truth, valid))
