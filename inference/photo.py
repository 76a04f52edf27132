"""Scoring a farmer's photo: decode safely, check quality, diagnose with the active bundle, measure lesions (severity
on the IRRI SES 0-9 scale) and greenness or canopy cover (growth 0-100), and pick advice. One versioned JSON document.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inference.advice_detail import detail_for, load_sources
from inference.canopy import canopy_mask_finer
from inference.errors import BadInput
from inference.field_photo_model import Prediction
from inference.gate import assess
from inference.leaf import (
    LeafAnalysis,
    analyse_leaf,
    draw_lesions,
    growth_from_canopy,
    growth_from_leaf,
    lcc_level,
    lesion_preset,
    remeasure_lesions,
    ses_grade,
    ses_scale_name,
)
from inference.lesion_patch_model import PhotoModel
from inference.lesions import PRESETS, severity
from inference.photo_io import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, DecodedPhoto, decode_photo
from inference.results import (
    PHOTO_RESULT_SCHEMA_VERSION,
    Bilingual,
    Candidate,
    LeafSummary,
    ModelRef,
    PhotoDiagnosis,
    PhotoGrowth,
    PhotoInfo,
    PhotoQuality,
    PhotoResult,
    PhotoSeverity,
)

ADVICE_FILE = Path(__file__).resolve().parent / "data" / "advice.json"

# the finest short side a mask is drawn at (PhotoScorer.full_size_rgb), scaled up from there to the photo's size: a
# 4000 x 3000 phone JPEG is decoded at 1/2 scale straight to it (about 0.1 s and 0.3 GB peak for a 16 MP photo's
# three masks, against 0.45 s at 2048 px); a 12 MP photo's mask blocks are then 2 x 2 pixels
FINE_MASK_SHORT_SIDE = 1500
# Lesions on under 0.5 % of the leaf are within the segmentation's noise on healthy tissue: "no symptom visible".
NO_LESION_PCT = 0.5


@lru_cache
def load_advice(path: str = str(ADVICE_FILE)) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _fill(text: str, **kw: Any) -> str:
    for k, v in kw.items():
        text = text.replace("{" + k + "}", str(v))
    return text


@dataclass(frozen=True)
class Decision:
    """What the scorer concludes about a photo before wording it: the status, the label and why."""

    status: str  # retake | field_patch | no_symptom | unsure | diagnosed
    label: str  # a class name, or "unsure"
    reason: str | None


def photo_kind(gate_kind: str | None, in_distribution: bool) -> str:
    """not_a_plant without positive evidence of plant tissue (the gate's kind is None); leaf_closeup when the model
    recognises a leaf like its training photos; else the gate's call (leaf_closeup or field_patch)."""
    if gate_kind is None:
        return "not_a_plant"
    return "leaf_closeup" if in_distribution else gate_kind


def decide(issues: list[str], kind: str, affected_pct: float, pred: Prediction) -> Decision:
    """The photo decision, in order: quality gate (retake), field patch, no symptom, unsure (abstain), diagnosed."""
    if issues:
        return Decision("retake", "unsure", "photo quality: " + ", ".join(issues))
    if kind == "field_patch":
        return Decision("field_patch", "unsure", "a photo of a patch of field, not of one leaf")
    if affected_pct < NO_LESION_PCT:
        # the model only knows diseases; with no lesion visible it must not name one
        return Decision("no_symptom", "unsure", "no lesion found on a sharp, well-exposed leaf")
    if pred.label == "unsure":
        return Decision("unsure", "unsure", pred.reason)
    return Decision("diagnosed", pred.label, None)


def measure_and_decide(issues: list[str], kind: str, pred: Prediction, gate: dict[str, Any],
                       leaf: LeafAnalysis) -> tuple[Decision, LeafAnalysis, str]:
    """The decision, and the leaf analysis whose lesion share is the severity, with the name of its lesion preset.
    `leaf`: analysed with the sensitive preset, which judges whether any lesion is visible (NO_LESION_PCT) and on
    whose healthy tissue the leaf colour is measured (a chlorotic halo is no sign of the crop's nitrogen). The
    severity is measured with the preset of the diagnosed disease, or of an unsure answer's likeliest one (the
    generic scale's when the probabilities rank none: UNRANKED) (leaf.lesion_preset: tight, a lesion's own area, for
    brown spot, blast and the generic scale; sensitive for bacterial leaf blight), and with the sensitive one when
    the tight preset finds nothing (a symptom that is only yellowing)."""
    decision = decide(issues, kind, round(100 * leaf.lesion_fraction_of_leaf, 2), pred)
    preset = "sensitive"
    if decision.status == "diagnosed":
        preset = lesion_preset(decision.label)
    elif decision.status == "unsure":
        preset = lesion_preset(likeliest(pred.probabilities))
    if preset != "sensitive":
        own = remeasure_lesions(leaf, gate["image"], gate["leaf_mask"], gate["green_mask"], preset, gate.get("working"))
        if own.lesion_fraction_of_leaf > 0:
            return decision, own, preset
    return decision, leaf, "sensitive"


def severity_for(decision: Decision, affected_pct: float, segmentation: str = "sensitive") -> PhotoSeverity:
    """IRRI SES grade of the lesion share, on the diagnosed disease's scale (the generic scale otherwise);
    `segmentation` names the lesion preset that measured the share."""
    if decision.status in ("retake", "field_patch"):
        return PhotoSeverity()
    if decision.status == "no_symptom":
        return PhotoSeverity(ses=0, affected_pct=affected_pct, scale=ses_scale_name("_default"),
                             segmentation=segmentation)
    disease = decision.label if decision.status == "diagnosed" else "_default"
    return PhotoSeverity(ses=ses_grade(affected_pct, disease), affected_pct=affected_pct,
                         scale=ses_scale_name(disease), segmentation=segmentation)


def growth_for(kind: str, leaf: LeafAnalysis) -> PhotoGrowth:
    """Growth 0-100: leaf colour on a close-up, canopy cover on a field patch."""
    if kind == "leaf_closeup" and leaf.dgci is not None:
        return PhotoGrowth(score=growth_from_leaf(leaf.dgci), method="leaf_colour", lcc_level=lcc_level(leaf.dgci),
                           dgci=round(leaf.dgci, 4))
    if kind == "field_patch":
        return PhotoGrowth(score=growth_from_canopy(leaf.green_cover_fraction), method="canopy_cover",
                           canopy_cover_pct=round(100 * leaf.green_cover_fraction, 1))
    return PhotoGrowth()


def advice_for(decision: Decision, severity: PhotoSeverity, quality: PhotoQuality, advice: dict[str, Any]) -> Bilingual:
    """The bilingual advice text of a decision, from the agronomists' advice file."""
    if decision.status == "retake":
        return Bilingual(**{lang: " ".join(getattr(m, lang) for m in quality.messages) for lang in ("vi", "en")})
    if decision.status in ("field_patch", "no_symptom", "unsure"):
        return Bilingual(**advice[decision.status])
    ses = int(severity.ses or 0)
    share = one_decimal(float(severity.affected_pct or 0.0))
    affected = {"vi": share.replace(".", ","), "en": share}  # Vietnamese writes 10,7 % (as the page does)
    cited = load_sources()["labels"].get(decision.label)
    if cited:  # the cited advice data: the first two in-season measures, then when to spray for SES 5 and above
        items = cited["cultural"][:2] + (cited["chemical_when"][:1] if ses > 3 else [])
        # SES 1-3 light, 5 moderate, 7-9 severe (SES 5 called severe alarmed a farmer at 5 % of the leaf)
        band = {"vi": ("mức nhẹ", "mức trung bình", "mức nặng"), "en": ("light", "moderate", "severe")}
        level = 0 if ses <= 3 else 1 if ses <= 5 else 2
        head = {lang: f"{cited['name'][lang]}, {band[lang][level]} (SES {ses}, " + (
            f"khoảng {affected[lang]}% diện tích lá)." if lang == "vi" else f"about {affected[lang]}% of leaf area).")
            for lang in ("vi", "en")}
        # a disease no chemical controls (the cited data says so: bacterial leaf blight and leaf streak) gets no line
        # on which pesticides to use, which read as "spraying is allowed" right after "chemicals do not work"
        footer = advice["footer_no_chemical"] if cited.get("no_chemical_control") else advice["footer"]
        return Bilingual(**{lang: " ".join([head[lang], *(i[lang] for i in items), footer[lang]])
                            for lang in ("vi", "en")})
    texts = advice.get(decision.label, advice["_default"])["low" if ses <= 3 else "high"]
    return Bilingual(**{lang: _fill(texts[lang], ses=ses, affected_pct=affected[lang]) + " " + advice["footer"][lang]
                        for lang in ("vi", "en")})


def one_decimal(x: float) -> str:
    """x with one decimal, halves rounded away from zero on the float's exact value: what the pages' number format
    (Intl.NumberFormat, maximumFractionDigits 1) shows, so the advice and the severity line give the same figure
    (Python's round(5.25, 1) is 5.2, the page's 5.3)."""
    return str(Decimal(x).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


UNRANKED = 1e-3  # probabilities closer than this rank no disease above another (candidates_for)


def ranks_none(probabilities: dict[str, float]) -> bool:
    """Empty, or all within UNRANKED of each other: no lesion patch was found to judge."""
    return not probabilities or max(probabilities.values()) - min(probabilities.values()) < UNRANKED


def likeliest(probabilities: dict[str, float]) -> str:
    """The most probable class, or "_default" when the probabilities rank none (max() would pick the alphabetically
    first)."""
    return "_default" if ranks_none(probabilities) else max(probabilities, key=probabilities.__getitem__)


def candidates_for(decision: Decision, probabilities: dict[str, float], advice: dict[str, Any]) -> list[Candidate]:
    """When the answer is unsure, the two most likely diseases with what to look at; otherwise none. None either when
    the probabilities rank nothing (all equal: no lesion patch was found to judge), rather than two names at 33 %."""
    if decision.status != "unsure" or ranks_none(probabilities):
        return []
    look = advice.get("look_for", {})
    top = sorted(probabilities.items(), key=lambda kv: -kv[1])[:2]
    return [Candidate(label=k, probability=round(v, 4), look_for=Bilingual(**look[k]) if k in look else None)
            for k, v in top]


@dataclass(frozen=True)
class PhotoMasks:
    """What a photo's result measured, as masks of the analysis-size image `image` (bool, rows x cols): the leaf the
    severity was measured on, the lesions it counted (None when no severity was measured: a refused photo, a field
    patch) and the green vegetation the canopy cover is (every photo). `upright_size`: the photo's width and height
    as the farmer sees it (EXIF orientation applied), to which `png` scales a mask."""

    leaf: np.ndarray
    lesions: np.ndarray | None
    canopy: np.ndarray
    upright_size: tuple[int, int]
    image: np.ndarray

    def png(self, name: str, full_size: bool = True, full_rgb: np.ndarray | None = None) -> bytes:
        """One mask ("leaf", "lesions" or "canopy") as a one-channel PNG, 255 inside and 0 outside; as analysed, or
        at the photo's upright size: the canopy drawn on `full_rgb` (the photo decoded upright at full size:
        canopy.canopy_mask_finer) when given, every other mask scaled up (nearest neighbour: each analysed pixel a
        block)."""
        mask = getattr(self, name)
        if mask is None:
            raise ValueError(f"no {name} mask was measured on this photo")
        if full_size and name == "canopy" and full_rgb is not None:
            mask = canopy_mask_finer(self.image, full_rgb)
        out = mask.astype(np.uint8) * 255
        if full_size and (out.shape[1], out.shape[0]) != self.upright_size:
            out = cv2.resize(out, self.upright_size, interpolation=cv2.INTER_NEAREST)
        return cv2.imencode(".png", out)[1].tobytes()


def upright_size(photo: DecodedPhoto) -> tuple[int, int]:
    """The photo's full width and height as it is seen (EXIF orientation applied): the stored size, turned when the
    decoded image is."""
    w, h = photo.original_width, photo.original_height
    rows, cols = photo.rgb.shape[:2]
    turned = (cols > rows) != (w > h) and w != h and cols != rows
    return (h, w) if turned else (w, h)


@dataclass
class Scored:
    """A photo's result, with the drawing and the masks of what it measured when they were asked for."""

    result: PhotoResult
    drawing: bytes | None = None
    masks: PhotoMasks | None = None


@dataclass
class PhotoScorer:
    """Scores photos with one loaded model; thread-safe."""

    model: PhotoModel
    advice_path: str = str(ADVICE_FILE)
    max_bytes: int = MAX_PHOTO_BYTES  # the service passes its Settings' limits
    max_pixels: int = MAX_PHOTO_PIXELS
    # the network runs in a second thread beside the gate and the leaf analysis (onnxruntime lets go of the
    # interpreter lock, and so do most OpenCV steps): one photo uses two cores, with the same result. Page-sized
    # photos, one onnxruntime and one OpenCV thread: see README, Benchmarks. False: one after the other
    overlap: bool = True

    def score(self, data: bytes) -> PhotoResult:
        """Photo bytes -> result document. Raises a BadInput (or subclass) for a photo that cannot be scored."""
        return self.score_with_drawing(data, draw=False)[0]

    def score_with_drawing(self, data: bytes, draw: bool = True) -> tuple[PhotoResult, bytes | None]:
        """`score`, and when a severity was measured (and `draw`) the JPEG of what it measured, drawn from the masks
        the severity was computed on (what `lesion_overlay` gives for the result's preset, without decoding and
        analysing the photo again); None otherwise."""
        scored = self.score_full(data, draw=draw)
        return scored.result, scored.drawing

    def score_full(self, data: bytes, draw: bool = False, masks: bool = False) -> Scored:
        """`score`, with the drawing (as `score_with_drawing`) and the PhotoMasks of what was measured when asked
        for: the same analysis, nothing measured twice."""
        t0 = time.perf_counter()
        photo = decode_photo(data, short_side=self.model.decode_short_side, max_bytes=self.max_bytes,
                             max_pixels=self.max_pixels)
        t1 = time.perf_counter()
        scored = self._score(photo, draw, masks)
        scored.result.timings_ms["decode"] = round(1000 * (t1 - t0), 1)
        return scored

    def lesion_overlay(self, data: bytes, preset: str = "sensitive") -> bytes:
        """JPEG of what a photo's severity measured (leaf.draw_lesions) with lesion preset `preset` (a result's
        `severity.segmentation`): the photo decoded and analysed as `score` does, at the analysis size. Quality 85:
        about 25 KB, an eighth of a PNG, for rural links."""
        photo, gate, sev = self._measure_again(data, preset)
        return drawing_jpeg(gate["image"], sev["leaf_mask"], sev["lesion_mask"])

    def measured_masks(self, data: bytes, preset: str | None) -> PhotoMasks:
        """The PhotoMasks of a stored photo, decoded and analysed as `score` does, its lesions segmented with preset
        `preset` (a result's `severity.segmentation`; None: the result measured no severity, so no lesion mask)."""
        photo, gate, sev = self._measure_again(data, preset or "sensitive")
        return PhotoMasks(leaf=sev["leaf_mask"], lesions=sev["lesion_mask"] if preset else None,
                          canopy=gate["canopy_mask"], upright_size=upright_size(photo), image=gate["image"])

    def full_size_rgb(self, data: bytes) -> np.ndarray:
        """The photo decoded upright for PhotoMasks.png's `full_rgb`: at its full size up to a short side of
        FINE_MASK_SHORT_SIDE (a 48 MP photo would cost about 0.6 GB to draw at full size; the mask is scaled up
        from there), within the scorer's limits."""
        return decode_photo(data, short_side=FINE_MASK_SHORT_SIDE, max_bytes=self.max_bytes,
                            max_pixels=self.max_pixels).rgb

    def _measure_again(self, data: bytes, preset: str) -> tuple[DecodedPhoto, dict[str, Any], dict[str, Any]]:
        if preset not in PRESETS:
            raise BadInput(f"unknown lesion preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
        photo = decode_photo(data, short_side=self.model.decode_short_side, max_bytes=self.max_bytes,
                             max_pixels=self.max_pixels)
        gate = assess(photo.rgb)
        sev = severity(gate["image"], gate["leaf_mask"], gate["green_mask"], PRESETS[preset], work=gate["working"])
        return photo, gate, sev

    def _measure(self, photo: DecodedPhoto) -> tuple[dict[str, Any], LeafAnalysis, Prediction, dict[str, float]]:
        """The gate, the leaf analysis and the network's prediction, the network in the second thread beside the
        other two (`overlap`) or after them, with their timings in ms: with the second thread the network's own time
        overlaps the analysis, and waited_for_model is the part that did not."""
        t0 = time.perf_counter()
        ahead = _SECOND_THREADS.submit(_timed, self.model.predict, photo.rgb) if self.overlap else None
        try:
            gate = assess(photo.rgb)
            work = gate["working"]
            leaf = analyse_leaf(gate["image"], gate["leaf_mask"], gate["green_mask"], gate["canopy_mask"], work)
        except BaseException:
            if ahead is not None and not ahead.cancel():
                wait([ahead])  # nothing of this photo's runs on once the error is raised
            raise
        t1 = time.perf_counter()
        if ahead is not None:
            pred, model_ms = ahead.result()
        else:
            # at the bundle's working size the gate's image is the photo itself: its HSV serves the candidate search
            pred = self.model.predict(photo.rgb, work.hsv if gate["image"].shape == photo.rgb.shape else None)
            model_ms = 1000 * (time.perf_counter() - t1)
        timings = {"analysis": round(1000 * (t1 - t0), 1), "model": round(model_ms, 1)}
        if ahead is not None:
            timings["waited_for_model"] = round(1000 * (time.perf_counter() - t1), 1)
        return gate, leaf, pred, timings

    def score_decoded(self, photo: DecodedPhoto) -> PhotoResult:
        """Measure (quality, leaf), classify, decide, then word the result."""
        return self._score(photo, False).result

    def _score(self, photo: DecodedPhoto, draw: bool, masks: bool = False) -> Scored:
        advice = load_advice(self.advice_path)
        t0 = time.perf_counter()
        gate, leaf, pred, timings = self._measure(photo)
        kind = photo_kind(gate["kind"], pred.in_distribution)
        issues = list(gate["issues"])
        quality = PhotoQuality(ok=not issues, sharpness=gate["sharpness"] or 0.0, brightness=gate["leaf_mean_v"],
                               clipped_pct=gate["leaf_clipped_pct"], issues=issues,
                               messages=[Bilingual(**advice["quality"][i]) for i in issues])
        t_sev = time.perf_counter()
        decision, leaf, preset = measure_and_decide(issues, kind, pred, gate, leaf)
        t_sev = time.perf_counter() - t_sev
        affected = round(100 * leaf.lesion_fraction_of_leaf, 2)
        severity = severity_for(decision, affected, preset)
        candidates = candidates_for(decision, pred.probabilities, advice)
        t3 = time.perf_counter()
        result = PhotoResult(
            schema_version=PHOTO_RESULT_SCHEMA_VERSION,
            model=ModelRef(name=self.model.bundle.name, version=self.model.bundle.version),
            photo=_photo_info(photo, kind),
            quality=quality,
            diagnosis=PhotoDiagnosis(
                label=decision.label, status=decision.status, confidence=round(pred.confidence, 4),
                probabilities={k: round(v, 4) for k, v in pred.probabilities.items()},
                in_distribution=pred.in_distribution, ood_distance=round(pred.ood_distance, 4),
                reason=decision.reason, candidates=candidates,
                look_for_other=Bilingual(**advice["look_for"]["_other"])
                if decision.status == "unsure" and "_other" in advice.get("look_for", {}) else None),
            severity=severity,
            growth=growth_for(kind, leaf) if not issues else PhotoGrowth(),  # a refused photo measures nothing
            leaf=LeafSummary.model_validate(leaf.summary()),
            advice=advice_for(decision, severity, quality, advice),
            advice_detail=detail_for(decision.status, decision.label, [c.label for c in candidates]),
            timings_ms={**timings, "lesions_again": round(1000 * t_sev, 1),
                        "total_after_decode": round(1000 * (t3 - t0), 1)},
        )
        scored = Scored(result)
        if draw and severity.ses is not None:
            t4 = time.perf_counter()
            scored.drawing = drawing_jpeg(gate["image"], leaf.leaf_mask, leaf.lesion_mask)
            result.timings_ms["drawing"] = round(1000 * (time.perf_counter() - t4), 1)
        if masks:
            scored.masks = PhotoMasks(leaf=leaf.leaf_mask, lesions=leaf.lesion_mask if severity.ses is not None else None,
                                      canopy=gate["canopy_mask"], upright_size=upright_size(photo),
                                      image=gate["image"])
        return scored


def _new_second_threads() -> None:
    """PhotoScorer's second threads, one per photo scored at once: a scoring process scores one, the server's own
    threads as many as their slots (one per core by default); a photo beyond eight (or two per core) waits for a
    thread, then is scored the same. Made again in a forked child (a Celery prefork worker), which has none of its
    parent's threads."""
    global _SECOND_THREADS
    threads = max(8, 2 * (os.cpu_count() or 1))
    _SECOND_THREADS = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="photo-model")


_SECOND_THREADS: ThreadPoolExecutor
_new_second_threads()
os.register_at_fork(after_in_child=_new_second_threads)


def _timed(predict: Callable[[np.ndarray], Prediction], rgb: np.ndarray) -> tuple[Prediction, float]:
    """predict(rgb) and its time in milliseconds."""
    t = time.perf_counter()
    pred = predict(rgb)
    return pred, 1000 * (time.perf_counter() - t)


def drawing_jpeg(image: np.ndarray, leaf_mask: np.ndarray, lesion_mask: np.ndarray) -> bytes:
    """leaf.draw_lesions of the analysis-size image as a JPEG of quality 85: about 25 KB, an eighth of a PNG, for
    rural links."""
    drawn = cv2.cvtColor(draw_lesions(image, leaf_mask, lesion_mask), cv2.COLOR_RGB2BGR)
    return cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def _photo_info(photo: DecodedPhoto, kind: str) -> PhotoInfo:
    return PhotoInfo(format=photo.format, width=photo.original_width, height=photo.original_height, lat=photo.lat,
                     lon=photo.lon, taken_at=photo.taken_at.isoformat() if photo.taken_at else None, kind=kind,
                     device=photo.device)
