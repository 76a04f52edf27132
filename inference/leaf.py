"""What a leaf photo shows once the gate has found the leaf: the lesion share (severity on the IRRI SES 0-9 scale), the
leaf colour and the canopy cover (growth 0-100). Arrays are RGB uint8 (rows, cols, 3); masks are bool (rows, cols).

Severity scales: IRRI (2013) Standard Evaluation System for Rice, 5th ed. (see data/ses_scales.json, editable).
Leaf colour: dark green colour index (DGCI, Karcher & Richardson 2003, Crop Sci. 43:943) mapped to the levels 2-5 of
the IRRI/PhilRice 4-panel Leaf Colour Chart used in the Mekong Delta. The mapping is approximate: it has not been
calibrated against a physical chart under field light; a chart in the photo would be needed for that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from inference.lesions import PRESETS, severity
from inference.masks import WorkingImage

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


def dark_green_colour_index(rgb: np.ndarray, green: np.ndarray, hsv: np.ndarray | None = None) -> float | None:
    """Mean DGCI (0-1) of the green tissue pixels, or None when there are too few of them. `hsv`: rgb's OpenCV HSV,
    when already made."""
    if green.sum() <= 100:
        return None
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV) if hsv is None else hsv
    hh = hsv[..., 0][green].astype(np.float32) * 2.0  # degrees
    ss, bb = hsv[..., 1][green].astype(np.float32) / 255.0, hsv[..., 2][green].astype(np.float32) / 255.0
    return float(np.clip((((hh - 60.0) / 60.0) + (1 - ss) + (1 - bb)) / 3.0, 0, 1).mean())


def analyse_leaf(rgb: np.ndarray, leaf_mask: np.ndarray, green_mask: np.ndarray,
                 canopy: np.ndarray, work: WorkingImage | None = None) -> LeafAnalysis:
    """Lesions within the leaf (inference/lesions.py, the sensitive preset), leaf colour and canopy cover, on the
    gate's working image with its leaf, green-tissue and canopy masks (inference/gate.py); `work`: the gate's
    WorkingImage of it, whose blur and HSV are reused."""
    work = work or WorkingImage(rgb)
    sev = severity(rgb, leaf_mask, green_mask, work=work)
    n_leaf = int(sev["leaf_px"])
    return LeafAnalysis(
        leaf_fraction=n_leaf / leaf_mask.size,
        lesion_fraction_of_leaf=float(sev["lesion_pct"]) / 100.0,
        green_cover_fraction=float(canopy.mean()),
        dgci=dark_green_colour_index(rgb, green_mask & sev["leaf_mask"] & ~sev["lesion_mask"], work.hsv),
        lesion_mask=sev["lesion_mask"],
        leaf_mask=sev["leaf_mask"],
    )


def remeasure_lesions(analysis: LeafAnalysis, rgb: np.ndarray, leaf_mask: np.ndarray, green_mask: np.ndarray,
                      preset: str, work: WorkingImage | None = None) -> LeafAnalysis:
    """`analysis` with its lesions segmented again with PRESETS[preset] (the diagnosed disease's, `lesion_preset`);
    the leaf colour stays as `analysis` measured it (on the tissue the sensitive preset calls healthy). `work`: the
    gate's WorkingImage of rgb (the tight preset's 0.7 px blur is the canopy's)."""
    sev = severity(rgb, leaf_mask, green_mask, PRESETS[preset], work=work)
    return replace(analysis, leaf_fraction=int(sev["leaf_px"]) / leaf_mask.size,
                   lesion_fraction_of_leaf=float(sev["lesion_pct"]) / 100.0, lesion_mask=sev["lesion_mask"],
                   leaf_mask=sev["leaf_mask"])


LESION_TINT = (255, 0, 200)  # magenta: no leaf, soil, paper or straw has it
# draw_lesions' colour changes as tables of every uint8 value (the same float64 arithmetic, so the same bytes as
# computing them pixel by pixel, 4x faster): dimmed = v * 0.35, tinted = 0.45 v + 0.55 tint, truncated
_DIM = (np.arange(256, dtype=np.uint8) * 0.35).astype(np.uint8)
_TINT = (0.45 * np.arange(256, dtype=np.uint8)[:, None] + 0.55 * np.array(LESION_TINT, np.float32)).astype(np.uint8)


def draw_lesions(rgb: np.ndarray, leaf_mask: np.ndarray, lesion_mask: np.ndarray) -> np.ndarray:
    """What the severity measured, to look at: the working image with everything outside the leaf dimmed, the leaf
    outlined in white and its lesion pixels tinted magenta. RGB uint8 of the same size."""
    rgb = np.ascontiguousarray(rgb)
    out = cv2.LUT(rgb, _DIM)
    cv2.copyTo(rgb, np.ascontiguousarray(leaf_mask).view(np.uint8), out)  # the leaf undimmed
    tinted = cv2.LUT(out, _TINT.reshape(1, 256, 3))
    cv2.copyTo(tinted, np.ascontiguousarray(lesion_mask).view(np.uint8), out)
    contours, _ = cv2.findContours(leaf_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


@lru_cache
def ses_scales(path: str = str(SES_FILE)) -> dict:
    return json.loads(Path(path).read_text())


def _scale(disease: str) -> dict:
    """ses_scales.json's entry of `disease`; a disease without one: the generic scale."""
    scales = ses_scales()
    return scales.get(disease, scales["_default"])


def ses_grade(affected_pct: float, disease: str) -> int:
    """IRRI SES grade (0, 1, 3, 5, 7, 9) of a % leaf area affected for `disease` (unknown diseases: generic scale)."""
    grades = _scale(disease)["grades"]
    if affected_pct <= 0:
        return 0
    for grade, upper in grades[1:]:
        if affected_pct <= upper:
            return int(grade)
    return 9


def lesion_preset(disease: str) -> str:
    """The lesion segmentation preset that measures `disease`'s severity (ses_scales.json; unknown diseases: the
    generic scale's)."""
    return str(_scale(disease).get("lesion_preset", "tight"))


def ses_scale_name(disease: str) -> str:
    return str(_scale(disease)["name"])


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
