"""The field-photo disease classifier served by onnxruntime: preprocessing, calibrated probabilities, abstain rule.

Everything it needs is in the bundle's model.json: input size, resize rule, normalisation, class names, temperature,
abstain and out-of-distribution thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from inference.bundle import Bundle, load_bundle


def paper_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask (rows, cols) of bright, unsaturated pixels: white paper or a scanner bed around a leaf."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    return (hsv[..., 1] < 35) & (hsv[..., 2] > 150)


def crop_to_leaf(rgb: np.ndarray, min_paper_fraction: float = 0.15, pad_fraction: float = 0.04) -> np.ndarray:
    """Crop a photo of a leaf on paper to the bounding box of the leaf, so it fills the frame as in field close-ups.

    Photos with little paper (field close-ups) are returned unchanged.
    """
    paper = paper_mask(rgb)
    if paper.mean() < min_paper_fraction:
        return rgb
    fg = cv2.morphologyEx((~paper).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return rgb
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[k, cv2.CC_STAT_AREA] < 0.02 * fg.size:
        return rgb
    x, y, w, h = (int(v) for v in stats[k, :4])
    pad = int(pad_fraction * max(rgb.shape[:2]))
    y0, y1 = max(0, y - pad), min(rgb.shape[0], y + h + pad)
    x0, x1 = max(0, x - pad), min(rgb.shape[1], x + w + pad)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def gray_world(rgb: np.ndarray) -> np.ndarray:
    """Gray-world white balance: scale each channel so the three channel means are equal (removes a camera's or a
    light's colour cast; Buchsbaum 1980)."""
    f = rgb.astype(np.float32)
    means = f.reshape(-1, 3).mean(axis=0) + 1e-6
    return np.clip(f * (means.mean() / means), 0, 255).astype(np.uint8)


def preprocess_crops(rgb: np.ndarray, meta: dict, n: int) -> np.ndarray:
    """Up to `n` S x S crops spread along the long side, after the leaf crop and white balance that the bundle asks
    for and a resize of the short side to S: a long leaf is seen whole instead of by its middle only (n = 1: the
    centre crop). Returns (k, 3, S, S), k <= n."""
    if meta.get("crop") == "leaf_bbox":
        rgb = crop_to_leaf(rgb)
    if meta.get("white_balance") == "gray_world":
        rgb = gray_world(rgb)
    size = int(meta["input_size"])
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    long_ = max(nh, nw)
    k = max(1, min(n, int(np.ceil(long_ / size))))
    offsets = np.linspace(0, long_ - size, k).round().astype(int) if k > 1 else [(long_ - size) // 2]
    mean = np.asarray(meta["normalization"]["mean"], np.float32)
    std = np.asarray(meta["normalization"]["std"], np.float32)
    crops = []
    for o in offsets:
        c = img[o : o + size, (nw - size) // 2 : (nw - size) // 2 + size] if nh >= nw else \
            img[(nh - size) // 2 : (nh - size) // 2 + size, o : o + size]
        crops.append(((c.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
    return np.stack(crops)


def preprocess(rgb: np.ndarray, meta: dict) -> np.ndarray:
    """RGB uint8 image (rows, cols, 3) -> float32 tensor (3, S, S) as the bundle expects.

    Optionally crop to the leaf (meta["crop"] == "leaf_bbox") and white-balance, resize so the short side is S (area
    interpolation when shrinking), centre-crop S x S, scale to 0-1, normalise: the single-crop case of
    `preprocess_crops`.
    """
    return preprocess_crops(rgb, meta, 1)[0]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Free energy -T logsumexp(logits / T): higher means less like the training data (Liu et al., NeurIPS 2020)."""
    z = logits / temperature
    m = z.max(axis=-1)
    return -temperature * (m + np.log(np.exp(z - m[..., None]).sum(axis=-1)))


@dataclass
class Prediction:
    label: str  # a class name or "unsure"
    confidence: float  # calibrated probability of the top class, 0-1
    probabilities: dict[str, float]  # calibrated, per class
    ood_distance: float  # cosine distance of the image embedding to the nearest class centroid, 0-2
    in_distribution: bool
    reason: str | None  # why "unsure"


class CalibratedBundleModel:
    """A classifier bundle loaded once: its onnxruntime session (thread-safe), classes, temperature, abstain and
    out-of-distribution thresholds, all from model.json."""

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = None) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.meta = self.bundle.meta
        opts = ort.SessionOptions()
        # the service scores many photos at once: threads that spin while waiting for work burn the cores the other
        # requests need (16 concurrent page-sized uploads: 9.6 -> 11.3 photos/s without spinning)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.bundle.onnx_path), opts, providers=["CPUExecutionProvider"])
        self.classes: list[str] = list(self.meta["classes"])
        self.temperature = float(self.meta["calibration"]["temperature"])
        self.abstain_threshold = float(self.meta["abstain"]["confidence_threshold"])
        self.ood_threshold = float(self.meta["ood"]["distance_threshold"])
        # the photo kind (leaf close-up or not) may use a looser distance than the abstain test (1.6.0: the 95 % and the
        # 70 % quantile of the training photos' distances): a known disease from another phone is answered unsure
        # without being turned into a field patch. Bundles before 1.6.0 have one threshold for both.
        self.kind_threshold = float(self.meta["ood"].get("kind_distance_threshold", self.ood_threshold))

    def answer(self, p: np.ndarray, dist: float, unlike_training: str) -> Prediction:
        """The calibrated probabilities `p` (C,) and OOD distance as an answer: the top class, or "unsure" when the
        input is unlike the training data (`unlike_training` says how) or the top probability is under the abstain
        threshold. `in_distribution` is the kind test's (kind_threshold), which the abstain test may be stricter than."""
        k = int(p.argmax())
        in_dist = dist <= self.kind_threshold
        reason = None
        if dist > self.ood_threshold:
            reason = unlike_training
        elif p[k] < self.abstain_threshold:
            reason = "the model cannot tell between diseases with enough confidence"
        return Prediction(self.classes[k] if reason is None else "unsure", float(p[k]),
                          {c: float(v) for c, v in zip(self.classes, p, strict=True)}, dist, in_dist, reason)


class FieldPhotoModel(CalibratedBundleModel):
    """The whole-image classifier; `predict` is thread-safe."""

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        # photos are decoded at twice the network's input on the short side (room for the leaf crop)
        self.decode_short_side = 2 * int(self.meta["input_size"])

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """batch float32 (N, 3, S, S) preprocessed -> (logits (N, C), ood_distance (N,))."""
        logits, dist = self.session.run(["logits", "ood_distance"], {"image": batch.astype(np.float32)})
        return logits, dist

    def predict_batch(self, images_rgb: list[np.ndarray], crops: int | None = None) -> list[Prediction]:
        """Predictions for RGB images; with several test-time crops (model.json "test_time_crops", or `crops`) the
        logits and OOD distances of an image's crops are averaged."""
        n = int(crops if crops is not None else self.meta.get("test_time_crops", 1))
        if n <= 1:
            batch = np.stack([preprocess(im, self.meta) for im in images_rgb])
            logits, dist = self.run(batch)
            return [self._decide(lg, float(d)) for lg, d in zip(logits, dist, strict=True)]
        out = []
        for im in images_rgb:
            lg, d = self.run(preprocess_crops(im, self.meta, n))
            out.append(self._decide(lg.mean(axis=0), float(d.mean())))
        return out

    def predict(self, image_rgb: np.ndarray, hsv: np.ndarray | None = None) -> Prediction:
        """`hsv` is not used (the lesion-patch model's signature)."""
        return self.predict_batch([image_rgb])[0]

    def _decide(self, logits: np.ndarray, dist: float) -> Prediction:
        return self.answer(softmax(logits / self.temperature), dist,
                           "the photo does not look like the rice-leaf photos the model was trained on")
