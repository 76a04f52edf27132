"""The served photo model: loaded once at start-up, swapped atomically when another bundle version is activated."""

from __future__ import annotations

import threading
from pathlib import Path

from inference.bundle import active_bundle_path, set_active
from inference.field_photo_model import FieldPhotoModel
from inference.photo import PhotoScorer

TASK = "field_photo"


class PhotoModelHolder:
    """Holds the active PhotoScorer; requests read `scorer`, activation replaces it (no restart)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._scorer: PhotoScorer | None = None
        self.error: str | None = None

    def load_active(self) -> None:
        try:
            path = active_bundle_path(TASK, self.models_dir)
            scorer = PhotoScorer(FieldPhotoModel(path))
        except Exception as exc:  # noqa: BLE001 - the service still serves records without a photo model
            self.error = str(exc)
            return
        with self._lock:
            self._scorer, self.error = scorer, None

    def activate(self, version: str) -> PhotoScorer:
        """Check and load `version`, then make it active on disk and in memory."""
        scorer = PhotoScorer(FieldPhotoModel(self.models_dir / TASK / version))
        set_active(TASK, version, self.models_dir)
        with self._lock:
            self._scorer, self.error = scorer, None
        return scorer

    @property
    def scorer(self) -> PhotoScorer | None:
        return self._scorer
