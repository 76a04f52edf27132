"""Sample inputs made from the committed data or from nothing, seeded: a rice photo (Sethy 2020, CC BY 4.0), a
phone-size JPEG made from it, and a few growing-area fields in Sóc Trăng. Used by the test fixtures, the benchmarks and
demonstrations, so that all of them measure the same inputs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import shapely
from PIL import Image
from shapely.geometry import Polygon

from inference.geo import reproject, to_geojson

PHOTOS = Path(__file__).resolve().parent / "data" / "rice_leaf_photos"


def real_photo(label: str = "brown_spot", index: int = 0) -> Path:
    return sorted(p for p in (PHOTOS / label).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[index]


def phone_size_jpeg(src: Path, megapixels: float = 12.0, seed: int = 0, quality: int = 92) -> bytes:
    """A phone-size JPEG (4:3, about `megapixels`) made by upscaling a real photo and adding sensor-like noise.
    megapixels=1.92, quality=85: what the farmer's page sends (1600 x 1200)."""
    im = Image.open(src).convert("RGB")
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    big = np.asarray(im.resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 3, big.shape).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# A paddy block in Mỹ Xuyên district, Sóc Trăng (lon, lat).
ORIGIN = (105.9700, 9.5600)


def field(i: int, rng: np.random.Generator, size_m: float = 120.0) -> Polygon:
    """A rectangular-ish field of about size_m x size_m/2 metres, built in UTM 48N and returned in EPSG:4326."""
    utm_origin = reproject(shapely.Point(*ORIGIN), "EPSG:4326", "EPSG:32648")
    ox, oy = utm_origin.x + (i % 5) * 200.0, utm_origin.y + (i // 5) * 150.0
    jitter = rng.uniform(-3, 3, size=4)
    poly = Polygon(
        [
            (ox + jitter[0], oy),
            (ox + size_m, oy + jitter[1]),
            (ox + size_m + jitter[2], oy + size_m / 2),
            (ox, oy + size_m / 2 + jitter[3]),
        ]
    )
    return reproject(poly, "EPSG:32648", "EPSG:4326")


def feature_collection(n: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    feats = []
    for i in range(n):
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "code": f"VN-STOR-{i + 1:04d}",
                    "name": f"Ruộng {i + 1}",
                    "crop": "rice",
                    "variety": "ST25",
                    "commune": "Hòa Tú 1",
                    "district": "Mỹ Xuyên",
                    "province": "Sóc Trăng",
                },
                "geometry": to_geojson(field(i, rng)),
            }
        )
    return {"type": "FeatureCollection", "features": feats}
