"""Small image helpers shared by the leaf, gate and lesion code: resizing to a working size, filling mask holes.
Arrays are RGB uint8 (rows, cols, 3); masks are bool (rows, cols)."""

from __future__ import annotations

import cv2
import numpy as np


def resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    """Resize so the short side is `short` px (INTER_AREA when shrinking)."""
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    if abs(s - 1) < 1e-3:
        return rgb
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every hole inside its outer contours filled."""
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)
