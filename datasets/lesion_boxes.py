"""The 1,161 lesion boxes of ../shared/data/rice_leaf_photos_roboflow (CC BY 4.0, see its SOURCE.md) as a
segmentation set: each photo at the leaf analysis size with its boxes, split into a tuning and a test half by
near-duplicate group (half of each class folder's groups, by a stable hash; never by file).

Boxes are loose rectangles, so scores against them are lower bounds: healthy tissue inside a box counts as a missed
lesion pixel and an unboxed lesion as a false one.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.field_photos import DEFAULT_DATA_ROOT, near_duplicate_groups
from inference.gate import ANALYSIS_SHORT_SIDE, plant_masks
from inference.images import read_rgb
from inference.masks import resize_short

ROBOFLOW = "rice_leaf_photos_roboflow"
Rect = tuple[int, int, int, int]


@dataclass
class BoxPhoto:
    image: str  # path inside the dataset folder
    rgb: np.ndarray  # at the analysis size (short side ANALYSIS_SHORT_SIDE), as served
    rects: list[Rect]  # x0, y0, x1, y1 at that size
    green: np.ndarray  # gate.plant_masks' green core
    leaf: np.ndarray  # and leaf

    @property
    def boxes(self) -> np.ndarray:
        return box_mask(self.leaf.shape, self.rects)


def halves(root: Path) -> dict[str, str]:
    """image -> 'tune' | 'test': half of each class folder's near-duplicate groups, by a stable hash."""
    imgs = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))
    group = near_duplicate_groups(imgs, root / "near_duplicate_pairs.csv")
    out: dict[str, str] = {}
    strata: dict[str, list[str]] = defaultdict(list)
    for i in imgs:
        strata[i.split("/")[0]].append(i)
    for _, members in sorted(strata.items()):
        gs = sorted({group[i] for i in members}, key=lambda g: hashlib.sha1(g.encode()).hexdigest())
        first = set(gs[: len(gs) // 2])
        out.update({i: "tune" if group[i] in first else "test" for i in members})
    return out


def read_boxes(root: Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """image (path inside the dataset folder) -> [(lesion class, (xmin, ymin, xmax, ymax) in its stored pixels)]."""
    out: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = defaultdict(list)
    with (root / "lesion_boxes.csv").open() as f:
        for r in csv.DictReader(f):
            x0, y0, x1, y1 = (float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            out[r["image"]].append((r["lesion_class"], (x0, y0, x1, y1)))
    return out


def load_box_photos(half: str, data_root: Path = DEFAULT_DATA_ROOT, progress=None) -> list[BoxPhoto]:
    """The photos of one half ('tune', 'test' or 'all') that have boxes, in a stable order."""
    root = Path(data_root) / ROBOFLOW
    boxes = read_boxes(root)
    names = [i for i, h in sorted(halves(root).items()) if (half == "all" or h == half) and i in boxes]
    out = []
    for img in progress(names, desc=f"{half} photos") if progress else names:
        rgb = read_rgb(root / img)
        small = resize_short(rgb, ANALYSIS_SHORT_SIDE)
        sy, sx = small.shape[0] / rgb.shape[0], small.shape[1] / rgb.shape[1]
        h, w = small.shape[:2]
        rects = [(max(0, int(x0 * sx)), max(0, int(y0 * sy)), min(w, int(np.ceil(x1 * sx))), min(h, int(np.ceil(y1 * sy))))
                 for _, (x0, y0, x1, y1) in boxes[img]]
        green, leaf = plant_masks(small)
        out.append(BoxPhoto(img, small, rects, green, leaf))
    return out


def box_mask(shape: tuple[int, ...], rects: Iterable[Rect]) -> np.ndarray:
    bm = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in rects:
        bm[y0:y1, x0:x1] = True
    return bm


def box_scores(photos: list[BoxPhoto], masks: list[np.ndarray]) -> dict[str, float]:
    """Pixel precision (predicted lesion pixels inside a box / all predicted), box-pixel recall (box pixels predicted /
    all box pixels), their F1, and the share of boxes at least 10 % / 25 % covered."""
    tp = pred = box_px = hit10 = hit25 = n = 0
    for ph, m in zip(photos, masks, strict=True):
        for x0, y0, x1, y1 in ph.rects:
            f = m[y0:y1, x0:x1].sum() / max(1, (x1 - x0) * (y1 - y0))
            hit10, hit25, n = hit10 + (f >= 0.10), hit25 + (f >= 0.25), n + 1
        bm = ph.boxes
        tp, pred, box_px = tp + int((m & bm).sum()), pred + int(m.sum()), box_px + int(bm.sum())
    p, r = tp / max(pred, 1), tp / max(box_px, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "hit10": hit10 / max(n, 1),
            "hit25": hit25 / max(n, 1), "boxes": n, "photos": len(photos)}
