"""Files under the data directory: content-addressed (sha256), written atomically, never half-written; a full disk is
a clear StorageFull error that leaves nothing behind (no partial file, no empty folder)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from inference.errors import Conflict, StorageFull

_FULL = {errno.ENOSPC, errno.EDQUOT}


@contextmanager
def folder_written_whole(out_dir: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a folder built beside `out_dir`, renamed into place only when the body succeeds (removed otherwise):
    no reader ever sees half of it. A non-empty `out_dir` is refused unless `overwrite`."""
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise Conflict(f"{out_dir} exists and is not empty; choose a new folder (or --overwrite)")
    tmp = out_dir.with_name(f".{out_dir.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


@contextmanager
def full_disk_is_storage_full(what: str) -> Iterator[None]:
    """Turn 'no space left' into StorageFull with a message for the caller."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull(f"the server's disk is full: {what} was not saved; try again later") from exc
        raise


def _make_dirs(path: Path) -> list[Path]:
    """mkdir -p that returns the folders it created (deepest last), so that they can be removed on failure. Safe
    when two uploads create the same folder at once: the one that loses the race neither fails nor claims it."""
    created = []
    for p in reversed([path, *path.parents]):
        try:
            p.mkdir()
        except FileExistsError:
            continue
        created.append(p)
    return created


def _remove_empty(folders: list[Path]) -> None:
    for p in reversed(folders):
        with suppress(OSError):  # not empty: another file lives there
            p.rmdir()


def content_path(kind: str, sha256: str, suffix: str) -> Path:
    """Relative path of a stored file: KIND/ab/cd/<sha256><suffix>."""
    return Path(kind) / sha256[:2] / sha256[2:4] / f"{sha256}{suffix}"


def store_bytes(data_dir: Path, kind: str, data: bytes, suffix: str) -> tuple[Path, str, bool]:
    """Store `data` once by content; returns (relative path, sha256, created). Same bytes -> same file, not rewritten.
    Raises StorageFull when the disk is full (nothing is left behind)."""
    digest = hashlib.sha256(data).hexdigest()
    rel = content_path(kind, digest, suffix)
    return rel, digest, write_once(data_dir, rel, data, "the photo")


def write_once(data_dir: Path, rel: Path, data: bytes, what: str) -> bool:
    """Write `data` at DATA_DIR/rel unless a file is there; returns whether it was written. Atomic (a temporary file
    renamed into place: a reader never sees part of it); StorageFull, naming `what`, when the disk is full (nothing
    is left behind)."""
    dest = data_dir / rel
    if dest.exists():
        return False
    created: list[Path] = []
    tmp: str | None = None
    try:
        with full_disk_is_storage_full(what):
            created = _make_dirs(dest.parent)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        _remove_empty(created)
        raise
    return True


def remove_if_created(data_dir: Path, rel: Path, created: bool) -> None:
    """Undo a store when the record that needed it could not be written."""
    if created:
        dest = data_dir / rel
        dest.unlink(missing_ok=True)
        _remove_empty([dest.parent.parent, dest.parent])  # KIND/ab/cd, when nothing else is stored there
