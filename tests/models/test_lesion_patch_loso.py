"""The evaluations must not peek at the photos they test. Leave-one-source-out: each direction's abstain rules are
chosen on its training source alone (until 1.5.0 the Sethy -> roboflow direction used rules chosen on roboflow, the test
photos). In-source cross-validation: a fold's Sethy pseudo-labels come from its own roboflow photos (until 1.6.0 from
every roboflow photo, the held-out fold's included)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from models.lesion_patch_pipeline import Data, LesionPatchConfig, Patches, evaluate_loso, insource_oof

CLASSES = ["bacterial_leaf_blight", "blast", "brown_spot"]


def synthetic_data(seed: int = 0, per_class: int = 12, noise: float = 2.0, sethy_background: bool = False) -> Data:
    """Two sources of photos with three candidate patches each (features = class mean + noise, the last four columns
    the lesion colour); roboflow photos also carry one lesion-box patch and one background candidate, and Sethy photos
    one background-like candidate with `sethy_background` (what the pseudo-labels sort out)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.5, (len(CLASSES) + 1, 20))
    src = np.array(["roboflow"] * (3 * per_class) + ["sethy2020"] * (3 * per_class))
    y = np.tile(np.repeat(np.arange(len(CLASSES)), per_class), 2)
    cx, ci, cl, bg = [], [], [], []
    bx, bi, bl = [], [], []
    for i, (s, c) in enumerate(zip(src, y, strict=True)):
        shift = 0.8 if s == "sethy2020" else 0.0  # the other camera
        for _ in range(3):
            cx.append(means[c] + shift + rng.normal(0, noise, 20)), ci.append(i), cl.append(c), bg.append(False)
        if s == "roboflow":
            bx.append(means[c] + rng.normal(0, noise, 20)), bi.append(i), bl.append(c)
            cx.append(means[-1] + rng.normal(0, 1.0, 20)), ci.append(i), cl.append(c), bg.append(True)
        elif sethy_background:
            cx.append(means[-1] + shift + rng.normal(0, noise, 20)), ci.append(i), cl.append(c), bg.append(False)

    def patches(x: list, i: list, lab: list) -> Patches:
        n = len(i)
        return Patches(np.asarray(x, np.float32), np.array(i), np.array(lab), np.full(n, 0.01),
                       np.tile([0.1, 0.1, 0.2, 0.2], (n, 1)))

    return Data([], CLASSES, patches(bx, bi, bl), patches(cx, ci, cl), np.array(bg), y, src,
                np.array([f"g{i}" for i in range(len(y))]))


def _scrambled(held_out: str) -> Data:
    """The same data with the held-out source's labels shuffled and its features moved and stretched (another
    camera): rules, thresholds, scaler and kNN bank fitted on the training source alone cannot see either."""
    d = synthetic_data()
    m = d.src == held_out
    d.y[m] = np.random.default_rng(1).permutation(d.y[m])
    for p in (d.cands, d.boxes):
        rows = m[p.img]
        p.X[rows] = p.X[rows] * 1.7 + 2.5
        p.label[rows] = d.y[p.img[rows]]
    return d


def test_each_direction_chooses_its_rules_without_the_held_out_source() -> None:
    cfg = LesionPatchConfig()
    before = evaluate_loso(synthetic_data(), cfg)
    for direction in before.values():  # the data is not separable: the temperature and the threshold carry information
        assert 0.06 < direction["rules"]["temperature"] < 20 and 0.34 < direction["rules"]["confidence"] < 0.99
    for held_out, direction in (("roboflow", "train_sethy2020_test_roboflow"),
                                ("sethy2020", "train_roboflow_test_sethy2020")):
        after = evaluate_loso(_scrambled(held_out), cfg)
        assert after[direction]["rules"] == before[direction]["rules"], direction
        assert after[direction]["macro_f1"] != before[direction]["macro_f1"]  # the change did reach the test photos
    # and the two directions' rules differ: each comes from its own source
    assert before["train_sethy2020_test_roboflow"]["rules"] != before["train_roboflow_test_sethy2020"]["rules"]


def test_a_held_out_folds_lesion_boxes_never_reach_its_own_predictions() -> None:
    """Lesion boxes are used only to train (predictions pool the candidates), so a fold's out-of-fold predictions
    must not move when its roboflow photos' boxes are made to look like background: they would, through the Sethy
    pseudo-labels of the other folds, if the pseudo-labelling head had seen them."""
    cfg = LesionPatchConfig()
    d = synthetic_data(sethy_background=True)
    folds = list(StratifiedGroupKFold(5, shuffle=True, random_state=cfg.seed).split(d.y, d.y, d.grp))
    before = insource_oof(d, cfg)
    _, te = folds[0]
    rows = np.isin(d.boxes.img, te)
    assert rows.any()
    d.boxes.X[rows] = d.cands.X[d.bg][: rows.sum()]  # the held-out fold's lesions now look like background
    after = insource_oof(d, cfg)
    for a, b in ((before.logq, after.logq), (before.dist, after.dist), (before.colour, after.colour)):
        np.testing.assert_array_equal(a[te], b[te])
    others = np.setdiff1d(np.arange(len(d.y)), te)
    assert not np.allclose(before.logq[others], after.logq[others])  # the change did reach the other folds' heads


def test_the_nested_rule_report_never_chooses_rules_on_the_photos_it_judges(monkeypatch) -> None:
    """Each fold is answered by rules chosen on the other folds only: the photos each call of choose_rules sees and
    the photos its rules then answer never overlap, and together the calls answer every photo once."""
    import models.lesion_patch_pipeline as lp

    cfg = LesionPatchConfig()
    d = synthetic_data(sethy_background=True)
    p = insource_oof(d, cfg)
    assert len(np.unique(p.dist)) == len(p.dist)  # distances name the photos
    chosen_on: list[set[float]] = []
    answered_by: list[set[float]] = []
    real_choose = lp.choose_rules

    def spy(q, y, c):
        chosen_on.append(set(q.dist.tolist()))
        rules = real_choose(q, y, c)
        real_answered = rules.answered

        class Seen(type(rules)):
            def answered(self, r):
                answered_by.append(set(r.dist.tolist()))
                return real_answered(r)
        return Seen(**rules.__dict__)

    monkeypatch.setattr(lp, "choose_rules", spy)
    answered, pred = lp.nested_rule_answers(p, d.y, d.grp, cfg)
    assert len(chosen_on) == len(answered_by) >= 2
    for seen, judged in zip(chosen_on, answered_by, strict=True):
        assert not seen & judged
    assert sorted(x for s in answered_by for x in s) == sorted(p.dist.tolist())
    assert answered.shape == pred.shape == d.y.shape


def _three_domains() -> Data:
    """synthetic_data with its roboflow photos split into two capture domains (every other near-duplicate group)."""
    d = synthetic_data(sethy_background=True)
    d.dom = np.where(d.src == "sethy2020", "sethy2020",
                     np.where(np.arange(len(d.y)) % 2 == 0, "roboflow_white", "roboflow_other"))
    return d


def test_leave_one_domain_out_chooses_rules_and_trains_without_the_held_out_domain() -> None:
    """Shuffling a held-out domain's labels (its features untouched) changes neither its rules nor what is predicted
    for it: the heads, the Sethy pseudo-labels and the rules never saw those labels. Moving its features as well
    (another camera) changes its figures but not its rules. With two domains there is nothing beyond leave one source
    out."""
    import models.lesion_patch_pipeline as lp

    cfg = LesionPatchConfig()
    before = lp.evaluate_lodo(_three_domains(), cfg)
    assert set(before) == {"test_roboflow_other", "test_roboflow_white", "test_sethy2020"}
    assert before["test_roboflow_white"]["trained_on"] == ["roboflow_other", "sethy2020"]
    for held in ("roboflow_other", "roboflow_white", "sethy2020"):
        key = f"test_{held}"
        d = _three_domains()
        m = d.dom == held
        d.y[m] = np.random.default_rng(1).permutation(d.y[m])
        for p in (d.cands, d.boxes):
            p.label[m[p.img]] = d.y[p.img[m[p.img]]]
        after = lp.evaluate_lodo(d, cfg)[key]
        assert after["rules"] == before[key]["rules"], held
        predicted = np.asarray(after["confusion_matrix"]).sum(0)  # columns: what was predicted, whatever the truth
        np.testing.assert_array_equal(predicted, np.asarray(before[key]["confusion_matrix"]).sum(0))
        assert after["confusion_matrix"] != before[key]["confusion_matrix"]  # the shuffle did reach the figures
        for p in (d.cands, d.boxes):
            p.X[m[p.img]] = p.X[m[p.img]] * 1.7 + 2.5
        moved = lp.evaluate_lodo(d, cfg)[key]
        assert moved["rules"] == before[key]["rules"]
        assert moved["macro_f1"] != after["macro_f1"]
    assert lp.evaluate_lodo(synthetic_data(), cfg) == {}  # two domains: the sources


def test_a_near_duplicate_group_stays_in_one_capture_domain() -> None:
    from datasets.field_photos import ManifestRow
    from models.lesion_patch_pipeline import photo_domains

    rows = [ManifestRow(f"/p{i}.jpg", "blast", g, "train", s)
            for i, (g, s) in enumerate([("r:a", "roboflow"), ("r:a", "roboflow"), ("r:b", "roboflow"),
                                        ("s:c", "sethy2020")])]
    dom = photo_domains(rows, [0.8, 0.1, 0.1, 0.9], {"roboflow"})
    assert dom.tolist() == ["roboflow_white", "roboflow_white", "roboflow_other", "sethy2020"]


def test_capture_domain_splits_a_mixed_source_by_its_white_background() -> None:
    from datasets.field_photos import capture_domain
    from inference.lesion_patches import white_background_share

    leaf_on_paper = np.full((90, 120, 3), 235, np.uint8)
    leaf_on_paper[30:60, :] = (60, 140, 40)  # a green leaf across two thirds of white paper
    field = np.zeros((90, 120, 3), np.uint8)
    field[:] = (150, 130, 70)  # straw
    field[::3] = (50, 120, 40)
    assert abs(white_background_share(leaf_on_paper) - 2 / 3) < 0.01 and white_background_share(field) == 0
    assert capture_domain("roboflow", True, white_background_share(leaf_on_paper)) == "roboflow_white"
    assert capture_domain("roboflow", True, white_background_share(field)) == "roboflow_other"
    assert capture_domain("sethy2020", False, 0.9) == "sethy2020"  # a source of one provenance stays whole
