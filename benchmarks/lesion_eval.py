"""Lesion segmentation (severity) measured two ways, in the same run: as served (each disease's preset from
inference/data/ses_scales.json: "tight" for brown spot and blast, "sensitive" for bacterial leaf blight, each photo
with its folder's class as if diagnosed right; serving falls back to "sensitive" where "tight" finds nothing, which
this row leaves out), each preset on every photo, and the colour rule served before them:

1. Against the 1,161 lesion boxes of ../shared/data/rice_leaf_photos_roboflow, on the held-out half of the photos
   (grouped by near-duplicates; the other half tuned the parameters; `datasets.lesion_boxes`). Pixel precision =
   predicted lesion pixels inside a box / all predicted lesion pixels; box-pixel recall = box pixels predicted lesion /
   all box pixels. Boxes are loose rectangles: healthy tissue inside them counts as missed and unboxed lesions count
   as false, so both are lower bounds, and recall rewards a mask that spills over the lesion (a halo, a blurred rim).
   Also the share of boxes at least 10 % / 25 % covered, and by class the median severity.
2. On fabricated leaves with exact lesion masks (`datasets.fabricated_leaves`: white or warm paper, a straw mat,
   soil; brown spots, a yellow streak from the margin, or a healthy leaf; with and without a shadow): the severity
   given against the true lesion share, and the IoU with the true mask, for both presets.
3. With --draw OUT.png: the largest box of a few photos of each class, enlarged, with the sensitive (left) and tight
   (right) lesion outlines, to look at.

    python benchmarks/lesion_eval.py [--half test|tune|all] [--draw OUT.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets.fabricated_leaves import BACKGROUNDS, fabricated_leaf  # noqa: E402
from datasets.lesion_boxes import box_scores, load_box_photos  # noqa: E402
from inference.gate import plant_masks  # noqa: E402
from inference.leaf import lesion_preset  # noqa: E402
from inference.lesion_patches import candidate_mask  # noqa: E402  (the rule served for severity before 1.2)
from inference.lesions import PRESETS, severity  # noqa: E402


def _preset(name: str):
    return lambda photo: severity(photo.rgb, photo.leaf, photo.green, PRESETS[name])


METHODS = {
    # as served when the disease is diagnosed right: each photo measured with its class's preset (ses_scales.json)
    "served: by disease": lambda p: _preset(lesion_preset(p.image.split("/")[0]))(p),
    "sensitive (all, before)": _preset("sensitive"),
    "tight (all)": _preset("tight"),
    "precise": _preset("precise"),
    "before: HSV colour rule": lambda p: {"lesion_mask": candidate_mask(p.rgb), "lesion_pct": float("nan")},
}


def boxes_table(half: str, photos: list) -> None:
    print(f"roboflow lesion boxes, {half} half: {len(photos)} photos, {sum(len(p.rects) for p in photos)} boxes")
    print(f"{'method':<26} {'precision':>9} {'recall':>7} {'F1':>6} {'boxes>=10%':>11} {'boxes>=25%':>11}")
    results = {}
    for name, method in METHODS.items():
        results[name] = [method(p) for p in photos]
        m = box_scores(photos, [r["lesion_mask"] for r in results[name]])
        print(f"{name:<26} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['hit10']:>11.3f} "
              f"{m['hit25']:>11.3f}")
    print("\nby class (the folder's disease): precision / recall / boxes>=10% / median severity %")
    print(f"{'class (served preset)':<34} " + " ".join(f"{n:>28}" for n in ("sensitive (all, before)", "tight (all)")))
    for cls in sorted({p.image.split("/")[0] for p in photos}):
        idx = [i for i, p in enumerate(photos) if p.image.startswith(cls + "/")]
        cells = []
        for name in ("sensitive (all, before)", "tight (all)"):
            m = box_scores([photos[i] for i in idx], [results[name][i]["lesion_mask"] for i in idx])
            sev = float(np.median([results[name][i]["lesion_pct"] for i in idx]))
            cells.append(f"{m['precision']:.3f} / {m['recall']:.3f} / {m['hit10']:.2f} / {sev:5.1f}")
        print(f"{cls + ' (' + lesion_preset(cls) + ')':<34} " + " ".join(f"{c:>28}" for c in cells))


def fabricated_table(preset: str) -> None:
    """Lesion % given / true (IoU with the true mask where there is a lesion), with one preset."""
    cases = [(les, shadow) for les in ("spots", "streak", "none") for shadow in (False, True)]
    print(f"\nfabricated leaves, {preset} preset: lesion % given / true (IoU with the true lesion mask)")
    print(f"{'background':<12} " + " ".join(f"{les + (' +shadow' if sh else ''):>17}" for les, sh in cases))
    for bg in BACKGROUNDS:
        cells = []
        for les, shadow in cases:
            f = fabricated_leaf(bg, les, shadow)
            green, leaf = plant_masks(f.rgb)
            s = severity(f.rgb, leaf, green, PRESETS[preset])
            m = s["lesion_mask"]
            iou = float((m & f.lesion).sum() / max((m | f.lesion).sum(), 1))
            cells.append(f"{s['lesion_pct']:5.1f}/{f.lesion_pct:4.1f}" + (f" {iou:4.2f}" if f.lesion.any() else " " * 5))
        print(f"{bg:<12} " + " ".join(f"{c:>17}" for c in cells))
    print("(a healthy leaf given more than 0.5 % would get a severity it does not have)")


def draw(photos: list, out: Path, per_class: int = 4) -> None:
    """Enlarged crops round each photo's largest box: sensitive outline (left), tight outline (right)."""
    import cv2

    rows = []
    for cls in sorted({p.image.split("/")[0] for p in photos}):
        members = [p for p in photos if p.image.startswith(cls + "/")]
        for p in members[:: max(1, len(members) // per_class)][:per_class]:
            x0, y0, x1, y1 = max(p.rects, key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
            top, left = max(0, (y0 + y1) // 2 - 40), max(0, (x0 + x1) // 2 - 60)
            pair = []
            for preset in ("sensitive", "tight"):
                s = severity(p.rgb, p.leaf, p.green, PRESETS[preset])
                crop = np.ascontiguousarray(p.rgb[top:top + 80, left:left + 120])
                big = cv2.resize(crop, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
                m = cv2.resize(s["lesion_mask"][top:top + 80, left:left + 120].astype(np.uint8), None, fx=4, fy=4,
                               interpolation=cv2.INTER_NEAREST)
                contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(big, contours, -1, (255, 0, 255), 1)
                big = np.pad(big, ((0, 320 - big.shape[0]), (0, 480 - big.shape[1]), (0, 0)))
                cv2.putText(big, f"{preset}: {p.image.split('/')[-1]} {s['lesion_pct']:.1f} %", (5, 16), 0, 0.5,
                            (255, 255, 255), 1)
                pair.append(big)
            rows.append(np.concatenate(pair, axis=1))
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
    print(f"\nwrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", default="test", choices=["test", "tune", "all"])
    ap.add_argument("--draw", type=Path, default=None, help="write enlarged outlines of both presets to this PNG")
    a = ap.parse_args()
    photos = load_box_photos(a.half)
    boxes_table(a.half, photos)
    for preset in ("sensitive", "tight"):
        fabricated_table(preset)
    if a.draw:
        draw(photos, a.draw)


if __name__ == "__main__":
    main()
