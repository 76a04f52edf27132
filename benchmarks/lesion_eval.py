"""Lesion segmentation (severity) measured two ways, the served setting ("sensitive", inference/lesions.py) beside
the "precise" setting and the colour rule served before, in the same run:

1. Against the 1,161 lesion boxes of ../shared/data/rice_leaf_photos_roboflow, on the held-out half of the photos
   (grouped by near-duplicates; the other half tuned the parameters; `datasets.lesion_boxes`). Pixel precision =
   predicted lesion pixels inside a box / all predicted lesion pixels; box-pixel recall = box pixels predicted lesion /
   all box pixels. Boxes are loose rectangles: healthy tissue inside them counts as missed and unboxed lesions count
   as false, so both are lower bounds. Also the share of boxes at least 10 % / 25 % covered.
2. On fabricated leaves with exact lesion masks (`datasets.fabricated_leaves`: white or warm paper, a straw mat,
   soil; brown spots, a yellow streak from the margin, or a healthy leaf; with and without a shadow): the severity
   given against the true lesion share, and the IoU with the true mask.

    python benchmarks/lesion_eval.py [--half test|tune|all]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets.fabricated_leaves import BACKGROUNDS, fabricated_leaf  # noqa: E402
from datasets.lesion_boxes import box_scores, load_box_photos  # noqa: E402
from inference.gate import plant_masks  # noqa: E402
from inference.lesion_patches import candidate_mask  # noqa: E402  (the rule served for severity before 1.2)
from inference.lesions import PRESETS, severity  # noqa: E402

METHODS = {
    "served: sensitive": lambda rgb, leaf, green: severity(rgb, leaf, green, PRESETS["sensitive"])["lesion_mask"],
    "precise": lambda rgb, leaf, green: severity(rgb, leaf, green, PRESETS["precise"])["lesion_mask"],
    "before: HSV colour rule": lambda rgb, leaf, green: candidate_mask(rgb),
}


def boxes_table(half: str) -> None:
    photos = load_box_photos(half)
    print(f"roboflow lesion boxes, {half} half: {len(photos)} photos, {sum(len(p.rects) for p in photos)} boxes")
    print(f"{'method':<26} {'precision':>9} {'recall':>7} {'F1':>6} {'boxes>=10%':>11} {'boxes>=25%':>11}")
    for name, method in METHODS.items():
        m = box_scores(photos, [method(p.rgb, p.leaf, p.green) for p in photos])
        print(f"{name:<26} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['hit10']:>11.3f} "
              f"{m['hit25']:>11.3f}")


def fabricated_table() -> None:
    """Served setting only: lesion % given / true (IoU with the true mask where there is a lesion)."""
    cases = [(les, shadow) for les in ("spots", "streak", "none") for shadow in (False, True)]
    print("\nfabricated leaves, served setting: lesion % given / true (IoU with the true lesion mask)")
    print(f"{'background':<12} " + " ".join(f"{les + (' +shadow' if sh else ''):>17}" for les, sh in cases))
    for bg in BACKGROUNDS:
        cells = []
        for les, shadow in cases:
            f = fabricated_leaf(bg, les, shadow)
            green, leaf = plant_masks(f.rgb)
            s = severity(f.rgb, leaf, green)
            m = s["lesion_mask"]
            iou = float((m & f.lesion).sum() / max((m | f.lesion).sum(), 1))
            cells.append(f"{s['lesion_pct']:5.1f}/{f.lesion_pct:4.1f}" + (f" {iou:4.2f}" if f.lesion.any() else " " * 5))
        print(f"{bg:<12} " + " ".join(f"{c:>17}" for c in cells))
    print("(a healthy leaf given more than 0.5 % would get a severity it does not have)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", default="test", choices=["test", "tune", "all"])
    a = ap.parse_args()
    boxes_table(a.half)
    fabricated_table()


if __name__ == "__main__":
    main()
