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
from inference.lesion_patch_model import PhotoModel
from inference.metrics import classification_metrics
from inference.names import spelling_key
from inference.photo import PhotoScorer
from inference.photo_io import decode_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".heic"}
OUTCOMES = ("right", "wrong", "unsure", "refused")


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    label: str


def labelled_photos(root: Path, classes: list[str],
                    aliases: dict[str, str] | None = None) -> tuple[list[LabelledPhoto], list[str]]:
    """Photos in ROOT/<class>/ for each known class (case, spaces and punctuation aside: "Brown spot/" is
    brown_spot; `aliases`, other names -> class, e.g. the registry's Vietnamese and English names: "Bệnh đạo ôn/" is
    blast, as training reads it), and the names of the sub-folders that are not classes."""
    by_key = {spelling_key(a): c for a, c in (aliases or {}).items() if c in classes}
    by_key.update({spelling_key(c): c for c in classes})
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    photos = [LabelledPhoto(p, by_key[spelling_key(d.name)]) for d in subdirs if spelling_key(d.name) in by_key
              for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return photos, [d.name for d in subdirs if spelling_key(d.name) not in by_key]


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


def score_photos(scorer: PhotoScorer, photos: Iterable[LabelledPhoto],
                 progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                 unreadable: list[dict[str, str]] | None = None) -> list[tuple[str, str, str, float]]:
    """(true class, answered label, outcome, confidence) of every photo through the served pipeline; a file the
    service refuses to read counts as refused and, given `unreadable`, is named there with why."""
    rows = []
    for ph in progress(photos):
        try:
            d = scorer.score(ph.path.read_bytes()).diagnosis
            rows.append((ph.label, d.label, outcome(ph.label, d.label, d.status), float(d.confidence or 0.0)))
        except CropwatchError as exc:
            rows.append((ph.label, "unsure", "refused", 0.0))
            if unreadable is not None:
                unreadable.append({"path": str(ph.path), "error": str(exc)})
    return rows


def evaluate_pipeline(scorer: PhotoScorer, photos: Iterable[LabelledPhoto],
                      progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                      ) -> dict[str, Any]:
    """The served pipeline on every photo (see module docstring)."""
    unreadable: list[dict[str, str]] = []
    rows = score_photos(scorer, photos, progress, unreadable)
    return {"mode": "pipeline", **summarise(scorer.model.classes, [r[:3] for r in rows]),
            **({"unreadable": unreadable} if unreadable else {})}


def compare_scorers(scorers: dict[str, PhotoScorer], photos: list[tuple[str, LabelledPhoto]],
                    progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                    ) -> dict[str, Any]:
    """Each version through the served pipeline on the same (source, photo) list: metrics over all photos and per
    source, and each photo's outcome and confidence (for the plots)."""
    out: dict[str, Any] = {"n": len(photos), "sources": sorted({s for s, _ in photos}), "versions": {}}
    for version, scorer in scorers.items():
        rows = score_photos(scorer, [p for _, p in photos], progress)
        classes = scorer.model.classes
        per_source = {s: summarise(classes, [r[:3] for (src, _), r in zip(photos, rows, strict=True) if src == s])
                      for s in out["sources"]}
        out["versions"][version] = {"all": summarise(classes, [r[:3] for r in rows]), "per_source": per_source,
                                    "rows": [list(r) for r in rows]}
    return out


def regressions(cmp: dict[str, Any], active: str, candidate: str, margin: float) -> list[str]:
    """Where `candidate` is worse than `active` by more than `margin`: macro-F1 or answered accuracy of a source,
    or F1 of a class (unsure and refused count as wrong). Empty when it may be promoted."""
    a, b = cmp["versions"][active], cmp["versions"][candidate]
    found = []
    for s in cmp["sources"]:
        ma, mb = a["per_source"][s], b["per_source"][s]
        if mb["macro_f1"] < ma["macro_f1"] - margin:
            found.append(f"source {s}: macro-F1 {mb['macro_f1']:.3f} against {ma['macro_f1']:.3f}")
        if ma["answered_accuracy"] is not None and (mb["answered_accuracy"] or 0.0) < ma["answered_accuracy"] - margin:
            answered = "nothing answered" if mb["answered_accuracy"] is None else f"{mb['answered_accuracy']}"
            found.append(f"source {s}: accuracy of answered {answered} against {ma['answered_accuracy']}")
    for c, va in a["all"]["per_class"].items():
        vb = b["all"]["per_class"].get(c)
        if vb is None:
            found.append(f"class {c}: the candidate does not know it")
        elif vb["f1"] < va["f1"] - margin:
            found.append(f"class {c}: F1 {vb['f1']:.3f} against {va['f1']:.3f}")
    return found


def format_comparison(cmp: dict[str, Any], title: str) -> list[str]:
    """Side-by-side table: rows (all, each source, each class) x versions."""
    vs = list(cmp["versions"])
    head = f"  {'':<34}" + "".join(f"{v:>22}" for v in vs)
    lines = [title, head, f"  {'':<34}" + "".join(f"{'F1 r/w/unsure/refused':>22}" for _ in vs)]

    def cell(m: dict[str, Any], f1_key: str) -> str:
        t = m.get("totals", m)
        return f"{m[f1_key]:.3f} {t['right']}/{t['wrong']}/{t['unsure']}/{t['refused']}"

    lines.append(f"  {'all photos (macro-F1)':<34}" + "".join(f"{cell(cmp['versions'][v]['all'], 'macro_f1'):>22}"
                                                              for v in vs))
    for s in cmp["sources"]:
        lines.append(f"  {'source ' + s + ' (macro-F1)':<34}"
                     + "".join(f"{cell(cmp['versions'][v]['per_source'][s], 'macro_f1'):>22}" for v in vs))
    for c in cmp["versions"][vs[0]]["all"]["per_class"]:
        cells = []
        for v in vs:
            pc = cmp["versions"][v]["all"]["per_class"].get(c)
            cells.append(f"{cell(pc, 'f1'):>22}" if pc else f"{'(unknown class)':>22}")
        lines.append(f"  {'class ' + c + ' (F1)':<34}" + "".join(cells))
    return lines


def evaluate_network(model: PhotoModel, photos: Iterable[LabelledPhoto],
                     progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                     ) -> dict[str, Any]:
    """The network alone, with its abstain rule: right / wrong / unsure per class."""
    rows, unreadable = [], []
    for ph in progress(photos):
        try:
            p = model.predict(decode_rgb(ph.path, model.decode_short_side))  # serving's decode, without the gate
        except (OSError, ValueError, SyntaxError) as exc:  # not an image, or a damaged one: refused, as serving is
            rows.append((ph.label, "unsure", "refused"))
            unreadable.append({"path": str(ph.path), "error": f"cannot be read as an image: {exc}"})
            continue
        status = "diagnosed" if p.label != "unsure" else "unsure"
        rows.append((ph.label, p.label, outcome(ph.label, p.label, status)))
    return {"mode": "network_only", **summarise(model.classes, rows), **({"unreadable": unreadable} if unreadable else {})}


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
