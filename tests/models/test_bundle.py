"""The shipped field-photo bundle: complete, consistent, active, and served by onnxruntime on real photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from datasets.field_photos import load_config, read_manifest
from inference.bundle import BundleError, active_bundle_path, load_bundle, set_active
from inference.field_photo_model import FieldPhotoModel
from inference.images import read_rgb

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "datasets" / "data" / "rice_leaf_photos"


@pytest.fixture(scope="module")
def bundle_dir() -> Path:
    return active_bundle_path("field_photo")


def test_active_bundle_is_complete(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)  # checks the sha256
    for f in ["MODEL_CARD.md", "confusion_matrix.png", "reliability.png", "coverage_accuracy.png", "training_curves.png"]:
        assert (bundle_dir / f).exists(), f
    assert b.meta["classes"] == load_config().classes
    for key in ["temperature"]:
        assert b.meta["calibration"][key] > 0
    assert 0 < b.meta["abstain"]["confidence_threshold"] < 1
    assert b.meta["parity_max_abs_diff"] < 1e-4
    props = {p.key: p.value for p in onnx.load(str(b.onnx_path)).metadata_props}
    assert json.loads(props["classes"]) == b.meta["classes"]
    assert props["model_version"] == b.meta["model_version"]


def test_bundle_tampering_is_detected(bundle_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(bundle_dir, copy)
    with (copy / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_bundle(copy)


def test_set_active_refuses_a_missing_version(tmp_path: Path) -> None:
    (tmp_path / "field_photo").mkdir()
    with pytest.raises(BundleError, match="not a model bundle"):
        set_active("field_photo", "9.9.9", tmp_path)


def test_shipped_model_diagnoses_real_photos(bundle_dir: Path) -> None:
    model = FieldPhotoModel(bundle_dir)
    # test-split photos of the committed source (as listed in the bundle's manifest)
    rows = [r for r in read_manifest(bundle_dir / "manifest.csv") if r.split == "test" and r.source == "sethy2020"]
    assert len(rows) > 30
    correct = 0
    for r in rows:
        p = model.predict(read_rgb(r.path, 448))
        correct += max(p.probabilities, key=p.probabilities.__getitem__) == r.label
        assert abs(sum(p.probabilities.values()) - 1) < 1e-5
    assert correct / len(rows) > 0.7


def test_non_leaf_image_is_unsure(bundle_dir: Path) -> None:
    model = FieldPhotoModel(bundle_dir)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    grey = np.full((300, 300, 3), 128, np.uint8)
    for img in (noise, grey):
        p = model.predict(img)
        assert p.label == "unsure" and not p.in_distribution, p
