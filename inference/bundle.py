"""Model bundles: `model.onnx` + `model.json` in `models/<task>/<version>/`, and the file naming the active version.

Serving reads preprocessing only from `model.json`; no normalisation constant is written twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import BadInput

BUNDLE_SCHEMA_VERSION = "1.0"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class BundleError(BadInput):
    """A bundle that cannot be served; the message says what is wrong."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Bundle:
    path: Path
    meta: dict[str, Any]

    @property
    def onnx_path(self) -> Path:
        return self.path / "model.onnx"

    @property
    def name(self) -> str:
        return str(self.meta["model_name"])

    @property
    def version(self) -> str:
        return str(self.meta["model_version"])


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Read and check a bundle directory; with `verify`, the ONNX file must match the sha256 in model.json."""
    path = Path(path)
    meta_path, onnx_path = path / "model.json", path / "model.onnx"
    if not meta_path.exists() or not onnx_path.exists():
        raise BundleError(f"{path} is not a model bundle: it needs model.onnx and model.json")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{meta_path} is not valid JSON ({exc}): the bundle is corrupt or was edited") from exc
    if not isinstance(meta, dict):
        raise BundleError(f"{meta_path} holds no JSON object: the bundle is corrupt or was edited")
    if str(meta.get("schema_version", "")).split(".")[0] != BUNDLE_SCHEMA_VERSION.split(".")[0]:
        raise BundleError(f"{meta_path}: schema_version {meta.get('schema_version')} is not {BUNDLE_SCHEMA_VERSION}")
    if verify and sha256_file(onnx_path) != meta.get("onnx_sha256"):
        raise BundleError(f"{onnx_path} does not match the sha256 in model.json: the bundle is corrupt or was edited")
    return Bundle(path, meta)


def active_file(task: str, models_dir: Path = MODELS_DIR) -> Path:
    return models_dir / task / "ACTIVE"


def active_bundle_path(task: str, models_dir: Path = MODELS_DIR) -> Path:
    """The bundle directory named by `models/<task>/ACTIVE` (one line: the version folder)."""
    f = active_file(task, models_dir)
    if not f.exists():
        raise BundleError(f"no active {task} model: {f} is missing")
    return models_dir / task / f.read_text().strip()


def set_active(task: str, version: str, models_dir: Path = MODELS_DIR, verify: bool = True) -> Path:
    """Make `version` the active bundle of `task` (checked first; `verify=False` skips the ONNX hash for a caller
    that just checked it); written atomically."""
    bundle = load_bundle(models_dir / task / version, verify=verify)
    f = active_file(task, models_dir)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(version + "\n")
    tmp.replace(f)
    return bundle.path
