"""Lesion patches: candidates, patch cutting and pooling, with fabricated inputs."""

from __future__ import annotations

import numpy as np
import pytest

from inference.lesion_patches import box_patches, find_candidates, pool_leaf, square_patch, to_batch


def leaf_with_spots(n: int = 3) -> np.ndarray:
    img = np.full((400, 600, 3), 245, np.uint8)  # paper
    img[150:250, 50:550] = (60, 140, 50)  # a green leaf blade
    for k in range(n):
        cx = 120 + 150 * k
        img[185:215, cx - 20 : cx + 20] = (150, 100, 40)  # brown lesions
    return img


def test_candidates_are_the_lesions_biggest_first() -> None:
    cands = find_candidates(leaf_with_spots(3))
    assert len(cands) == 3
    for c in cands:
        assert 180 <= c.y0 <= 190 and 210 <= c.y1 <= 220
    assert [c.area_fraction for c in cands] == sorted((c.area_fraction for c in cands), reverse=True)
    assert find_candidates(np.full((300, 300, 3), (60, 140, 50), np.uint8)) == []  # a healthy leaf


def test_square_patch_pads_with_grey_outside_the_photo() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    p = square_patch(img, (0, 0, 20, 20), size=64, ctx=1.5)
    assert p.shape == (64, 64, 3) and (p[0, 0] == 128).all() and (p[-1, -1] == 0).all()


def test_long_streaks_are_cut_into_several_patches() -> None:
    img = np.zeros((200, 600, 3), np.uint8)
    assert len(box_patches(img, (10, 90, 490, 110), 32, 1.5)) == 6
    assert len(box_patches(img, (10, 90, 40, 110), 32, 1.5)) == 1


def test_pooling_weighs_big_lesions_and_ignores_background() -> None:
    # patch 0: big, sure blast; patch 1: small brown spot; patch 2: background
    probs = np.array([[0.05, 0.9, 0.05, 0.0], [0.1, 0.1, 0.8, 0.0], [0.0, 0.0, 0.0, 1.0]])
    areas = np.array([0.01, 0.0001, 0.05])
    logq, dist = pool_leaf(probs, areas, np.array([0.2, 0.4, 0.9]), top_k=3)
    assert np.exp(logq).sum() == pytest.approx(1) and int(np.argmax(logq)) == 1
    assert dist < 0.3  # the background patch has no weight
    assert pool_leaf(probs[2:], areas[2:], np.array([0.9]), 3) is None


def test_batch_layout() -> None:
    b = to_batch([np.full((8, 8, 3), 255, np.uint8)] * 2, 0.5, 0.5)
    assert b.shape == (2, 3, 8, 8) and b.dtype == np.float32 and np.allclose(b, 1.0)
