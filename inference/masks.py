"""Small image helpers shared by the leaf, gate and lesion code: resizing to a working size, filling mask holes,
which colours are the background's.
Arrays are RGB uint8 (rows, cols, 3); masks are bool (rows, cols)."""

from __future__ import annotations

import math

import cv2
import numpy as np


class WorkingImage:
    """A photo at the working size and what several steps derive from it, each made once: its Gaussian blurs by
    sigma (the gate's plant colours and the sensitive lesion preset blur it by 1.5 px, the canopy and the tight preset
    by 0.7 px) and its HSV (the gate's exposure, the leaf colour, the lesion candidates). `rgb`: RGB uint8
    (rows, cols, 3); the arrays it hands out are shared: read them, never write to them."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self._blurred: dict[float, np.ndarray] = {}
        self._hsv: np.ndarray | None = None

    def blurred(self, sigma: float) -> np.ndarray:
        """cv2.GaussianBlur(rgb, (0, 0), sigma), or rgb itself for sigma 0."""
        if sigma <= 0:
            return self.rgb
        if sigma not in self._blurred:
            self._blurred[sigma] = cv2.GaussianBlur(self.rgb, (0, 0), sigma)
        return self._blurred[sigma]

    @property
    def hsv(self) -> np.ndarray:
        """cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV): OpenCV's hue 0-180, saturation and value 0-255."""
        if self._hsv is None:
            self._hsv = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2HSV)
        return self._hsv


def resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    """Resize so the short side is `short` px (INTER_AREA when shrinking)."""
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    if abs(s - 1) < 1e-3:
        return rgb
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def labelled(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(label count with the background's 0, int32 labels, pixel count per label) of a mask's 8-connected parts: the
    labels of cv2.connectedComponentsWithStats, whose statistics cost 3x the labelling (1.0 against 0.3 ms at 300 x
    400 px) when only the areas are needed."""
    n, lab = cv2.connectedComponents(np.asarray(mask).astype(np.uint8), connectivity=8)
    return n, lab, np.bincount(lab.ravel(), minlength=n)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every hole inside its outer contours filled."""
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def background_like(rgb: np.ndarray, beyond: np.ndarray, min_fraction: float) -> np.ndarray:
    """Pixels whose colour is common beyond the leaf: the pixels of `beyond` (everything past a band around the green
    leaf: paper, a mat, soil, a hand, their shadows) make a CIELAB histogram (8-bit Lab in bins of 4, each counted with
    its 26 neighbours); a pixel whose bin holds more than `min_fraction` of the image is background-like. Tissue in
    another colour than the background (a dried lesion on white paper) is not."""
    if beyond.sum() <= min_fraction * beyond.size:
        return np.zeros(beyond.shape, bool)
    q = np.right_shift(np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), np.uint8), 2)  # 64 bins per channel
    code = (q[..., 1].astype(np.int32) << 12) | (q[..., 2].astype(np.int32) << 6) | q[..., 0]  # (a, b, L)
    hist = np.bincount(code[beyond], minlength=1 << 18).reshape(64, 64, 64).astype(np.float32)
    # 3x3x3 box sum: a and b by OpenCV (L as 64 channels), then L
    ab = np.asarray(cv2.boxFilter(hist, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT), np.float32)
    near = ab.copy()
    near[..., 1:] += ab[..., :-1]
    near[..., :-1] += ab[..., 1:]
    common = near.reshape(-1) > min_fraction * beyond.size
    return common[code]


def percentile_u8(x: np.ndarray, q: float) -> float:
    """np.percentile(x, q) of a uint8 array (its default, linear interpolation), the same float: from a 256-bin
    histogram instead of a partition of every pixel (0.1 against 0.8 ms at 300 x 400 px) when the two order
    statistics it interpolates between are equal, which on a photo they nearly always are (a value is shared by
    hundreds of pixels); otherwise np.percentile itself, whose interpolation arithmetic is its own."""
    n = x.size
    hist = cv2.calcHist([np.ascontiguousarray(x).reshape(-1, 1)], [0], None, [256], [0, 256])
    cum = np.cumsum(hist.ravel().astype(np.int64))  # float32 counts are whole, but their running sum need not be
    virtual = (n - 1) * q / 100
    lo = min(max(math.floor(virtual), 0), n - 1)
    # the (lo - 1)-th and (lo + 2)-th smallest values (0-based): a margin of one either side for numpy's rounding
    a = int(np.searchsorted(cum, max(lo - 1, 0), side="right"))
    b = int(np.searchsorted(cum, min(lo + 2, n - 1), side="right"))
    if a == b:
        return float(a)
    return float(np.percentile(x, q))
