"""The shipped drone damage bundles: 1.2.0 is 1.1.0's network quantized to int8 after training. Every operator is
quantized, its held-out F1 stays within the issue's 0.02 of its source, and on a real orthomosaic window its damage
map agrees with the float network's. The derivation itself runs end to end on the real scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio

from datasets.drone import default_sources, make_scenes
from datasets.field_photos import DEFAULT_DATA_ROOT
from inference.bundle import MODELS_DIR, load_bundle
from inference.drone import DamageModel
from tests.data.make_rasters import BALI

INT8, FLOAT = MODELS_DIR / "drone_damage" / "1.2.0", MODELS_DIR / "drone_damage" / "1.1.0"


def _f1(bundle: Path) -> dict[str, float]:
    meta = json.loads((bundle / "model.json").read_text())
    return {scene: r["model"]["f1"] for scene, r in meta["metrics"]["held_out_scenes"].items()}


def test_int8_bundle_is_quantized_throughout_and_within_002_f1() -> None:
    b = load_bundle(INT8)
    assert b.meta["derived_from"]["version"] == "1.1.0" and b.meta["quantization"]["operators"]
    g = onnx.load(str(b.onnx_path)).graph
    made_by = {o: n.op_type for n in g.node for o in n.output}
    kept_float = set(b.meta["quantization"]["kept_float"])
    assert kept_float == {n.name for n in g.node if set(n.output) & {o.name for o in g.output}}  # the logits only
    ops = [n for n in g.node if n.op_type in ("Conv", "ConvTranspose", "Relu", "MaxPool", "Concat")]
    assert {n.op_type for n in ops} - {"Relu"} == {"Conv", "ConvTranspose", "MaxPool", "Concat"}  # ReLUs fold into Q
    assert all(made_by.get(i) == "DequantizeLinear" for n in ops for i in n.input[:1])  # int8 activations in
    convs = [n for n in ops if n.op_type in ("Conv", "ConvTranspose") and n.name not in kept_float]
    assert all(made_by.get(n.input[1]) == "DequantizeLinear" for n in convs)  # int8 weights
    f_int8, f_float = _f1(INT8), _f1(FLOAT)
    assert f_int8.keys() == f_float.keys()
    assert all(f_int8[s] >= f_float[s] - 0.02 for s in f_float)


def test_int8_damage_map_agrees_with_the_float_network() -> None:
    with rasterio.open(BALI) as ds:  # a held-out block of fields: the southern 40 % of the mosaic
        data = ds.read([1, 2, 3], window=((460, 460 + 256), (100, 100 + 256)))
    crop = (slice(32, 224), slice(32, 224))
    p8, p32 = (DamageModel(b).damage_probability_at(data, ["red", "green", "blue"], 255.0, 1, crop)
               for b in (INT8, FLOAT))
    assert np.mean((p8 >= 0.5) == (p32 >= 0.5)) > 0.99
    assert np.median(np.abs(p8 - p32)) < 0.01


@pytest.mark.slow
def test_quantize_version_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from models.drone_segmenter import quantize_version

    scenes = make_scenes(default_sources(DEFAULT_DATA_ROOT), tmp_path / "scenes")
    meta = quantize_version(FLOAT, "9.9.9-test", scenes, "test", out_dir=tmp_path / "b", calibration_chips=8)
    assert load_bundle(tmp_path / "b").version == "9.9.9-test"
    assert meta["quantization"]["calibration"]["scenes"] and all(
        s.startswith(("sorghum", "bali_north")) for s in meta["quantization"]["calibration"]["scenes"])  # train only
    f1 = {s: r["model"]["f1"] for s, r in meta["metrics"]["held_out_scenes"].items()}
    assert all(f1[s] >= _f1(FLOAT)[s] - 0.02 for s in f1)
    with pytest.raises(FileExistsError):
        quantize_version(FLOAT, "9.9.9-test", scenes, "test", out_dir=tmp_path / "b")
