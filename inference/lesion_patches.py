"""Lesion-level evidence for the diagnosis: candidate lesions found by colour, cut into square patches with a little
context, classified one by one (three diseases or background) and pooled into one answer per leaf.

A patch sees a lesion and a rim of leaf around it, not the background or the camera of the photo, which is what
made the whole-image model fail on photos from other sources. Training (models/lesion_patch_pipeline.py) and serving
cut patches with these same functions. Arrays are RGB uint8 (rows, cols, 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from inference.masks import fill_holes, resize_short

GREY = 128  # fill outside the photo
CANDIDATE_SHORT_SIDE = 640  # leaf_patches' default; every bundle's model.json declares its own (1.4.0: 360)
COLOUR_FEATURES = ("dL", "da", "db", "core_minus_rim_L")  # lesion_colour: relative to the photo's healthy leaf


@dataclass(frozen=True)
class Candidate:
    """A candidate lesion: its box in pixels of the working-size image and its area as a share of the image."""

    x0: float
    y0: float
    x1: float
    y1: float
    area_fraction: float


def candidate_mask(rgb: np.ndarray) -> np.ndarray:
    """Lesion candidates, bool (rows, cols): leaf_and_candidates' second mask."""
    return leaf_and_candidates(rgb)[1]


# white paper or a scanner bed: OpenCV HSV s < 35, v > 150 (inRange bounds, inclusive)
PAPER_HSV = ((0, 0, 151), (255, 34, 255))
GREEN_HSV = ((27, 46, 41), (95, 255, 255))  # green tissue (the candidate rule's)


def leaf_and_candidates(rgb: np.ndarray, hsv: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(leaf, lesion candidates), bool (rows, cols). The candidates are a recall-oriented colour rule (yellow-brown-
    orange or grey-white, or dark and saturated, inside a leaf closed over lesion-sized gaps, minus white paper).

    OpenCV hue 0-180, saturation and value 0-255: paper s < 35 and v > 150; green 27 <= h <= 95, s > 45, v > 40;
    brown (h < 24 or h > 160), s > 50, v > 20; a lesion is leaf, not green, and h < 27 or h > 160, or s <= 45 and
    v > 110, or v < 90 and s > 40. Written with cv2.inRange masks (0/255), which is 1.3x faster than numpy
    comparisons at the working size; the result is identical (a test compares the two on real photos). The leaf is
    the green tissue closed over lesion-sized gaps plus the brown attached to it, holes filled, minus paper. `hsv`:
    rgb's OpenCV HSV, when already made (the gate's, at the same working size)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV) if hsv is None else hsv
    paper = cv2.inRange(hsv, *PAPER_HSV)
    green = cv2.inRange(hsv, *GREEN_HSV)
    k = max(3, int(0.04 * min(rgb.shape[:2])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    one3 = np.ones((3, 3), np.uint8)
    green_open = cv2.morphologyEx(green, cv2.MORPH_OPEN, one3)
    not_paper_lit = cv2.bitwise_and(cv2.bitwise_not(paper), cv2.inRange(hsv, (0, 0, 31), (255, 255, 255)))
    closed = fill_holes(cv2.morphologyEx(green_open, cv2.MORPH_CLOSE, kernel)).view(np.uint8) * np.uint8(255)
    leaf = cv2.bitwise_and(closed, not_paper_lit)
    brown = cv2.bitwise_or(cv2.inRange(hsv, (0, 51, 21), (23, 255, 255)), cv2.inRange(hsv, (161, 51, 21), (255, 255, 255)))
    attached = cv2.bitwise_and(brown, cv2.dilate(leaf, kernel))
    leaf = fill_holes(cv2.bitwise_or(leaf, attached)).view(np.uint8) * np.uint8(255)
    lesion = cv2.bitwise_and(cv2.bitwise_and(lesion_colours(hsv), cv2.bitwise_not(green)), leaf)
    return leaf.astype(bool), cv2.morphologyEx(lesion, cv2.MORPH_OPEN, one3).astype(bool)


def lesion_colours(hsv: np.ndarray) -> np.ndarray:
    """The candidate rule's lesion colours (0/255 uint8) of an OpenCV HSV image, wherever they are: hue under 27 or
    over 160 (yellow, orange, brown, red), or pale (s <= 45, v > 110), or dark and saturated (v < 90, s > 40)."""
    colour = cv2.inRange(hsv, (0, 0, 0), (26, 255, 255))
    for lo, hi in (((161, 0, 0), (255, 255, 255)), ((0, 0, 111), (255, 45, 255)), ((0, 41, 0), (255, 255, 89))):
        colour = cv2.bitwise_or(colour, cv2.inRange(hsv, lo, hi))
    return colour


def white_background_share(rgb: np.ndarray) -> float:
    """Share of the photo that is white paper or a scanner bed, by leaf_and_candidates' paper rule (PAPER_HSV): how
    training tells a leaf photographed on white from one in the field (datasets.field_photos.capture_domain)."""
    paper = cv2.inRange(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), *PAPER_HSV)
    return float(np.count_nonzero(paper)) / paper.size


def find_candidates(rgb: np.ndarray, max_n: int = 12, min_fraction: float = 0.0004) -> list[Candidate]:
    """The largest connected components of the candidate mask (at most `max_n`, each at least `min_fraction` of the
    image), biggest first. `rgb` at the bundle's working size (its working_short_side)."""
    return components(candidate_mask(rgb), max_n, min_fraction)


def components(mask: np.ndarray, max_n: int, min_fraction: float) -> list[Candidate]:
    """The largest connected components of a bool mask (at most `max_n`, each at least `min_fraction` of it)."""
    m = mask.astype(np.uint8)
    n, _, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    comps = [Candidate(float(st[k, 0]), float(st[k, 1]), float(st[k, 0] + st[k, 2]), float(st[k, 1] + st[k, 3]),
                       float(st[k, 4]) / m.size) for k in range(1, n) if st[k, 4] >= min_fraction * m.size]
    comps.sort(key=lambda c: -c.area_fraction)
    return comps[:max_n]


def neutralise_background(rgb: np.ndarray, leaf: np.ndarray, margin: int = 2) -> np.ndarray:
    """A copy of the photo with everything but the leaf (dilated by `margin` px, so lesions on the leaf's edge keep
    their rim) set to neutral grey: a patch then sees lesion and leaf, never paper, soil, hands or the sky."""
    m8 = np.ascontiguousarray(leaf).view(np.uint8)
    keep = cv2.dilate(m8, np.ones((2 * margin + 1,) * 2, np.uint8)) if margin else m8
    out = np.full(rgb.shape, GREY, np.uint8)  # C-contiguous whatever the input's layout (cv2.copyTo needs it)
    return cv2.copyTo(rgb, keep, out)  # OpenCV's masked copy: 50x numpy's copyto with a broadcast mask (3.1 -> 0.06 ms)


def square_patch(rgb: np.ndarray, box: tuple[float, float, float, float], size: int, ctx: float,
                 min_side: int = 24) -> np.ndarray:
    """A square crop centred on the box, of side ctx x its longer side (at least `min_side`), grey outside the
    image, resized to size x size."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(min_side, ctx * max(x1 - x0, y1 - y0))
    h, w = rgb.shape[:2]
    a0, b0, s = int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))
    out = np.full((s, s, 3), GREY, np.uint8)
    xa, ya, xb, yb = max(0, a0), max(0, b0), min(w, a0 + s), min(h, b0 + s)
    if xb > xa and yb > ya:
        out[ya - b0 : yb - b0, xa - a0 : xb - a0] = rgb[ya:yb, xa:xb]
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)


def patch_boxes(box: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    """The boxes box_patches cuts: the box itself, or for a long box (aspect over 2, a blight streak) up to six
    squares along its long side."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    s, long_ = min(w, h), max(w, h)
    k = int(np.clip(np.ceil(long_ / max(s, 1)), 1, 6)) if long_ > 2 * s else 1
    if k == 1:
        return [box]
    return [(x0 + c - s / 2, y0, x0 + c + s / 2, y1) if w >= h else (x0, y0 + c - s / 2, x1, y0 + c + s / 2)
            for c in np.linspace(s / 2, long_ - s / 2, k)]


def box_patches(rgb: np.ndarray, box: tuple[float, float, float, float], size: int, ctx: float) -> list[np.ndarray]:
    """One square patch, or for a long box (aspect over 2, a blight streak) up to six along its long side."""
    return [square_patch(rgb, b, size, ctx) for b in patch_boxes(box)]


def leaf_reference(lab: np.ndarray, leaf: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """The median CIELAB colour (OpenCV's 8-bit scale: whole values 0-255, uint8 or float32; float32 out) of the
    healthy leaf (leaf minus candidates); of the whole leaf, or of the photo, when too little of it is healthy. Equal
    to np.median over those pixels (a test checks it on real photos), from 256-bin histograms: on a 360 px photo
    3x faster than np.median with a float32 image, 10x with a uint8 one (0.7 ms)."""
    for m in (leaf & ~lesion, leaf):
        if np.count_nonzero(m) > 20:
            return masked_median_u8(lab, m)
    return masked_median_u8(lab, np.ones(lab.shape[:2], bool))


def masked_median_u8(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel median (float32, as np.median: the mean of the two middle values for an even count) of the pixels
    under a non-empty bool mask, for an image whose values are whole numbers 0-255 (uint8, or float32 holding them:
    histograms of a uint8 copy, 4x faster)."""
    img = np.ascontiguousarray(img if img.dtype == np.uint8 else img.astype(np.uint8))
    n = int(np.count_nonzero(mask))
    k = np.array([(n - 1) // 2, n // 2])
    m8 = np.ascontiguousarray(mask).view(np.uint8)
    out = []
    for c in range(img.shape[2]):
        cum = np.cumsum(cv2.calcHist([img], [c], m8, [256], [0, 256]).ravel().astype(np.int64))  # exact counts
        out.append(np.searchsorted(cum, k, side="right").mean())
    return np.asarray(out, np.float32)


def lesion_colour(lab: np.ndarray, lesion: np.ndarray, ref: np.ndarray,
                  box: tuple[float, float, float, float]) -> np.ndarray | None:
    """COLOUR_FEATURES of the candidate pixels inside a box: their median L, a, b minus the healthy leaf's (the
    camera's white balance and exposure cancel) and the lightness of the lesion's core minus its rim (blast's grey
    centre). The core is the candidate pixels deeper than half the deepest one's distance to a non-candidate pixel,
    the crop's edge counting as non-candidate, so a tight box and a loose box round the same lesion give the same
    values. None when the box holds under 3 candidate pixels (a lesion the candidate rule does not see, which is never
    served). `lab`: OpenCV's 8-bit CIELAB, uint8 or float32 (the same values either way). float32 (4,)."""
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = max(x0 + 1, int(round(box[2]))), max(y0 + 1, int(round(box[3])))
    m, sub = lesion[y0:y1, x0:x1], lab[y0:y1, x0:x1]
    if int(m.sum()) < 3:
        return None
    d = masked_median_u8(sub, m) - ref  # np.median(sub[m], 0) exactly
    padded = cv2.copyMakeBorder(np.ascontiguousarray(m).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    depth = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    core = depth > 0.5 * depth.max()
    rim = m & ~core
    light = sub[..., 0].astype(np.float32)  # float32 means, as when the image was float32
    cr = float(light[core].mean() - light[rim].mean()) if core.any() and rim.any() else 0.0
    return np.array([*d, cr], np.float32)


class CandidatePatches:
    """A photo's lesion patches, cut, and their lesion colour measured, only when asked for: `patches[i]` is patch i
    (candidates biggest first, a long one's patches in a row) and `colour[idx]` the rows (len(idx), 4) of those
    patches (zeros without colour, or for a candidate too small to measure). score_patches runs the largest few and
    stops once no patch left can enter the pool, so most candidates are never cut or measured. Every value equals
    leaf_patches' (which materialises them all, for training)."""

    def __init__(self, src: np.ndarray, leaf: np.ndarray, lesion: np.ndarray, lab: np.ndarray | None,
                 comps: list[Candidate], size: int, ctx: float) -> None:
        self.src, self.lesion, self.lab, self.size, self.ctx = src, lesion, lab, size, ctx
        self.boxes = [(c.x0, c.y0, c.x1, c.y1) for c in comps]
        subs = [patch_boxes(b) for b in self.boxes]
        self.owner = [(j, k) for j, sb in enumerate(subs) for k in range(len(sb))]  # patch -> (candidate, its k-th)
        self.subs = subs
        self.areas = np.asarray([comps[j].area_fraction / len(subs[j]) for j, _ in self.owner], np.float64)
        self.ref = leaf_reference(lab, leaf, lesion) if lab is not None else None
        self._cut: dict[int, np.ndarray] = {}
        self._colour: dict[int, np.ndarray] = {}
        self.colour = _Rows(self)

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self._cut:
            j, k = self.owner[i]
            self._cut[i] = square_patch(self.src, self.subs[j][k], self.size, self.ctx)
        return self._cut[i]

    def colour_of(self, i: int) -> np.ndarray:
        j = self.owner[i][0]
        if j not in self._colour:
            col = lesion_colour(self.lab, self.lesion, self.ref, self.boxes[j]) \
                if self.lab is not None and self.ref is not None else None
            self._colour[j] = col if col is not None else np.zeros(len(COLOUR_FEATURES), np.float32)
        return self._colour[j]


class _Rows:
    """CandidatePatches.colour: rows by an index array, as a numpy array's `colour[idx]`."""

    def __init__(self, owner: CandidatePatches) -> None:
        self.owner = owner

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray([self.owner.colour_of(int(i)) for i in idx], np.float32).reshape(-1, len(COLOUR_FEATURES))


def leaf_candidates(rgb: np.ndarray, size: int, ctx: float, max_n: int, min_fraction: float,
                    neutral_background: bool = False, with_colour: bool = False,
                    work_side: int = CANDIDATE_SHORT_SIDE, hsv: np.ndarray | None = None) -> CandidatePatches:
    """A photo's candidate lesions as CandidatePatches (patches and colours cut on demand; arguments as
    leaf_patches'). `hsv`: rgb's OpenCV HSV when already made, used when rgb is at the working size already."""
    resized = min(rgb.shape[:2]) > work_side
    work = resize_short(rgb, work_side) if resized else rgb
    leaf, lesion = leaf_and_candidates(work, None if resized else hsv)
    src = neutralise_background(work, leaf) if neutral_background else work
    lab = cv2.cvtColor(work, cv2.COLOR_RGB2LAB) if with_colour else None  # uint8: its histograms are 4x faster
    return CandidatePatches(src, leaf, lesion, lab, components(lesion, max_n, min_fraction), size, ctx)


def leaf_patches(rgb: np.ndarray, size: int, ctx: float, max_n: int, min_fraction: float,
                 neutral_background: bool = False, with_colour: bool = False,
                 work_side: int = CANDIDATE_SHORT_SIDE) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Patches of a photo's candidate lesions, each patch's area share (a long lesion's area is split over its
    patches) and, `with_colour`, each patch's lesion_colour (else zeros): (patches, areas (N,), colour (N, 4)).
    `rgb` any size: it is brought to the working size (short side `work_side`, the bundle's working_short_side)
    first; training cuts every patch from that same working-size image. With `neutral_background` the patches are
    cut from neutralise_background's copy. Serving cuts only what it runs (leaf_candidates)."""
    cp = leaf_candidates(rgb, size, ctx, max_n, min_fraction, neutral_background, with_colour, work_side)
    every = np.arange(len(cp))
    return [cp[int(i)] for i in every], cp.areas, cp.colour[every]


def to_batch(patches: list[np.ndarray], mean: float, std: float) -> np.ndarray:
    """(N, 3, S, S) float32 network input ((x / 255 - mean) / std) from RGB uint8 patches, by OpenCV's blob
    builder (6x faster than numpy's stack, cast and transpose; equal within 2e-7)."""
    blob = cv2.dnn.blobFromImages(patches, scalefactor=1 / (255 * std), mean=(255 * mean,) * 3, swapRB=False,
                                  crop=False)
    return np.asarray(blob, np.float32)


def score_patches(run: Callable[..., tuple[np.ndarray, np.ndarray]], patches: list[np.ndarray] | CandidatePatches,
                  areas: np.ndarray, mean: float, std: float, top_k: int = 3, chunk: int = 3,
                  extra: np.ndarray | _Rows | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classify only the patches that can change the pooled answer. pool_leaf keeps the `top_k` patches by weight
    sqrt(area) x (1 - p_background), and that weight is at most sqrt(area): patches are run `chunk` at a time in
    decreasing area, and once the top_k-th weight so far exceeds the next patch's sqrt(area), no patch left can enter
    the pool. pool_leaf on what this returns equals pool_leaf on every patch (a test checks it); on 147 real photos it
    ran 1,608 of 2,915 patches in chunks of 4. Chunks of 3 (the default since 1.4.0) run 3 % fewer on the benchmark's
    photos (10.5 against 10.8 each), with the same answers. `run(batch) -> (probabilities (n, C + 1), distances
    (n,) or (n, m))`, or with `extra` (rows per patch, e.g. lesion_colour) `run(batch, extra rows of the batch)`.
    Returns (probabilities, distances, areas) of the patches run, in decreasing area."""
    order = np.argsort(-areas, kind="stable")
    probs: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    i = 0  # patches run so far: order[:i]
    while i < len(order):
        if i >= top_k:
            w = np.sort(np.sqrt(areas[order[:i]]) * (1 - np.concatenate(probs)[:, -1]))[::-1]
            if w[top_k - 1] > 0 and np.sqrt(areas[order[i]]) < w[top_k - 1]:
                break
        idx = order[i : i + chunk]
        batch = to_batch([patches[int(j)] for j in idx], mean, std)
        p, d = run(batch) if extra is None else run(batch, extra[idx])
        probs.append(p)
        dists.append(d)
        i += len(idx)
    return np.concatenate(probs), np.concatenate(dists), areas[order[:i]]


def colour_distance(colour: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance (N,) of each lesion's colour (N, 4; COLOUR_FEATURES) to the nearest disease's mean
    lesion colour (means (C, 4), one shared precision matrix (4, 4), both from the bundle's model.json). The
    out-of-distribution score of the lesion's colour: a disease the model was not trained on (or a nutrient problem, a
    pest, a stain) is often told apart by its colour against the healthy leaf more than by texture."""
    diff = colour.astype(np.float64)[:, None, :] - means[None]
    return np.einsum("ncj,jk,nck->nc", diff, precision, diff).min(1)


def pool_leaf(probs: np.ndarray, areas: np.ndarray, distances: np.ndarray,
              top_k: int = 3) -> tuple[np.ndarray, float | np.ndarray] | None:
    """Pool patch probabilities (N, C + 1; background last) into one leaf: the `top_k` patches weighted by
    sqrt(area) x (1 - p_background), weighted mean of the disease log-probabilities (renormalised without
    background). Returns (log-probabilities (C,), the weighted mean of `distances` over the same patches: a float
    for distances (N,), one value per column (M,) for distances (N, M), e.g. the kNN and the colour distance), or
    None when no patch is a lesion."""
    w = np.sqrt(areas) * (1 - probs[:, -1])
    q = probs[:, :-1] / np.maximum(probs[:, :-1].sum(1, keepdims=True), 1e-12)
    order = np.argsort(-w)[:top_k]
    w, q, d = w[order], q[order], distances[order]
    if w.sum() <= 0:
        return None
    lq = (w[:, None] * np.log(q + 1e-6)).sum(0) / w.sum()
    pooled = np.tensordot(w, d, axes=1) / w.sum()
    return lq - np.log(np.exp(lq).sum()), float(pooled) if d.ndim == 1 else pooled
