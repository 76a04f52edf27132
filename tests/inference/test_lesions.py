"""Severity on fabricated leaves with exact lesion masks (datasets/fabricated_leaves.py): lesions are found on any
background, and what is not a lesion (paper, a straw mat, soil, a shadow, the leaf's rim) is never counted."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.fabricated_leaves import BACKGROUNDS, LEAF_COLOURS, fabricated_leaf
from datasets.lesion_boxes import BoxPhoto, box_scores, halves
from inference.gate import assess, plant_masks
from inference.lesions import severity
from inference.photo import NO_LESION_PCT

CASES = [(bg, shadow) for bg in BACKGROUNDS for shadow in (False, True)]
# every background with and without a shadow, for each leaf colour and two noise seeds
VARIED = [(bg, shadow, colour, seed) for bg, shadow in CASES for colour in LEAF_COLOURS for seed in (0, 1)]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _measure(background: str, lesions: str, shadow: bool, colour: str = "rice_green", seed: int = 0):
    f = fabricated_leaf(background, lesions, shadow, seed, LEAF_COLOURS[colour])
    green, leaf = plant_masks(f.rgb)
    return f, leaf, severity(f.rgb, leaf, green)


@pytest.mark.parametrize("background,shadow,colour,seed", VARIED)
def test_a_healthy_leaf_has_no_lesion_on_any_background(background: str, shadow: bool, colour: str, seed: int) -> None:
    _, _, s = _measure(background, "none", shadow, colour, seed)
    assert s["lesion_pct"] < NO_LESION_PCT  # before the background model: 22-30 % on paper that is not white


@pytest.mark.parametrize("background,shadow,colour,seed", VARIED)
def test_brown_spots_are_found_and_measured(background: str, shadow: bool, colour: str, seed: int) -> None:
    f, _, s = _measure(background, "spots", shadow, colour, seed)
    assert _iou(s["lesion_mask"], f.lesion) >= 0.5  # 0.69-0.73 on all but one case (0.56)
    assert abs(s["lesion_pct"] - f.lesion_pct) <= 2.5


@pytest.mark.parametrize("background,shadow", CASES)
def test_the_leaf_mask_is_the_leaf_not_the_background(background: str, shadow: bool) -> None:
    f, leaf, _ = _measure(background, "spots", shadow)
    assert _iou(leaf, f.leaf) >= 0.9


@pytest.mark.parametrize("shadow", [False, True])
def test_a_streak_from_the_margin_counts_on_white_paper(shadow: bool) -> None:
    f, _, s = _measure("white_paper", "streak", shadow)
    m = s["lesion_mask"]
    assert (m & f.lesion).sum() >= 0.9 * f.lesion.sum()
    assert _iou(m, f.lesion) >= 0.5


@pytest.mark.xfail(strict=True, reason="known limit: on a background other than white paper the leaf mask keeps a rim of "
                                       "leaf blended with the background; a streak that opens onto the margin joins it, "
                                       "and the margin rule (a quarter of a lesion inside the margin band) drops both")
@pytest.mark.parametrize("background", ["warm_paper", "straw_mat", "soil"])
def test_a_streak_from_the_margin_on_a_coloured_background(background: str) -> None:
    f, _, s = _measure(background, "streak", False)
    assert _iou(s["lesion_mask"], f.lesion) >= 0.5


@pytest.mark.parametrize("background", list(BACKGROUNDS))
def test_the_gate_passes_fabricated_leaves(background: str) -> None:
    a = assess(fabricated_leaf(background, "spots").rgb)
    assert a["issues"] == [] and a["kind"] == "leaf_closeup"


def test_box_scores_count_pixels_and_boxes() -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    z = np.zeros((10, 10), bool)
    photo = BoxPhoto("x.jpg", rgb, [(0, 0, 4, 5), (6, 6, 8, 8)], z, z)
    pred = np.zeros((10, 10), bool)
    pred[0:5, 0:2] = True  # 10 px inside the first box
    pred[9, 9] = True  # 1 px outside every box
    m = box_scores([photo], [pred])
    assert m["precision"] == pytest.approx(10 / 11)
    assert m["recall"] == pytest.approx(10 / 24)
    assert m["hit10"] == 0.5 and m["hit25"] == 0.5 and m["boxes"] == 2


def test_near_duplicates_stay_on_one_side_of_the_lesion_box_split() -> None:
    import csv

    from datasets.field_photos import DEFAULT_DATA_ROOT

    root = DEFAULT_DATA_ROOT / "rice_leaf_photos_roboflow"
    if not root.exists():
        pytest.skip("the roboflow lesion boxes are not beside the checkout")
    side = halves(root)
    assert set(side.values()) == {"tune", "test"}
    with (root / "near_duplicate_pairs.csv").open() as f:
        for r in csv.DictReader(f):
            assert side[r["image_a"]] == side[r["image_b"]]
