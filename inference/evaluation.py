"""Honest evaluation of a photo bundle on a folder of class sub-folders.

`evaluate_pipeline` runs the served pipeline, quality gate and decision rules included, exactly as a farmer's upload
is scored, and counts per class: right, wrong disease named, unsure (no name given: unsure, no symptom or field
patch) and refused (retake, or a file that cannot be decoded); macro-F1 counts every answer that is not the right
name as wrong. `evaluate_network` scores the network alone (its abstain rule included) for comparison.

Folders of classes the bundle does not know (a label of the registry it lacks, such as tungro or healthy, or a folder
named with `--unknown`) are scored too, apart (`evaluate_unknown`): for such a photo every answer that names one of
the bundle's diseases is wrong, and the report counts them with the disease named, beside unsure, no symptom and
refused. How a folder's name is read: `class_folders`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import CropwatchError
from inference.lesion_patch_model import PhotoModel
from inference.metrics import classification_metrics
from inference.names import spelling_key
from inference.photo import PhotoScorer
from inference.photo_io import decode_rgb, photos_below

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".gif", ".heic", ".heif", ".tif", ".tiff"}
OUTCOMES = ("right", "wrong", "unsure", "refused")
# a photo of a class the bundle does not know: naming one of its diseases is the wrong answer
UNKNOWN_OUTCOMES = ("named", "unsure", "no_symptom", "refused")


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


@dataclass
class ClassFolders:
    """What a folder of class sub-folders holds for a bundle."""

    known: list[LabelledPhoto]  # photos of the bundle's classes
    unknown: list[LabelledPhoto]  # photos of classes it does not know, labelled by the registry's name or the folder's
    ignored: list[str] = field(default_factory=list)  # sub-folders not scored: no photo, or no class or label known
    read_as: dict[str, str] = field(default_factory=dict)  # sub-folder -> the class its name was read as (not exact)
    misspelt: dict[str, str] = field(default_factory=dict)  # sub-folder -> the class it resembles (left out)


# words a dataset adds to a class folder's name that say nothing of the class: its split, a copy, the crop ("lúa": rice)
NOISE_WORDS = {"rice", "lua", "lúa", "disease", "diseases", "benh", "bệnh", "train", "training", "test", "testing", "val",
               "valid", "validation", "old", "new", "copy", "images", "image", "imgs", "photos", "photo", "set", "data"}
# ... and the organ, tried last ("Leaf blast", "Đạo ôn lá": blast; "Brown leaf spot" is itself an alias)
LEAF_WORDS = {"leaf", "leaves", "lá"}


def _keys(name: str) -> list[str]:
    """Spelling keys to try for a folder name, most literal first: the whole name, without noise words and numbers,
    and without the organ too."""
    import re

    words = [w for w in re.split(r"[^\w]+|_|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])", name.casefold()) if w]
    plain = [w for w in words if w not in NOISE_WORDS and not w.isdigit()]
    keys = [spelling_key(name), spelling_key("".join(plain)), spelling_key("".join(w for w in plain if w not in LEAF_WORDS))]
    return [k for i, k in enumerate(keys) if k and k not in keys[:i]]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _nearest(keys: list[str], by_key: dict[str, str]) -> tuple[str | None, int]:
    """The class whose spelling key is fewest edits from any of `keys` (keys of 4 letters or more), and the edits."""
    best, dist = None, 99
    for key in keys:
        for k, c in by_key.items():
            if min(len(key), len(k)) >= 4 and (d := edit_distance(key, k)) < dist:
                best, dist = c, d
    return best, dist


def class_folders(root: Path, classes: list[str], aliases: dict[str, str] | None = None,
                  unknown_names: Iterable[str] = (), skip: tuple[Path, ...] = ()) -> ClassFolders:
    """Every sub-folder of ROOT with photos: a class of the bundle, by its name or an alias (`aliases`, name -> label:
    the registry's Vietnamese and English names and other names; case, spaces and punctuation aside; words such as
    "rice", "test", "copy", numbers and then "leaf" left out when the whole name is not known: "Rice leaf blast",
    "BLB_2", "Brown_spot_val"); one edit from such a name, read as it ("Brwn_spot"); two, left out as a probable
    misspelling ("Blst_"); a label of the registry the bundle lacks, scored as a class it does not know ("Rice
    tungro" is tungro); else not read (ignored), unless named in `unknown_names` (folder names), then scored as an
    unknown class under its own name. `skip`: folders below ROOT whose files are never photos of the set (outputs)."""
    aliases = aliases or {}
    by_key = {spelling_key(a): c for a, c in aliases.items() if c in classes}
    by_key.update({spelling_key(c): c for c in classes})
    others = {spelling_key(a): c for a, c in aliases.items() if c not in classes}
    asked = {spelling_key(n) for n in unknown_names}
    out = ClassFolders([], [])
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = photos_below(d, IMAGE_SUFFIXES, skip)
        if not photos:
            out.ignored.append(d.name)
            continue
        keys = _keys(d.name)
        first = next((k for k in keys if k in by_key or k in others), None)  # the most literal reading decides
        label, other = by_key.get(first or ""), others.get(first or "")
        near, dist = _nearest(keys, by_key) if label is None and other is None else (None, 99)
        if label is not None or dist <= 1:
            label = label or str(near)
            if spelling_key(d.name) not in by_key:
                out.read_as[d.name] = label
            out.known += [LabelledPhoto(p, label) for p in photos]
        elif other is not None or spelling_key(d.name) in asked:
            out.unknown += [LabelledPhoto(p, other or d.name) for p in photos]
        elif dist == 2:
            out.misspelt[d.name] = str(near)
        else:
            out.ignored.append(d.name)
    return out


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


def pipeline_answers(scorer: PhotoScorer, photos: Iterable[LabelledPhoto],
                     unreadable: list[dict[str, str]] | None = None) -> Iterator[tuple[str, str, str, float]]:
    """(true class, answered label, status, confidence) of every photo through the served pipeline; a file the
    service refuses to read is status "refused" and, given `unreadable`, named there with why."""
    for ph in photos:
        try:
            d = scorer.score(ph.path.read_bytes()).diagnosis
            yield ph.label, d.label, d.status, float(d.confidence or 0.0)
        except CropwatchError as exc:
            if unreadable is not None:
                unreadable.append({"path": str(ph.path), "error": str(exc)})
            yield ph.label, "unsure", "refused", 0.0


def _decoded_for_network(path: Path, short_side: int, max_pixels: int | None) -> np.ndarray:
    """decode_rgb, with serving's pixel limit checked from the header first (a 65,000 x 65,000 px JPEG of 633 bytes
    ended a --network-only run in a DecompressionBombError traceback)."""
    from PIL import Image

    try:
        if max_pixels is not None:
            with Image.open(path) as img:
                w, h = img.size
            if w * h > max_pixels:
                raise ValueError(f"the photo has {w * h / 1e6:.0f} megapixels; the limit is {max_pixels / 1e6:.0f} MP")
        return decode_rgb(path, short_side)
    except Image.DecompressionBombError as exc:  # raised by Image.open itself for some formats
        raise ValueError(f"too many pixels to decode safely ({exc})") from exc


def network_answers(model: PhotoModel, photos: Iterable[LabelledPhoto], unreadable: list[dict[str, str]] | None = None,
                    max_pixels: int | None = None) -> Iterator[tuple[str, str, str, float]]:
    """The same from the network alone (its abstain rule included, no quality gate); a file that cannot be decoded,
    or has more pixels than `max_pixels` (serving's limit), is "refused", as serving refuses it."""
    for ph in photos:
        try:  # serving's decode, without the gate
            p = model.predict(_decoded_for_network(ph.path, model.decode_short_side, max_pixels))
        except (OSError, ValueError, SyntaxError) as exc:  # not an image, a damaged or an oversized one
            if unreadable is not None:
                unreadable.append({"path": str(ph.path), "error": f"cannot be read as an image: {exc}"})
            yield ph.label, "unsure", "refused", 0.0
            continue
        yield ph.label, p.label, "diagnosed" if p.label != "unsure" else "unsure", float(p.confidence)


def score_photos(scorer: PhotoScorer, photos: Iterable[LabelledPhoto],
                 progress: Callable[[Iterable[LabelledPhoto]], Iterable[LabelledPhoto]] = lambda x: x,
                 unreadable: list[dict[str, str]] | None = None) -> list[tuple[str, str, str, float]]:
    """(true class, answered label, outcome, confidence) of every photo through the served pipeline; a file the
    service refuses to read counts as refused and, given `unreadable`, is named there with why."""
    return [(t, lab, outcome(t, lab, st), c) for t, lab, st, c in pipeline_answers(scorer, progress(photos), unreadable)]


def unknown_outcome(status: str) -> str:
    """named / unsure / no_symptom / refused of an answer to a photo of a class the bundle does not know."""
    if status in ("retake", "refused"):
        return "refused"
    if status == "diagnosed":
        return "named"
    return "no_symptom" if status == "no_symptom" else "unsure"


def evaluate_unknown(answers: Iterable[tuple[str, str, str, float]]) -> dict[str, dict[str, Any]]:
    """Per class the bundle does not know: its photos, how many got each of UNKNOWN_OUTCOMES, the diseases named
    (with the median confidence of those answers), and the share named (wrong)."""
    per: dict[str, dict[str, Any]] = {}
    conf: dict[str, list[float]] = {}
    for true, label, status, c in answers:
        v = per.setdefault(true, {"n": 0, **dict.fromkeys(UNKNOWN_OUTCOMES, 0), "named_as": {}})
        o = unknown_outcome(status)
        v["n"] += 1
        v[o] += 1
        if o == "named":
            v["named_as"][label] = v["named_as"].get(label, 0) + 1
            conf.setdefault(true, []).append(c)
    for k, v in per.items():
        v["named_share"] = round(v["named"] / v["n"], 4)
        v["named_median_confidence"] = round(float(np.median(conf[k])), 4) if k in conf else None
    return dict(sorted(per.items()))


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
                     max_pixels: int | None = None) -> dict[str, Any]:
    """The network alone, with its abstain rule: right / wrong / unsure per class."""
    unreadable: list[dict[str, str]] = []
    rows = [(t, lab, outcome(t, lab, st))
            for t, lab, st, _ in network_answers(model, progress(photos), unreadable, max_pixels)]
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


def format_unknown(per: dict[str, dict[str, Any]]) -> list[str]:
    """Lines of the report on classes the bundle does not know."""
    lines = ["classes this bundle does not know (naming one of its diseases is wrong; unsure or no symptom is right):",
             f"  {'class':<24} {'photos':>6} {'named':>6} {'unsure':>7} {'no symptom':>11} {'refused':>8}  diseases named"]
    for c, v in per.items():
        named = ", ".join(f"{k} {n}" for k, n in sorted(v["named_as"].items(), key=lambda kv: -kv[1]))
        if named:
            named += f" (median confidence {v['named_median_confidence']:.2f})"
        lines.append(f"  {c:<24} {v['n']:>6} {v['named']:>6} {v['unsure']:>7} {v['no_symptom']:>11} {v['refused']:>8}"
                     f"  {named or '-'}")
    return lines
