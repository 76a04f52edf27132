"""Lesion segmentation against the 1,161 lesion boxes of ../shared/data/rice_leaf_photos_roboflow: the served
setting ("sensitive", inference/lesions.py) beside the "precise" setting and the colour rule served before, in the
same run, on the held-out half of the photos (grouped by near-duplicates; the other half tuned the parameters).

Pixel precision = predicted lesion pixels inside a box / all predicted lesion pixels; box-pixel recall = box pixels
predicted lesion / all box pixels. Boxes are loose rectangles: healthy tissue inside them counts as missed and
unboxed lesions count as false, so both are lower bounds. Also the share of boxes at least 10 % / 25 % covered.

    python benchmarks/lesion_eval.py [--half test|tune|all]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inference.gate import ANALYSIS_SHORT_SIDE, plant_masks  # noqa: E402
from inference.images import read_rgb  # noqa: E402
from inference.lesion_patches import candidate_mask  # noqa: E402  (the rule served for severity before 1.2)
from inference.lesions import PRESETS, lesion_mask  # noqa: E402
from inference.masks import resize_short  # noqa: E402

ROBO = REPO.parent / "shared" / "data" / "rice_leaf_photos_roboflow"


def halves() -> dict[str, str]:
    """image -> 'tune' | 'test': half of each class folder's near-duplicate groups, by a stable hash."""
    imgs = sorted(str(p.relative_to(ROBO)) for p in ROBO.rglob("*.jpg"))
    group = {i: i for i in imgs}
    with (ROBO / "near_duplicate_pairs.csv").open() as f:
        for r in csv.DictReader(f):
            group[r["image_b"]] = group[r["image_a"]]
    out: dict[str, str] = {}
    strata: dict[str, list[str]] = defaultdict(list)
    for i in imgs:
        strata[i.split("/")[0]].append(i)
    for _, members in sorted(strata.items()):
        gs = sorted({group[i] for i in members}, key=lambda g: hashlib.sha1(g.encode()).hexdigest())
        first = set(gs[: len(gs) // 2])
        out.update({i: "tune" if group[i] in first else "test" for i in members})
    return out


def load(half: str) -> list[dict]:
    boxes: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    with (ROBO / "lesion_boxes.csv").open() as f:
        for r in csv.DictReader(f):
            boxes[r["image"]].append(tuple(float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")))
    items = []
    for img, h in sorted(halves().items()):
        if half != "all" and h != half or img not in boxes:
            continue
        rgb = read_rgb(ROBO / img)
        small = resize_short(rgb, ANALYSIS_SHORT_SIDE)
        sy, sx = small.shape[0] / rgb.shape[0], small.shape[1] / rgb.shape[1]
        rects = [(int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))) for x0, y0, x1, y1 in boxes[img]]
        items.append({"small": small, "rects": rects, "masks": plant_masks(small)})
    return items


def score(items: list[dict], masks: list[np.ndarray]) -> dict[str, float]:
    tp = pred = box_px = hit10 = hit25 = n = 0
    for it, m in zip(items, masks, strict=True):
        bm = np.zeros(m.shape, bool)
        for x0, y0, x1, y1 in it["rects"]:
            bm[y0:y1, x0:x1] = True
            f = m[y0:y1, x0:x1].sum() / max(1, (x1 - x0) * (y1 - y0))
            hit10, hit25, n = hit10 + (f >= 0.10), hit25 + (f >= 0.25), n + 1
        tp, pred, box_px = tp + int((m & bm).sum()), pred + int(m.sum()), box_px + int(bm.sum())
    p, r = tp / max(pred, 1), tp / max(box_px, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "hit10": hit10 / max(n, 1),
            "hit25": hit25 / max(n, 1), "boxes": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", default="test", choices=["test", "tune", "all"])
    a = ap.parse_args()
    items = load(a.half)
    rows = [("served: sensitive", [lesion_mask(i["small"], i["masks"][1], i["masks"][0], PRESETS["sensitive"])
                                   for i in items]),
            ("precise", [lesion_mask(i["small"], i["masks"][1], i["masks"][0], PRESETS["precise"]) for i in items]),
            ("before: HSV colour rule", [candidate_mask(i["small"]) for i in items])]
    print(f"roboflow lesion boxes, {a.half} half: {len(items)} photos, {score(items, rows[0][1])['boxes']} boxes")
    print(f"{'method':<26} {'precision':>9} {'recall':>7} {'F1':>6} {'boxes>=10%':>11} {'boxes>=25%':>11}")
    for name, masks in rows:
        m = score(items, masks)
        print(f"{name:<26} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['hit10']:>11.3f} "
              f"{m['hit25']:>11.3f}")


if __name__ == "__main__":
    main()
