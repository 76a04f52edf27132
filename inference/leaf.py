"""Leaf and lesion segmentation with OpenCV, severity on the IRRI SES 0-9 scale, and growth (leaf colour or canopy
cover). Arrays are RGB uint8 (rows, cols, 3); masks are bool (rows, cols).

Severity scales: IRRI (2013) Standard Evaluation System for Rice, 5th ed. (see data/ses_scales.json, editable).
Leaf colour: dark green colour index (DGCI, Karcher & Richardson 2003, Crop Sci. 43:943) mapped to the levels 2-5 of
the IRRI/PhilRice 4-panel Leaf Colour Chart used in the Mekong Delta. The mapping is approximate: it has not been
calibrated against a physical chart under field light; a chart in the photo would be needed for that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from inference.field_photo_model import paper_mask

SES_FILE = Path(__file__).resolve().parent / "data" / "ses_scales.json"

# DGCI upper bounds of LCC levels 2, 3, 4 (level 5 above); see module docstring.
LCC_DGCI_BOUNDS = (0.33, 0.43, 0.52)


@dataclass
class LeafAnalysis:
    leaf_fraction: float  # share of the image that is leaf, 0-1
    lesion_fraction_of_leaf: float  # share of the leaf showing lesions, 0-1
    green_cover_fraction: float  # share of the image that is green vegetation (ExG), 0-1
    dgci: float | None  # dark green colour index of healthy leaf tissue, 0-1
    lesion_mask: np.ndarray
    leaf_mask: np.ndarray

    def summary(self) -> dict[str, float | None]:
        d = asdict(self)
        d.pop("lesion_mask")
        d.pop("leaf_mask")
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def excess_green(rgb: np.ndarray) -> np.ndarray:
    """ExG = 2g - r - b on chromatic coordinates (Woebbecke et al. 1995), float32 in [-1, 2]."""
    f = rgb.astype(np.float32)
    s = f.sum(axis=2) + 1e-6
    r, g, b = f[..., 0] / s, f[..., 1] / s, f[..., 2] / s
    return 2 * g - r - b


def canopy_mask(rgb: np.ndarray) -> np.ndarray:
    """Green vegetation mask: ExG above its Otsu threshold (Meyer & Neto 2008), the threshold clipped to 0.05-0.25.

    Otsu separates plants from soil where both are present (IoU 0.81-0.86 against the vegetation masks of 8 CWFID
    photos, evaluation only); the clip keeps a fully green canopy, where Otsu would split the greens, mostly green.
    """
    exg = excess_green(rgb)
    u8 = np.clip((exg + 1.0) / 3.0 * 255.0, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return exg > float(np.clip(t / 255.0 * 3.0 - 1.0, 0.05, 0.25))


def analyse_leaf(rgb: np.ndarray) -> LeafAnalysis:
    """Segment leaf tissue from background and lesions within the leaf.

    Green tissue: OpenCV hue 27-95 (54-190 degrees), saturated, not dark. Leaf: green tissue closed over gaps of ~4 %
    of the image and hole-filled, minus paper. Lesions: leaf pixels that are not green and are yellow-brown-orange
    (hue < 27) or grey-white (unsaturated, bright), as blast centres are.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    paper = paper_mask(rgb)
    green = (h >= 27) & (h <= 95) & (s > 45) & (v > 40)
    # The leaf is green tissue and what it encloses: close the green mask over lesion-sized gaps, fill holes. A
    # yellow mat or soil far from green tissue is thereby not "leaf"; lesions are enclosed by green.
    k = max(3, int(0.04 * min(rgb.shape[:2])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    green_open = cv2.morphologyEx(green.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    leaf = _fill_holes(cv2.morphologyEx(green_open, cv2.MORPH_CLOSE, kernel).astype(bool)) & ~paper & (v > 30)
    # brown lesions on the leaf margin are not enclosed by green: add brown pixels in a band around the leaf
    brown = ((h < 24) | (h > 160)) & (s > 50) & (v > 20)
    leaf = _fill_holes(leaf | (brown & cv2.dilate(leaf.astype(np.uint8), kernel).astype(bool)))
    lesion = leaf & ~green & ((h < 27) | (h > 160) | ((s <= 45) & (v > 110)) | ((v < 90) & (s > 40)))
    lesion = cv2.morphologyEx(lesion.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    green = green & leaf
    n_leaf = int(leaf.sum())
    dgci = None
    if green.sum() > 100:
        hh = h[green].astype(np.float32) * 2.0  # degrees
        ss, bb = s[green].astype(np.float32) / 255.0, v[green].astype(np.float32) / 255.0
        dgci = float(np.clip((((hh - 60.0) / 60.0) + (1 - ss) + (1 - bb)) / 3.0, 0, 1).mean())
    return LeafAnalysis(
        leaf_fraction=n_leaf / leaf.size,
        lesion_fraction_of_leaf=float(lesion.sum() / n_leaf) if n_leaf else 0.0,
        green_cover_fraction=float(canopy_mask(rgb).mean()),
        dgci=dgci,
        lesion_mask=lesion,
        leaf_mask=leaf,
    )


@lru_cache
def ses_scales(path: str = str(SES_FILE)) -> dict:
    return json.loads(Path(path).read_text())


def ses_grade(affected_pct: float, disease: str) -> int:
    """IRRI SES grade (0, 1, 3, 5, 7, 9) of a % leaf area affected for `disease` (unknown diseases: generic scale)."""
    scales = ses_scales()
    grades = scales.get(disease, scales["_default"])["grades"]
    if affected_pct <= 0:
        return 0
    for grade, upper in grades[1:]:
        if affected_pct <= upper:
            return int(grade)
    return 9


def ses_scale_name(disease: str) -> str:
    scales = ses_scales()
    return str(scales.get(disease, scales["_default"])["name"])


def lcc_level(dgci: float) -> int:
    """Leaf Colour Chart level 2-5 from the dark green colour index (approximate, see module docstring)."""
    for level, upper in zip((2, 3, 4), LCC_DGCI_BOUNDS, strict=True):
        if dgci < upper:
            return level
    return 5


def growth_from_leaf(dgci: float) -> int:
    """Growth score 0-100 of a leaf close-up: leaf greenness, DGCI 0.25 (pale yellow-green) -> 0, 0.60 -> 100."""
    return int(round(float(np.clip((dgci - 0.25) / 0.35, 0, 1)) * 100))


def growth_from_canopy(green_cover_fraction: float) -> int:
    """Growth score 0-100 of a field patch: green canopy cover in %."""
    return int(round(100 * float(np.clip(green_cover_fraction, 0, 1))))
