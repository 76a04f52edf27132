"""The lesion-patch pipeline end to end on a small balanced subset: features, honest evaluations, ONNX export with
parity, and the bundle served through the photo scorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.lesion_patch_model import LesionPatchModel, load_photo_model
from inference.photo import PhotoScorer
from models.lesion_patch_pipeline import LesionPatchConfig, run
from tests.data.make_photos import real_photo


def extra_folder(root: Path) -> Path:
    """An export-feedback style folder: a new class ('tungro', 4 photos of one phone, and a fifth the export put in
    its test split) and one with a single photo."""
    import csv
    import shutil

    from api.services.feedback import MANIFEST_COLUMNS

    rows = []
    for i, (label, src) in enumerate([("tungro", real_photo("blast", k)) for k in range(2, 7)]
                                     + [("leaf_smut", real_photo("brown_spot", 5))]):
        rel = f"{label}/{i}{src.suffix}"
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        rows.append({"path": rel, "label": label, "group": f"feedback:VN-1:{i}", "split": "test" if i == 4 else "train",
                     "source": "feedback/samsung-sm-a125f"})
    (root / "tungro" / "readme.jpg").write_text("not a photo")  # named and left out before any training work
    rows.append({"path": "tungro/readme.jpg", "label": "tungro", "group": "feedback:VN-1:x", "split": "train",
                 "source": "feedback/samsung-sm-a125f"})
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, MANIFEST_COLUMNS, restval="")
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.mark.slow
def test_small_pipeline_run_exports_a_servable_bundle(tmp_path: Path) -> None:
    out = tmp_path / "field_photo" / "0.0.1-test"
    extra = extra_folder(tmp_path / "feedback")
    meta = run("0.0.1-test", out, max_images=30, cfg=LesionPatchConfig(min_class_examples=3), extra=[extra])
    # the extra folder's new class is learned, with a loud warning (one source); the one-photo class is refused
    assert meta["classes"][-1] == "tungro" and "leaf_smut" not in meta["classes"]
    assert meta["training"]["photos_per_source"]["feedback/samsung-sm-a125f"] == 4
    warnings = " ".join(meta["training"]["warnings"])
    assert "'tungro' comes from a single source" in warnings and "'leaf_smut' refused" in warnings
    assert "1 photos of" in warnings and "marked test by the export were left out of training" in warnings
    assert "left out, cannot be read:" in warnings and "readme.jpg" in warnings
    assert "WARNINGS" in (out / "MODEL_CARD.md").read_text()
    assert meta["task"] == "lesion_patch_classification" and meta["parity_max_abs_diff"] < 1e-4
    assert meta["ood"]["colour"]["distance_threshold"] > 0 and len(meta["ood"]["colour"]["means"]) >= 3
    assert set(meta["metrics"]["leave_one_source_out"]) == {"train_roboflow_test_sethy2020",
                                                            "train_sethy2020_test_roboflow"}
    assert set(meta["metrics"]["leave_one_class_out"]) <= set(meta["classes"])
    assert json.loads((out / "model.json").read_text())["onnx_sha256"] == meta["onnx_sha256"]
    assert "Leave one source out" in (out / "MODEL_CARD.md").read_text()
    model = load_photo_model(out)
    assert isinstance(model, LesionPatchModel)
    r = PhotoScorer(model).score(real_photo("blast", 0).read_bytes())
    assert r.model.version == "0.0.1-test" and r.diagnosis.status in {"diagnosed", "unsure", "no_symptom"}
    assert abs(sum(r.diagnosis.probabilities.values()) - 1) < 1e-3
    assert meta["training"]["benchmark_excluded"].startswith("field_photo-v1@")
    with pytest.raises(FileExistsError, match="never overwritten"):  # a second run cannot replace the bundle
        run("0.0.1-test", out, max_images=30, cfg=LesionPatchConfig(min_class_examples=3))


@pytest.mark.slow
def test_int8_derivation_keeps_the_network_and_says_how_answers_moved(tmp_path: Path) -> None:
    """derive_int8_bundle: a loadable bundle whose convolutions read int8 weights and activations, the source's head
    and rules, and the share of served answers that stayed the same on the photos it checked."""
    import onnx

    from inference.bundle import MODELS_DIR, load_bundle
    from models.lesion_patch_pipeline import QUANTIZED_OPS, derive_int8_bundle

    src = MODELS_DIR / "field_photo" / "1.4.0"
    meta = derive_int8_bundle(src, "9.9.9-test", tmp_path / "b", photos_per_group=1, max_photos=4)
    b = load_bundle(tmp_path / "b")
    assert b.version == "9.9.9-test" and meta["quantization"]["operators"] == list(QUANTIZED_OPS)
    assert b.meta["abstain"] == load_bundle(src).meta["abstain"] and b.meta["derived_from"]["version"] == "1.4.0"
    g = onnx.load(str(b.onnx_path)).graph
    made_by = {o: n.op_type for n in g.node for o in n.output}
    convs = [n for n in g.node if n.op_type == "Conv"]
    assert convs and all(made_by.get(n.input[1]) == "DequantizeLinear" for n in convs)
    assert meta["derived_check"]["photos"] == 4 and 0 <= meta["derived_check"]["same_answer"] <= 1
    assert b.meta["metrics"] == {} and b.meta["source_metrics"] == load_bundle(src).meta["metrics"]
    assert "in int8" in (tmp_path / "b" / "MODEL_CARD.md").read_text().splitlines()[0]


@pytest.mark.slow
def test_int8_training_serves_the_network_its_head_was_trained_on(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """cfg.int8: every training patch is embedded by the int8 network, and the exported graph computes the same
    probabilities from the same patches (parity), with int8 only in the network: the head and distances stay float."""
    import onnx

    import models.lesion_patch_pipeline as pipeline
    from inference.bundle import load_bundle
    from models.lesion_patch_int8 import NETWORK_NODES, Int8Features

    embedders = []
    extract = pipeline.extract

    def spy(*args, **kw):  # type: ignore[no-untyped-def]
        embedders.append(args[-1])
        return extract(*args, **kw)

    monkeypatch.setattr(pipeline, "extract", spy)
    out = tmp_path / "field_photo" / "0.0.2-int8"
    meta = run("0.0.2-int8", out, max_images=24, cfg=LesionPatchConfig(min_class_examples=3, int8=True))
    assert len(embedders) == 1 and isinstance(embedders[0], Int8Features)  # the head saw int8 features only
    assert meta["parity_max_abs_diff"] < 1e-4  # the head on training's int8 features == the served int8 graph
    q = meta["quantization"]
    assert q["only_under"] == NETWORK_NODES and q["calibration"]["patches"] > 0 and "int8" in q["trained_on"]
    g = onnx.load(str(load_bundle(out).onnx_path)).graph
    made_by = {o: n for n in g.node for o in n.output}
    convs = [n for n in g.node if n.op_type == "Conv"]
    assert convs and all(made_by[n.input[1]].op_type == "DequantizeLinear" for n in convs)
    head = [n for n in g.node if not n.name.startswith(NETWORK_NODES) and n.op_type in ("Gemm", "MatMul", "Clip")]
    assert head and all(made_by.get(i) is None or made_by[i].op_type != "DequantizeLinear"
                        for n in head for i in n.input)  # the head reads float tensors
    r = PhotoScorer(load_photo_model(out)).score(real_photo("blast", 0).read_bytes())
    assert r.diagnosis.status in {"diagnosed", "unsure", "no_symptom"}
