"""A photo scored on two threads (PhotoScorer.overlap: the network beside the gate and the leaf analysis) gets the
same result, drawing and masks as on one; errors of either thread reach the caller, and nothing of a photo runs on
after its error is raised."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import inference.photo as photo_module
from datasets.samples import phone_size_jpeg
from inference.bundle import active_bundle_path
from inference.field_photo_model import Prediction
from inference.lesion_patch_model import PhotoModel, load_photo_model
from inference.photo import PhotoScorer
from inference.results import as_dict
from tests.data.make_photos import blurred_jpeg, dark_jpeg, real_photo


@pytest.fixture(scope="module")
def served() -> PhotoModel:
    return load_photo_model(active_bundle_path("field_photo"), threads=1)


def _photos() -> dict[str, bytes]:
    noise = np.random.default_rng(3).integers(0, 256, (300, 400, 3), np.uint8)
    return {
        "blast": real_photo("blast", 0).read_bytes(),
        "brown_spot page-sized": phone_size_jpeg(real_photo("brown_spot", 1), 1.92, quality=85),
        "leaf blight": real_photo("bacterial_leaf_blight", 2).read_bytes(),
        "blurred": blurred_jpeg(real_photo("blast", 1)),
        "dark": dark_jpeg(real_photo("brown_spot", 2)),
        "noise": cv2.imencode(".png", noise)[1].tobytes(),
    }


PHOTOS = _photos()


@pytest.mark.parametrize("name", list(PHOTOS))
def test_two_threads_score_as_one(served: PhotoModel, name: str) -> None:
    data = PHOTOS[name]
    two = PhotoScorer(served).score_full(data, draw=True, masks=True)
    one = PhotoScorer(served, overlap=False).score_full(data, draw=True, masks=True)
    a, b = as_dict(two.result), as_dict(one.result)
    timings_two, timings_one = a.pop("timings_ms"), b.pop("timings_ms")
    assert a == b
    assert two.drawing == one.drawing
    assert two.masks is not None and one.masks is not None
    for mask in ("leaf", "lesions", "canopy", "image"):
        got, want = getattr(two.masks, mask), getattr(one.masks, mask)
        assert (got is None and want is None) or np.array_equal(got, want)
    # the network's own time is reported in both; what the analysis waited for it only where it ran beside it
    assert timings_two["model"] > 0 and timings_one["model"] > 0
    assert "waited_for_model" in timings_two and "waited_for_model" not in timings_one
    assert timings_two["waited_for_model"] <= timings_two["total_after_decode"]


class _Model:
    """A stand-in for the served model whose predict takes `delay_s`, or raises, and records that it ran."""

    decode_short_side = 300
    bundle = SimpleNamespace(name="field_photo", version="0.0.0-test")

    def __init__(self, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.delay_s, self.error = delay_s, error
        self.started = threading.Event()
        self.finished = threading.Event()

    def predict(self, rgb: np.ndarray, hsv: np.ndarray | None = None) -> Prediction:
        self.started.set()
        try:
            time.sleep(self.delay_s)
            if self.error is not None:
                raise self.error
            return Prediction("brown_spot", 0.9, {"bacterial_leaf_blight": 0.05, "blast": 0.05, "brown_spot": 0.9},
                              0.1, True, None)
        finally:
            self.finished.set()


@pytest.mark.parametrize("overlap", [True, False])
def test_the_networks_error_reaches_the_caller(overlap: bool) -> None:
    model = _Model(error=RuntimeError("onnxruntime failed"))
    with pytest.raises(RuntimeError, match="onnxruntime failed"):
        PhotoScorer(model, overlap=overlap).score(PHOTOS["blast"])  # type: ignore[arg-type]


def test_an_analysis_error_waits_for_the_network_then_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rgb: np.ndarray) -> dict:
        model.started.wait(5)  # the network is running when the analysis fails
        raise MemoryError("no memory for the gate")

    model = _Model(delay_s=0.3)
    monkeypatch.setattr(photo_module, "assess", broken)
    with pytest.raises(MemoryError, match="no memory for the gate"):
        PhotoScorer(model).score(PHOTOS["blast"])  # type: ignore[arg-type]
    assert model.finished.is_set()  # the photo's network did not run on after the error


def _score_in_child(data: bytes, out: multiprocessing.queues.Queue) -> None:
    out.put(as_dict(PhotoScorer(_Model()).score(data))["diagnosis"]["label"])


def test_a_forked_child_scores_with_threads_of_its_own() -> None:
    """A child forked after its parent scored photos (a Celery prefork worker) has none of the parent's threads: its
    second thread is its own, and its photo is answered rather than waited on for ever."""
    PhotoScorer(_Model()).score(PHOTOS["blast"])  # type: ignore[arg-type]  # the parent's second thread exists
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_score_in_child, args=(PHOTOS["blast"], out))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert out.get(timeout=5) in ("brown_spot", "unsure")
