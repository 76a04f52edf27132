"""The lesion-patch field-photo model served by onnxruntime (bundle task "lesion_patch_classification"): candidate
lesions -> patches -> class probabilities and kNN distances (one ONNX call) -> pooled per leaf -> calibrated answer
or "unsure". Everything it needs is in the bundle's model.json."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from inference.bundle import Bundle, load_bundle
from inference.field_photo_model import CalibratedBundleModel, FieldPhotoModel, Prediction, softmax
from inference.lesion_patches import colour_distance, leaf_candidates, pool_leaf, score_patches


class LesionPatchModel(CalibratedBundleModel):
    """The lesion-patch classifier; `predict` is thread-safe."""

    def __init__(self, bundle: Bundle | str | Path, threads: int | None = None, every_patch: bool = False) -> None:
        super().__init__(bundle, threads)
        self.every_patch = every_patch  # run every patch, as first served (the benchmark's baseline)
        p = self.meta["patches"]
        self.patch_px, self.context = int(p["size_px"]), float(p["context"])
        self.max_candidates, self.min_fraction = int(p["max_candidates"]), float(p["min_component_fraction"])
        self.top_k = int(self.meta["pooling"]["top_k"])
        self.mean = float(self.meta["normalization"]["mean"][0])
        self.std = float(self.meta["normalization"]["std"][0])
        self.decode_short_side = int(p["working_short_side"])  # candidates are searched and patches cut at this size
        self.neutral_background = bool(p.get("neutral_background", False))  # bundles before 1.3 cut raw patches
        self.colour = "colour" in {i.name for i in self.session.get_inputs()}  # lesion colour beside the patches (1.3)
        # the lesion colour's own out-of-distribution test (1.5): its Mahalanobis distance to the nearest disease
        oc = self.meta["ood"].get("colour") if self.colour else None
        self.colour_means = np.asarray(oc["means"], np.float64) if oc else None
        self.colour_precision = np.asarray(oc["precision"], np.float64) if oc else None
        self.colour_threshold = float(oc["distance_threshold"]) if oc else np.inf

    def _run(self, batch: np.ndarray, colour: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, C + 1), distances (n,)), or with the colour test distances (n, 2): kNN, colour."""
        feed = {"patches": batch} if colour is None else {"patches": batch, "colour": colour}
        probs, dist = self.session.run(["probabilities", "knn_distance"], feed)
        if colour is not None and self.colour_means is not None and self.colour_precision is not None:
            dist = np.stack([dist, colour_distance(colour, self.colour_means, self.colour_precision)], 1)
        return probs, dist

    def predict(self, image_rgb: np.ndarray, hsv: np.ndarray | None = None) -> Prediction:
        """`hsv`: image_rgb's OpenCV HSV when already made (the gate's), reused when the photo is at the working size
        already."""
        # cut and measured on demand: score_patches runs only the patches that can change the pooled answer
        patches = leaf_candidates(image_rgb, self.patch_px, self.context, self.max_candidates, self.min_fraction,
                                  self.neutral_background, self.colour, self.decode_short_side, hsv)
        uniform = {c: round(1 / len(self.classes), 4) for c in self.classes}
        if not len(patches):
            return Prediction("unsure", 1 / len(self.classes), uniform, 1.0, False,
                              "no lesion-like spot was found to judge; photograph the diseased part of the leaf")
        probs, dist, areas = score_patches(self._run, patches, patches.areas, self.mean, self.std,
                                           len(patches) if self.every_patch else self.top_k,
                                           extra=patches.colour if self.colour else None)
        pooled = pool_leaf(probs, areas, dist, self.top_k)
        if pooled is None:
            return Prediction("unsure", 1 / len(self.classes), uniform, 1.0, True,
                              "the spots on this leaf look like none of the diseases the model knows")
        logq, d = pooled
        knn_d, colour_d = (d, None) if isinstance(d, float) else (float(d[0]), float(d[1]))
        pred = self.answer(softmax(logq / self.temperature), knn_d,
                           "the spots do not look like the lesions the model was trained on (another disease, a pest?)")
        # unsure, but in_distribution stays the kNN kind test's: the photo still looks like a training leaf (it decides
        # leaf close-up against field patch in inference.photo.photo_kind); only its spots' colour is unknown
        if knn_d <= self.ood_threshold and colour_d is not None and colour_d > self.colour_threshold:
            pred = replace(pred, label="unsure",
                           reason="the spots' colour is unlike every disease the model knows (another disease, a "
                                  "nutrient problem, a pest?)")
        return pred


def load_photo_model(path: Bundle | str | Path, threads: int | None = None) -> PhotoModel:
    """The served model of a field-photo bundle, by its task: whole-image classification or lesion patches;
    `threads`: onnxruntime's intra-op threads per run (None: its default)."""
    bundle = path if isinstance(path, Bundle) else load_bundle(path)
    if bundle.meta.get("task") == "lesion_patch_classification":
        return LesionPatchModel(bundle, threads)
    return FieldPhotoModel(bundle, threads)


PhotoModel = FieldPhotoModel | LesionPatchModel
