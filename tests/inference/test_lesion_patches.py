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


def numpy_candidate_rule(rgb: np.ndarray) -> np.ndarray:
    """The candidate rule as first written with numpy comparisons (1.2.0 was trained with it)."""
    import cv2

    from inference.masks import fill_holes

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    paper = (s < 35) & (v > 150)
    green = (h >= 27) & (h <= 95) & (s > 45) & (v > 40)
    k = max(3, int(0.04 * min(rgb.shape[:2])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    green_open = cv2.morphologyEx(green.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    leaf = fill_holes(cv2.morphologyEx(green_open, cv2.MORPH_CLOSE, kernel).astype(bool)) & ~paper & (v > 30)
    brown = ((h < 24) | (h > 160)) & (s > 50) & (v > 20)
    leaf = fill_holes(leaf | (brown & cv2.dilate(leaf.astype(np.uint8), kernel).astype(bool)))
    lesion = leaf & ~green & ((h < 27) | (h > 160) | ((s <= 45) & (v > 110)) | ((v < 90) & (s > 40)))
    return cv2.morphologyEx(lesion.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)


@pytest.mark.parametrize(("label", "index"), [("blast", 0), ("brown_spot", 1), ("bacterial_leaf_blight", 2)])
def test_candidate_mask_is_the_numpy_rule_exactly(label: str, index: int) -> None:
    from datasets.samples import real_photo
    from inference.lesion_patches import candidate_mask
    from inference.photo_io import decode_photo

    rgb = decode_photo(real_photo(label, index).read_bytes(), short_side=640).rgb
    ours = candidate_mask(rgb)
    assert ours.any() and np.array_equal(ours, numpy_candidate_rule(rgb))
    assert np.array_equal(candidate_mask(leaf_with_spots(3)), numpy_candidate_rule(leaf_with_spots(3)))


@pytest.mark.parametrize("seed", range(40))
def test_scoring_only_the_patches_that_can_matter_pools_the_same(seed: int) -> None:
    from inference.lesion_patches import score_patches

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    areas = rng.choice([rng.uniform(1e-4, 2e-2), rng.uniform(1e-4, 2e-2) / 6], size=n) * rng.uniform(0.5, 1.5, n)
    logits = rng.normal(0, 2, (n, 4))
    logits[rng.random(n) < 0.3, -1] += 6  # some patches are background
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    dists = rng.uniform(0, 1, n)
    patches = [np.full((4, 4, 3), i % 256, np.uint8) for i in range(n)]  # patch i carries its index
    calls: list[int] = []

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = [int(round(float(b[0, 0, 0]) * 0.502 * 255 + 0.498 * 255)) for b in batch]
        calls.extend(idx)
        return probs[idx], dists[idx]

    p, d, a = score_patches(run, patches, areas, 0.498, 0.502, top_k=3)
    full, part = pool_leaf(probs, areas, dists, 3), pool_leaf(p, a, d, 3)
    assert (full is None) == (part is None)
    if full is not None and part is not None:
        assert np.allclose(full[0], part[0]) and full[1] == pytest.approx(part[1])
    assert len(calls) == len(set(calls)) == len(p) <= n  # nothing run twice


def test_tiny_patches_behind_three_sure_lesions_are_never_run() -> None:
    from inference.lesion_patches import score_patches

    areas = np.array([0.02, 0.02, 0.02, 0.02] + [1e-4] * 30)
    probs = np.tile([0.1, 0.8, 0.1, 0.0], (34, 1))
    seen: list[int] = []

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(len(batch))
        return probs[: len(batch)], np.zeros(len(batch))

    p, _, a = score_patches(run, [np.zeros((4, 4, 3), np.uint8)] * 34, areas, 0.5, 0.5, top_k=3, chunk=4)
    assert seen == [4] and len(p) == 4 and (a == 0.02).all()


def test_lesion_colour_is_relative_to_the_healthy_leaf() -> None:
    """Brown lesions are darker than their leaf and straw ones lighter; a shift of the whole photo's colour (another
    camera's exposure or white balance, in CIELAB) changes nothing."""
    import cv2

    from inference.lesion_patches import leaf_and_candidates, leaf_reference, lesion_colour

    img = leaf_with_spots(2)
    img[185:215, 250:290] = (215, 200, 150)  # a straw-coloured (blight-like) lesion in the middle
    leaf, lesion = leaf_and_candidates(img)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = leaf_reference(lab, leaf, lesion)
    brown = lesion_colour(lab, lesion, ref, (95, 180, 145, 220))
    straw = lesion_colour(lab, lesion, ref, (245, 180, 295, 220))
    assert brown[0] < -5 < 5 < straw[0] and brown[1] > 10  # darker / lighter than the leaf; brown is redder
    shifted = lab + np.array([12.0, -7.0, 9.0], np.float32)
    again = lesion_colour(shifted, lesion, leaf_reference(shifted, leaf, lesion), (95, 180, 145, 220))
    assert np.allclose(again, brown, atol=1e-4)
    assert lesion_colour(lab, lesion, ref, (0, 0, 20, 20)) is None  # no candidate pixels: nothing to measure


@pytest.mark.parametrize("shape", ["rectangle", "streak", "round"])
def test_lesion_colour_does_not_depend_on_how_tight_the_box_is(shape: str) -> None:
    """Serving measures a candidate in its tight bounding box, training the labelled lesions in looser annotation
    boxes: the same lesion must give the same values (the crop's edge is not lesion)."""
    import cv2

    from inference.lesion_patches import lesion_colour

    lab = np.zeros((100, 160, 3), np.float32)
    lab[..., 0] = 120
    m = np.zeros((100, 160), np.uint8)
    if shape == "rectangle":
        m[40:60, 50:110] = 1
    elif shape == "streak":
        cv2.ellipse(m, (80, 50), (30, 3), 0, 0, 360, 1, -1)
    else:
        cv2.circle(m, (80, 50), 15, 1, -1)
    depth = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    lab[..., 0] += 4 * depth  # a lighter centre
    ys, xs = np.nonzero(m)
    tight = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    loose = (xs.min() - 6, ys.min() - 6, xs.max() + 7, ys.max() + 7)
    ref = np.array([120.0, 128.0, 128.0], np.float32)
    a, b = lesion_colour(lab, m.astype(bool), ref, tight), lesion_colour(lab, m.astype(bool), ref, loose)
    assert a is not None and b is not None and np.allclose(a, b) and a[3] > 0


def test_leaf_patches_give_one_colour_row_per_patch() -> None:
    from inference.lesion_patches import leaf_patches

    img = leaf_with_spots(3)
    img[195:205, 60:560] = (150, 100, 40)  # plus a long streak, cut into several patches
    ps, areas, colour = leaf_patches(img, 32, 1.5, 12, 0.0004, with_colour=True)
    assert len(ps) == len(areas) == len(colour) > 1 and colour.shape[1] == 4 and colour[:, 0].max() < 0
    ps0, areas0, colour0 = leaf_patches(img, 32, 1.5, 12, 0.0004)
    assert len(ps0) == len(ps) and np.array_equal(areas0, areas) and not colour0.any()


def test_score_patches_hands_each_batch_its_own_extra_rows() -> None:
    from inference.lesion_patches import score_patches

    n = 10
    areas = np.linspace(0.02, 0.001, n)[::-1].copy()  # smallest first: the run order differs from the list order
    patches = [np.full((4, 4, 3), i, np.uint8) for i in range(n)]
    extra = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    probs = np.tile([0.2, 0.3, 0.4, 0.1], (n, 1))

    def run(batch: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = [int(round(float(b[0, 0, 0]) * 0.5 * 255 + 0.5 * 255)) for b in batch]
        assert np.array_equal(rows[:, 0], idx)  # the colour rows of exactly these patches
        return probs[idx], np.zeros(len(idx))

    p, _, a = score_patches(run, patches, areas, 0.5, 0.5, top_k=n, extra=extra)
    assert len(p) == n and (np.diff(a) <= 0).all()


def test_leaf_patches_are_cut_at_the_working_size_they_are_given() -> None:
    """A bundle's working_short_side decides where candidates are searched and patches cut: a large photo gives the
    patches of the same photo brought to that size first, and another working size gives other patches."""
    import cv2

    from inference.lesion_patches import leaf_patches
    from inference.masks import resize_short

    small = leaf_with_spots(3)
    big = cv2.resize(small, (small.shape[1] * 3, small.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
    side = 360
    ps, areas, colour = leaf_patches(big, 32, 1.5, 12, 0.0004, with_colour=True, work_side=side)
    ps1, areas1, colour1 = leaf_patches(resize_short(big, side), 32, 1.5, 12, 0.0004, with_colour=True, work_side=side)
    assert len(ps) == len(ps1) > 0 and all(np.array_equal(a, b) for a, b in zip(ps, ps1, strict=True))
    assert np.array_equal(areas, areas1) and np.array_equal(colour, colour1)
    ps2, _, _ = leaf_patches(big, 32, 1.5, 12, 0.0004, work_side=2 * side)
    assert len(ps2) != len(ps) or any(not np.array_equal(a, b) for a, b in zip(ps, ps2, strict=True))


def test_masked_median_equals_numpys_median() -> None:
    """leaf_reference's histogram median is np.median exactly: odd and even counts, one pixel, a real photo."""
    import cv2

    from inference.images import read_rgb
    from inference.lesion_patches import leaf_and_candidates, masked_median_u8
    from tests.data.make_photos import real_photo

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 80, 3)).astype(np.float32)
    for n in (1, 2, 7, 8, 1001, 4800):
        m = np.zeros(60 * 80, bool)
        m[rng.choice(m.size, n, replace=False)] = True
        m = m.reshape(60, 80)
        got, want = masked_median_u8(img, m), np.median(img[m], 0)
        assert got.dtype == want.dtype and np.array_equal(got, want), n
    rgb = read_rgb(real_photo("blast", 0), 360)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    leaf, lesion = leaf_and_candidates(rgb)
    assert np.array_equal(masked_median_u8(lab, leaf & ~lesion), np.median(lab[leaf & ~lesion], 0))


def test_colour_distance_is_the_mahalanobis_distance_to_the_nearest_disease() -> None:
    from inference.lesion_patches import colour_distance

    rng = np.random.default_rng(0)
    means = rng.normal(0, 10, (3, 4))
    a = rng.normal(0, 1, (4, 4))
    precision = np.linalg.inv(a @ a.T + np.eye(4))
    colour = rng.normal(0, 10, (50, 4)).astype(np.float32)
    got = colour_distance(colour, means, precision)
    want = np.array([min(float((c - m) @ precision @ (c - m)) for m in means) for c in colour.astype(np.float64)])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert np.allclose(colour_distance(means.astype(np.float32), means, precision), 0, atol=1e-4)


def test_served_patches_are_cut_only_when_run_and_equal_leaf_patches() -> None:
    """leaf_candidates (served) cuts a patch and measures a lesion's colour only when score_patches runs it; what it
    cuts and measures equals the patches, areas and colour medians written out by hand as they were cut before, uint8
    and float32 CIELAB alike, and the scores are the same as with every patch cut first."""
    import cv2

    from inference.images import read_rgb
    from inference.lesion_patches import (
        components,
        leaf_and_candidates,
        leaf_candidates,
        leaf_patches,
        lesion_colour,
        masked_median_u8,
        neutralise_background,
        score_patches,
        square_patch,
    )
    from tests.data.make_photos import real_photo

    rgb = read_rgb(real_photo("blast", 0), 360)
    leaf, lesion = leaf_and_candidates(rgb)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = np.median(lab[leaf & ~lesion], 0)

    def reference(neutral: bool) -> tuple[list[np.ndarray], list[float], list[np.ndarray]]:
        """The patches, areas and colour medians as cut before patches were cut on demand, written out by hand."""
        keep = cv2.dilate(leaf.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        src = np.where(keep[..., None], rgb, np.uint8(128)) if neutral else rgb
        ps, areas, medians = [], [], []
        for c in components(lesion, 12, 0.0004):
            w, h = c.x1 - c.x0, c.y1 - c.y0
            s_, long_ = min(w, h), max(w, h)
            k = int(np.clip(np.ceil(long_ / max(s_, 1)), 1, 6)) if long_ > 2 * s_ else 1
            boxes = [(c.x0, c.y0, c.x1, c.y1)] if k == 1 else [
                (c.x0 + m - s_ / 2, c.y0, c.x0 + m + s_ / 2, c.y1) if w >= h else
                (c.x0, c.y0 + m - s_ / 2, c.x1, c.y0 + m + s_ / 2) for m in np.linspace(s_ / 2, long_ - s_ / 2, k)]
            ps += [square_patch(src, b, 64, 1.5) for b in boxes]
            areas += [c.area_fraction / k] * k
            x0, y0, x1, y1 = (int(round(v)) for v in (c.x0, c.y0, c.x1, c.y1))
            medians += [np.median(lab[y0:y1, x0:x1][lesion[y0:y1, x0:x1]], 0) - ref] * k
        return ps, areas, medians

    for neutral in (False, True):
        ps, areas, colour = leaf_patches(rgb, 64, 1.5, 12, 0.0004, neutral, True, 360)
        ref_ps, ref_areas, ref_medians = reference(neutral)
        assert len(ps) == len(ref_ps) and all(np.array_equal(a, b) for a, b in zip(ps, ref_ps, strict=True))
        assert np.array_equal(areas, ref_areas) and np.array_equal(colour[:, :3], np.asarray(ref_medians))
        cp = leaf_candidates(rgb, 64, 1.5, 12, 0.0004, neutral, True, 360)
        assert len(cp) == len(ps) > 6 and np.array_equal(cp.areas, areas)

        def run(batch: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = np.tile([0.05, 0.9, 0.05, 0.0], (len(batch), 1))  # sure lesions: the pool fills at once
            return p, rows[:, 0].astype(np.float64)

        lazy = score_patches(run, cp, cp.areas, 0.5, 0.5, top_k=3, extra=cp.colour)
        eager = score_patches(run, ps, areas, 0.5, 0.5, top_k=3, extra=colour)
        assert all(np.array_equal(a, b) for a, b in zip(lazy, eager, strict=True))
        cut = sorted(cp._cut)
        assert 0 < len(cut) < len(ps)  # the smaller candidates were never cut
        assert all(np.array_equal(cp[i], ps[i]) for i in cut)
        assert np.array_equal(cp.colour[np.arange(len(ps))], colour)
    # the masked copy and the uint8 histograms are the numpy versions exactly
    keep = cv2.dilate(leaf.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.array_equal(neutralise_background(rgb, leaf), np.where(keep[..., None], rgb, np.uint8(128)))
    lab8 = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    assert np.array_equal(neutralise_background(np.asfortranarray(rgb), leaf), neutralise_background(rgb, leaf))
    assert np.array_equal(masked_median_u8(lab8, leaf), np.median(lab[leaf], 0))
    ref = masked_median_u8(lab, leaf & ~lesion)
    n, lab_ids, st, _ = cv2.connectedComponentsWithStats(lesion.view(np.uint8))
    for k in range(1, min(n, 8)):
        box = (st[k, 0], st[k, 1], st[k, 0] + st[k, 2], st[k, 1] + st[k, 3])
        a, b = lesion_colour(lab8, lesion, ref, box), lesion_colour(lab, lesion, ref, box)
        assert (a is None and b is None) or np.array_equal(a, b)
        if a is not None:  # the median is np.median's on the box's lesion pixels
            m = lesion[box[1]:box[3], box[0]:box[2]]
            assert np.array_equal(a[:3], np.median(lab[box[1]:box[3], box[0]:box[2]][m], 0) - ref)
