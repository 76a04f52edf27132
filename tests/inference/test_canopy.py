"""Canopy cover: one method for field-patch photos and RGB drone windows, checked on CWFID's hand masks
(evaluation only) and on fabricated scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.canopy_eval import CWFID, evaluate
from inference.canopy import canopy_cover, canopy_mask, canopy_mask_finer, canopy_mask_planes, fragmentation, lab_a_u8


@pytest.mark.skipif(not (CWFID / "images").exists(), reason="CWFID (research-only evaluation set) is not beside the checkout")
def test_cwfid_iou_at_the_photo_working_size() -> None:
    ious, _ = evaluate(canopy_mask, 300)
    assert len(ious) == 60
    assert ious.mean() >= 0.92 and ious.min() >= 0.80, (ious.mean(), ious.min())


@pytest.mark.skipif(not (CWFID / "images").exists(), reason="CWFID (research-only evaluation set) is not beside the checkout")
def test_cwfid_iou_of_the_served_mask_at_full_size() -> None:
    """The canopy mask the service gives (masks/canopy.png) against the hand masks at their own size: drawn on the
    full-size photo it meets the bar (0.924 / 0.881 on 2026-12-02); the analysis-size mask scaled up did not (0.880)."""
    from benchmarks.canopy_eval import served_at_full_size

    finer, blocks, _ = served_at_full_size()
    assert len(finer) == 60
    assert finer.mean() >= 0.92 and finer.min() >= 0.80, (finer.mean(), finer.min())
    assert finer.mean() > blocks.mean() + 0.02


def test_the_finer_mask_is_the_mask_at_the_analysis_size() -> None:
    img, _ = scene(0.4)
    assert np.array_equal(canopy_mask_finer(img, img), canopy_mask(img))
    big = cv2.resize(img, (600, 400), interpolation=cv2.INTER_CUBIC)
    finer = canopy_mask_finer(img, big)
    assert finer.shape == (400, 600)
    assert finer.mean() == pytest.approx(canopy_mask(img).mean(), abs=0.01)


def scene(plants: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Soil (brown) with round green plants covering about `plants` of the frame, and the truth mask."""
    rng = np.random.default_rng(seed)
    img = np.empty((200, 300, 3), np.uint8)
    img[:] = (120, 95, 70)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:200, 0:300]
    truth = np.zeros((200, 300), bool)
    while truth.mean() < plants:
        cy, cx, r = rng.integers(0, 200), rng.integers(0, 300), rng.integers(5, 15)
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    img[truth] = np.clip(np.array([60, 140, 50]) + rng.normal(0, 8, (truth.sum(), 3)), 0, 255).astype(np.uint8)
    return img, truth


@pytest.mark.parametrize("plants", [0.1, 0.4, 0.8])
def test_cover_of_fabricated_fields(plants: float) -> None:
    img, truth = scene(plants)
    m = canopy_mask(img)
    assert (m & truth).sum() / (m | truth).sum() > 0.9
    assert canopy_cover(img) == pytest.approx(truth.mean(), abs=0.05)


def test_bare_soil_and_water_are_not_canopy() -> None:
    soil, _ = scene(0.0)
    water = np.full((100, 100, 3), (70, 90, 110), np.uint8)
    assert canopy_cover(soil) < 0.01 and canopy_cover(water) < 0.01


def test_closed_canopy_is_not_split_in_two() -> None:
    rng = np.random.default_rng(3)
    leaves = np.clip(np.array([50, 150, 45]) + rng.normal(0, 25, (200, 200, 3)), 0, 255).astype(np.uint8)
    assert canopy_cover(leaves) > 0.95


def test_valid_mask_and_fragmentation() -> None:
    img, truth = scene(0.4)
    valid = np.zeros(truth.shape, bool)
    valid[:, :150] = True
    assert not canopy_mask(img, valid)[:, 150:].any()
    blade = np.zeros((200, 300), bool)
    blade[50:150, 20:280] = True
    assert fragmentation(blade) < 0.1 < fragmentation(truth)


def test_colour_table_equals_opencv_lab() -> None:
    """a* by look-up is OpenCV's own, bit for bit: on random images of odd sizes (SIMD tails) and on every colour."""
    rng = np.random.default_rng(3)
    for h, w in [(1, 1), (7, 13), (333, 101)]:
        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert (lab_a_u8(x) == cv2.cvtColor(x, cv2.COLOR_RGB2Lab)[..., 1]).all()
    every = np.arange(1 << 24, dtype=np.uint32).view(np.uint8).reshape(-1, 4)[::-1, :3]  # reversed: another order
    every = np.ascontiguousarray(every).reshape(8192, 2048, 3)
    assert (lab_a_u8(every) == cv2.cvtColor(every, cv2.COLOR_RGB2Lab)[..., 1]).all()
    with pytest.raises(TypeError, match="8-bit"):
        lab_a_u8(np.zeros((2, 2, 3), np.float32))


def test_planes_equal_the_interleaved_mask() -> None:
    """An orthomosaic window's planes give canopy_mask's answer bit for bit: fabricated fields, random colours of odd
    sizes (SIMD tails), strided planes (a window cut out of a read with a halo) and a validity mask."""
    rng = np.random.default_rng(5)
    cases = [scene(0.3)[0], scene(0.7)[0]] + [rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                                             for h, w in [(1, 1), (7, 13), (333, 101)]]
    for img in cases:
        planes = np.ascontiguousarray(img.transpose(2, 0, 1))
        valid = rng.random(img.shape[:2]) > 0.2
        for v in (None, valid):
            assert (canopy_mask_planes(*planes, v) == canopy_mask(img, v)).all()
    big = np.ascontiguousarray(np.pad(cases[0], ((4, 4), (4, 4), (0, 0)), mode="reflect").transpose(2, 0, 1))
    inner = big[:, 4:-4, 4:-4]  # strided views, as _process_window hands them over
    assert (canopy_mask_planes(*inner) == canopy_mask(np.ascontiguousarray(inner.transpose(1, 2, 0)))).all()
    with pytest.raises(TypeError, match="8-bit"):
        canopy_mask_planes(*planes.astype(np.uint16))
