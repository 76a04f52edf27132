"""Manifests: grouped, stratified, seeded splits; near-duplicates stay together; absent sources are reported."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.field_photos import (
    FieldPhotoDatasetConfig,
    SourceConfig,
    build_manifest,
    load_config,
    read_manifest,
    split_groups,
    write_manifest,
)


def make_source(root: Path, per_class: dict[str, int], pairs: list[tuple[str, str]] = ()) -> Path:
    rng = np.random.default_rng(0)
    for c, n in per_class.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cv2.imwrite(str(root / c / f"{c}_{i}.jpg"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    with (root / "pairs.csv").open("w") as fh:
        w = csv.writer(fh)
        w.writerow(["image_a", "image_b"])
        w.writerows(pairs)
    return root


@pytest.fixture
def cfg(tmp_path: Path) -> FieldPhotoDatasetConfig:
    pairs = [(f"a/a_{i}.jpg", f"a/a_{i + 1}.jpg") for i in range(0, 20, 2)]
    make_source(tmp_path / "src", {"a": 40, "b": 20, "c": 10}, pairs)
    return FieldPhotoDatasetConfig(
        classes=["a", "b", "c"],
        sources=[SourceConfig(name="s", path="src", licence="test", near_duplicates_csv="pairs.csv"),
                 SourceConfig(name="missing", path="nowhere", licence="test")],
    )


def test_manifest_groups_stay_in_one_split(cfg, tmp_path) -> None:
    rows, skipped = build_manifest(cfg, tmp_path)
    assert len(rows) == 70
    assert skipped and "missing" in skipped[0]
    by_group: dict[str, set[str]] = {}
    for r in rows:
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())
    assert sum(1 for g in by_group if "a_0.jpg" in g) == 1 and len(by_group) == 60  # 10 pairs merged


def test_split_is_stratified_and_seeded(cfg, tmp_path) -> None:
    rows, _ = build_manifest(cfg, tmp_path)
    c = Counter((r.label, r.split) for r in rows)
    assert c[("b", "test")] == 4 and c[("b", "val")] == 3 and c[("c", "test")] == 2
    again, _ = build_manifest(cfg, tmp_path)
    assert [r.split for r in rows] == [r.split for r in again]
    other = build_manifest(cfg.model_copy(update={"seed": 7}), tmp_path)[0]
    assert [r.split for r in rows] != [r.split for r in other]


def test_manifest_round_trip(cfg, tmp_path) -> None:
    rows, _ = build_manifest(cfg, tmp_path)
    assert read_manifest(write_manifest(rows, tmp_path / "m.csv"), tmp_path) == rows


def test_split_groups_fractions() -> None:
    out = split_groups([(f"g{i}", "x") for i in range(100)], 0.15, 0.2, seed=1)
    assert Counter(out.values()) == {"train": 65, "val": 15, "test": 20}


def test_default_config_reads_committed_photos() -> None:
    cfg = load_config()
    rows, _ = build_manifest(cfg, Path("/nonexistent"), sources=["sethy2020"])
    assert Counter(r.label for r in rows) == {"bacterial_leaf_blight": 60, "blast": 63, "brown_spot": 81}


def test_a_benchmark_photo_sent_back_through_the_app_is_not_trained_on(tmp_path) -> None:
    """A farmer's photo exported for training (another folder, another name) that is a benchmark photo, as it was or
    resized and re-encoded by the phone's page, is dropped like the benchmark's own file (it was trained on, and
    compare said the benchmark was left out); a photo of the training set in that folder stays."""
    from PIL import Image

    from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_path, without_benchmark
    from datasets.field_photos import ManifestRow, build_manifest, load_config, read_manifest

    bench = [r for r in read_manifest(benchmark_path(DEFAULT_BENCHMARK["field_photo"])) if Path(r.path).is_file()]
    if not bench:
        pytest.skip("the benchmark's photos are not beside the checkout")
    train = without_benchmark(build_manifest(load_config())[0])
    same = tmp_path / "3f9a.jpg"
    same.write_bytes(Path(bench[0].path).read_bytes())
    with Image.open(bench[1].path) as im:
        im.convert("RGB").resize((im.width * 3, im.height * 3), Image.Resampling.LANCZOS).save(tmp_path / "b.jpg",
                                                                                               quality=85)
    other = tmp_path / "c.jpg"
    other.write_bytes(Path(train[0].path).read_bytes())
    rows = [ManifestRow(str(p), "blast", p.stem, "train", "feedback/phone") for p in (same, tmp_path / "b.jpg", other)]
    assert [Path(r.path).name for r in without_benchmark(rows, by_content=True)] == ["c.jpg"]
    # downsized and re-encoded as the phone's page sends it (the hash's hard case: 283 of 294 such copies caught)
    with Image.open(bench[2].path) as im:
        im.convert("RGB").resize((im.width * 2 // 3, im.height * 2 // 3), Image.Resampling.BOX).save(
            tmp_path / "d.jpg", quality=70)
    small = ManifestRow(str(tmp_path / "d.jpg"), "blast", "d", "train", "feedback/phone")
    assert without_benchmark([small], by_content=True) == []
