"""The lesion-patch network in int8, trained on as it is served (`LesionPatchConfig.int8`, `--int8`).

Quantizing a trained bundle afterwards (models.lesion_patch_pipeline.derive_int8_bundle) keeps a head, a temperature
and abstain thresholds chosen on the float network's features, so they no longer describe what serving computes (on
1.4.0: the same answer on 93.8 % of the training photos, and `compare` refused it). Here the order is turned round:

1. the frozen network alone is exported and quantized (onnxruntime static QDQ, models.quantize), calibrated on the
   patches that serving cuts from training photos (never the frozen benchmark);
2. every training patch is embedded by that int8 graph, so the head, the rules and every figure of the model card
   (leave one source out, leave one class out, in-source) are measured on int8 features;
3. the serving graph (network + head) is exported in float and quantized with the same feeds and only its
   "/features/" nodes: the network's quantization is the same as in 1, and the head stays float. The pipeline's
   parity check compares the head on 2's features with that graph.

One quantization serves every evaluation: its calibration photos are drawn from all training photos, so under
leave-one-source-out the held-out source's photos have set some activation ranges (ranges only, no labels). The
calibration feeds (about 400 MB for 72 photos) are kept until the serving graph is quantized.
"""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from datasets.field_photos import ManifestRow
from inference.lesion_patches import leaf_patches, to_batch
from inference.photo_io import decode_rgb
from models.lesion_patch import PATCH_MEAN, PATCH_STD, PatchFeatures, export_features_onnx
from models.quantize import quantize_onnx

# The backbone's convolutions with their ReLU6 (Clip), the "same" padding (Pad) and the residual sums (Add). Conv
# alone left float pairs around every Clip, Pad and Add: 1.1x faster per patch and 0.79 patch-level agreement with
# the float network; with these four, 1.7-1.9x and 0.97. The features' means and standard deviations, the head and
# the kNN distance stay float.
QUANTIZED_OPS = ("Conv", "Clip", "Pad", "Add")
NETWORK_NODES = "/features/"  # torch's names for the nodes of ServingGraph.features and _FeaturesGraph.features


def calibration_rows(rows: list[ManifestRow], photos_per_group: int = 12, seed: int = 0) -> list[ManifestRow]:
    """`photos_per_group` photos of each source and disease, drawn with `seed`."""
    groups: dict[tuple[str, str], list[ManifestRow]] = defaultdict(list)
    for r in rows:
        groups[(r.source, r.label)].append(r)
    rng = random.Random(seed)
    return [r for k in sorted(groups) for r in rng.sample(groups[k], min(photos_per_group, len(groups[k])))]


def calibration_feeds(rows: list[ManifestRow], cfg: Any) -> list[dict[str, np.ndarray]]:
    """One feed per photo, as serving feeds the graph: its candidate patches (normalised) and, with colour, their
    lesion colour. `cfg`: a LesionPatchConfig."""
    feeds = []
    for r in tqdm(rows, desc="int8 calibration", unit="photo"):
        ps, _, colour = leaf_patches(decode_rgb(r.path, cfg.working_short_side), cfg.patch_px, cfg.context,
                                     cfg.max_candidates, cfg.min_component_fraction, cfg.neutral_background,
                                     cfg.colour_weight > 0, cfg.working_short_side)
        if ps:
            feeds.append({"patches": to_batch(ps, PATCH_MEAN, PATCH_STD),
                          **({"colour": colour} if cfg.colour_weight > 0 else {})})
    return feeds


@dataclass
class Int8Features:
    """The int8 network as a feature extractor (normalised patches -> features), with what made it."""

    session: Any
    feeds: list[dict[str, np.ndarray]]
    quantization: dict[str, Any] = field(default_factory=dict)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(["features"], {"patches": batch})[0], np.float32)


def int8_features(model: PatchFeatures, rows: list[ManifestRow], cfg: Any, photos_per_group: int = 12,
                  seed: int = 0) -> Int8Features:
    """Quantize `model` on patches of `rows` (the training photos; `photos_per_group` per source and disease)."""
    import onnxruntime as ort

    calib = calibration_rows(rows, photos_per_group, seed)
    feeds = calibration_feeds(calib, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "features.onnx", Path(tmp) / "features_int8.onnx"
        export_features_onnx(model, src, cfg.patch_px)
        quantization = quantize_onnx(src, dst, [{"patches": f["patches"]} for f in feeds], QUANTIZED_OPS,
                                     only_under=NETWORK_NODES)
        session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    quantization["calibration"] = {"photos": len(calib), "patch_batches": len(feeds),
                                   "patches": int(sum(len(f["patches"]) for f in feeds)), "seed": seed,
                                   "from": "training photos (the frozen benchmark left out)"}
    return Int8Features(session, feeds, quantization)


def quantize_serving_graph(float_onnx: Path, dst: Path, int8: Int8Features) -> dict[str, Any]:
    """The exported serving graph with its network quantized as `int8`'s (same feeds, same operators, only the
    network's nodes): the head stays float. Returns model.json's "quantization"."""
    q = quantize_onnx(float_onnx, dst, int8.feeds, QUANTIZED_OPS, only_under=NETWORK_NODES)
    return {**q, "calibration": int8.quantization["calibration"],
            "trained_on": "the int8 network's features: the head, rules and every figure describe what is served"}
