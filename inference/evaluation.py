"""Honest evaluation of a photo bundle on a folder of class sub-folders.

`evaluate_pipeline` runs the served pipeline, quality gate and decision rules included, exactly as a farmer's upload
is scored, and counts per class: right, wrong disease named, unsure (no name given: unsure, no symptom or field
patch) and refused (retake, or a file that cannot be decoded); macro-F1 counts every answer that is not the right
name as wrong. `evaluate_network` scores the network alone (its abstain rule included) for comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import CropwatchError
from inference.images import read_rgb
from inference.lesion_patch_model import PhotoModel
from inference.metrics import classification_metrics
from inference.photo import PhotoScorer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic"}
OUTCOMES = ("right", "wrong", "unsure", "refused")


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    label: str


def labelled_photos(root: Path, classes: list[str]) -> tuple[list[LabelledPhoto], list[str]]:
    """Photos in ROOT/<class>/ for each known class, and the names of the sub-folders that are not classes."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    photos = [LabelledPhoto(p, d.name) for d in subdirs if d.name in classes
              for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return photos, [d.name for d in subdirs if d.name not in classes]


def outcome(true: str, label: str, status: str) -> str:
    """right / wrong / unsure / refused of one answer."""
    if status in ("retake", "refused"):
        return "refused"
    if status != "diagnosed":
        return "unsure"
    return "right" if label == true else "wrong"


def summarise(classes: list[str], rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Metrics of (true class, answered label, outcome) rows: per-class outcome counts, and accuracy and macro-F1
    with every non-answer counted wrong (an extra 'no answer' column in the confusion matrix)."""
    per: dict[str, dict[str, int]] = {c: dict.fromkeys(OUTCOMES, 0) for c in classes}
    for true, _, o in rows:
        per[true][o] += 1
    names = [*classes, "(no answer)"]
    y = np.array([classes.index(t) for t, _, _ in rows])
    pred = np.array([classes.index(lab) if o in ("right", "wrong") else len(classes) for _, lab, o in rows])
    m = classification_metrics(y, pred, names)
    m["macro_f1"] = round(float(np.mean([m["per_class"][c]["f1"] for c in classes])), 4)
    m["per_class"] = {c: {**m["per_class"][c], **per[c]} for c in classes}
    m["totals"] = {o: sum(v[o] for v in per.values()) for o in OUTCOMES}
    answered = m["totals"]["right"] + m["totals"]["wrong"]
    m["answered_accuracy"] = round(m["totals"]["right"] / answered, 4) if answered else None
    return m


def evaluate_pipeline(scorer: PhotoScorer, photos: Iterable[LabelledPhoto],
                      progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                      ) -> dict[str, Any]:
    """The served pipeline on every photo (see module docstring)."""
    rows = []
    for ph in progress(photos):
        try:
            r = scorer.score(ph.path.read_bytes())
            rows.append((ph.label, r.diagnosis.label, outcome(ph.label, r.diagnosis.label, r.diagnosis.status)))
        except CropwatchError:
            rows.append((ph.label, "unsure", "refused"))
    return {"mode": "pipeline", **summarise(scorer.model.classes, rows)}


def evaluate_network(model: PhotoModel, photos: Iterable[LabelledPhoto],
                     progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                     ) -> dict[str, Any]:
    """The network alone, with its abstain rule: right / wrong / unsure per class."""
    rows = []
    for ph in progress(photos):
        p = model.predict(read_rgb(ph.path, model.decode_short_side))
        status = "diagnosed" if p.label != "unsure" else "unsure"
        rows.append((ph.label, p.label, outcome(ph.label, p.label, status)))
    return {"mode": "network_only", **summarise(model.classes, rows)}


def format_report(m: dict[str, Any], title: str) -> list[str]:
    """Lines of a plain-text report."""
    t = m["totals"]
    lines = [title, f"mode      {m['mode']}", f"accuracy  {m['accuracy']:.4f}  (unsure and refused count as wrong)",
             f"macro-F1  {m['macro_f1']:.4f}  (unsure and refused count as wrong)",
             f"answers   right {t['right']}, wrong disease {t['wrong']}, unsure {t['unsure']}, refused {t['refused']}"
             f"  (accuracy of answered: {m['answered_accuracy']})",
             f"  {'class':<24} {'right':>6} {'wrong':>6} {'unsure':>7} {'refused':>8}    F1"]
    for c, v in m["per_class"].items():
        lines.append(f"  {c:<24} {v['right']:>6} {v['wrong']:>6} {v['unsure']:>7} {v['refused']:>8}  {v['f1']:.3f}")
    return lines
