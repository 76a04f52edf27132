"""Frozen benchmarks: versioned manifests of held-out photos that no training run reads.

`datasets/benchmarks/field_photo-v1.csv` is the grouped 'test' split of the field-photo sources as it stood when it
was frozen (98 photos: both sources, every class). `datasets/benchmarks/drone_damage-v1.csv` names the drone scenes:
the southern 40 % of the Bali paddies mosaic (never in training) with seeded synthetic damage, regenerated exactly by
`drone_scenes` (datasets/drone.py), three seeds. Training pipelines drop its photos with `without_benchmark`, and
`cropwatch models compare` scores candidates on it per source and per class. A new benchmark is a new file (v2, ...):
an old one is never edited, so comparisons stay comparable.

    python -m datasets.benchmark freeze field_photo-v2   # writes the current test split as a new benchmark
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from datasets.field_photos import (
    DEFAULT_DATA_ROOT,
    ManifestRow,
    build_manifest,
    load_config,
    read_manifest,
    write_manifest,
)

BENCHMARK_DIR = Path(__file__).resolve().parent / "benchmarks"
DEFAULT_BENCHMARK = {"field_photo": "field_photo-v1", "drone_damage": "drone_damage-v1"}


def benchmark_path(name: str) -> Path:
    return BENCHMARK_DIR / f"{name}.csv"


def read_benchmark(path: Path, data_root: Path = DEFAULT_DATA_ROOT) -> list[ManifestRow]:
    """The benchmark's rows whose files exist here (a source that is absent on this machine is left out)."""
    return [r for r in read_manifest(path, data_root) if Path(r.path).is_file()]


def benchmark_id(path: Path) -> str:
    """name@sha256[:12] of the manifest file: a comparison is only valid against the same frozen file."""
    return f"{path.stem}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


# two photos whose difference hashes differ in at most this many of 64 bits are one photo (re-encoded, resized).
# Measured 2026-12-02: the 98 benchmark photos resized (to 1,600 px, to half) and re-encoded (JPEG 85, 70, 60) are
# within 5 bits of the original 283 times of 294; of the 392 training photos none is within 5 bits of a benchmark
# photo (the nearest three at 6)
SAME_PHOTO_BITS = 5


def difference_hash(path: str | Path) -> int | None:
    """A 64-bit difference hash (grey 9 x 8, each pixel brighter than its right neighbour): equal, or within a few
    bits, for the same photo re-encoded or resized, as a phone's upload page sends it. None for an unreadable file."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im.draft("L", (64, 64))
            g = ImageOps.exif_transpose(im).convert("L").resize((9, 8), Image.Resampling.BOX)
    except (OSError, ValueError, SyntaxError):
        return None
    px = list(g.getdata())
    return sum(1 << i for i, (a, b) in enumerate((px[r * 9 + c], px[r * 9 + c + 1]) for r in range(8) for c in range(8))
               if a > b)


def without_benchmark(rows: list[ManifestRow], task: str = "field_photo", data_root: Path = DEFAULT_DATA_ROOT,
                      by_content: bool = False) -> list[ManifestRow]:
    """`rows` minus every photo of the task's default benchmark: by resolved path, and with `by_content` (farmers'
    feedback and other extra folders, wherever they lie) by content too, the same bytes or a difference hash within
    SAME_PHOTO_BITS (a benchmark photo sent back through the app was trained on while compare said the benchmark was
    left out)."""
    bench = read_manifest(benchmark_path(DEFAULT_BENCHMARK[task]), data_root)
    held = {str(Path(r.path).resolve()) for r in bench}
    rows = [r for r in rows if str(Path(r.path).resolve()) not in held]
    outside = rows if by_content else []
    if not outside:
        return rows
    bench_files = [Path(r.path) for r in bench if Path(r.path).is_file()]
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in bench_files}
    hashes = [h for h in map(difference_hash, bench_files) if h is not None]

    def is_benchmark(path: str) -> bool:
        if hashlib.sha256(Path(path).read_bytes()).hexdigest() in digests:
            return True
        h = difference_hash(path)
        return h is not None and any(bin(h ^ b).count("1") <= SAME_PHOTO_BITS for b in hashes)

    leaked = {r.path for r in outside if Path(r.path).is_file() and is_benchmark(r.path)}
    return [r for r in rows if r.path not in leaked]


def drone_scenes(path: Path, cache_dir: Path, data_root: Path = DEFAULT_DATA_ROOT) -> list[Any]:
    """The scenes of a drone benchmark manifest, generated once into `cache_dir/<benchmark id>/` (deterministic:
    the same seeds give the same damage) and reused."""
    import csv

    from datasets.drone import Scene, make_scenes

    out = cache_dir / benchmark_id(path)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    scenes: list[Scene] = []
    for r in rows:
        names = [f"{r['source']}_s{i}" for i in range(int(r["seeds"]))]
        if all((out / f"{n}.tif").is_file() and (out / f"{n}.geojson").is_file() for n in names):
            scenes += [Scene(n, out / f"{n}.tif", out / f"{n}.geojson", "test") for n in names]
            continue
        ortho = Path(data_root) / r["ortho"]
        if not ortho.is_file():
            raise FileNotFoundError(f"the benchmark's orthomosaic {ortho} is not here")
        src = (r["source"], ortho, float(r["scale"]), "test", (float(r["row_from"]), float(r["row_to"])))
        scenes += make_scenes([src], out, seeds_per_source=int(r["seeds"]))
    return scenes


def freeze(name: str, data_root: Path = DEFAULT_DATA_ROOT) -> Path:
    path = benchmark_path(name)
    if path.exists():
        raise SystemExit(f"{path} exists: a frozen benchmark is never rewritten; choose a new name")
    rows, _ = build_manifest(load_config(), data_root)
    return write_manifest([r for r in rows if r.split == "test"], path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["freeze"])
    ap.add_argument("name")
    a = ap.parse_args()
    print(freeze(a.name))
