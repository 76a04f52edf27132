"""The lesion-patch field-photo model served by onnxruntime (bundle task "lesion_patch_classification"): candidate
lesions -> patches -> class probabilities and kNN distances (one ONNX call) -> pooled per leaf -> calibrated answer
or "unsure". Everything it needs is in the bundle's model.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.bundle import Bundle, load_bundle
from inference.field_photo_model import CalibratedBundleModel, FieldPhotoModel, Prediction, softmax
from inference.lesion_patches import leaf_patches, pool_leaf, score_patches


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

    def _run(self, batch: np.ndarray, colour: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        feed = {"patches": batch} if colour is None else {"patches": batch, "colour": colour}
        probs, dist = self.session.run(["probabilities", "knn_distance"], feed)
        return probs, dist

    def predict(self, image_rgb: np.ndarray) -> Prediction:
        patches, areas, colour = leaf_patches(image_rgb, self.patch_px, self.context, self.max_candidates,
                                              self.min_fraction, self.neutral_background, self.colour,
                                              self.decode_short_side)
        uniform = {c: round(1 / len(self.classes), 4) for c in self.classes}
        if not patches:
            return Prediction("unsure", 1 / len(self.classes), uniform, 1.0, False,
                              "no lesion-like spot was found to judge; photograph the diseased part of the leaf")
        probs, dist, areas = score_patches(self._run, patches, areas, self.mean, self.std,
                                           len(patches) if self.every_patch else self.top_k,
                                           extra=colour if self.colour else None)
        pooled = pool_leaf(probs, areas, dist, self.top_k)
        if pooled is None:
            return Prediction("unsure", 1 / len(self.classes), uniform, 1.0, True,
                              "the spots on this leaf look like none of the diseases the model knows")
        logq, d = pooled
        return self.answer(softmax(logq / self.temperature), float(d),
                           "the spots do not look like the lesions the model was trained on (another disease, a pest?)")


def load_photo_model(path: Bundle | str | Path) -> PhotoModel:
    """The served model of a field-photo bundle, by its task: whole-image classification or lesion patches."""
    bundle = path if isinstance(path, Bundle) else load_bundle(path)
    if bundle.meta.get("task") == "lesion_patch_classification":
        return LesionPatchModel(bundle)
    return FieldPhotoModel(bundle)


PhotoModel = FieldPhotoModel | LesionPatchModel
