"""The served photo pipeline (quality gate included) on the frozen benchmark's photos (none of them in training) under
the changes another phone or another light brings: darker and brighter exposure, warm and cool white balance, a small
photo, the leaf turned upright, heavy JPEG compression. Per change: right, wrong disease named, unsure, refused, and
how many photos answered right as they are became a wrong disease. An honest model may lose answers to "unsure"
under such changes; it should not become confidently wrong. A second table: how far the severity (lesion % of the
leaf, SES grade) and the growth score move from the photo as it is, over the photos that have one both ways, and
the severity over those whose answer (disease, or unsure and its likeliest) stayed the same: the lesion preset and
the SES scale follow the diagnosis, so a changed answer moves the severity too.

    python benchmarks/photo_robustness.py [--bundle VERSION] [--benchmark field_photo-v1]
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets.benchmark import benchmark_path, read_benchmark  # noqa: E402
from inference.bundle import MODELS_DIR, active_bundle_path  # noqa: E402
from inference.errors import BadInput  # noqa: E402
from inference.lesion_patch_model import load_photo_model  # noqa: E402
from inference.photo import PhotoScorer  # noqa: E402


def _gains(g: tuple[float, float, float]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.clip(x.astype(np.float32) * np.asarray(g, np.float32), 0, 255).astype(np.uint8)


def _small(x: np.ndarray) -> np.ndarray:
    return cv2.resize(x, (640, max(1, round(640 * x.shape[0] / x.shape[1]))), interpolation=cv2.INTER_AREA)


# name -> (image change, JPEG quality of the upload)
CHANGES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]] = {
    "as is": (lambda x: x, 92),
    "darker x0.6": (_gains((0.6, 0.6, 0.6)), 92),
    "brighter x1.4": (_gains((1.4, 1.4, 1.4)), 92),
    "warm light": (_gains((1.12, 1.0, 0.82)), 92),
    "cool light": (_gains((0.85, 1.0, 1.15)), 92),
    "640 px wide": (_small, 92),
    "turned upright": (lambda x: np.ascontiguousarray(np.rot90(x)), 92),
    "JPEG quality 50": (lambda x: x, 50),
}


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


Measured = tuple[float | None, int | None, int | None, str | None]


def outcome(scorer: PhotoScorer, data: bytes, label: str) -> tuple[str, Measured]:
    """(right | wrong | unsure | refused | rejected, (lesion % of the leaf, SES grade, growth score, the severity's
    disease: the scale it was graded on))."""
    try:
        r = scorer.score(data)
    except BadInput:
        return "rejected", (None, None, None, None)  # refused at upload (e.g. too few pixels)
    d, sev = r.diagnosis, r.severity
    measured = (sev.affected_pct, sev.ses, r.growth.score, f"{sev.scale}/{sev.segmentation}")
    if d.status == "retake":
        return "refused", measured
    return ("right" if d.label == label else ("unsure" if d.label == "unsure" else "wrong")), measured


def _severity_cells(pairs: list[tuple[Measured, Measured]]) -> list[str]:
    sev = np.array([(a[0], b[0], a[1], b[1]) for a, b in pairs], float)
    if not len(sev):
        return [f"{0:>6}{'-':>13}{'-':>12}{'-':>8}"]
    return [f"{len(sev):>6}", f"{np.abs(sev[:, 0] - sev[:, 1]).mean():>13.2f}",
            f"{(sev[:, 2] != sev[:, 3]).mean():>12.2f}", f"{np.abs(sev[:, 2] - sev[:, 3]).mean():>8.2f}"]


def measures_table(shifts: dict[str, list[tuple[Measured, Measured]]]) -> None:
    """Per change: mean |difference| from the photo as it is of the lesion %, the share of SES grades changed and the
    mean |grade difference| (photos with a severity both ways; then those graded on the same scale with the same
    lesion preset both ways), and the mean |difference| of the growth score."""
    print(f"\n{'':<16}{'every photo with a severity':>39}   {'the same disease scale and preset':>39}")
    print(f"{'change':<16}" + f"{'n':>6}{'|d lesion %|':>13}{'SES changed':>12}{'|d SES|':>8}" * 2
          + f"{'growth n':>9}{'|d growth|':>11}")
    for name, pairs in shifts.items():
        both = [(a, b) for a, b in pairs if a[1] is not None and b[1] is not None]
        gro = np.array([(a[2], b[2]) for a, b in pairs if a[2] is not None and b[2] is not None], float)
        cells = _severity_cells(both) + _severity_cells([(a, b) for a, b in both if a[3] == b[3]])
        cells += [f"{len(gro):>9}", f"{np.abs(gro[:, 0] - gro[:, 1]).mean():>11.1f}" if len(gro) else f"{'-':>11}"]
        print(f"{name:<16}" + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=None, help="field_photo version (default: the ACTIVE one)")
    ap.add_argument("--benchmark", default="field_photo-v1")
    a = ap.parse_args()
    bundle = MODELS_DIR / "field_photo" / a.bundle if a.bundle else active_bundle_path("field_photo")
    scorer = PhotoScorer(load_photo_model(bundle))
    rows = read_benchmark(benchmark_path(a.benchmark))
    stats: dict[str, Counter] = defaultdict(Counter)
    shifts: dict[str, list[tuple[Measured, Measured]]] = defaultdict(list)
    for r in rows:
        rgb = np.asarray(ImageOps.exif_transpose(Image.open(r.path)).convert("RGB"))  # as the served decoder turns it
        first, base = None, None
        for name, (change, quality) in CHANGES.items():
            out, measured = outcome(scorer, _jpeg(change(rgb), quality), r.label)
            stats[name][out] += 1
            first, base = first or out, base or measured
            stats[name]["right -> wrong"] += int(first == "right" and out == "wrong")
            if name != "as is":
                shifts[name].append((base, measured))
    print(f"field_photo {bundle.name} on {a.benchmark} ({len(rows)} photos), served pipeline")
    cols = ("right", "wrong", "unsure", "refused", "rejected", "right -> wrong")
    print(f"{'change':<16}" + "".join(f"{c:>15}" for c in cols))
    for name in CHANGES:
        print(f"{name:<16}" + "".join(f"{stats[name][c]:>15}" for c in cols))
    measures_table(shifts)


if __name__ == "__main__":
    main()
