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
