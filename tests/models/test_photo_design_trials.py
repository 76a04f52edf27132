"""The designs tried for #10 (models/photo_design_trials.py) do what their figures claim they did: the whole-leaf
head sees the leaf alone, upright and undistorted, and the learnt background class takes a photo's weakest candidates,
not its lesions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.fabricated_leaves import fabricated_leaf
from inference.lesion_patches import GREY
from models.lesion_patch_pipeline import LesionPatchConfig
from models.photo_design_trials import LEAF_PX, centred, gated_answers, leaf_image, mil_head
from tests.models.test_lesion_patch_loso import synthetic_data


def test_the_leaf_head_sees_the_leaf_alone_long_side_horizontal(tmp_path: Path) -> None:
    leaf = fabricated_leaf("straw_mat", "spots")
    upright = np.ascontiguousarray(np.rot90(leaf.rgb))  # the blade runs top to bottom in the photo
    path = tmp_path / "leaf.png"
    cv2.imwrite(str(path), cv2.cvtColor(upright, cv2.COLOR_RGB2BGR))
    im = leaf_image(str(path), LesionPatchConfig())
    assert im.shape == (LEAF_PX, LEAF_PX, 3)
    rows = np.nonzero((np.abs(im.astype(int) - GREY).sum(2) > 30).any(1))[0]
    # turned back horizontal and letterboxed: the leaf's band is far wider than tall, grey above and below it
    assert rows.min() > 0.2 * LEAF_PX and rows.max() < 0.8 * LEAF_PX
    hsv = cv2.cvtColor(im, cv2.COLOR_RGB2HSV)
    straw = (hsv[..., 0] < 27) & (hsv[..., 1] > 120)  # the mat's yellow (and the brown spots)
    # neutralised to grey around the leaf but for the rim neutralise_background keeps (lesions on the edge keep theirs)
    assert straw.mean() < 0.08
    band = im[rows.min() : rows.max() + 1]
    corners = np.stack([band[:3, :3], band[:3, -3:], band[-3:, :3], band[-3:, -3:]]).reshape(-1, 3)
    assert (np.abs(corners.astype(int) - GREY).max(1) < 12).all()  # the crop's corners, beyond the ellipse: grey


def test_the_learnt_background_takes_each_photos_weakest_candidates() -> None:
    d = synthetic_data(sethy_background=True, noise=1.0)
    S = np.where(d.src == "sethy2020")[0]
    n = len(d.classes)
    head = mil_head(d, S, LesionPatchConfig(), frac=0.5, iters=2)
    assert n in head.lr.classes_  # a background class, though no Sethy candidate was labelled one
    m = np.isin(d.cands.img, S)
    p = head.proba(d.cands.X[m], n + 1)
    # each Sethy photo has three lesion-like candidates and then one background-like one (synthetic_data's order)
    is_bg_like = np.tile([False, False, False, True], len(S))
    assert p[is_bg_like, n].mean() > 0.5 > p[~is_bg_like, n].mean()
    own = d.y[d.cands.img[m]]
    assert (p[~is_bg_like, :n].argmax(1) == own[~is_bg_like]).mean() > 0.8


def test_the_agreement_gate_answers_where_both_models_name_one_disease() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    patch = np.eye(3)[[0, 1, 2, 1, 1, 0]] * 0.7 + 0.1  # right, right, right, wrong, right, wrong
    leaf = np.eye(3)[[0, 2, 2, 1, 0, 0]] * 0.9 + 0.1 / 3  # agrees with the patches on photos 0, 2, 3, 5
    leaf[2] = [0.2, 0.2, 0.6]  # agrees, but unsure of itself
    rule = np.array([True, True, False, True, True, False])
    g = gated_answers(patch, leaf, rule, y, leaf_confidence=0.8)
    assert g["patch rules"] == (round(4 / 6, 3), 0.75)  # photos 0, 1, 3, 4: one wrong
    assert g["patch rules and agreement"] == (round(2 / 6, 3), 0.5)  # photos 0 and 3
    assert g["agreement"] == (round(4 / 6, 3), 0.5)  # 0, 2 right; 3, 5 wrong
    assert g["agreement, leaf >= 0.8"] == (0.5, round(1 / 3, 3))  # 0, 3, 5
    nothing = gated_answers(patch, leaf, np.zeros(6, bool), y)
    assert nothing["patch rules"] == (0.0, None)


def test_centring_cancels_each_photos_common_shift_and_keeps_the_lesion_colour() -> None:
    from models.lesion_patch import N_COLOUR

    d = synthetic_data()
    net = d.cands.X.shape[1] - N_COLOUR
    shifted = d.cands.X.copy()
    shifted[:, :net] += 3.0 * d.cands.img[:, None]  # a different camera per photo: one offset on all its patches
    from dataclasses import replace

    d2 = replace(d, cands=replace(d.cands, X=shifted))
    a, b = centred(d, 1.0), centred(d2, 1.0)
    assert np.allclose(a.cands.X, b.cands.X, atol=1e-4)  # the per-photo offset is gone
    for i in np.unique(d.cands.img):
        assert np.allclose(a.cands.X[d.cands.img == i, :net].mean(0), 0, atol=1e-4)
    assert np.array_equal(a.cands.X[:, net:], d.cands.X[:, net:])  # the lesion colour untouched
    assert np.array_equal(centred(d, 0.0).cands.X, d.cands.X)

