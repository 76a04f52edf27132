"""Feedback on photo diagnoses, exported as a dataset the training notebooks read (class sub-folders + manifest)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import GrowingArea, Observation, PhotoFeedback
from api.settings import get_settings


def export_feedback(session: Session, out_dir: Path) -> int:
    """Copy each photo with feedback into OUT/<label>/<sha256>.<ext> (the newest feedback wins) and write
    OUT/manifest.csv (path, label, group, split, source) with group = the photo's hash, split left to the trainer
    ("train"). Returns the number of photos written."""
    data_dir = get_settings().data_dir
    rows = session.execute(
        select(PhotoFeedback, Observation, GrowingArea.code)
        .join(Observation, PhotoFeedback.observation_id == Observation.id)
        .join(GrowingArea, Observation.area_id == GrowingArea.id)
        .order_by(PhotoFeedback.created_at)
    ).all()
    latest: dict[str, tuple[PhotoFeedback, Observation, str]] = {}
    for fb, obs, code in rows:
        latest[str(obs.file_sha256)] = (fb, obs, code)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "group", "split", "source", "area_code", "model_label", "model_version"])
        for sha, (fb, obs, code) in sorted(latest.items()):
            src = data_dir / str(obs.file_path)
            dest = out_dir / fb.label / f"{sha}{src.suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            w.writerow([dest.relative_to(out_dir).as_posix(), fb.label, f"feedback:{sha}", "train", "feedback", code,
                        obs.scores["diagnosis"]["label"], obs.model_version])
    return len(latest)
