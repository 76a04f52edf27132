"""Uploads streamed to disk in chunks with a size limit: a too-large file is refused before it fills the disk."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from api.storage import full_disk_is_storage_full
from inference.errors import EmptyInput, TooLarge


def save_upload(stream: BinaryIO, dest: Path, limit_bytes: int, what: str = "the upload",
                chunk_bytes: int = 4 << 20) -> int:
    """Copy `stream` to `dest`; TooLarge past `limit_bytes`, EmptyInput when empty. Returns the size. The caller
    removes `dest` (or its folder) when it refuses the file."""
    size = 0
    with full_disk_is_storage_full(what), dest.open("wb") as out:
        while chunk := stream.read(chunk_bytes):
            size += len(chunk)
            if size > limit_bytes:
                limit = f"{limit_bytes / 2**30:.0f} GiB" if limit_bytes >= 2**30 else f"{limit_bytes // 2**20} MiB"
                raise TooLarge(f"{what} is larger than {limit}; split it or send a smaller file", reason="upload_too_large")
            out.write(chunk)
    if size == 0:
        raise EmptyInput(f"{what} is empty; choose the file again", reason="upload_empty")
    return size
