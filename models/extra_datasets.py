"""Extra dataset folders for training: what `cropwatch datasets export-feedback` writes (manifest.csv with path,
label, group, split, source) or a plain folder of class sub-folders, and the checks a class must pass before a model
learns it: enough examples, and more than one source (a class seen through one phone or one field teaches the model
that phone or field, not the disease)."""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from datasets.field_photos import IMAGE_SUFFIXES, ManifestRow

MIN_CLASS_EXAMPLES = 20


def read_extra_dataset(folder: str | Path) -> list[ManifestRow]:
    """The photos of an extra dataset folder as manifest rows (absolute paths). With manifest.csv its groups and
    sources are kept; without one, each class sub-folder's photos are one source named after the folder and each
    photo its own group."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    man = folder / "manifest.csv"
    if man.is_file():
        with man.open(encoding="utf-8", newline="") as fh:
            return [ManifestRow(str(folder / r["path"]), r["label"], r.get("group") or f"{folder.name}:{r['path']}",
                                "train", r.get("source") or folder.name) for r in csv.DictReader(fh)
                    if (folder / r["path"]).is_file()]
    return [ManifestRow(str(p), c.name, f"{folder.name}:{c.name}/{p.name}", "train", folder.name)
            for c in sorted(folder.iterdir()) if c.is_dir()
            for p in sorted(c.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


@dataclass
class ClassCheck:
    kept: list[ManifestRow]
    classes: list[str]
    refused: dict[str, str] = field(default_factory=dict)  # class -> why
    warnings: list[str] = field(default_factory=list)


def check_classes(rows: list[ManifestRow], base_classes: list[str], min_examples: int = MIN_CLASS_EXAMPLES,
                  ) -> ClassCheck:
    """Refuse a class with fewer than `min_examples` photos (its photos are left out); warn loudly about a class
    whose photos come from a single source. The base classes come first in the class order, new ones after."""
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
