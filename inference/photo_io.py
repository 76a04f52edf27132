"""Safe decoding of farmers' photos: type sniffing, size and pixel limits before any decoding, EXIF orientation,
GPS and time, and reduced-size JPEG decoding (a 12 MP photo is never decoded at full size for a 224 px model)."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inference.errors import BadInput, EmptyInput, TooLarge, Unsupported, reason

try:  # HEIC/HEIF from iPhones, when pillow-heif is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the install
    HEIC_SUPPORTED = False

MAX_PHOTO_BYTES = 25 * 1024 * 1024
MAX_PHOTO_PIXELS = 50_000_000  # a 48 MP phone sensor passes; a 100 MP image or a PNG bomb does not
MIN_PHOTO_SIDE = 128

_MAGIC = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
]


def sniff_format(head: bytes) -> str | None:
    """'JPEG', 'PNG', 'WEBP', 'HEIF' or None from the first bytes of a file."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc"):
        return "HEIF"
    return None


@dataclass
class DecodedPhoto:
    rgb: np.ndarray  # (rows, cols, 3) uint8, upright (EXIF orientation applied), reduced size
    format: str
    original_width: int  # as stored, before orientation
    original_height: int
    decode_scale: float  # decoded short side / original short side
    lat: float | None  # EXIF GPS, EPSG:4326 degrees
    lon: float | None
    taken_at: datetime | None
    device: str | None = None  # EXIF make and model of the camera, when present


def _ratio(v: Any) -> float:
    """EXIF rationals come as IFDRational (float() works) or as (numerator, denominator) pairs."""
    try:
        return float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return float(v[0]) / float(v[1])


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    try:
        g = exif.get_ifd(0x8825)
    except Exception:  # noqa: BLE001 - malformed EXIF is common; GPS is optional
        return None, None
    try:
        lat = sum(_ratio(x) / 60**i for i, x in enumerate(g[2]))
        lon = sum(_ratio(x) / 60**i for i, x in enumerate(g[4]))
        if g.get(1, "N") in ("S", b"S"):
            lat = -lat
        if g.get(3, "E") in ("W", b"W"):
            lon = -lon
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return lat, lon


def exif_device(exif: Image.Exif) -> str | None:
    """'Make Model' of the camera (EXIF tags 271 and 272), the model alone when it already names the maker."""
    make = str(exif.get(271) or "").strip("\x00 ").strip()
    model = str(exif.get(272) or "").strip("\x00 ").strip()
    if not model:
        return make[:100] or None
    return (model if model.lower().startswith(make.lower()) else f"{make} {model}".strip())[:100]


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except (ValueError, TypeError, KeyError):
        return None


def decode_photo(
    data: bytes,
    short_side: int = 448,
    max_bytes: int = MAX_PHOTO_BYTES,
    max_pixels: int = MAX_PHOTO_PIXELS,
) -> DecodedPhoto:
    """Check and decode an uploaded photo to an upright RGB array whose short side is about `short_side`.

    Checks, in order, before decoding pixels: size in bytes, file type (by content, not by name), pixel count from
    the header, minimum side. JPEGs are decoded by libjpeg's DCT scaling straight to the smallest size >= short_side.
    Raises BadInput (EmptyInput, TooLarge, Unsupported) for a photo that cannot be scored.
    """
    if not data:
        raise EmptyInput("the upload is empty; choose a photo and send it again", "photo_empty")
    if len(data) > max_bytes:
        raise TooLarge(f"the photo is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes // 2**20} MiB",
                       "photo_too_many_bytes")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise Unsupported("this file is not a JPEG, PNG, WebP or HEIC photo; take a photo with the phone's camera",
                          "not_a_photo")
    if fmt == "HEIF" and not HEIC_SUPPORTED:
        raise Unsupported("HEIC photos are not supported here; set the camera to 'Most compatible' (JPEG)",
                          "heic_unsupported")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img: Image.Image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            m = re.search(r"\((\d+) pixels\)", str(exc))
            mp = f"{int(m.group(1)) / 1e6:.0f} megapixels" if m else "far more megapixels than a phone takes"
            raise TooLarge(
                f"the photo has {mp}; the limit is {max_pixels / 1e6:.0f} MP: send a normal phone photo",
                "photo_too_many_pixels") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise BadInput(f"the {fmt} file cannot be read ({reason(exc)}); send the original photo",
                           "photo_unreadable") from exc
    w, h = img.size
    if w * h > max_pixels:
        raise TooLarge(
            f"the photo has {w * h / 1e6:.0f} megapixels ({w}x{h}); the limit is {max_pixels / 1e6:.0f} MP: "
            "send a normal phone photo", "photo_too_many_pixels")
    if min(w, h) < MIN_PHOTO_SIDE:
        raise BadInput(f"the photo is only {w}x{h} pixels; move closer and take a full-size photo", "photo_too_small")
    try:  # a PNG's EXIF chunk may lie after the cut of a truncated file: reading it reads the file (a 500 before)
        exif = img.getexif()
        lat, lon = _gps(exif)
        taken = _taken_at(exif)
        device = exif_device(exif)
        rgb = decode_opened(img, short_side)
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadInput(f"the {fmt} file is damaged or truncated ({reason(exc)}); send the photo again",
                       "photo_damaged") from exc
    return DecodedPhoto(rgb, fmt, w, h, min(rgb.shape[:2]) / min(w, h), lat, lon, taken, device)


def decode_opened(img: Image.Image, short_side: int) -> np.ndarray:
    """The pixels of an opened image, upright, RGB uint8, short side at most `short_side`: a JPEG is decoded by
    libjpeg's DCT scaling straight to the smallest size >= short_side (1/2, 1/4 or 1/8), then box-filtered down.
    Serving (decode_photo) and training (decode_rgb) both go through here, so a lesion has the same pixels in both."""
    if img.format in ("JPEG", "MPO"):  # MPO: the multi-picture JPEG many phones write (Pillow names it apart)
        img.draft("RGB", (short_side, short_side))  # DCT-domain downscale by 1/2, 1/4 or 1/8
    img.load()  # decodes; a truncated file fails here
    # turned in place, and no conversion of what is RGB already: each made a copy of the decoded image (the same
    # pixels; 0.5 of 6.4 ms for a page-sized photo)
    ImageOps.exif_transpose(img, in_place=True)
    if img.mode != "RGB":
        img = img.convert("RGB")
    dw, dh = img.size
    s = short_side / min(dw, dh)
    if s < 1:
        img = img.resize((max(1, round(dw * s)), max(1, round(dh * s))), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.uint8)


def decode_rgb(path: str | Path, short_side: int) -> np.ndarray:
    """A trusted image file (training, evaluation) decoded exactly as serving decodes an upload of it."""
    with Image.open(path) as img:
        return decode_opened(img, short_side)


def photos_below(folder: Path, suffixes: set[str] | frozenset[str], skip: tuple[Path, ...] = ()) -> list[Path]:
    """The files below `folder`, sub-folders included (by field, by day), whose suffix is one of `suffixes`, sorted;
    hidden files and folders, and anything inside the `skip` folders (outputs written there), left out."""
    skip_resolved = tuple(s.resolve() for s in skip)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and not any(p.resolve().is_relative_to(s) for s in skip_resolved))


def stored_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the pixels as stored, from the header; ValueError when the EXIF orientation would turn
    them (annotation boxes are in stored pixels)."""
    with Image.open(path) as img:
        if img.getexif().get(0x0112, 1) not in (1, 2, 3, 4):
            raise ValueError(f"{path}: EXIF orientation turns the image; its boxes in stored pixels would not fit")
        return img.size
