"""Decoding image files to RGB arrays (rows, cols, 3) uint8; OpenCV's BGR stays inside this module."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_rgb(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Decode an image file to RGB uint8 (rows, cols, 3); shrink (INTER_AREA) so the short side is at most
    `short_side`. Raises ValueError when the file is not a decodable image."""
    data = np.fromfile(str(path), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path} as an image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if short_side:
        h, w = rgb.shape[:2]
        s = short_side / min(h, w)
        if s < 1:
            rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return rgb
