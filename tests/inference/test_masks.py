"""The small mask helpers (inference/masks.py) against the OpenCV calls they stand for."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.masks import labelled


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("density", [0.05, 0.45, 0.6])
def test_labelled_gives_the_labels_and_areas_of_connected_components_with_stats(seed: int, density: float) -> None:
    rng = np.random.default_rng(seed)
    mask = cv2.GaussianBlur(rng.random((300, 400)).astype(np.float32), (0, 0), 2) > np.float32(0.5 - 0.1 * (0.45 - density))
    mask |= rng.random((300, 400)) < density / 10  # specks: many one-pixel parts
    n, lab, st, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    n2, lab2, area = labelled(mask)
    assert n2 == n and n > 10
    assert (lab2 == lab).all()
    assert (area == st[:, cv2.CC_STAT_AREA]).all()


def test_percentile_u8_is_numpys_percentile() -> None:
    """The gate's highlight level: np.percentile's value to the last bit, on random arrays of every small size (where
    the interpolated order statistics differ and numpy computes it) and on real photos' value channel."""
    import cv2

    from inference.images import read_rgb
    from inference.masks import percentile_u8
    from tests.data.make_photos import real_photo

    rng = np.random.default_rng(0)
    for n in [*range(1, 40), 1000, 4801, 120_000]:
        for q in (0, 1, 5, 50, 90, 99, 99.5, 100):
            x = rng.integers(0, 256, n).astype(np.uint8)
            if n > 100 and q in (50, 99):
                x = (x // 37 * 37).astype(np.uint8)  # few values: the fast path
            assert percentile_u8(x, q) == float(np.percentile(x, q)), (n, q)
    for label, i in (("blast", 0), ("brown_spot", 1), ("bacterial_leaf_blight", 2), ("brown_spot", 7)):
        v = cv2.cvtColor(cv2.GaussianBlur(read_rgb(real_photo(label, i), 300), (0, 0), 1.5), cv2.COLOR_RGB2HSV)[..., 2]
        assert percentile_u8(v, 99) == float(np.percentile(v, 99))
