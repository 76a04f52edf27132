"""Reviewed labels exported as a dataset folder the training pipeline reads (`--extra DIR`, notebook 05's
EXTRA_DATASETS): OUT/<label>/<sha256>.<ext>, OUT/manifest.csv and OUT/dataset.json. Only labels an agronomist
confirmed or corrected on /review/ are written; farmers' feedback alone never reaches training."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from api.orm import Observation
from api.services import labels
from api.services.review import UNKNOWN_DEVICE, confirmed, latest_feedback
from api.settings import get_settings
from api.storage import folder_written_whole

MANIFEST_COLUMNS = ["path", "label", "group", "split", "source", "area_code", "phone_model", "observed_at", "lat",
                    "lon", "model_label", "model_version", "farmer_label", "reviewed_by", "reviewed_at", "sha256"]
TEST_SHARE = 5  # one split group in five is "test" (by a hash of the group: stable across exports)


def phone_model(obs: Observation, path: Path) -> str | None:
    """The phone recorded at upload, else the stored file's EXIF make and model."""
    if obs.device:
        return obs.device
    from PIL import Image

    from inference.photo_io import exif_device

    try:
        with Image.open(path) as im:
            return exif_device(im.getexif())
    except OSError:
        return None


def source_name(phone: str | None) -> str:
    """The manifest's source: 'feedback/<phone model>', the acquisition condition that leave-one-source-out and the
    trainer's single-source warning look at."""
    slug = re.sub(r"[^a-z0-9]+", "-", (phone or UNKNOWN_DEVICE).lower()).strip("-")
    return f"feedback/{slug}"


def split_group(area_code: str, observed_at: datetime) -> str:
    """Photos of one area on one day are near-duplicates for splitting (the same leaves, light and phone)."""
    return f"feedback:{area_code}:{observed_at.astimezone(UTC).date().isoformat()}"


def split_of(group: str) -> str:
    return "test" if int(hashlib.sha256(group.encode()).hexdigest(), 16) % TEST_SHARE == 0 else "train"


def export_feedback(session: Session, out_dir: Path, overwrite: bool = False) -> dict[str, Any]:
    """Write the reviewed photos (one per file content: the newest review wins) as a dataset folder, atomically:
    built beside OUT and renamed into place. Refuses a non-empty OUT unless `overwrite`. Returns dataset.json."""
    with folder_written_whole(out_dir, overwrite) as tmp:
        data_dir = get_settings().data_dir
        rows = confirmed(session)
        farmer = latest_feedback(session, [o.id for o, _, _, _ in rows])
        by_sha: dict[str, dict[str, Any]] = {}
        for obs, rev, code, reviewer in rows:
            src = data_dir / str(obs.file_path)
            phone = phone_model(obs, src)
            group = split_group(code, obs.observed_at)
            rel = Path(str(rev.label)) / f"{obs.file_sha256}{src.suffix}"
            fb = farmer.get(obs.id)
            by_sha[str(obs.file_sha256)] = {
                "path": rel.as_posix(), "label": rev.label, "group": group, "split": split_of(group),
                "source": source_name(phone), "area_code": code, "phone_model": phone or "",
                "observed_at": obs.observed_at.isoformat(), "lat": obs.lat if obs.lat is not None else "",
                "lon": obs.lon if obs.lon is not None else "", "model_label": obs.scores["diagnosis"]["label"],
                "model_version": obs.model_version or "", "farmer_label": fb[0].label if fb else "",
                "reviewed_by": reviewer, "reviewed_at": rev.created_at.isoformat(), "sha256": obs.file_sha256,
                "_src": src}
        info = dataset_info(list(by_sha.values()), labels.registry(session))
        for r in by_sha.values():
            (tmp / r["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r.pop("_src"), tmp / r["path"])
        with (tmp / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, MANIFEST_COLUMNS)
            w.writeheader()
            w.writerows(sorted(by_sha.values(), key=lambda r: r["path"]))
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    return info


def dataset_info(rows: list[dict[str, Any]], registry: dict[str, labels.Label] | None = None) -> dict[str, Any]:
    """dataset.json. `registered_labels`: the exported labels as the service's registry knows them (a label added on
    /review/ or by `cropwatch labels add` is in no file the trainer reads, which warned it as a misspelling)."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        per[r["label"]][r["source"]] += 1
    known = {k: {"kind": lab.kind, "name_en": lab.name_en, "name_vi": lab.name_vi}
             for k in sorted(per) if (lab := (registry or {}).get(k)) is not None}
    return {"kind": "cropwatch-feedback", "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_photos": len(rows), "labels": sorted(per), "registered_labels": known,
            "per_label_and_source": {k: dict(v) for k, v in per.items()},
            "note": "labels confirmed or corrected by an agronomist on /review/; split groups are area + day; read "
                    "by `python -m models.lesion_patch_pipeline --extra DIR` and notebook 05's EXTRA_DATASETS"}
