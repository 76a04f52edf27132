"""Plots of evaluations and comparisons (matplotlib, imported when a plot is drawn: the serving image need not have
it). Used by the training pipelines, the notebooks and `cropwatch models compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path, title: str = "Confusion matrix") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(cm, cmap="Greens")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(cmp: dict[str, Any], path: Path) -> Path:
    """Per version, stacked bars of right / wrong disease / unsure / refused, for all photos and each source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    versions = list(cmp["versions"])
    groups = ["all", *cmp["sources"]]
    colours = {"right": "#2e7d32", "wrong": "#c62828", "unsure": "#f9a825", "refused": "#9e9e9e"}
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 3.6), sharey=True, squeeze=False)
    for ax, g in zip(axes[0], groups, strict=True):
        bottom = np.zeros(len(versions))
        for outcome, colour in colours.items():
            vals = []
            for v in versions:
                m = cmp["versions"][v]["all"] if g == "all" else cmp["versions"][v]["per_source"][g]
                vals.append(m["totals"][outcome] / max(1, sum(m["totals"].values())))
            ax.bar(versions, vals, bottom=bottom, color=colour, label=outcome)
            bottom += vals
        ax.set_title(g if g == "all" else f"source {g}")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("share of photos")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_coverage_accuracy(cmp: dict[str, Any], path: Path) -> Path:
    """Per version: accuracy of the answers against the share of photos answered, as the confidence needed to
    answer rises (the served rule's own point is where each curve starts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for v, res in cmp["versions"].items():
        rows = [r for r in res["rows"] if r[2] in ("right", "wrong")]
        if not rows:
            continue
        conf = np.array([r[3] for r in rows])
        right = np.array([r[2] == "right" for r in rows])
        order = np.argsort(-conf)
        k = np.arange(1, len(order) + 1)
        ax.plot(k / len(res["rows"]), np.cumsum(right[order]) / k, label=v)
    ax.set_xlabel("share of photos answered")
    ax.set_ylabel("accuracy of the answers")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
