"""Vegetation indices, each as published. Inputs are float32 arrays of reflectance or digital numbers (rows, cols);
outputs float32, NaN where the denominator vanishes.

- VARI = (G - R) / (G + R - B)                     Gitelson et al. 2002, Remote Sens. Environ. 80:76-87
- ExG  = 2g - r - b, with r, g, b = R, G, B / (R + G + B)   Woebbecke et al. 1995, Trans. ASAE 38:259-269
- GLI  = (2G - R - B) / (2G + R + B)               Louhaichi et al. 2001, Geocarto Int. 16:65-70
- NDVI = (NIR - R) / (NIR + R)                     Rouse et al. 1974, NASA SP-351
- NDRE = (NIR - RE) / (NIR + RE)                   Barnes et al. 2000, Proc. 5th Int. Conf. Precision Agriculture
"""

from __future__ import annotations

import numpy as np


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out)] = np.nan
    return out.astype(np.float32, copy=False)


def vari(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Visible Atmospherically Resistant Index, unbounded (typically -1..1 on vegetation scenes)."""
    return _ratio(g - r, g + r - b)


def exg(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Excess green on chromatic coordinates, -1..2."""
    s = r + g + b
    return _ratio(2 * g - r - b, s)  # = 2g - r - b with r, g, b normalised by the sum


def gli(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Green Leaf Index, -1..1."""
    return _ratio(2 * g - r - b, 2 * g + r + b)


def ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    """Normalised Difference Vegetation Index, -1..1."""
    return _ratio(nir - red, nir + red)


def ndre(nir: np.ndarray, red_edge: np.ndarray) -> np.ndarray:
    """Normalised Difference Red Edge index, -1..1."""
    return _ratio(nir - red_edge, nir + red_edge)
