"""Canopy cover against hand masks: the served method (Otsu on CIE a*, inference/canopy.py) beside two baselines in the
same run, the method served before (ExG with a clipped Otsu threshold) and a plain Lab k-means (k = 2, the greener
cluster). Data: CWFID's 60 field photos with vegetation masks (../shared/data/cwfid_research_only: research-only,
read for evaluation, never copied or trained on).

    python benchmarks/canopy_eval.py [--short-side 400]

Then the mask the service gives (GET /v1/photos/{id}/masks/canopy.png) at the hand masks' own size.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets.field_photos import DEFAULT_DATA_ROOT  # noqa: E402
from inference.canopy import canopy_mask  # noqa: E402
from inference.images import read_rgb  # noqa: E402
from inference.masks import resize_short  # noqa: E402

CWFID = DEFAULT_DATA_ROOT / "cwfid_research_only"


def exg_otsu(rgb: np.ndarray) -> np.ndarray:
    """The method served before: ExG = 2g - r - b on chromatic coordinates, Otsu threshold clipped to 0.05-0.25."""
    f = rgb.astype(np.float32)
    s = f.sum(axis=2) + 1e-6
    exg = 2 * f[..., 1] / s - f[..., 0] / s - f[..., 2] / s
    u8 = np.clip((exg + 1.0) / 3.0 * 255.0, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return exg > float(np.clip(t / 255.0 * 3.0 - 1.0, 0.05, 0.25))


def lab_kmeans(rgb: np.ndarray) -> np.ndarray:
    """Lab k-means with k = 2 (seeded); the cluster with the lower mean a* (greener) is canopy."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(lab, 2, None, (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5), 3,
                                    cv2.KMEANS_PP_CENTERS)
    return (labels.ravel() == int(np.argmin(centres[:, 1]))).reshape(rgb.shape[:2])


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = (pred | truth).sum()
    return float((pred & truth).sum() / union) if union else 1.0


def evaluate(method: Callable[[np.ndarray], np.ndarray], short_side: int) -> tuple[np.ndarray, float]:
    """IoU per CWFID image (vegetation = mask value 0) and the mean time per image in ms."""
    ious, seconds = [], 0.0
    for img in sorted((CWFID / "images").glob("*_image.png")):
        rgb = resize_short(read_rgb(img), short_side)
        mask = cv2.imread(str(CWFID / "masks" / img.name.replace("_image", "_mask")), cv2.IMREAD_GRAYSCALE)
        # the mask is shrunk like the photo (area average), so the two stay aligned to a fraction of a pixel
        truth = cv2.resize((mask == 0).astype(np.float32), (rgb.shape[1], rgb.shape[0]),
                           interpolation=cv2.INTER_AREA) > 0.5
        t0 = time.perf_counter()
        pred = method(rgb)
        seconds += time.perf_counter() - t0
        ious.append(iou(pred, truth))
    return np.array(ious), 1000 * seconds / max(len(ious), 1)


def served_at_full_size() -> tuple[np.ndarray, np.ndarray, float]:
    """IoU per CWFID image at the hand masks' own size (1296 x 966) of the canopy mask the service gives
    (`GET /v1/photos/{id}/masks/canopy.png`, `cropwatch photo score --masks`: the photo scored as uploaded, the
    threshold chosen at the analysis size and drawn on the full-size photo), and of the analysis-size mask scaled up
    (nearest neighbour), with the mean ms per image of the first."""
    from inference.bundle import active_bundle_path
    from inference.lesion_patch_model import load_photo_model
    from inference.photo import PhotoScorer

    scorer = PhotoScorer(load_photo_model(active_bundle_path("field_photo")))
    finer, blocks, seconds = [], [], 0.0
    for img in sorted((CWFID / "images").glob("*_image.png")):
        data = img.read_bytes()
        truth = cv2.imread(str(CWFID / "masks" / img.name.replace("_image", "_mask")), cv2.IMREAD_GRAYSCALE) == 0
        t0 = time.perf_counter()
        masks = scorer.measured_masks(data, None)
        png = masks.png("canopy", full_rgb=scorer.full_size_rgb(data))
        seconds += time.perf_counter() - t0
        finer.append(iou(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE) > 0, truth))
        blocks.append(iou(cv2.imdecode(np.frombuffer(masks.png("canopy"), np.uint8), cv2.IMREAD_GRAYSCALE) > 0, truth))
    return np.array(finer), np.array(blocks), 1000 * seconds / max(len(finer), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short-side", type=int, default=400)
    a = ap.parse_args()
    if not (CWFID / "images").exists():
        sys.exit(f"{CWFID} is missing")
    print(f"CWFID vegetation masks, {a.short_side} px short side")
    print(f"{'method':<36} {'mean IoU':>9} {'worst':>7} {'ms/image':>9}")
    for name, fn in (("served: Otsu on CIE a*", canopy_mask), ("before: ExG + clipped Otsu", exg_otsu),
                     ("baseline: Lab k-means, k=2", lab_kmeans)):
        ious, ms = evaluate(fn, a.short_side)
        print(f"{name:<36} {ious.mean():>9.3f} {ious.min():>7.3f} {ms:>9.1f}")
    finer, blocks, ms = served_at_full_size()
    print("\nThe service's canopy mask (masks/canopy.png), at the hand masks' own size")
    print(f"{'served: drawn on the full-size photo':<36} {finer.mean():>9.3f} {finer.min():>7.3f} {ms:>9.1f}")
    print(f"{'analysis-size mask scaled up':<36} {blocks.mean():>9.3f} {blocks.min():>7.3f} {'':>9}")


if __name__ == "__main__":
    main()
