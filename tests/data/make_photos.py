"""Seeded photo fixtures for the upload tests, built from a committed CC BY photo (Sethy 2020) or from nothing.

`gps_jpeg` writes EXIF GPS, time and orientation; `png_header_bomb` writes a PNG whose header announces a huge image
(only the header is real: the service must refuse it before decoding); `truncated` cuts a file.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from datasets.samples import PHOTOS, phone_size_jpeg, real_photo  # noqa: F401 - re-exported for the tests

REPO = Path(__file__).resolve().parents[2]


def _deg(v: float) -> tuple:
    v = abs(v)
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return (d, m, s)


def gps_jpeg(src: Path, lat: float, lon: float, orientation: int = 1, scale: float = 1.0,
             device: tuple[str, str] | None = None) -> bytes:
    """JPEG of `src` (optionally upscaled) with EXIF GPS (lat, lon), DateTimeOriginal, Orientation and optionally the
    phone's (make, model)."""
    im = Image.open(src).convert("RGB")
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = orientation
    if device:
        exif[271], exif[272] = device
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N" if lat >= 0 else "S", 2: _deg(lat), 3: "E" if lon >= 0 else "W", 4: _deg(lon)})
    exif.get_ifd(0x8769)[36867] = "2026:11:20 07:30:00"
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small PNG whose IHDR announces width x height RGB pixels; its data stream is a few KB of zeros."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 65536, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def blurred_jpeg(src: Path, sigma: float = 4.0) -> bytes:
    from PIL import ImageFilter

    buf = io.BytesIO()
    Image.open(src).convert("RGB").filter(ImageFilter.GaussianBlur(sigma)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def dark_jpeg(src: Path, factor: float = 0.12) -> bytes:
    im = np.asarray(Image.open(src).convert("RGB"), dtype=np.float32) * factor
    buf = io.BytesIO()
    Image.fromarray(im.astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()
