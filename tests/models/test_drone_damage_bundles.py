"""The shipped drone damage bundles: 1.2.0 is 1.1.0's network quantized to int8 after training, 1.4.0 is 1.3.0's
(the half-resolution network behind a stride-2 stem). Every operator but the logits' convolution is quantized, the
held-out F1 stays within the issue's 0.02 of the source, and on a real orthomosaic window the damage map agrees with
the float network's. 1.4.0, which replaced 1.2.0, is within 0.02 of it on every held-out scene. The derivation itself
runs end to end on the real scenes."""

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

DAMAGE = MODELS_DIR / "drone_damage"
INT8, FLOAT = DAMAGE / "1.2.0", DAMAGE / "1.1.0"
PAIRS = [(DAMAGE / "1.2.0", DAMAGE / "1.1.0"), (DAMAGE / "1.4.0", DAMAGE / "1.3.0"),
         (DAMAGE / "1.5.1", DAMAGE / "1.5.0")]  # (int8, its float source)


def _f1(bundle: Path) -> dict[str, float]:
    meta = json.loads((bundle / "model.json").read_text())
    return {scene: r["model"]["f1"] for scene, r in meta["metrics"]["held_out_scenes"].items()}


@pytest.mark.parametrize("int8, source", PAIRS, ids=lambda p: p.name)
def test_int8_bundle_is_quantized_throughout_and_within_002_f1(int8: Path, source: Path) -> None:
    b = load_bundle(int8)
    assert b.meta["derived_from"]["version"] == source.name and b.meta["quantization"]["operators"]
    g = onnx.load(str(b.onnx_path)).graph
    made_by = {o: n for n in g.node for o in n.output}
    kept_float = set(b.meta["quantization"]["kept_float"])
    # kept float: the convolution that computes the logits, which reach the output directly or through a Resize
    last = made_by[g.output[0].name]
    while last.op_type == "Resize":
        last = made_by[last.input[0]]
    assert kept_float == {last.name} and last.op_type == "Conv"
    assert last.input[1] in {i.name for i in g.initializer}  # float weights
    decoder = load_bundle(source).meta["training"]["config"].get("decoder", "transposed_concat")
    up = {"transposed_concat": {"ConvTranspose", "Concat"}, "nearest_add": {"Resize", "Add"}}[decoder]
    ops = [n for n in g.node if n.op_type in {"Conv", "Relu", "MaxPool", *up}]
    assert {n.op_type for n in ops} - {"Relu"} == {"Conv", "MaxPool", *up}  # ReLUs fold into Q
    assert all(made_by[i].op_type == "DequantizeLinear" for n in ops for i in n.input[:1])  # int8 activations in
    convs = [n for n in ops if n.op_type in ("Conv", "ConvTranspose") and n.name not in kept_float]
    assert all(made_by[n.input[1]].op_type == "DequantizeLinear" for n in convs)  # int8 weights
    f_int8, f_float = _f1(int8), _f1(source)
    assert f_int8.keys() == f_float.keys()
    assert all(f_int8[s] >= f_float[s] - 0.02 for s in f_float)


def test_the_half_resolution_network_replaced_12_within_002_f1() -> None:
    """1.3.0 / 1.4.0: the U-Net at half resolution behind a learnt stride-2 stem (a quarter of 1.1.0's FLOPs per
    pixel), declared at 10 cm like 1.1.0, its halo doubled in input pixels; within 0.02 F1 of 1.2.0 on every held-out scene (the promotion rule)."""
    meta = load_bundle(DAMAGE / "1.3.0").meta
    assert meta["training"]["config"]["stem"] == 2 and meta["analysis_gsd_m"] == 0.1
    assert meta["flops_per_pixel"] < 0.3 * 70_800 and meta["halo_px"] == 64 and meta["size_multiple"] == 16
    new, old = _f1(DAMAGE / "1.4.0"), _f1(DAMAGE / "1.2.0")
    assert new.keys() == old.keys() and all(new[s] >= old[s] - 0.02 for s in old)


@pytest.mark.parametrize("int8, source", PAIRS, ids=lambda p: p.name)
def test_int8_damage_map_agrees_with_the_float_network(int8: Path, source: Path) -> None:
    with rasterio.open(BALI) as ds:  # a held-out block of fields: the southern 40 % of the mosaic
        data = ds.read([1, 2, 3], window=((460, 460 + 256), (100, 100 + 256)))
    halo = load_bundle(int8).meta["halo_px"]
    crop = (slice(halo, 256 - halo), slice(halo, 256 - halo))
    p8, p32 = (DamageModel(b).damage_probability_at(data, ["red", "green", "blue"], 255.0, 1, crop)
               for b in (int8, source))
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


def test_output_writers_follow_the_data_path_through_a_resize() -> None:
    """The convolution that computes the logits stays float even behind a Resize; a Resize's sizes, computed from an
    inner convolution's shape, do not make that convolution a writer of the output."""
    from onnx import TensorProto, helper

    from models.quantize import _output_writers

    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="inner"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w"], ["logits"], name="head"),
        helper.make_node("Shape", ["a"], ["shape"], name="shape"),
        helper.make_node("Resize", ["logits", "", "", "shape"], ["y"], name="resize", mode="linear"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w])
    assert _output_writers(graph, ("Conv", "Relu")) == {"head"}
    direct = helper.make_graph(nodes[:3], "g", [x], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
                               initializer=[w])
    assert _output_writers(direct, ("Conv", "Relu")) == {"head"}


def test_no_damage_along_the_edge_of_a_plot_clip(tmp_path: Path) -> None:
    """A 40 x 175 px clip of one healthy sorghum plot (2 cm): with black beyond the raster's edge, 1.4.0 called a
    quarter of the pixels within 8 px of the edge damaged; filled from their neighbours, none."""
    from inference.drone import analyze_orthomosaic

    clip = DEFAULT_DATA_ROOT / "drone_orthos" / "sorghum_plots" / "rgb_33_8_W.tif"
    analyze_orthomosaic(clip, tmp_path, damage_model=DamageModel(DAMAGE / "1.4.0"))
    with rasterio.open(tmp_path / "damage.tif") as ds:
        damage = ds.read(1)
    edge = np.ones(damage.shape, bool)
    edge[8:-8, 8:-8] = False
    assert np.mean(damage[edge] >= 50) < 0.02


def test_141_is_140_with_the_logits_upsampled_by_the_server() -> None:
    """1.4.1: 1.4.0's graph without its final Resize (logits at half size, model.json logits_stride 2); the server's
    bilinear upsampling gives 1.4.0's damage probability to float rounding (and the same held-out F1 in
    `cropwatch models compare drone_damage 1.4.0 1.4.1`)."""
    b = load_bundle(DAMAGE / "1.4.1")
    assert b.meta["derived_from"]["version"] == "1.4.0" and b.meta["logits_stride"] == 2
    g = onnx.load(str(b.onnx_path)).graph
    assert "Resize" not in {n.op_type for n in g.node} and [o.name for o in g.output] == ["logits"]
    with rasterio.open(BALI) as ds:
        data = ds.read([1, 2, 3], window=((400, 400 + 320), (100, 100 + 320)))
    crop = (slice(64, 256), slice(64, 256))
    p0, p1 = (DamageModel(v).damage_probability_at(data, ["red", "green", "blue"], 255.0, 1, crop)
              for v in (DAMAGE / "1.4.0", b.path))
    assert np.abs(p0 - p1).max() < 1e-5
    # 1.4.0's card was scored before the outside-the-mosaic fill (black there), 1.4.1's after it
    f_new, f_old = _f1(DAMAGE / "1.4.1"), _f1(DAMAGE / "1.4.0")
    assert f_new.keys() == f_old.keys() and all(abs(f_new[s] - f_old[s]) < 0.01 for s in f_old)


def test_142_is_141_with_a_32_px_halo_and_the_same_f1() -> None:
    """1.4.2: 1.4.1's network and weights with a 32 px halo (19 % fewer pixels through the network per 512 px
    window); every held-out F1 within 0.002 of 1.4.1's, and inside a window the damage map is 1.4.1's."""
    b, src = load_bundle(DAMAGE / "1.4.2"), load_bundle(DAMAGE / "1.4.1")
    assert b.meta["derived_from"]["version"] == "1.4.1" and (b.meta["halo_px"], src.meta["halo_px"]) == (32, 64)
    g, g0 = (onnx.load(str(x.onnx_path)).graph for x in (b, src))
    assert [i.raw_data for i in g.initializer] == [i.raw_data for i in g0.initializer]  # the same weights
    f_new, f_old = _f1(DAMAGE / "1.4.2"), _f1(DAMAGE / "1.4.1")
    assert f_new.keys() == f_old.keys() and all(abs(f_new[s] - f_old[s]) <= 0.002 for s in f_old)
    assert (DAMAGE / "1.4.2" / "MODEL_CARD.md").read_text().startswith("# drone_damage_unet_small 1.4.2\n")


def test_151_replaced_142_without_a_transposed_convolution_within_002_f1() -> None:
    """1.5.0 / 1.5.1: the decoder goes up by a 1x1 convolution, nearest upsampling and an added skip (onnxruntime has
    no int8 ConvTranspose: 1.4.2's ran in float, 16 % of its time); fewer FLOPs per pixel, and within 0.02 F1 of 1.4.2
    on every held-out scene (the promotion rule), with the same 32 px halo."""
    meta = load_bundle(DAMAGE / "1.5.0").meta
    assert meta["training"]["config"]["decoder"] == "nearest_add" and meta["training"]["config"]["stem"] == 2
    assert meta["flops_per_pixel"] < load_bundle(DAMAGE / "1.4.2").meta["flops_per_pixel"] and meta["halo_px"] == 32
    ops = {n.op_type for n in onnx.load(str(DAMAGE / "1.5.1" / "model.onnx")).graph.node}
    assert "ConvTranspose" not in ops and "Concat" not in ops
    new, old = _f1(DAMAGE / "1.5.1"), _f1(DAMAGE / "1.4.2")
    assert new.keys() == old.keys() and all(new[s] >= old[s] - 0.02 for s in old)


def test_152_is_151_on_a_space_to_depth_input() -> None:
    """1.5.2: 1.5.1's stride-2 stem as a 1x1 convolution of a space-to-depth input that the server lays out
    (model.json input_space_to_depth 2): the same int8 weights reordered, the same damage probability to the bit on
    a real window, and the same held-out F1."""
    b = load_bundle(DAMAGE / "1.5.2")
    assert b.meta["derived_from"]["version"] == "1.5.1" and b.meta["input_space_to_depth"] == 2
    g = onnx.load(str(b.onnx_path)).graph
    assert g.input[0].type.tensor_type.shape.dim[1].dim_value == 12
    stem = next(n for n in g.node if n.name == "/stem/stem.0/Conv")
    assert {a.name: list(a.ints) for a in stem.attribute}["kernel_shape"] == [1, 1]
    with rasterio.open(BALI) as ds:
        data = ds.read([1, 2, 3], window=((400, 400 + 320), (96, 96 + 320)))
    crop = (slice(32, 288), slice(32, 288))
    p1, p2 = (DamageModel(DAMAGE / v).damage_probability_at(data, ["red", "green", "blue"], 255.0, 1, crop)
              for v in ("1.5.1", "1.5.2"))
    odd = data[:, :301, :293]  # not a multiple of the network's size: padded, then laid out
    q1, q2 = (DamageModel(DAMAGE / v).damage_probability_at(odd, ["red", "green", "blue"], 255.0, 1,
                                                            (slice(0, 301), slice(0, 293))) for v in ("1.5.1", "1.5.2"))
    assert np.array_equal(p1, p2) and np.array_equal(q1, q2) and q1.shape == (301, 293)
    assert _f1(DAMAGE / "1.5.2") == _f1(DAMAGE / "1.5.1")


def test_153_is_152_with_a_16_px_halo_and_the_same_f1() -> None:
    """1.5.3: 1.5.2's network and weights with a 16 px halo (11 % fewer pixels through the network per 512 px
    window): the same graph and weights, every held-out F1 within 0.002 of 1.5.2's."""
    b, src = load_bundle(DAMAGE / "1.5.3"), load_bundle(DAMAGE / "1.5.2")
    assert b.meta["derived_from"]["version"] == "1.5.2" and (b.meta["halo_px"], src.meta["halo_px"]) == (16, 32)
    g, g0 = (onnx.load(str(x.onnx_path)).graph for x in (b, src))
    assert b.meta["input_space_to_depth"] == 2 and g.SerializeToString() == g0.SerializeToString()
    f_new, f_old = _f1(DAMAGE / "1.5.3"), _f1(DAMAGE / "1.5.2")
    assert f_new.keys() == f_old.keys() and all(abs(f_new[s] - f_old[s]) <= 0.002 for s in f_old)


def test_space_to_depth_derivation_makes_152_again_and_is_never_quantized_again(tmp_path: Path) -> None:
    """The derivation itself (no held-out scenes given: nothing scored) rebuilds 1.5.2's graph from 1.5.1's to the
    byte; quantizing such a bundle again is refused (its calibration would feed plain images)."""
    pytest.importorskip("torch")
    from models.drone_segmenter import quantize_version, stem_on_space_to_depth

    meta = stem_on_space_to_depth(DAMAGE / "1.5.1", "9.9.9-test", [], "test", out_dir=tmp_path / "b")
    assert meta["input_space_to_depth"] == 2 and meta["derived_from"]["version"] == "1.5.1"
    g, g152 = (onnx.load(str(p / "model.onnx")).graph for p in (tmp_path / "b", DAMAGE / "1.5.2"))
    assert g.SerializeToString() == g152.SerializeToString()
    assert (tmp_path / "b" / "MODEL_CARD.md").read_text().startswith("# drone_damage_unet_small 9.9.9-test\n")
    with pytest.raises(ValueError, match="space-to-depth"):
        quantize_version(tmp_path / "b", "9.9.9-q", [], "test", out_dir=tmp_path / "q")
    assert not (tmp_path / "q").exists()


def test_space_to_depth_refuses_a_network_without_a_stem_or_laid_out_already(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from models.drone_segmenter import stem_on_space_to_depth

    with pytest.raises(ValueError, match="no 1x1 stride-1 stem"):  # 1.2.0: the U-Net at full resolution
        stem_on_space_to_depth(DAMAGE / "1.2.0", "9.9.9-test", [], "test", out_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="already takes a space-to-depth input"):
        stem_on_space_to_depth(DAMAGE / "1.5.3", "9.9.9-test", [], "test", out_dir=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_strip_output_resize_refuses_a_full_resolution_network(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from models.drone_segmenter import strip_output_resize

    with pytest.raises(ValueError, match="no bilinear"):  # 1.2.0's logits leave its last convolution directly
        strip_output_resize(DAMAGE / "1.2.0", "9.9.9-test", [], "test", out_dir=tmp_path / "b")
    assert not (tmp_path / "b").exists()
