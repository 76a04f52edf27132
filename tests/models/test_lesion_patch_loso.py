"""Leave-one-source-out must not peek at the held-out source: each direction's abstain rules are chosen on its
training source alone (until 1.5.0 the Sethy -> roboflow direction used rules chosen on roboflow, the test photos)."""

from __future__ import annotations

import numpy as np

from models.lesion_patch_pipeline import Data, LesionPatchConfig, Patches, evaluate_loso

CLASSES = ["bacterial_leaf_blight", "blast", "brown_spot"]


def synthetic_data(seed: int = 0, per_class: int = 12) -> Data:
    """Two sources of photos with three candidate patches each (features = class mean + noise, the last four columns
    the lesion colour); roboflow photos also carry one lesion-box patch and one background candidate."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.5, (len(CLASSES) + 1, 20))
    src = np.array(["roboflow"] * (3 * per_class) + ["sethy2020"] * (3 * per_class))
    y = np.tile(np.repeat(np.arange(len(CLASSES)), per_class), 2)
    cx, ci, cl, bg = [], [], [], []
    bx, bi, bl = [], [], []
    for i, (s, c) in enumerate(zip(src, y, strict=True)):
        shift = 0.8 if s == "sethy2020" else 0.0  # the other camera
        for _ in range(3):
            cx.append(means[c] + shift + rng.normal(0, 1.2, 20)), ci.append(i), cl.append(c), bg.append(False)
        if s == "roboflow":
            bx.append(means[c] + rng.normal(0, 1.0, 20)), bi.append(i), bl.append(c)
            cx.append(means[-1] + rng.normal(0, 1.0, 20)), ci.append(i), cl.append(c), bg.append(True)

    def patches(x: list, i: list, lab: list) -> Patches:
        n = len(i)
        return Patches(np.asarray(x, np.float32), np.array(i), np.array(lab), np.full(n, 0.01),
                       np.tile([0.1, 0.1, 0.2, 0.2], (n, 1)))

    return Data([], CLASSES, patches(bx, bi, bl), patches(cx, ci, cl), np.array(bg), y, src,
                np.array([f"g{i}" for i in range(len(y))]))


def test_each_direction_chooses_its_rules_without_the_held_out_source() -> None:
    cfg = LesionPatchConfig()
    d = synthetic_data()
    before = evaluate_loso(d, cfg)
    # scramble the held-out photos' labels: rules chosen on the training source alone cannot move
    for held_out, direction in (("roboflow", "train_sethy2020_test_roboflow"),
                                ("sethy2020", "train_roboflow_test_sethy2020")):
        scrambled = synthetic_data()
        m = scrambled.src == held_out
        scrambled.y[m] = np.random.default_rng(1).permutation(scrambled.y[m])
        after = evaluate_loso(scrambled, cfg)
        assert after[direction]["rules"] == before[direction]["rules"], direction
        assert after[direction]["macro_f1"] != before[direction]["macro_f1"]  # the scramble did reach the test photos
    # and the two directions' rules differ: each comes from its own source
    assert before["train_sethy2020_test_roboflow"]["rules"] != before["train_roboflow_test_sethy2020"]["rules"]
