"""Field photos of rice leaves: sources, manifests and grouped, stratified, seeded splits.

A dataset is described by a manifest: a CSV with columns path, label, group, split, source. `path` is relative to the
source's root. Splits keep near-duplicate groups together and stratify by label; the same seed gives the same split.
The class list is configuration (`FieldPhotoDatasetConfig.classes`), never hard-coded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The shared data and format schemas: ../shared beside the checkout, or where CROPWATCH_SHARED_DIR says (a checkout
# elsewhere: a clone in /tmp found none of it, and 54 tests failed on missing files)
SHARED_DIR = Path(os.environ.get("CROPWATCH_SHARED_DIR") or REPO_ROOT.parent / "shared")
DEFAULT_DATA_ROOT = SHARED_DIR / "data"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


class SourceConfig(BaseModel):
    """One source of photos laid out as class sub-folders."""

    model_config = ConfigDict(extra="forbid")
    name: str
    path: str  # relative to the data root, or to the repository when `in_repo`
    in_repo: bool = False  # committed copy (openly licensed), available from a clean clone
    licence: str
    near_duplicates_csv: str | None = None  # image_a,image_b pairs relative to the source root
    # a source of mixed provenance (scans on white beside field crops): its photos are split into two capture domains
    # by background (capture_domain), so that leaving one domain out tests a kind of photo the model has not seen
    split_by_background: bool = False


class FieldPhotoDatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classes: list[str]
    sources: list[SourceConfig]
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 42


DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "configs" / "field_photos.json"


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> FieldPhotoDatasetConfig:
    return FieldPhotoDatasetConfig.model_validate_json(Path(path).read_text())


@dataclass
class ManifestRow:
    path: str  # absolute path
    label: str
    group: str
    split: str  # train | val | test
    source: str


def source_root(src: SourceConfig, data_root: Path) -> Path:
    return (REPO_ROOT / src.path) if src.in_repo else (data_root / src.path)


def near_duplicate_groups(files: list[str], pairs_csv: Path | None) -> dict[str, str]:
    """Union-find over near-duplicate pairs: file -> group id (the smallest member)."""
    parent = {f: f for f in files}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    if pairs_csv is not None and pairs_csv.exists():
        with pairs_csv.open() as fh:
            for row in csv.DictReader(fh):
                a, b = row["image_a"], row["image_b"]
                if a in parent and b in parent:
                    ra, rb = find(a), find(b)
                    parent[max(ra, rb)] = min(ra, rb)
    return {f: find(f) for f in files}


# share of the photo that is bright, unsaturated background (white paper, a scanner bed) above which it counts as
# photographed on white; the roboflow photos' shares are bimodal (most below 0.2 or above 0.5)
WHITE_BACKGROUND_SHARE = 0.3


def capture_domain(source: str, split_by_background: bool, white_share: float) -> str:
    """The kind of photo a row is, for leave-one-domain-out: its source, or for a source of mixed provenance
    `<source>_white` (leaf on white paper or a scanner bed) and `<source>_other` (field crops, phone photos in the
    field, web images). `white_share`: inference.lesion_patches.white_background_share of the photo."""
    if not split_by_background:
        return source
    return f"{source}_white" if white_share > WHITE_BACKGROUND_SHARE else f"{source}_other"


def scan_source(src: SourceConfig, classes: list[str], data_root: Path) -> list[tuple[str, str, str]]:
    """(relative path, label, group) for every image of `src` in a known class folder; [] when the source is absent."""
    root = source_root(src, data_root)
    if not root.exists():
        return []
    files = sorted(
        f"{c}/{p.name}" for c in classes if (root / c).is_dir()
        for p in (root / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
    )
    pairs = root / src.near_duplicates_csv if src.near_duplicates_csv else None
    groups = near_duplicate_groups(files, pairs)
    return [(f, f.split("/", 1)[0], f"{src.name}:{groups[f]}") for f in files]


def split_groups(
    items: list[tuple[str, str]], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, str]:
    """Assign each group to train/val/test, stratified by label, seeded.

    items: (group, label) pairs (a group's label is its majority label). Returns group -> split.
    """
    by_label: dict[str, list[str]] = defaultdict(list)
    for group, label in sorted(set(items)):
        by_label[label].append(group)
    rng = random.Random(seed)
    out: dict[str, str] = {}
    for label in sorted(by_label):
        groups = by_label[label]
        rng.shuffle(groups)
        n = len(groups)
        n_test = round(n * test_fraction)
        n_val = round(n * val_fraction)
        for i, g in enumerate(groups):
            out[g] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def build_manifest(
    config: FieldPhotoDatasetConfig, data_root: str | Path = DEFAULT_DATA_ROOT, sources: list[str] | None = None
) -> tuple[list[ManifestRow], list[str]]:
    """Manifest rows of all available sources, and a list of messages about sources that were skipped."""
    data_root = Path(data_root)
    rows: list[ManifestRow] = []
    skipped: list[str] = []
    for src in config.sources:
        if sources is not None and src.name not in sources:
            continue
        found = scan_source(src, config.classes, data_root)
        if not found:
            skipped.append(f"source {src.name!r} not found at {source_root(src, data_root)}: skipped")
            continue
        group_label: dict[str, str] = {}
        for _f, label, group in found:
            group_label.setdefault(group, label)
        splits = split_groups(list(group_label.items()), config.val_fraction, config.test_fraction, config.seed)
        root = source_root(src, data_root)
        rows += [ManifestRow(str(root / f), label, group, splits[group], src.name) for f, label, group in found]
    return rows, skipped


def _portable(path: str) -> str:
    """Path relative to the repository (committed data) or to the data root's parent, so a manifest travels."""
    p = Path(path).resolve()
    for base, tag in ((REPO_ROOT, "repo"), (DEFAULT_DATA_ROOT.resolve(), "data")):
        if p.is_relative_to(base):
            return f"{tag}:{p.relative_to(base).as_posix()}"
    return str(p)


def write_manifest(rows: list[ManifestRow], path: str | Path) -> Path:
    """CSV manifest; paths are written as repo:REL (committed data) or data:REL (under the data root)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label", "group", "split", "source"])
        w.writeheader()
        w.writerows({**asdict(r), "path": _portable(r.path)} for r in rows)
    return path


def read_manifest(path: str | Path, data_root: str | Path = DEFAULT_DATA_ROOT) -> list[ManifestRow]:
    """Rows with absolute paths: repo: paths resolve against this checkout, data: paths against `data_root`."""
    out = []
    with Path(path).open() as fh:
        for r in csv.DictReader(fh):
            p = r["path"]
            if p.startswith("repo:"):
                p = str(REPO_ROOT / p[5:])
            elif p.startswith("data:"):
                p = str(Path(data_root) / p[5:])
            out.append(ManifestRow(**{**r, "path": p}))
    return out


def manifest_hash(rows: list[ManifestRow]) -> str:
    """sha256 over (file content hash, label, split) of every row: identifies the training data of a model."""
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: (r.source, r.path)):
        h.update(hashlib.sha256(Path(r.path).read_bytes()).digest())
        h.update(f"{r.label}|{r.split}|{r.source}".encode())
    return h.hexdigest()


def counts(rows: list[ManifestRow]) -> dict[str, dict[str, int]]:
    """{source/split: {label: n}} for dataset cards and notebooks."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        out[f"{r.source}/{r.split}"][r.label] += 1
    return json.loads(json.dumps(out))


def folder_dataset(root: str | Path, classes: list[str] | None = None) -> list[ManifestRow]:
    """Every image of a folder of class sub-folders, as test rows (for `cropwatch models evaluate`)."""
    root = Path(root)
    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    return [
        ManifestRow(str(p), c, f"{root.name}:{c}/{p.name}", "test", root.name)
        for c in classes if (root / c).is_dir()
        for p in sorted((root / c).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    ]
