"""The photo quality gate, which looks at the leaf (numpy + OpenCV).

assess(rgb) finds plant tissue by positive evidence (coherent green tissue plus the yellow/brown tissue attached to
it), then measures exposure and sharpness on the leaf only, so a white paper, scanner bed or sky around a leaf never
makes a photo "too bright". Arrays are RGB uint8 (rows, cols, 3); masks are bool.

Evidence for plant tissue (all at a short side of 300 px):
- spatial coherence: the correlation of horizontally/vertically adjacent grey values; a natural photo is > 0.7, any
  i.i.d. noise image (uniform or gaussian, whatever its colour) is ~0;
- colour after a light smoothing (sigma 1.5 px): green tissue is OpenCV hue 28-95 (56-190 deg) with a saturation that
  is clearly above the grey axis; yellow/straw/brown tissue (hue 0-27 or >= 165) counts only where it touches green
  tissue (a lesion, a dried tip), so skin, beige walls, soil or a wooden table alone are not plant;
- size: the green core must cover at least MIN_GREEN_FRACTION of the image in components that survive an opening.
The leaf mask (for exposure, severity and leaf colour) is the green core closed and hole-filled, plus the yellow,
brown, grey and straw tissue within a band around it, minus whatever has the colour of the background: a CIELAB
histogram of everything beyond the band (paper, a straw mat, soil, a hand, their shadows) says which colours are
background (`inference.masks.background_like`), so a mat or soil beside the leaf is not taken for diseased tissue,
while a dried straw-coloured lesion on white paper is kept.
Measured on the 490 real photos of both sources: 0 refused (the gate before: 23, 16 of them leaves on paper called
too bright); on seeded bad images (blur sigma 3-5 px, darkened x0.15, 100 each of uniform and gaussian noise, walls,
skin, sky, checkerboards, text): 96.9 % of over-exposed (x3) and 100 % of every other kind caught. A leaf pixel is
clipped when its green channel or two of its channels are saturated: red alone (yellow tissue under warm light) or
blue alone (a cool cast) is not (benchmarks/photo_robustness.py: refused under warm light 7 -> 4, cool 3 -> 2).
Blur: a contrast-free edge-width measure on the strongest edges of the leaf zone (leaf and its border): the ratio of
the gradient magnitude to the gradient magnitude after an extra gaussian blur of 1 px. For an edge blurred with sigma
s it is sqrt(s^2+1)/s: ~1.6 for a sharp edge, 1.05 for s = 3 px. Being a ratio it does not fall with darkness or low
contrast, unlike the variance of the Laplacian.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from inference.canopy import canopy_mask, fragmentation
from inference.masks import WorkingImage, background_like, fill_holes, labelled, percentile_u8, resize_short

ANALYSIS_SHORT_SIDE = 300
MIN_COHERENCE = 0.5  # adjacent-pixel correlation; real photos >= 0.8, noise ~0
MIN_GREEN_FRACTION = 0.01  # green core share of the image
GREEN_HUE = (28, 95)  # OpenCV hue units (0-180)
GREEN_MIN_SAT = 40
REL_V = 0.25  # green core: at least this share of the frame's 99th-percentile value
MIN_V = 10  # a pixel darker than this carries no colour (dark photos still show hue down to ~10)
# Exposure on leaf pixels (HSV value 0-255).
DARK_LEAF_V = 45.0
# A leaf brighter than this on average is refused even when little of it is clipped (until 2026-11-30: 215, the 490
# real photos' maximum being 202). Information is lost where pixels clip, which CLIPPED_LEAF_MAX judges; the mean
# alone refused bright, readable leaves: on the frozen benchmark's photos brightened x1.2 / x1.4 / x1.7 / x2, 215 -> 235
# refuses 6 / 27 / 65 / 80 -> 3 / 19 / 59 / 77, the photos let through answered right or unsure, none wrong; seeded x3
# over-exposures of the 490 real photos caught 97.1 -> 96.9 %.
BRIGHT_LEAF_V = 235.0
CLIPPED_LEAF_MAX = 0.25  # share of leaf pixels with green, or two channels, >= 250
# Sharpness: median edge-width ratio over the strongest leaf-zone edges (see module docstring).
BLUR_RATIO_MIN = 1.13  # 490 real photos: min 1.15; blurred sigma 3-5 px: max 1.11
# ... and edges there must be: the strongest leaf-zone gradients (the `top` share's threshold, after the 1 px blur)
# over the leaf's mean grey level. A photo blurred into smooth colour keeps only its JPEG blocks' tiny steps, whose
# width ratio looks sharp (a farmer's fully blurred leaf: ratio 1.20, scored and stored). 490 real photos: min 0.20
# (1 % under 0.23); that blurred leaf 0.07. Being a ratio to the leaf's brightness, a darker photo keeps its value.
EDGE_CONTRAST_MIN = 0.1
# Kind: field_patch when the green canopy is fragmented into many small pieces (canopy seen from above or at a
# distance) rather than one or a few large leaf blades. Chosen on the 490 leaf photos (4 % above) and 12 windows of
# the Bali orthomosaic (92 % above); CWFID (evaluation only): 60/60 above.
FIELD_MIN_FRAGMENTATION = 0.22
# Leaf mask: yellow/brown/grey tissue beside the green leaf is background (a mat, soil, a hand, warm paper, a shadow)
# when pixels beyond the leaf in its colour make more than this share of the whole image (masks.background_like).
BACKGROUND_MIN_FRACTION = 0.02
# A black-and-white photo (a phone's mono mode, a grey scan): at least this share of pixels within NO_COLOUR_SPREAD of
# grey (max - min of R, G, B). It is told so, alone, rather than "not a plant, too bright, blurry" measured on grey.
NO_COLOUR_SHARE = 0.98
NO_COLOUR_SPREAD = 3
# ... unless the frame is black (the lens covered, a pocket): mean V under this is "too dark", not "no colour". The
# darkest of the real photos made grey has mean V 36.5 (BLAST2_107) and is told no_colour.
BLACK_FRAME_V = 25.0






def coherence(gray: np.ndarray) -> float:
    """Mean of the horizontal and vertical lag-1 autocorrelations of a grey image (1 = smooth, 0 = white noise)."""
    g = gray.astype(np.float32)
    out = []
    for a, b in ((g[:, :-1], g[:, 1:]), (g[:-1, :], g[1:, :])):
        a = a - a.mean()
        b = b - b.mean()
        den = float(np.sqrt((a * a).sum() * (b * b).sum()))
        out.append(float((a * b).sum()) / den if den > 1e-6 else 1.0)
    return float(np.mean(out))


def colour_masks(hsv: np.ndarray, v_min: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """plant_masks' colour rules on an OpenCV HSV image (hue 0-180, s and v 0-255), bool masks:
    green: GREEN_HUE, s >= GREEN_MIN_SAT, v >= v_min and an absolute chroma s * v >= 1020 (max - min >= 4: for dark
      pixels HSV saturation is noisy);
    pale: s < 35 and v > 150 (paper, or dried tissue); straw: pale, hue 8-35 and s >= 12 (pale and yellowish: dried
      tissue, or warm paper);
    tissue: yellow, brown, grey-brown (hue below green or >= 165, s >= 50, v >= MIN_V; or 20 <= s < 50 and v < 200),
      or straw.
    As cv2.inRange boxes (bounds inclusive; v >= v_min for whole v is v >= ceil(v_min)): the same pixels as numpy's
    comparisons (a test compares them on real photos), 3x faster at 300 x 400 px."""
    hue_sat_val = cv2.inRange(hsv, (GREEN_HUE[0], GREEN_MIN_SAT, math.ceil(v_min)), (GREEN_HUE[1], 255, 255))
    chroma = cv2.multiply(hsv[..., 1], hsv[..., 2], dtype=cv2.CV_16U)  # s * v, at most 65025: exact in 16 bits
    green = (hue_sat_val > 0) & (chroma >= 1020)
    pale = cv2.inRange(hsv, (0, 0, 151), (255, 34, 255)) > 0
    straw = cv2.inRange(hsv, (8, 12, 151), (35, 34, 255)) > 0
    tissue = cv2.bitwise_or(cv2.bitwise_or(cv2.inRange(hsv, (0, 50, MIN_V), (GREEN_HUE[0] - 1, 255, 255)),
                                           cv2.inRange(hsv, (165, 50, MIN_V), (255, 255, 255))),
                            cv2.inRange(hsv, (0, 20, 0), (255, 49, 199))) > 0
    return green, pale, straw, tissue | straw


PLANT_SMOOTH = 1.5  # px: plant_masks judges colour after this blur (the sensitive lesion preset's too)


def plant_masks(small: np.ndarray, work: WorkingImage | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(green_core, leaf) masks of an RGB image at analysis size. green_core: coherent green tissue; leaf: the green
    core closed over lesion-sized gaps, hole-filled, plus yellow/brown tissue touching it, minus paper/background.
    `work`: the image's WorkingImage, whose blur is reused."""
    sm = (work or WorkingImage(small)).blurred(PLANT_SMOOTH)
    hsv = cv2.cvtColor(sm, cv2.COLOR_RGB2HSV)
    # dark relative to the frame's highlights = shadow, dark water or soil, not tissue to measure (a darkened photo
    # keeps its leaf: the bound scales with the frame)
    v_min = max(MIN_V, REL_V * percentile_u8(hsv[..., 2], 99))
    green, pale, straw, tissue = colour_masks(hsv, v_min)
    g8 = cv2.morphologyEx(green.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, lab, area = labelled(g8)
    min_area = max(20, int(0.002 * g8.size))
    keep = np.zeros(n, bool)
    keep[1:] = area[1:] >= min_area
    keep &= ~_app_bars(lab, area, keep, small)
    core = keep[lab]
    k = max(3, int(0.04 * min(small.shape[:2])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    closed = fill_holes(cv2.morphologyEx(core.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool))
    band = cv2.dilate(closed.astype(np.uint8), kernel).astype(bool)
    background = background_like(sm, ~band, BACKGROUND_MIN_FRACTION)
    paper = pale & (~straw | background)  # pale, unless straw-coloured in another colour than the background's
    leaf = closed & (~paper | core)
    # lesion/senescent tissue attached to the leaf: yellow, brown, grey-brown, straw, within a band around the green
    # core, unless in a colour common beyond it (a mat, soil, a hand, warm paper and their shadows)
    leaf = fill_holes(leaf | (tissue & band & ~background))
    leaf &= ~paper | core
    return core, leaf


# A part of the green mask that spans the frame's whole width (or height), fills its bounding box and is one flat
# colour is an app's title bar or a side panel (a screenshot of a photo, a photo sent through a chat app), not a leaf:
# taken for the leaf, a WhatsApp-green bar gave a blight leaf growth 100 and "no symptom". No leaf is a rectangle of
# one colour across the frame.
APP_BAR_SPAN = 0.98
APP_BAR_FILL = 0.95
APP_BAR_FLAT_SHARE = 0.8  # of its pixels within APP_BAR_TOLERANCE of its median colour (a bar's text spoils the rest)
APP_BAR_TOLERANCE = 3  # levels per channel; a real leaf's pixels spread over tens


def _app_bars(lab: np.ndarray, area: np.ndarray, keep: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Per label of `lab` (only those in `keep`, as big as a bar can be): whether it is a flat bar across the frame."""
    rows, cols = lab.shape
    n = len(area)
    bars = np.zeros(n, bool)
    edge = lambda line: np.bincount(line, minlength=n) > 0  # noqa: E731  labels on a border of the frame
    across = (edge(lab[:, 0]) & edge(lab[:, -1])) | (edge(lab[0]) & edge(lab[-1]))  # touches two opposite borders
    coarse_lab, coarse_rgb = lab[::5, ::5], rgb[::5, ::5]  # flatness judged on a sample (a leaf fails it at once)
    for i in np.flatnonzero(keep & across & (area >= 3 * min(rows, cols))):
        px = coarse_rgb[coarse_lab == i]
        px = px[:: max(1, len(px) // 512)].astype(np.int16)
        flat = (np.abs(px - np.median(px, axis=0).astype(np.int16)) <= APP_BAR_TOLERANCE).all(axis=1)
        if np.count_nonzero(flat) < APP_BAR_FLAT_SHARE * max(len(flat), 1):
            continue
        ys, xs = np.nonzero(lab == i)
        y0, x0 = int(ys.min()), int(xs.min())
        h, w = int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1
        # its holes filled: an avatar, icons and text inside the bar are no gaps in the rectangle
        bars[i] = (w >= APP_BAR_SPAN * cols or h >= APP_BAR_SPAN * rows) and \
            np.count_nonzero(fill_holes(lab[y0:y0 + h, x0:x0 + w] == i)) >= APP_BAR_FILL * h * w
    return bars


def colourless(work: WorkingImage) -> bool:
    """Whether the photo is black and white: NO_COLOUR_SHARE of its pixels have their three channels within
    NO_COLOUR_SPREAD of each other."""
    rgb = work.rgb
    spread = cv2.subtract(np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2]),
                          np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2]))
    return np.count_nonzero(spread <= NO_COLOUR_SPREAD) >= NO_COLOUR_SHARE * spread.size


def edge_width_ratio(gray: np.ndarray, zone: np.ndarray, top: float = 0.02, q: float = 90.0) -> float:
    """Sharpness: the q-th percentile of |grad I| / |grad (G_1 * I)| over the `top` share (at least 30 px) of the
    strongest-gradient pixels in `zone`. ~1.6 for a sharp step edge, sqrt(s^2+1)/s for one blurred with sigma s."""
    return edge_stats(gray, zone, top, q)[0]


def edge_stats(gray: np.ndarray, zone: np.ndarray, top: float = 0.02, q: float = 90.0) -> tuple[float, float]:
    """(edge_width_ratio, the gradient magnitude after the 1 px blur above which the `top` share of `zone` lies)."""
    g = gray.astype(np.float32)
    g1 = cv2.GaussianBlur(g, (0, 0), 1.0)

    def mag(x: np.ndarray) -> np.ndarray:
        return cv2.magnitude(cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3))

    m0, m1 = mag(g), mag(g1)
    vals = m1[zone]
    if vals.size < 200:
        vals, zone = m1.ravel(), np.ones(m1.shape, bool)
    k = max(30, int(top * vals.size))
    thr = np.partition(vals, vals.size - k)[vals.size - k]
    sel = zone & (m1 >= max(float(thr), 2.0))
    if sel.sum() < 10:
        return float("nan"), float(thr)
    return float(np.percentile(m0[sel] / (m1[sel] + 1e-3), q)), float(thr)


# Not a plant is not told "blurry" as well: a plain wall or the sky has no edges to be sharp, and "hold the phone
# still" beside "this is not a plant" misleads (a browser walkthrough's wall was told both). Blurred leaves stay
# plants: of 41 real photos blurred (tests/data/make_bad_photos), none was told not_a_plant. Exposure is still said:
# a black frame is "not a plant, too dark".
def assess(rgb: np.ndarray) -> dict[str, Any]:
    """Quality and content of a photo: RGB uint8 (any size) -> dict with
    issues (list of 'blurry', 'too_dark', 'too_bright', 'not_a_plant'), ok, kind ('leaf_closeup' | 'field_patch' |
    None), leaf_fraction, green_fraction, leaf_mean_v, leaf_clipped_pct, sharpness (edge-width ratio), coherence,
    image_mean_v, and at analysis size (short side 300 px) the working image, leaf_mask, green_mask and
    canopy_mask (bool), and `working`, the image's WorkingImage (its blurs and HSV), for the leaf analysis and the
    lesion candidates to reuse."""
    small = resize_short(np.ascontiguousarray(rgb[..., :3]), ANALYSIS_SHORT_SIDE)
    work = WorkingImage(small)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    v_img = work.hsv[..., 2]
    coh = coherence(gray)
    core, leaf = plant_masks(small, work)
    green_frac = np.count_nonzero(core) / core.size  # == core.mean(), without a float64 copy of the mask
    issues: list[str] = []
    img_mean_v = float(v_img.mean())
    img_clipped = np.count_nonzero(v_img >= 250) / v_img.size
    is_plant = coh >= MIN_COHERENCE and green_frac >= MIN_GREEN_FRACTION
    if is_plant:
        lv = v_img[leaf]
        mean_v = float(lv.mean())
        r, g, b = (small[..., c][leaf] for c in range(3))
        # a leaf pixel is burnt out when its green channel or two of its channels are: a saturated red or blue alone
        # (yellow tissue under warm light, a cool cast) still shows the lesion's colour and texture. The second
        # largest channel is the median of three: max(min(r, g), min(max(r, g), b)), in uint8 (no int16 copy)
        second = np.maximum(np.minimum(r, g), np.minimum(np.maximum(r, g), b))
        clipped = np.count_nonzero((second >= 250) | (g >= 250)) / max(len(g), 1)
        zone = cv2.dilate(leaf.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    else:
        # no leaf to measure: judge exposure on the whole image so a black or burnt-out frame says so
        mean_v, clipped, zone = img_mean_v, img_clipped, np.ones_like(leaf)
    sharp, strongest = edge_stats(gray, zone)
    contrast = strongest / max(float(gray[leaf].mean()) if is_plant else float(gray.mean()), 1.0)
    dark = mean_v < DARK_LEAF_V
    bright = mean_v > BRIGHT_LEAF_V or clipped > CLIPPED_LEAF_MAX
    if dark:
        issues.append("too_dark")
    if bright:
        issues.append("too_bright")
    if not (sharp >= BLUR_RATIO_MIN) or contrast < EDGE_CONTRAST_MIN:  # nan (no edges at all) counts as blurry
        issues.append("blurry")
    if not is_plant:  # first: what to photograph comes before how (the page says the issues in this order)
        issues = ["not_a_plant"] + [i for i in issues if i != "blurry"]  # no "blurry": the note above assess
        if colourless(work) and img_mean_v >= BLACK_FRAME_V:  # a black frame is too dark, not black-and-white
            issues = ["no_colour"]
    kind, frag = None, None
    canopy = canopy_mask(small, work=work)
    if is_plant:
        frag = fragmentation(canopy)
        kind = "field_patch" if frag >= FIELD_MIN_FRAGMENTATION else "leaf_closeup"
    return {
        "ok": not issues, "issues": issues, "kind": kind,
        "leaf_fraction": round(np.count_nonzero(leaf) / leaf.size, 4), "green_fraction": round(green_frac, 4),
        "leaf_mean_v": round(mean_v, 1), "leaf_clipped_pct": round(100 * clipped, 2),
        "image_mean_v": round(img_mean_v, 1), "image_clipped_pct": round(100 * img_clipped, 2),
        "sharpness": round(sharp, 3) if sharp == sharp else None, "edge_contrast": round(contrast, 3),
        "coherence": round(coh, 3),
        "fragmentation": round(frag, 3) if frag is not None else None,
        "image": small, "leaf_mask": leaf, "green_mask": core, "canopy_mask": canopy, "working": work,
    }
