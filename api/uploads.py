"""Uploads streamed to disk in chunks with a size limit: a too-large file is refused before it fills the disk."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException, UploadFile


def save_upload(file: UploadFile, dest: Path, limit_bytes: int, what: str = "the upload",
                chunk_bytes: int = 4 << 20) -> int:
    """Copy `file` to `dest`; 413 past `limit_bytes`, 400 when empty. Returns the size. The caller removes `dest`
    (or its folder) when it refuses the file."""
    size = 0
    with dest.open("wb") as out:
        while chunk := file.file.read(chunk_bytes):
            size += len(chunk)
            if size > limit_bytes:
                limit = f"{limit_bytes / 2**30:.0f} GiB" if limit_bytes >= 2**30 else f"{limit_bytes // 2**20} MiB"
                raise HTTPException(413, detail=f"{what} is larger than {limit}; split it or send a smaller file")
            out.write(chunk)
    if size == 0:
        raise HTTPException(400, detail=f"{what} is empty; choose the file again")
    return size
