"""The notebooks run end to end on a tiny subset (papermill, parameters overridden), so they cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets.field_photos import DEFAULT_DATA_ROOT

papermill = pytest.importorskip("papermill")

NB = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str, out: Path, **params: object) -> None:
    """The notebook run with `params`, its DATA_ROOT the shared data's folder wherever the checkout is (its default,
    ../../shared/data, holds beside the checkout only)."""
    params = {"DATA_ROOT": str(DEFAULT_DATA_ROOT), **params}
    papermill.execute_notebook(str(NB / name), str(out / name), parameters=params, cwd=str(NB), progress_bar=False,
                               kernel_name="python3")


@pytest.mark.slow
def test_field_photo_notebooks_tiny(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    execute("01_explore_field_photos.ipynb", tmp_path, MAX_SAMPLES=2)
    execute("02_train_field_photo_model.ipynb", tmp_path, OUT_DIR=str(bundle), EPOCHS=1, MAX_TRAIN_IMAGES=12)
    assert (bundle / "checkpoint.pt").exists() and (bundle / "training_curves.png").exists()
    execute("03_evaluate_and_export.ipynb", tmp_path, OUT_DIR=str(bundle), VERSION="0.0.0-test", LOSO=False,
            ACTIVATE=False)
    meta = json.loads((bundle / "model.json").read_text())
    assert meta["model_version"] == "0.0.0-test" and meta["parity_max_abs_diff"] < 1e-4
    for png in ("confusion_matrix.png", "reliability.png", "coverage_accuracy.png"):
        assert (bundle / png).stat().st_size > 1000


@pytest.mark.slow
def test_drone_notebook_tiny(tmp_path: Path) -> None:
    out = tmp_path / "drone"
    execute("04_train_drone_segmenter.ipynb", tmp_path, OUT_DIR=str(out), VERSION="0.0.0-test", EPOCHS=1, MAX_CHIPS=16,
            SEEDS_PER_SOURCE=1, SCENES_DIR=str(tmp_path / "scenes"), ACTIVATE=False)
    meta = json.loads((out / "model.json").read_text())
    assert meta["tile_size_px"] and meta["halo_px"] and meta["input_bands"] == ["red", "green", "blue"]
    assert meta["logits_stride"] == 2 and meta["parity_max_abs_diff_logits"] < 1e-3  # STEM = 2: no Resize exported
    assert set(meta["metrics"]["held_out_scenes"]["bali_south_s0"]) == {"model", "index_anomaly"}
    q = json.loads((tmp_path / "drone-int8" / "model.json").read_text())  # the int8 derivation ran
    assert q["model_version"] == "0.0.0-test-int8" and q["derived_from"]["version"] == "0.0.0-test"
    assert q["logits_stride"] == 2 and q["quantization"]["kept_float"] == ["/head/Conv"]
    assert q["metrics"]["held_out_scenes"]


@pytest.mark.slow
def test_lesion_patch_notebook_tiny(tmp_path: Path) -> None:
    out = tmp_path / "lesion"
    execute("05_train_lesion_patch_model.ipynb", tmp_path, OUT_DIR=str(out), VERSION="0.0.0-test", MAX_IMAGES=30,
            MIN_CLASS_EXAMPLES=3, BACKBONE="efficientnet-lite0", COLOUR_WEIGHT=0.0,
            WORKING_SHORT_SIDE=640, OOD_QUANTILE=0.95)  # the 1.2.0 recipe, from the page
    meta = json.loads((out / "model.json").read_text())
    assert meta["task"] == "lesion_patch_classification" and (out / "confusion_in_source_all.png").stat().st_size > 1000
    assert meta["backbone"] == "efficientnet-lite0" and not meta["patches"]["colour_features"]
    assert meta["patches"]["working_short_side"] == 640 and meta["ood"]["quantile_of_oof"] == 0.95
    assert "colour" not in meta["inputs"]
