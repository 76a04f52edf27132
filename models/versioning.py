"""Training never touches what is served: each run writes a new version folder and refuses an existing bundle;
promotion is `cropwatch models compare` then `cropwatch models activate` (recorded, gated), never a notebook."""

from __future__ import annotations

import time
from pathlib import Path

from inference.bundle import MODELS_DIR


def dev_version() -> str:
    """A fresh version name for a notebook run: dev-YYYYMMDD-HHMMSS."""
    return time.strftime("dev-%Y%m%d-%H%M%S")


def fresh_bundle_dir(task: str, version: str, out_dir: Path | None = None, resume: bool = False) -> Path:
    """The run's folder (default models/<task>/<version>); refused when it already holds a bundle (model.json), so
    a shipped or served version is never overwritten. `resume`: a later stage of the same run may reuse it."""
    out = Path(out_dir) if out_dir else MODELS_DIR / task / version
    if (out / "model.json").exists() and not resume:
        raise FileExistsError(f"{out} already holds a bundle; bundles are never overwritten: choose a new version "
                              "(e.g. models.versioning.dev_version())")
    out.mkdir(parents=True, exist_ok=True)
    return out


def promote_hint(task: str, version: str) -> str:
    """What to do next with a new bundle, as commands to copy (the active version from the models folder's ACTIVE
    file: the service's database may serve another, `cropwatch models history TASK` says)."""
    active_file = MODELS_DIR / task / "ACTIVE"
    active = active_file.read_text().strip() if active_file.is_file() else "ACTIVE_VERSION"
    return (f"not activated: compare it with the active version (cropwatch models compare {task} {active} {version}) "
            f"and promote it with cropwatch models activate {task} {version} --reason ...")
