"""Extra dataset folders for training: what `cropwatch datasets export-feedback` writes (manifest.csv with path,
label, group, split, source) or a plain folder of class sub-folders, and the checks a class must pass before a model
learns it: enough examples, and more than one source (a class seen through one phone or one field teaches the model
that phone or field, not the disease)."""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from datasets.field_photos import IMAGE_SUFFIXES, ManifestRow
from inference.names import spelling_key
from inference.photo_io import photos_below

MIN_CLASS_EXAMPLES = 20
# the class registry the service seeds its labels from (read as a file: models/ does not import the service)
LABEL_REGISTRY = Path(__file__).resolve().parents[1] / "api" / "data" / "label_classes.csv"


@lru_cache
def known_labels(registry: Path = LABEL_REGISTRY) -> dict[str, str]:
    """Spelling key -> the registry's class name, for its name, its English and Vietnamese names and its aliases
    ("Blast", "brown spot", "Bệnh đạo ôn", "Leaf blast" -> blast, brown_spot, blast, blast)."""
    if not registry.is_file():
        return {}
    with registry.open(encoding="utf-8", newline="") as fh:
        return {spelling_key(t): r["name"] for r in csv.DictReader(fh)
                for t in (r["name"], r.get("name_en") or "", r.get("name_vi") or "",
                          *(r.get("aliases") or "").split("|")) if t}


def canonical_label(name: str) -> str:
    """A folder's or a manifest's class name as the registry spells it; an unknown name is kept as it is."""
    return known_labels().get(spelling_key(name), name)


def read_extra_dataset(folder: str | Path) -> list[ManifestRow]:
    """The photos of an extra dataset folder as manifest rows (absolute paths). With manifest.csv its groups,
    sources and splits are kept (the feedback export marks one area-day group in five "test": the pipeline leaves
    those out of training); without one, each class sub-folder's photos are one source named after the folder and
    each photo its own group, all "train"."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    man = folder / "manifest.csv"
    if man.is_file():
        with man.open(encoding="utf-8", newline="") as fh:
            return [ManifestRow(str(folder / r["path"]), canonical_label(r["label"]),
                                r.get("group") or f"{folder.name}:{r['path']}", r.get("split") or "train",
                                r.get("source") or folder.name)
                    for r in csv.DictReader(fh) if (folder / r["path"]).is_file()]
    rows = []
    for c in sorted(folder.iterdir()):
        if not c.is_dir():
            continue
        label = canonical_label(c.name)  # "Blast/" is blast, not a fourth class beside it
        if label != c.name:
            print(f"note: folder {c.name!r} of {folder} read as class {label!r}", file=sys.stderr)
        # photos in the class folder's sub-folders too (by field, by day), as `cropwatch models evaluate` reads them
        rows += [ManifestRow(str(p), label, f"{folder.name}:{c.name}/{p.relative_to(c).as_posix()}", "train",
                             folder.name) for p in photos_below(c, IMAGE_SUFFIXES)]
    return rows


def registered_labels(folder: str | Path) -> set[str]:
    """The labels an export's dataset.json says the service's registry holds (`registered_labels`: added on /review/
    or by `cropwatch labels add`, so in no file this package reads); empty for a plain folder."""
    info = Path(folder) / "dataset.json"
    try:
        return set(json.loads(info.read_text(encoding="utf-8")).get("registered_labels") or {})
    except (OSError, ValueError, AttributeError):
        return set()


def unreadable(path: str | Path) -> str | None:
    """Why a photo cannot be decoded (not an image, cut short), or None: checked before any training work, so that a
    bad file in an extra folder is named and left out instead of ending the run late in a traceback."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (64, 64))  # a JPEG decoded at 1/8 scale: the whole file is read, quickly
            im.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises varied errors for junk
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class ClassCheck:
    kept: list[ManifestRow]
    classes: list[str]
    refused: dict[str, str] = field(default_factory=dict)  # class -> why
    warnings: list[str] = field(default_factory=list)


def check_classes(rows: list[ManifestRow], base_classes: list[str], min_examples: int = MIN_CLASS_EXAMPLES,
                  registered: set[str] | frozenset[str] = frozenset()) -> ClassCheck:
    """Refuse a class with fewer than `min_examples` photos (its photos are left out); warn loudly about a class
    whose photos come from a single source, and about one neither in the label registry file nor `registered` (the
    extra folders' registered_labels). The base classes come first in the class order, new ones after."""
    n: dict[str, int] = defaultdict(int)
    sources: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        n[r.label] += 1
        sources[r.label].add(r.source)
    out = ClassCheck([], [])
    for c in [*base_classes, *sorted(set(n) - set(base_classes))]:
        if n[c] < min_examples:
            out.refused[c] = f"{n[c]} photos, fewer than the minimum of {min_examples}"
        else:
            out.classes.append(c)
            if known_labels() and c not in known_labels().values() and c not in registered:
                out.warnings.append(f"class '{c}' is not in the label registry ({LABEL_REGISTRY.name}, or the labels "
                                    "an agronomist adds on /review/): check its spelling; the pages will show its raw "
                                    "name and no advice until it is added")
            if len(sources[c]) == 1:
                out.warnings.append(f"class '{c}' comes from a single source ({next(iter(sources[c]))}, {n[c]} "
                                    "photos): the model may learn that source, not the class; add photos of it "
                                    "from other phones and fields")
    for c, why in out.refused.items():
        out.warnings.append(f"class '{c}' refused: {why}; its photos were left out")
    out.kept = [r for r in rows if r.label in out.classes]
    for w in out.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    return out
