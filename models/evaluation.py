"""Classification metrics and plots: accuracy, macro-F1, per-class precision/recall, confusion matrix, expected
calibration error, reliability diagram, coverage vs accuracy of an abstain rule. numpy + matplotlib only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.metrics import classification_metrics, confusion, expected_calibration_error
from inference.plots import plot_confusion

__all__ = ["classification_metrics", "confusion", "expected_calibration_error", "plot_confusion"]


def coverage_curve(conf: np.ndarray, correct: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, coverage, accuracy of the answered) for thresholds 0.34..0.99."""
    out = []
    for t in np.round(np.arange(0.34, 1.0, 0.01), 2):
        m = conf >= t
        out.append((float(t), float(m.mean()), float(correct[m].mean()) if m.any() else float("nan")))
    return out


def choose_abstain_threshold(conf: np.ndarray, correct: np.ndarray, target_accuracy: float = 0.9) -> float:
    """Lowest confidence threshold whose answered subset reaches `target_accuracy` (on validation data)."""
    for t, cov, acc in coverage_curve(conf, correct):
        if cov > 0 and acc >= target_accuracy:
            return t
    return 0.99


def plot_reliability(conf: np.ndarray, correct: np.ndarray, path: Path, bins: int = 10) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0, 1, bins + 1)
    mids, accs, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            mids.append((lo + hi) / 2)
            accs.append(correct[m].mean())
            counts.append(m.sum())
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.bar(mids, accs, width=1 / bins, alpha=0.7, edgecolor="k", label="accuracy per bin")
    ax.set_xlabel("calibrated confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {expected_calibration_error(conf, correct, bins):.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_coverage(curve: list[tuple[float, float, float]], chosen: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, cov, acc = (np.array(v) for v in zip(*curve, strict=True))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(t, cov, label="coverage (answered)")
    ax.plot(t, acc, label="accuracy of answered")
    ax.axvline(chosen, color="r", ls="--", label=f"threshold {chosen:.2f}")
    ax.set_xlabel("confidence threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title("Abstain rule on the test split")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_history(history: list[dict[str, float]], path: Path | None = None):  # type: ignore[no-untyped-def]
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["val_loss"] for h in history], label="val loss")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["val_macro_f1"] for h in history], label="val macro-F1")
    b.plot(ep, [h["val_accuracy"] for h in history], label="val accuracy")
    b.set_xlabel("epoch")
    b.set_ylim(0, 1)
    b.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
