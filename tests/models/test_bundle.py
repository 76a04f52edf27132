"""The shipped field-photo bundles: the active lesion-patch bundle and the whole-image bundle 1.1.0 kept beside it,
complete, consistent, and served by onnxruntime on real photos."""

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
from inference.lesion_patch_model import LesionPatchModel

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "datasets" / "data" / "rice_leaf_photos"


@pytest.fixture(scope="module")
def bundle_dir() -> Path:
    """The whole-image bundle (1.1.0), kept for comparison and as a fallback."""
    return REPO / "models" / "field_photo" / "1.1.0"


def test_active_bundle_is_the_lesion_patch_model() -> None:
    active = active_bundle_path("field_photo")
    b = load_bundle(active)
    assert b.meta["task"] == "lesion_patch_classification" and b.meta["classes"] == load_config().classes
    for f in ["MODEL_CARD.md", "confusion_train_roboflow_test_sethy2020.png", "confusion_in_source_all.png"]:
        assert (active / f).exists(), f
    loso = b.meta["metrics"]["leave_one_source_out"]["train_roboflow_test_sethy2020"]
    assert loso["answered_accuracy"] >= 0.9  # the abstain rule keeps it from naming a wrong disease confidently
    assert b.meta["parity_max_abs_diff"] < 1e-4
    props = {p.key: p.value for p in onnx.load(str(b.onnx_path)).metadata_props}
    assert props["model_version"] == b.meta["model_version"]


def test_active_model_answers_right_or_unsure_on_real_photos() -> None:
    model = LesionPatchModel(active_bundle_path("field_photo"))
    photos = [(p, c) for c in load_config().classes for p in sorted((PHOTOS / c).iterdir())[:12]]
    wrong = answered = 0
    for path, label in photos:
        pred = model.predict(read_rgb(path, model.decode_short_side))
        answered += pred.label != "unsure"
        wrong += pred.label not in ("unsure", label)
        assert abs(sum(pred.probabilities.values()) - 1) < 1e-5
    assert answered >= len(photos) // 3 and wrong <= 0.1 * answered
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 255, (300, 300, 3), dtype=np.uint8), np.full((300, 300, 3), 128, np.uint8)):
        assert model.predict(img).label == "unsure"


def test_whole_image_bundle_is_complete(bundle_dir: Path) -> None:
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


def _only_the_answer_moves(model: LesionPatchModel, loose: dict[str, float], strict: dict[str, float],
                           reason: str) -> None:
    """The active bundle scores the same real photos with the model's thresholds set to `loose`, then to `strict`:
    every photo diagnosed under `loose` is unsure under `strict`, for `reason`, while the probabilities,
    in_distribution (which decides leaf close-up against field patch), the photo's kind and its growth method stay."""
    from inference.photo import PhotoScorer

    scorer = PhotoScorer(model)
    photos = [p.read_bytes() for c in load_config().classes for p in sorted((PHOTOS / c).iterdir())[:6]]
    runs = []
    for setting in (loose, strict):
        for name, value in setting.items():
            setattr(model, name, value)
        runs.append([scorer.score(x) for x in photos])
    assert any(f.diagnosis.status == "diagnosed" for f in runs[0])
    for f, s in zip(*runs, strict=True):
        assert s.diagnosis.probabilities == f.diagnosis.probabilities
        assert s.diagnosis.in_distribution == f.diagnosis.in_distribution and s.photo.kind == f.photo.kind
        assert s.growth.method == f.growth.method
        if f.diagnosis.status == "diagnosed":
            assert s.diagnosis.status == "unsure" and reason in (s.diagnosis.reason or "")


def test_lesion_colour_unlike_every_disease_is_answered_unsure() -> None:
    """The active bundle's colour test (1.5.0 on): with its threshold at 0 every answer becomes unsure for its colour;
    the colour test moves neither the probabilities nor the photo's kind."""
    model = LesionPatchModel(active_bundle_path("field_photo"))
    assert model.colour_means is not None and np.isfinite(model.colour_threshold)
    _only_the_answer_moves(model, {"colour_threshold": np.inf}, {"colour_threshold": 0.0}, "colour")


def test_the_kind_test_is_looser_than_the_abstain_test() -> None:
    """The active bundle (1.6.0 on) abstains beyond the kNN distance of 70 % of its training photos but calls a
    photo a leaf close-up up to the 95 % one: with the abstain distance at 0 every answer becomes unsure for its
    spots, and the photo's kind stays (a known disease from another phone is "unsure", not "a patch of field")."""
    model = LesionPatchModel(active_bundle_path("field_photo"))
    assert model.kind_threshold > model.ood_threshold
    _only_the_answer_moves(model, {"ood_threshold": model.ood_threshold}, {"ood_threshold": 0.0}, "do not look like")


def test_a_bundle_without_the_colour_test_is_served_as_before() -> None:
    """1.4.0 has no ood.colour: no colour model, one distance per patch, nothing refused for colour."""
    model = LesionPatchModel(REPO / "models" / "field_photo" / "1.4.0")
    assert model.colour_means is None and model.colour_threshold == np.inf
    rgb = read_rgb(sorted((PHOTOS / "blast").iterdir())[0], model.decode_short_side)
    from inference.lesion_patches import leaf_patches, to_batch

    ps, _, colour = leaf_patches(rgb, model.patch_px, model.context, model.max_candidates, model.min_fraction,
                                 model.neutral_background, model.colour, model.decode_short_side)
    probs, dist = model._run(to_batch(ps[:3], model.mean, model.std), colour[:3])
    assert probs.shape == (len(ps[:3]), len(model.classes) + 1) and dist.shape == (len(ps[:3]),)
    assert "colour" not in (model.predict(rgb).reason or "")
