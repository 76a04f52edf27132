"""Fabricated leaf photos with exact lesion masks (seeded): a veined rice-green blade at the leaf analysis size on a
chosen background (white or warm paper, a woven straw mat, soil), with brown spots, a yellow blight streak running in
from the margin, or nothing, and optionally a shadow across it. For tests of severity (inference/lesions.py) and of
the gate's leaf mask: what is not lesion must not be counted, what is must be found.

    python -m datasets.fabricated_leaves OUT_DIR     # writes every case as PNG + its lesion mask PNG, to look at
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BACKGROUNDS = {
    "white_paper": ((235, 235, 230), 0.0),
    "warm_paper": ((225, 200, 180), 6.0),
    "straw_mat": ((200, 170, 60), 15.0),
    "soil": ((120, 90, 60), 25.0),
}
LEAF_RGB = (70, 130, 45)
LEAF_COLOURS = {"rice_green": LEAF_RGB, "dark_green": (50, 100, 40), "pale_green": (110, 150, 60)}
SPOT_RGB = (150, 95, 45)  # brown spot
STREAK_RGB = (205, 185, 90)  # yellow, drying blight tissue


@dataclass
class FabricatedLeaf:
    rgb: np.ndarray  # (300, 400, 3) uint8
    leaf: np.ndarray  # bool, the blade
    lesion: np.ndarray  # bool, inside the blade

    @property
    def lesion_pct(self) -> float:
        return 100.0 * float(self.lesion.sum()) / float(self.leaf.sum())


def _background(colour: tuple[int, int, int], weave: float, rng: np.random.Generator) -> np.ndarray:
    img = np.full((300, 400, 3), colour, np.float32)
    if weave:
        yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
        img += (weave * np.sin(xx / 2.0) * np.sin(yy / 2.0))[..., None] + rng.normal(0, weave / 2, (300, 400, 1))
    return img


def fabricated_leaf(background: str = "white_paper", lesions: str = "spots", shadow: bool = False,
                    seed: int = 0, leaf_rgb: tuple[int, int, int] = LEAF_RGB) -> FabricatedLeaf:
    """lesions: 'spots' (four brown spots), 'streak' (a yellow streak from the margin), 'none'; `leaf_rgb` the
    healthy blade's colour (LEAF_COLOURS)."""
    rng = np.random.default_rng(seed)
    colour, weave = BACKGROUNDS[background]
    img = _background(colour, weave, rng)
    leaf8 = np.zeros((300, 400), np.uint8)
    cv2.ellipse(leaf8, (200, 150), (180, 45), 10, 0, 360, 1, -1)
    leaf = leaf8.astype(bool)
    yy, xx = np.mgrid[0:300, 0:400].astype(np.float32)
    across = -np.sin(np.deg2rad(10)) * (xx - 200) + np.cos(np.deg2rad(10)) * (yy - 150)
    veins = (10 * np.sin(2 * np.pi * across / 5.0) + 6 * np.sin(2 * np.pi * across / 23.0))[..., None]
    img[leaf] = (np.array(leaf_rgb, np.float32) + veins * np.array([0.5, 1.0, 0.4], np.float32))[leaf]
    les8 = np.zeros_like(leaf8)
    if lesions == "spots":
        for cx, cy in ((120, 140), (200, 150), (270, 165), (160, 125)):
            cv2.ellipse(les8, (cx, cy), (14, 6), 10, 0, 360, 1, -1)
        img[(les8 > 0) & leaf] = SPOT_RGB
    elif lesions == "streak":
        cv2.ellipse(les8, (140, 110), (60, 9), 10, 0, 360, 1, -1)  # along the blade, from its upper margin inwards
        img[(les8 > 0) & leaf] = STREAK_RGB
    lesion = (les8 > 0) & leaf
    if shadow:
        img[:, 230:300] *= 0.55
    img += rng.normal(0, 3, img.shape)
    rgb = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (0, 0), 0.8)
    return FabricatedLeaf(rgb, leaf, lesion)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for bg in BACKGROUNDS:
        for les in ("spots", "streak", "none"):
            f = fabricated_leaf(bg, les)
            cv2.imwrite(str(out / f"{bg}_{les}.png"), cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(out / f"{bg}_{les}_lesion.png"), f.lesion.astype(np.uint8) * 255)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
