"""Files under the data directory: content-addressed (sha256), written atomically, never half-written."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def content_path(kind: str, sha256: str, suffix: str) -> Path:
    """Relative path of a stored file: KIND/ab/cd/<sha256><suffix>."""
    return Path(kind) / sha256[:2] / sha256[2:4] / f"{sha256}{suffix}"


def store_bytes(data_dir: Path, kind: str, data: bytes, suffix: str) -> tuple[Path, str, bool]:
    """Store `data` once by content; returns (relative path, sha256, created). Same bytes -> same file, not rewritten."""
    digest = hashlib.sha256(data).hexdigest()
    rel = content_path(kind, digest, suffix)
    dest = data_dir / rel
    if dest.exists():
        return rel, digest, False
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel, digest, True


def remove_if_created(data_dir: Path, rel: Path, created: bool) -> None:
    """Undo a store when the record that needed it could not be written."""
    if created:
        (data_dir / rel).unlink(missing_ok=True)
