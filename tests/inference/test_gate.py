"""The quality gate looks at the leaf: real photos of both sources pass (a white paper or scanner bed is never "too
bright"); blurred, dark, over-exposed and non-plant images are caught."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.field_photos import DEFAULT_DATA_ROOT
from inference.gate import assess
from inference.images import read_rgb
from tests.data.make_bad_photos import DEGRADE_KINDS, SYNTH_KINDS, degrade, synth

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "datasets" / "data" / "rice_leaf_photos", DEFAULT_DATA_ROOT / "rice_leaf_photos_roboflow"]


def real_photos(every: int = 1) -> list[Path]:
    paths = [p for src in SOURCES if src.exists() for p in sorted(src.glob("*/*"))
             if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return paths[::every]


@pytest.mark.slow
def test_real_photos_are_not_refused() -> None:
    """Target: at most 3 % of the real photos refused (measured: 0 of 490)."""
    paths = real_photos()
    assert len(paths) >= 200
    refused = [(p.name, r["issues"]) for p in paths if (r := assess(read_rgb(p, 600)))["issues"]]
    assert len(refused) <= 0.03 * len(paths), refused


def test_a_sample_of_real_photos_passes() -> None:
    paths = real_photos(every=10)
    refused = [(p.name, r["issues"]) for p in paths if (r := assess(read_rgb(p, 600)))["issues"]]
    assert len(refused) <= max(1, 0.03 * len(paths)), refused


@pytest.mark.parametrize("kind", DEGRADE_KINDS)
def test_degraded_photos_are_caught(kind: str) -> None:
    rng = np.random.default_rng(7)
    paths = real_photos(every=12)
    caught = [bool(assess(degrade(read_rgb(p, 600), kind, rng))["issues"]) for p in paths]
    assert np.mean(caught) >= 0.95, (kind, sum(caught), len(caught))


@pytest.mark.parametrize("kind", SYNTH_KINDS)
def test_images_that_are_not_plants_are_caught(kind: str) -> None:
    rng = np.random.default_rng(11)
    results = [assess(synth(kind, rng)) for _ in range(20)]
    # a grey wall, checkerboard or text is told it is black and white (no_colour) before anything else
    assert np.mean([bool({"not_a_plant", "no_colour"} & set(r["issues"])) for r in results]) >= 0.95
    assert all(r["kind"] is None or r["issues"] for r in results)  # never a field patch with a growth score


def test_a_leaf_on_white_paper_is_not_too_bright() -> None:
    leaf = read_rgb(real_photos()[0], 300)
    canvas = np.full((600, 600, 3), 250, np.uint8)  # white paper around the leaf
    canvas[150:150 + leaf.shape[0], 150:150 + leaf.shape[1]] = leaf[:300, :300]
    r = assess(canvas)
    assert "too_bright" not in r["issues"] and r["kind"] is not None


def test_one_saturated_red_channel_is_not_too_bright() -> None:
    """Yellow tissue under warm light saturates red alone and still shows the lesion: a leaf striped half yellow with
    red at 255 is not "too bright" (the rule before called it so: over 25 % of the leaf with a channel at 255); the
    same leaf with its green channel burnt out there is."""
    from datasets.fabricated_leaves import fabricated_leaf

    f = fabricated_leaf("white_paper", "none")
    half = f.leaf & ((np.arange(f.leaf.shape[1])[None, :] // 8) % 2 == 0)  # 8 px stripes across the blade
    yellow = f.rgb.copy()
    yellow[half] = (255, 200, 90)
    a = assess(yellow)
    assert a["issues"] == [] and a["leaf_clipped_pct"] < 25
    burnt = f.rgb.copy()
    burnt[half] = (200, 255, 90)
    assert "too_bright" in assess(burnt)["issues"]


def test_blue_alone_is_not_clipped_but_two_channels_are() -> None:
    """A cool cast saturating blue alone leaves the leaf measurable; red and blue both saturated is burnt out."""
    from datasets.fabricated_leaves import fabricated_leaf

    f = fabricated_leaf("white_paper", "none")
    stripes = f.leaf & ((np.arange(f.leaf.shape[1])[None, :] // 8) % 2 == 0)
    blue = f.rgb.copy()
    blue[stripes, 2] = 255
    assert assess(blue)["leaf_clipped_pct"] < 5
    two = f.rgb.copy()
    two[stripes, 0] = 255
    two[stripes, 2] = 255
    assert assess(two)["leaf_clipped_pct"] > 25


def test_a_bright_leaf_that_is_not_clipped_is_answered() -> None:
    """A real leaf photographed 1.4x brighter: its mean value is over the old 215 limit, but only 5-7 % of it is
    clipped, and the lesions are still there to read. It passes; the same leaf 3x brighter (most of it clipped) does
    not."""
    by_name = {p.name: p for p in real_photos()}
    for name in ("BROWNSPOT1_166.jpg", "BROWNSPOT2_027.jpg"):
        x = read_rgb(by_name[name], 600).astype(np.float32)
        bright = assess(np.clip(x * 1.4, 0, 255).round().astype(np.uint8))
        assert bright["issues"] == [] and bright["leaf_mean_v"] > 215 and bright["leaf_clipped_pct"] < 8, bright["issues"]
        assert "too_bright" in assess(np.clip(x * 3.0, 0, 255).round().astype(np.uint8))["issues"]


def test_colour_masks_are_numpys_comparisons() -> None:
    """plant_masks' cv2.inRange colour rules pick the same pixels as the rules written as numpy comparisons, on real
    photos as they are, darkened and brightened, and on noise (every hue, saturation and value)."""
    import cv2

    from inference.gate import GREEN_HUE, GREEN_MIN_SAT, MIN_V, REL_V, colour_masks
    from inference.images import read_rgb
    from tests.data.make_photos import real_photo

    rng = np.random.default_rng(0)
    images = [read_rgb(real_photo(c, i), 300) for c, i in (("blast", 0), ("brown_spot", 1), ("bacterial_leaf_blight", 2))]
    images += [(images[0] * 0.2).astype(np.uint8), np.clip(images[1] * 2.5, 0, 255).astype(np.uint8),
               rng.integers(0, 256, (300, 400, 3)).astype(np.uint8)]
    for img in images:
        hsv = cv2.cvtColor(cv2.GaussianBlur(img, (0, 0), 1.5), cv2.COLOR_RGB2HSV)
        h, s, v = hsv[..., 0], hsv[..., 1].astype(np.int32), hsv[..., 2]
        v_min = max(MIN_V, REL_V * float(np.percentile(v, 99)))
        green = (h >= GREEN_HUE[0]) & (h <= GREEN_HUE[1]) & (s >= GREEN_MIN_SAT) & (v >= v_min) & (s * v >= 1020)
        pale = (s < 35) & (v > 150)
        straw = pale & (h >= 8) & (h <= 35) & (s >= 12)
        tissue = (((h < GREEN_HUE[0]) | (h >= 165)) & (s >= 50) & (v >= MIN_V)) | ((s >= 20) & (s < 50) & (v < 200))
        got = colour_masks(hsv, v_min)
        for a, b in zip(got, (green, pale, straw, tissue | straw), strict=True):
            assert a.dtype == bool and np.array_equal(a, b)
        assert green.any() or img is images[3]  # the rules were exercised


def test_a_leaf_blurred_into_smooth_colour_is_blurry() -> None:
    """A photo blurred so far that only its JPEG blocks' small steps are left has a sharp-looking edge-width ratio
    (a farmer's fully blurred leaf was scored and stored); the strongest edges, against the leaf's brightness, are
    too weak for any real photo. Darkening a real photo does not make it blurry."""
    import io

    import cv2
    from PIL import Image

    from inference.gate import BLUR_RATIO_MIN, EDGE_CONTRAST_MIN
    from tests.data.make_photos import real_photo

    rgb = read_rgb(real_photo("brown_spot", 3), 600)
    h, w = rgb.shape[:2]
    crop = rgb[h // 4: h // 4 + min(h, w) // 2, w // 4: w // 4 + min(h, w) // 2]
    smooth = cv2.resize(cv2.resize(crop, (20, 20), interpolation=cv2.INTER_AREA), (300, 300),
                        interpolation=cv2.INTER_CUBIC)
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, "JPEG", quality=75)
    g = assess(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    assert g["sharpness"] >= BLUR_RATIO_MIN  # the width ratio alone would pass it
    assert g["edge_contrast"] < EDGE_CONTRAST_MIN and "blurry" in g["issues"]
    for label, i in (("blast", 0), ("brown_spot", 1), ("bacterial_leaf_blight", 2)):
        dim = (read_rgb(real_photo(label, i), 600) * 0.5).astype(np.uint8)
        assert "blurry" not in assess(dim)["issues"], (label, i)


def test_not_a_plant_is_said_first() -> None:
    """A wall has no leaf and no edges: the farmer is told first to photograph a leaf, then anything else."""
    wall = np.full((600, 800, 3), (150, 148, 140), np.uint8)
    issues = assess(wall)["issues"]
    assert issues == ["not_a_plant"], issues  # not "blurry" as well: a wall has no edges to be sharp


def test_nothing_that_is_not_a_plant_is_told_it_is_blurry() -> None:
    rng = np.random.default_rng(11)
    for kind in SYNTH_KINDS:
        for _ in range(10):
            r = assess(synth(kind, rng))
            assert "blurry" not in r["issues"] or "not_a_plant" not in r["issues"], (kind, r["issues"])


def test_a_black_and_white_photo_is_told_so() -> None:
    """A phone's mono mode or a grey scan: "no_colour" alone, not "not a plant, too bright, blurry" measured on grey
    (a 16-bit grey PNG was told all three)."""
    for p in real_photos(every=40):
        grey = cv2.cvtColor(cv2.cvtColor(read_rgb(p, 600), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        assert assess(grey)["issues"] == ["no_colour"], p.name
        assert "no_colour" not in assess(read_rgb(p, 600))["issues"]


def test_a_black_frame_is_too_dark_not_black_and_white() -> None:
    """The lens covered: "too dark" (it was told "no colour: turn off the black-and-white mode")."""
    for level in (0, 8, 20):
        assert assess(np.full((1200, 1600, 3), level, np.uint8))["issues"] == ["not_a_plant", "too_dark"], level



def test_an_app_bar_in_a_screenshot_is_not_the_leaf() -> None:
    """A photo sent as a screenshot: a chat app's green title bar with its text above the photo, white margins. The
    bar (a flat rectangle across the frame) was taken for the leaf: a blight leaf got growth 100 and "no symptom".
    The leaf mask is now the photo's leaf, as in the photo alone."""
    leaf = read_rgb(real_photos()[0], 300)
    shot = np.full((1040, 480, 3), 250, np.uint8)
    shot[:40] = (20, 20, 20)  # status bar
    shot[40:130] = (7, 94, 84)  # the title bar, with its text
    cv2.circle(shot, (45, 85), 28, (200, 170, 140), -1)  # the contact's photo
    cv2.putText(shot, "Ba Tu", (85, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    cv2.putText(shot, "online", (85, 112), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (220, 235, 230), 1)
    for x in (380, 430):  # call and menu icons
        cv2.rectangle(shot, (x, 70), (x + 24, 98), (255, 255, 255), -1)
    top = 300
    shot[top:top + leaf.shape[0], :min(480, leaf.shape[1])] = leaf[:, :480]
    r, alone = assess(shot), assess(leaf)
    mask = cv2.resize(r["leaf_mask"].astype(np.uint8), (shot.shape[1], shot.shape[0]), interpolation=cv2.INTER_NEAREST)
    assert not mask[40:130].any()  # nothing of the bar
    assert r["leaf_fraction"] > 0 and not r["issues"] and r["kind"] == alone["kind"]
