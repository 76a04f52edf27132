"""Scoring a farmer's photo: decode safely, check quality, diagnose with the active bundle, measure lesions (severity
on the IRRI SES 0-9 scale) and greenness or canopy cover (growth 0-100), and pick advice. One versioned JSON document.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inference.field_photo_model import FieldPhotoModel
from inference.leaf import (
    analyse_leaf,
    growth_from_canopy,
    growth_from_leaf,
    lcc_level,
    ses_grade,
    ses_scale_name,
)
from inference.photo_io import DecodedPhoto, decode_photo

PHOTO_RESULT_SCHEMA_VERSION = "1.0"
ADVICE_FILE = Path(__file__).resolve().parent / "data" / "advice.json"

# Quality thresholds, measured on the 490 training photos at a short side of 300 px: the variance of the Laplacian
# has its 1st percentile at 12.7 (median 194); a sharp leaf blurred with sigma 1.7 px gives 12.6, sigma 3 px gives 4.
ANALYSIS_SHORT_SIDE = 300
BLUR_MIN = 8.0
DARK_MEAN_V = 45.0  # training photos: min 47, 1st percentile 78 (HSV value, 0-255)
BRIGHT_MEAN_V = 235.0  # 99th percentile 230
CLIPPED_MAX_FRACTION = 0.35  # share of pixels at V >= 250
# Lesions on under 0.5 % of the leaf are within the segmentation's noise on healthy tissue: "no symptom visible".
NO_LESION_PCT = 0.5
# A photo that the model finds unlike its training photos is a field patch when at least this much is green.
FIELD_PATCH_MIN_GREEN = 0.15


@lru_cache
def load_advice(path: str = str(ADVICE_FILE)) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def quality_check(rgb: np.ndarray) -> dict[str, Any]:
    """Blur (variance of the Laplacian at 300 px short side), exposure (mean HSV value, clipped share)."""
    small = _resize_short(rgb, ANALYSIS_SHORT_SIDE)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    blur = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    v = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 2]
    mean_v, clipped = float(v.mean()), float((v >= 250).mean())
    issues = []
    if blur < BLUR_MIN:
        issues.append("blurry")
    if mean_v < DARK_MEAN_V:
        issues.append("too_dark")
    if mean_v > BRIGHT_MEAN_V or clipped > CLIPPED_MAX_FRACTION:
        issues.append("too_bright")
    return {"sharpness": round(blur, 1), "brightness": round(mean_v, 1), "clipped_pct": round(100 * clipped, 2),
            "issues": issues}


def _fill(text: str, **kw: Any) -> str:
    for k, v in kw.items():
        text = text.replace("{" + k + "}", str(v))
    return text


@dataclass
class PhotoScorer:
    """Scores photos with one loaded model; thread-safe."""

    model: FieldPhotoModel
    advice_path: str = str(ADVICE_FILE)

    def score(self, data: bytes) -> dict[str, Any]:
        """Photo bytes -> result document (see PHOTO_RESULT_SCHEMA_VERSION). Raises PhotoError for bad input."""
        t0 = time.perf_counter()
        photo = decode_photo(data, short_side=2 * int(self.model.meta["input_size"]))
        t1 = time.perf_counter()
        result = self.score_decoded(photo)
        result["timings_ms"]["decode"] = round(1000 * (t1 - t0), 1)
        return result

    def score_decoded(self, photo: DecodedPhoto) -> dict[str, Any]:
        advice = load_advice(self.advice_path)
        t0 = time.perf_counter()
        rgb = photo.rgb
        quality = quality_check(rgb)
        leaf = analyse_leaf(_resize_short(rgb, ANALYSIS_SHORT_SIDE))
        t1 = time.perf_counter()
        pred = self.model.predict(rgb)
        t2 = time.perf_counter()

        if pred.in_distribution:
            kind = "leaf_closeup"
        elif leaf.green_cover_fraction >= FIELD_PATCH_MIN_GREEN:
            kind = "field_patch"
        else:
            kind = "not_a_plant"
            quality["issues"].append("not_a_plant")
        quality["ok"] = not quality["issues"]
        quality["messages"] = [advice["quality"][i] for i in quality["issues"]]

        affected = round(100 * leaf.lesion_fraction_of_leaf, 2)
        diagnosis: dict[str, Any] = {
            "label": "unsure", "status": "retake", "confidence": round(pred.confidence, 4),
            "probabilities": {k: round(v, 4) for k, v in pred.probabilities.items()},
            "in_distribution": pred.in_distribution, "ood_distance": round(pred.ood_distance, 4), "reason": None,
        }
        severity: dict[str, Any] = {"ses": None, "affected_pct": None, "scale": None}
        growth: dict[str, Any] = {"score": None, "method": None}
        if kind == "leaf_closeup" and leaf.dgci is not None:
            growth = {"score": growth_from_leaf(leaf.dgci), "method": "leaf_colour", "lcc_level": lcc_level(leaf.dgci),
                      "dgci": round(leaf.dgci, 4)}
        elif kind == "field_patch":
            growth = {"score": growth_from_canopy(leaf.green_cover_fraction), "method": "canopy_cover",
                      "canopy_cover_pct": round(100 * leaf.green_cover_fraction, 1)}

        if not quality["ok"]:
            diagnosis["reason"] = "photo quality: " + ", ".join(quality["issues"])
            text = {lang: " ".join(m[lang] for m in quality["messages"]) for lang in ("vi", "en")}
        elif kind == "field_patch":
            diagnosis.update(status="field_patch", reason="a photo of a patch of field, not of one leaf")
            text = dict(advice["field_patch"])
        elif affected < NO_LESION_PCT:
            # the model only knows diseases; with no lesion visible it must not name one
            diagnosis.update(status="no_symptom", reason="no lesion found on a sharp, well-exposed leaf")
            severity = {"ses": 0, "affected_pct": affected, "scale": ses_scale_name("_default")}
            text = dict(advice["no_symptom"])
        elif pred.label == "unsure":
            diagnosis.update(status="unsure", reason=pred.reason)
            severity = {"ses": ses_grade(affected, "_default"), "affected_pct": affected,
                        "scale": ses_scale_name("_default")}
            text = dict(advice["unsure"])
        else:
            ses = ses_grade(affected, pred.label)
            diagnosis.update(label=pred.label, status="diagnosed")
            severity = {"ses": ses, "affected_pct": affected, "scale": ses_scale_name(pred.label)}
            band = "low" if ses <= 3 else "high"
            texts = advice.get(pred.label, advice["_default"])[band]
            text = {lang: _fill(texts[lang], ses=ses, affected_pct=round(affected, 1)) + " " + advice["footer"][lang]
                    for lang in ("vi", "en")}
        t3 = time.perf_counter()
        return {
            "schema_version": PHOTO_RESULT_SCHEMA_VERSION,
            "model": {"name": self.model.bundle.name, "version": self.model.bundle.version},
            "photo": {"format": photo.format, "width": photo.original_width, "height": photo.original_height,
                      "lat": photo.lat, "lon": photo.lon,
                      "taken_at": photo.taken_at.isoformat() if photo.taken_at else None, "kind": kind},
            "quality": quality,
            "diagnosis": diagnosis,
            "severity": severity,
            "growth": growth,
            "leaf": leaf.summary(),
            "advice": text,
            "timings_ms": {"analysis": round(1000 * (t1 - t0), 1), "model": round(1000 * (t2 - t1), 1),
                           "total_after_decode": round(1000 * (t3 - t0), 1)},
        }
