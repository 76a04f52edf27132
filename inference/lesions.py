"""Lesion segmentation and severity (lesion % of leaf) on leaf pixels only (numpy + OpenCV).

Colour is judged against the photo's own healthy tissue, in CIE Lab hue angle / chroma / lightness:
- healthy reference: the median hue angle, chroma and lightness of the green core of the leaf;
- yellow, orange, brown lesions: hue angle turned from the healthy green towards yellow/red by more than
  `hue_shift` degrees, with some chroma (chlorosis, brown spot, blast margins, bacterial blight streaks);
- grey-white lesions (blast centres, dried blight): chroma below `grey_chroma` and lighter than healthy tissue by
  `grey_dl` (a shadow is darker, so it never counts);
- a shadow or a dark fold keeps the healthy hue: it is never a lesion; a pixel must also be on the red side of the
  healthy hue, so blue-green reflections do not count.
Leaf margins: candidate pixels in a band of `margin_px` inside the leaf border count only next to a lesion that
reaches into the leaf beyond the band (blight starts at the margin; a bright or yellowish rim of mixed leaf and
background pixels does not), judged part by part so that a rim running round the leaf cannot drag a streak out with
it. Components smaller than `min_area_px` are dropped. Paper, a mat, soil or straw lying beyond the leaf is kept out
of the leaf mask by its colour (gate.plant_masks); small parts of the leaf mask that are
mostly lesion, blades of grass or straw apart from the leaf photographed, are left out (`stray_parts`).

Every photo with a leaf mask gets a severity; an empty leaf gives 0 (the gate refuses those as not_a_plant).
Parameters were tuned on a grouped half of the roboflow lesion-box photos and measured on the other half.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from inference.masks import WorkingImage, fill_holes, labelled

ANALYSIS_SHORT_SIDE = 300
# Operating points, tuned on the 'tune' half of the roboflow lesion boxes (coordinate descent, eval_severity.py):
# "precise": best F1 with pixel precision >= baseline + 0.05 on the tune half (the default: fewest false lesion
# pixels on margins, shadows, background); "sensitive": best F1 without that floor (more lesion pixels found, more
# background/margin counted). Numbers on the held-out half: RESULTS.md.
PRESETS: dict[str, dict[str, float]] = {
    "precise": {"smooth": 0.7, "hue_shift": 14.0, "min_chroma": 4.0, "grey_chroma": 18.0, "grey_dl": 4.0,
                "margin_px": 1.0, "min_area_px": 6.0, "min_green_border": 0.2, "close_frac": 0.06, "band_px": 6.0,
                "use_leaf": 0.0},
    "sensitive": {"smooth": 1.5, "hue_shift": 6.0, "min_chroma": 4.0, "grey_chroma": 18.0, "grey_dl": 4.0,
                  "margin_px": 4.0, "min_area_px": 6.0, "min_green_border": 0.0, "close_frac": 0.04, "band_px": 1.0,
                  "use_leaf": 1.0},
}
# "sensitive" judges whether any lesion is visible and measures bacterial leaf blight ("tight", below, the other
# diseases). On the held-out half of the boxes (143 photos, 674 boxes) "sensitive" has pixel
# precision 0.452 and box-pixel recall 0.259 (90.8 % of boxes at least 10 % covered), "precise" 0.605 / 0.122 (65.1 %),
# the segmentation before 0.514 / 0.170 (69.3 %). Boxes are loose (healthy tissue inside them counts as missed,
# unboxed lesions as false), so both figures are lower bounds; "sensitive" has the better F1 on them (0.33 vs 0.20).
# On fabricated leaves with exact masks (benchmarks/lesion_eval.py) it finds brown spots on white or warm paper, a
# straw mat and soil (IoU 0.72) and a yellow streak opening onto the margin (IoU 0.72-0.81), and gives a healthy
# leaf 0 % on all four, with or without a shadow.
# "tight": the sensitive preset's leaf, margin and stray-part rules with the precise preset's colour (a lesion's hue
# turned at least 14 degrees from the healthy leaf's, Lab measured after a 0.7 px blur). It measures a lesion's own
# area: the sensitive preset's 6 degrees and 1.5 px blur also take a brown spot's chlorotic halo and blurred rim and join
# neighbouring spots, 1.3x the area of a plain fabricated spot (IoU 0.72; tight: 4.8-4.9 % for 4.5 %, IoU 0.93) and
# 2-4x on real brown spot and blast photos (median severity on the held-out box photos 24.0 -> 4.7 % and 7.8 -> 2.7 %).
# Severity is measured with the diagnosed (or an unsure answer's likeliest) disease's preset (data/ses_scales.json,
# `lesion_preset`: tight unless named; bacterial leaf blight keeps "sensitive", whose yellowing streak margins are part
# of its lesion), while whether any lesion is visible at all (photo.NO_LESION_PCT) is judged with "sensitive".
# benchmarks/lesion_eval.py.
PRESETS["tight"] = {**PRESETS["sensitive"], "smooth": 0.7, "hue_shift": 14.0}
PARAMS: dict[str, float] = dict(PRESETS["sensitive"])
# No lesion is blue or purple: a coloured candidate's hue angle lies above MIN_LESION_HUE (degrees; red ~ 30) and a grey
# one's b* above GREY_MIN_B, so a leaf's edge blended into bluish-white paper (optical brightener, shade) never counts.
MIN_LESION_HUE = -15.0
GREY_MIN_B = -2.0
# Stray parts (stray_parts): parts of the leaf mask under MAIN_LEAF_SHARE of its largest part and at least
# STRAY_MIN_LESION lesion are blades of grass or straw apart from the leaf, left out of the severity. On both halves
# of the boxes lesion outside the boxes 14.2 -> 13.7 % of the leaf, F1 level (0.321 -> 0.320).
MAIN_LEAF_SHARE = 0.25
STRAY_MIN_LESION = 0.5
# A lesion's part beyond the margin band counts when at least this share of its outline (its own lesion pixels in the
# band left out) is healthy leaf: leaf pixels that are no candidate and have some chroma. A piece of straw lying on
# the leaf's edge is outlined by its own pixels and the frame, a streak or a spot by leaf.
DEEP_MIN_GREEN_BORDER = 0.2


def _lab_polar(rgb: np.ndarray, smooth: float,
               work: WorkingImage | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    src = (work or WorkingImage(rgb)).blurred(smooth)
    lab = cv2.cvtColor(src.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)  # L 0-100, a/b signed
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a))  # green ~ 120-140, yellow ~ 90-100, orange/brown ~ 50-80, red ~ 30
    chroma = np.hypot(a, b)
    return L, hue, chroma, b




def lesion_mask(rgb: np.ndarray, leaf: np.ndarray, green: np.ndarray | None = None,
                params: dict[str, float] | None = None, return_leaf: bool = False, work: WorkingImage | None = None):
    """Bool lesion mask (rows, cols). `green`: healthy green tissue (gate.plant_masks' green core); `leaf`: the leaf
    mask (used for the search region when `green` is None). Lesion candidates are searched in the green tissue
    closed over lesion-sized gaps and hole-filled, widened by a thin band; a candidate region is kept only if
    enough of its outline borders green tissue (`min_green_border`): a lesion is embedded in the leaf, while a hand,
    straw, soil or a yellow background touches the leaf along a small part of its outline only.
    With return_leaf, also returns the leaf area used for the share: (hull minus rejected regions) | lesions.
    `work`: rgb's WorkingImage (gate.assess's), whose blurs are reused."""
    p = {**PARAMS, **(params or {})}
    core = green if green is not None else leaf
    if not core.any():
        z = np.zeros(leaf.shape, bool)
        return (z, z) if return_leaf else z
    L, hue, chroma, b_star = _lab_polar(rgb, p["smooth"], work)
    ref = core & (hue > 100) & (hue < 170) & (chroma > 5)
    if ref.sum() < 20:
        ref = core
    h0 = float(np.median(hue[ref]))
    l0 = float(np.median(L[ref]))
    if p["use_leaf"]:  # the served preset: the gate's leaf mask
        hull = np.asarray(leaf, bool)
    else:  # the green core closed over lesion-sized gaps, holes filled
        k = max(3, int(p["close_frac"] * min(rgb.shape[:2])) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        hull = fill_holes(cv2.morphologyEx(core.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool))
    mp = int(round(p["margin_px"]))
    band = max(1, int(round(p["band_px"])))
    region = cv2.dilate(hull.astype(np.uint8), np.ones((2 * band + 1,) * 2, np.uint8)).astype(bool)
    hh = np.where(hue < -90, hue + 360, hue)
    coloured = (hh < h0 - p["hue_shift"]) & (hh > MIN_LESION_HUE) & (chroma >= p["min_chroma"])
    grey = (chroma < p["grey_chroma"]) & (l0 + p["grey_dl"] < L) & (b_star > GREY_MIN_B)
    cand = region & (coloured | grey)
    # healthy tissue: leaf that is no candidate and has some chroma
    healthy = hull & ~cand & (chroma >= 5)
    n, lab, area = labelled(cand)
    if n <= 1:
        z = np.zeros(leaf.shape, bool)
        return (z, hull) if return_leaf else z
    # outline of each component: pixels of a 1-px ring (3x3 dilation) outside it; the frame border counts as
    # not-green (padding), so a region running off the photo is not "embedded"
    keep = np.zeros(n, bool)
    keep[1:] = area[1:] >= p["min_area_px"]
    if p["min_green_border"] > 0:
        keep &= _border_share(lab, n, healthy) >= p["min_green_border"]
    les = keep[lab]
    if mp > 0:
        les = _beyond_margin(les, hull, mp, p["min_area_px"], healthy)
    if not return_leaf:
        return les
    rejected = (lab > 0) & ~les
    if p["use_leaf"]:
        stray = stray_parts(hull, les, MAIN_LEAF_SHARE, STRAY_MIN_LESION)
        les, rejected = les & ~stray, rejected | stray
    return les, (hull & ~rejected) | les


def _border_share(lab: np.ndarray, n: int, mask: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """For each label of `lab`, the share of its 1-px outer ring (3x3 dilation; the frame counts as outside `mask`)
    that lies in `mask`, leaving out of the ring the pixels of `ignore`. A ring pixel touching two parts belongs to
    the larger label (the dilation's maximum). Labels are dilated as uint16 (float32 beyond 65,535 labels): the same
    maximum at half the bytes; the frame's row and column of padding count in the ring's length only."""
    big = n > np.iinfo(np.uint16).max
    lab_p = cv2.copyMakeBorder(lab.astype(np.float32 if big else np.uint16), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dil = cv2.dilate(lab_p, np.ones((3, 3), np.uint8))
    if big:
        dil = dil.astype(np.int32)
    ring = (lab_p == 0) & (dil > 0)
    if ignore is not None:
        ring[1:-1, 1:-1] &= ~np.asarray(ignore, bool)
    inside = ring[1:-1, 1:-1] & np.asarray(mask, bool)
    return np.bincount(dil[1:-1, 1:-1][inside], minlength=n) / np.maximum(np.bincount(dil[ring], minlength=n), 1)


def stray_parts(leaf: np.ndarray, les: np.ndarray, share: float, min_lesion: float) -> np.ndarray:
    """The leaf mask's parts under `share` of its largest part's area that are at least `min_lesion` lesion: blades
    of grass or pieces of straw apart from the leaf photographed, which the colour rule takes for leaf and, being
    yellower than it, for lesion. A small part that is mostly healthy (a leaf's tip cut off by a pale band, a second
    leaf) stays."""
    n, lab, area = labelled(np.asarray(leaf, bool))
    if n <= 2:
        return np.zeros(leaf.shape, bool)
    lesion = np.bincount(lab[les], minlength=n) / np.maximum(area, 1)
    stray = (area < share * area[1:].max()) & (lesion >= min_lesion)
    stray[0] = False
    return stray[lab]


def _beyond_margin(les: np.ndarray, hull: np.ndarray, mp: int, min_area: float, healthy: np.ndarray) -> np.ndarray:
    """The lesion pixels beyond a band of `mp` px inside the leaf's border, in parts of at least `min_area` px whose
    outline borders `healthy` leaf for at least DEEP_MIN_GREEN_BORDER of its length, plus the band's lesion pixels
    within `mp` + 1 px of such a part: a streak that opens onto the margin keeps its whole length, while a rim of
    mixed leaf and background pixels (all in the band) counts only where it touches a lesion, not round the leaf.
    Judged part by part: the rule before (a connected lesion with a quarter of its pixels beyond the band) let a rim
    that joined a streak drag the streak out with it (0 % for a 7 % streak on warm paper, a straw mat or soil)."""
    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * mp + 1,) * 2)
    inner = cv2.erode(hull.astype(np.uint8), ell).astype(bool)
    n, lab, area = labelled(les & inner)
    big = (area >= max(1.0, min_area)) & (_border_share(lab, n, healthy, ignore=les) >= DEEP_MIN_GREEN_BORDER)
    big[0] = False
    deep = big[lab]
    near = cv2.dilate(deep.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * mp + 3,) * 2)).astype(bool)
    return deep | (les & near & ~inner)


def severity(rgb: np.ndarray, leaf: np.ndarray, green: np.ndarray | None = None,
             params: dict[str, float] | None = None, work: WorkingImage | None = None) -> dict[str, Any]:
    """Lesion share of the leaf. `rgb` at analysis size (short side ~300 px) with `leaf` (and `green`) masks of the
    same size (gate.assess's leaf_mask and green_mask). Returns {"lesion_pct": 0-100, "lesion_mask", "leaf_mask",
    "leaf_px"}. `work`: rgb's WorkingImage (gate.assess's `working`), whose blurs are reused."""
    les, sev_leaf = lesion_mask(rgb, leaf, green, params, return_leaf=True, work=work)
    n_leaf = int(sev_leaf.sum())
    return {"lesion_pct": 100.0 * float(les.sum()) / n_leaf if n_leaf else 0.0, "lesion_mask": les,
            "leaf_mask": sev_leaf, "leaf_px": n_leaf}
