"""The photo decision with small fabricated inputs: quality gate, field patch, no symptom, unsure, diagnosed; and the
wording and severity that follow from it."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from datasets.fabricated_leaves import fabricated_leaf
from inference.field_photo_model import Prediction
from inference.gate import assess
from inference.leaf import LeafAnalysis, analyse_leaf
from inference.photo import (
    NO_LESION_PCT,
    Decision,
    PhotoScorer,
    advice_for,
    decide,
    growth_for,
    load_advice,
    photo_kind,
    severity_for,
)
from inference.photo_io import DecodedPhoto
from inference.results import Bilingual, PhotoQuality, PhotoSeverity


def pred(label: str = "blast", confidence: float = 0.95, in_distribution: bool = True) -> Prediction:
    probs = {"bacterial_leaf_blight": 0.02, "blast": 0.03, "brown_spot": 0.03}
    if label != "unsure":
        probs[label] = confidence
    return Prediction(label=label, confidence=confidence, probabilities=probs, ood_distance=0.1,
                      in_distribution=in_distribution, reason="low confidence" if label == "unsure" else None)


def leaf(dgci: float | None = 0.45, green: float = 0.5) -> LeafAnalysis:
    m = np.zeros((4, 4), bool)
    return LeafAnalysis(leaf_fraction=0.6, lesion_fraction_of_leaf=0.05, green_cover_fraction=green, dgci=dgci,
                        lesion_mask=m, leaf_mask=m)


@pytest.mark.parametrize(
    ("issues", "kind", "affected", "p", "status", "label"),
    [
        (["blurry"], "leaf_closeup", 8.0, pred(), "retake", "unsure"),
        (["too_dark", "too_bright"], "leaf_closeup", 8.0, pred(), "retake", "unsure"),
        ([], "field_patch", 8.0, pred(), "field_patch", "unsure"),
        ([], "leaf_closeup", NO_LESION_PCT / 2, pred(), "no_symptom", "unsure"),
        ([], "leaf_closeup", 8.0, pred("unsure", 0.4), "unsure", "unsure"),
        ([], "leaf_closeup", 8.0, pred("blast"), "diagnosed", "blast"),
    ],
    ids=["blurry", "two_issues", "field_patch", "no_symptom", "unsure", "diagnosed"],
)
def test_decision_order(issues, kind, affected, p, status, label) -> None:
    d = decide(issues, kind, affected, p)
    assert (d.status, d.label) == (status, label)
    assert (d.reason is None) == (status == "diagnosed")


def test_quality_comes_before_everything() -> None:
    # a blurry photo with a confident diagnosis is still "retake": the gate wins
    d = decide(["blurry"], "field_patch", 0.0, pred("blast", 0.99))
    assert d.status == "retake" and "blurry" in (d.reason or "")


def test_photo_kind_needs_positive_evidence() -> None:
    assert photo_kind(None, True) == "not_a_plant"  # no plant tissue: whatever the model thinks
    assert photo_kind("field_patch", True) == "leaf_closeup"  # the model recognises a leaf
    assert photo_kind("field_patch", False) == "field_patch"
    assert photo_kind("leaf_closeup", False) == "leaf_closeup"  # a leaf unlike the training photos: unsure later


def test_severity_uses_the_diagnosed_scale() -> None:
    assert severity_for(Decision("retake", "unsure", "x"), 12.0) == PhotoSeverity()
    assert severity_for(Decision("no_symptom", "unsure", "x"), 0.2).ses == 0
    blast = severity_for(Decision("diagnosed", "blast", None), 12.0)
    generic = severity_for(Decision("unsure", "unsure", "x"), 12.0)
    assert blast.scale != generic.scale and blast.ses is not None and generic.ses is not None
    assert blast.affected_pct == 12.0


def test_growth_by_kind() -> None:
    assert growth_for("leaf_closeup", leaf(0.60)).score == 100
    assert growth_for("leaf_closeup", leaf(0.25)).score == 0
    patch = growth_for("field_patch", leaf(None, green=0.42))
    assert patch.score == 42 and patch.method == "canopy_cover"
    assert growth_for("not_a_plant", leaf()).score is None


def test_advice_follows_the_decision() -> None:
    advice = load_advice()
    ok = PhotoQuality(ok=True, sharpness=100, brightness=120, clipped_pct=0, issues=[], messages=[])
    blast = advice_for(Decision("diagnosed", "blast", None), PhotoSeverity(ses=7, affected_pct=20.0), ok, advice)
    assert advice["footer"]["en"] in blast.en and blast.vi
    # the share as each language writes it (the page writes 10,7 % in Vietnamese; the advice wrote 10.7 %)
    spot = advice_for(Decision("diagnosed", "brown_spot", None), PhotoSeverity(ses=5, affected_pct=10.71), ok, advice)
    assert "10,7%" in spot.vi and "10.7" not in spot.vi and "10.7%" in spot.en
    unsure = advice_for(Decision("unsure", "unsure", "x"), PhotoSeverity(), ok, advice)
    assert unsure.en == advice["unsure"]["en"]
    msgs = [Bilingual(**advice["quality"]["blurry"])]
    bad = PhotoQuality(ok=False, sharpness=2, brightness=120, clipped_pct=0, issues=["blurry"], messages=msgs)
    retake = advice_for(Decision("retake", "unsure", "photo quality: blurry"), PhotoSeverity(), bad, advice)
    assert retake.en == advice["quality"]["blurry"]["en"]


def test_no_pesticide_line_where_no_chemical_controls_the_disease() -> None:
    """Bacterial leaf blight: the cited data says chemicals do not control it and names no active ingredient, so the
    advice does not go on with which pesticides to use (a farmer read that as 'spraying is allowed'); blast keeps it.
    The share is rounded as the page rounds it (5.25 -> 5.3 in both)."""
    from inference.photo import one_decimal

    advice = load_advice()
    ok = PhotoQuality(ok=True, sharpness=100, brightness=120, clipped_pct=0, issues=[], messages=[])
    blb = advice_for(Decision("diagnosed", "bacterial_leaf_blight", None), PhotoSeverity(ses=7, affected_pct=41.3), ok,
                     advice)
    for lang in ("vi", "en"):
        assert advice["footer"][lang] not in getattr(blb, lang)
        assert advice["footer_no_chemical"][lang] in getattr(blb, lang)
    blast = advice_for(Decision("diagnosed", "blast", None), PhotoSeverity(ses=5, affected_pct=5.25), ok, advice)
    assert advice["footer"]["vi"] in blast.vi and advice["footer_no_chemical"]["vi"] not in blast.vi
    assert "khoảng 5,3%" in blast.vi and "about 5.3%" in blast.en
    assert "mức trung bình (SES 5" in blast.vi and "moderate (SES 5" in blast.en  # SES 5 is not "severe"
    assert "severe (SES 7" in blb.en and "mức nặng (SES 7" in blb.vi
    assert [one_decimal(x) for x in (5.25, 5.15, 0.05, 10.71, 0.0, 41.349)] == ["5.3", "5.2", "0.1", "10.7", "0.0", "41.3"]


def test_unsure_names_two_candidates_and_what_to_look_at() -> None:
    from inference.photo import candidates_for

    advice = load_advice()
    probs = {"bacterial_leaf_blight": 0.2, "blast": 0.45, "brown_spot": 0.35}
    c = candidates_for(Decision("unsure", "unsure", "low confidence"), probs, advice)
    assert [x.label for x in c] == ["blast", "brown_spot"]
    assert all(x.look_for is not None and x.look_for.vi and x.look_for.en for x in c)
    assert candidates_for(Decision("diagnosed", "blast", None), probs, advice) == []
    # no lesion patch found: the probabilities are all 1/3 and rank nothing, so no two names at 33 % each
    flat = dict.fromkeys(probs, 1 / 3)
    assert candidates_for(Decision("unsure", "unsure", "no lesion-like spot was found to judge"), flat, advice) == []


class _StubModel:
    """Answers every photo with one label; the scorer around it is the served one."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bundle = SimpleNamespace(name="stub", version="0.0.0")
        self.decode_short_side = 300
        self.probabilities: dict[str, float] | None = None

    def predict(self, rgb: np.ndarray, hsv: np.ndarray | None = None) -> Prediction:
        p = pred(self.label)
        if self.probabilities:
            p.probabilities = dict(self.probabilities)
        return p


@pytest.mark.parametrize(("label", "preset"), [("brown_spot", "tight"), ("blast", "tight"),
                                               ("unsure", "tight"), ("unsure_blight", "sensitive"),
                                               ("unsure_flat", "tight"), ("bacterial_leaf_blight", "sensitive")])
def test_severity_is_measured_with_the_diagnosed_diseases_preset(label: str, preset: str) -> None:
    # an unsure answer: the preset of its likeliest disease (blast, or leaf blight for "unsure_blight"); equal
    # probabilities rank none (no lesion patch judged): the generic scale's, not the alphabetically first disease's
    f = fabricated_leaf("white_paper", "spots")  # four brown spots, 4.5 % of the leaf
    photo = DecodedPhoto(rgb=f.rgb, format="PNG", original_width=400, original_height=300, decode_scale=1.0,
                         lat=None, lon=None, taken_at=None)
    model = _StubModel("unsure" if label.startswith("unsure") else label)
    if label == "unsure_blight":
        model.probabilities = {"bacterial_leaf_blight": 0.5, "blast": 0.3, "brown_spot": 0.2}
    if label == "unsure_flat":
        model.probabilities = {"bacterial_leaf_blight": 1 / 3, "blast": 1 / 3, "brown_spot": 1 / 3}
    r = PhotoScorer(model).score_decoded(photo)  # type: ignore[arg-type]
    assert r.diagnosis.status == ("unsure" if label.startswith("unsure") else "diagnosed")
    assert r.severity.segmentation == preset
    assert r.severity.affected_pct is not None
    if preset == "tight":  # the spots' own area; the sensitive preset served before gave 6.0 % (their blurred rim)
        assert abs(r.severity.affected_pct - f.lesion_pct) <= 1.0
        assert r.leaf.lesion_fraction_of_leaf == pytest.approx(r.severity.affected_pct / 100, abs=1e-4)
    else:
        assert r.severity.affected_pct > f.lesion_pct + 1.0
    # the leaf colour (growth) stays measured on the tissue the sensitive preset calls healthy
    gate = assess(f.rgb)
    sensitive = analyse_leaf(gate["image"], gate["leaf_mask"], gate["green_mask"], gate["canopy_mask"])
    assert r.growth.dgci == round(sensitive.dgci or 0.0, 4)


def test_whether_a_lesion_is_visible_is_judged_with_the_sensitive_preset() -> None:
    # a yellowing patch the tight preset leaves out (0 %) is still a symptom: the photo is diagnosed, not "no
    # symptom", and measured by what is visible (4.3 % for 4.7 %) rather than given severity 0
    f = fabricated_leaf("white_paper", "none")
    rgb = f.rgb.copy()
    spot = np.zeros(rgb.shape[:2], np.uint8)
    cv2.ellipse(spot, (200, 150), (30, 12), 10, 0, 360, 1, -1)
    rgb[spot.astype(bool) & f.leaf] = (95, 130, 40)  # yellowing, 6-10 degrees of hue from the healthy green
    photo = DecodedPhoto(rgb=rgb, format="PNG", original_width=400, original_height=300, decode_scale=1.0,
                         lat=None, lon=None, taken_at=None)
    r = PhotoScorer(_StubModel("brown_spot")).score_decoded(photo)  # type: ignore[arg-type]
    assert r.diagnosis.status == "diagnosed"
    assert r.severity.segmentation == "sensitive"
    assert r.severity.affected_pct is not None and r.severity.affected_pct >= 3.5


@pytest.mark.parametrize("orientation", [1, 6])
def test_the_masks_are_what_the_result_measured(tmp_path, orientation: int) -> None:
    """score_full(masks=True): the leaf and lesion masks give the severity's share and the canopy mask the green
    cover, at the analysis size; as PNGs at the photo's upright size (EXIF orientation 6: 300 x 400 for a 400 x 300
    stored photo), with the shares kept; a refused photo has no lesion mask."""
    from tests.data.make_photos import gps_jpeg

    f = fabricated_leaf("white_paper", "spots")  # 400 x 300
    src = tmp_path / "leaf.png"
    cv2.imwrite(str(src), cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
    scored = PhotoScorer(_StubModel("brown_spot")).score_full(  # type: ignore[arg-type]
        gps_jpeg(src, 9.6, 105.97, orientation=orientation), masks=True)
    r, m = scored.result, scored.masks
    assert m is not None and m.lesions is not None and r.severity.affected_pct is not None
    assert not (m.lesions & ~m.leaf).any()
    assert 100 * m.lesions.sum() / m.leaf.sum() == pytest.approx(r.severity.affected_pct, abs=0.01)
    assert m.canopy.mean() == pytest.approx(r.leaf.green_cover_fraction, abs=1e-4)
    upright = (300, 400) if orientation == 6 else (400, 300)
    assert m.upright_size == upright
    png = {k: cv2.imdecode(np.frombuffer(m.png(k), np.uint8), cv2.IMREAD_UNCHANGED) for k in ("leaf", "lesions", "canopy")}
    for k, im in png.items():
        assert im.shape == (upright[1], upright[0]) and im.dtype == np.uint8 and set(np.unique(im)) <= {0, 255}, k
    assert 100 * (png["lesions"] > 0).sum() / (png["leaf"] > 0).sum() == pytest.approx(r.severity.affected_pct, abs=0.5)
    small = cv2.imdecode(np.frombuffer(m.png("leaf", full_size=False), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(small > 0, m.leaf)

    dark = (f.rgb * 0.08).astype(np.uint8)  # refused: too dark; no severity, so no lesion mask
    cv2.imwrite(str(src), cv2.cvtColor(dark, cv2.COLOR_RGB2BGR))
    refused = PhotoScorer(_StubModel("brown_spot")).score_full(src.read_bytes(), masks=True)  # type: ignore[arg-type]
    assert refused.result.diagnosis.status == "retake" and refused.masks is not None
    assert refused.masks.lesions is None
    with pytest.raises(ValueError, match="no lesions mask"):
        refused.masks.png("lesions")
