"""Drone segmentation data: label polygons in GeoJSON (a `class` attribute, as an agronomist draws them in QGIS),
chips cut from GeoTIFFs, and a documented synthesis of crop damage on real orthomosaics.

No openly licensed drone imagery with damage labels exists here, so the first training set is synthetic: damage
patches painted on the canopy of real orthomosaics with exact masks. Three symptoms are synthesised:
- hopperburn: round patches (brown planthopper "hopper burn") where canopy turns straw-tan to brown, with texture;
- yellowing: irregular patches where the canopy loses chlorophyll (nitrogen deficiency, early blight, virus);
- thinning: patches where plants are missing and soil or water shows through the canopy.
Patch sizes are in metres (converted with the raster's resolution). Only canopy pixels inside a patch change, and
exactly those are labelled "damaged". Pixels not covered by a label polygon take the index rule: canopy where the
green leaf index (GLI) > 0.05, else soil_water.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import rasterize, shapes
from shapely.geometry import mapping, shape

from inference.geo import reproject
from inference.indices import gli

CLASSES = ["canopy", "soil_water", "damaged"]
IGNORE = 255
CANOPY_GLI = 0.05


def read_rgb_valid(
    path: str | Path, scale: float = 1.0, rows: tuple[float, float] = (0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Whole small scene (or the band of rows between the fractions `rows`): RGB uint8 (3, rows, cols), validity
    (rows, cols), and the rasterio profile, resampled by `scale` < 1 to a coarser ground resolution. For building
    training scenes only; analysis never does this."""
    from rasterio.windows import Window

    with rasterio.open(path) as ds:
        r0, r1 = int(ds.height * rows[0]), int(ds.height * rows[1])
        win = Window(0, r0, ds.width, r1 - r0)
        h, w = max(1, round((r1 - r0) * scale)), max(1, round(ds.width * scale))
        rgb = ds.read([1, 2, 3], window=win, out_shape=(3, h, w), resampling=Resampling.average)
        valid = (ds.read(4, window=win, out_shape=(h, w), resampling=Resampling.nearest) > 0) if ds.count >= 4 else \
            np.ones((h, w), bool)
        prof = ds.profile.copy()
        wt = ds.window_transform(win)
        prof.update(width=w, height=h, transform=wt * wt.scale(ds.width / w, (r1 - r0) / h),
                    count=4, dtype="uint8", tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                    photometric="RGB", nodata=None)
    return rgb, valid, prof


def base_labels(rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float32)
    g = gli(f[0], f[1], f[2])
    lab = np.where(np.nan_to_num(g, nan=-1) > CANOPY_GLI, 0, 1).astype(np.uint8)
    lab[~valid] = IGNORE
    return lab


def _blob(h: int, w: int, cy: float, cx: float, r: float, rng: np.random.Generator, round_: bool) -> np.ndarray:
    """An irregular patch mask: a circle whose radius varies smoothly with angle (round_: little variation)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = np.arctan2(yy - cy, xx - cx)
    k = rng.uniform(0.05, 0.12) if round_ else rng.uniform(0.2, 0.45)
    rad = r * (1 + sum(k / (i + 1) * np.sin((i + 2) * ang + rng.uniform(0, 6.28)) for i in range(3)))
    return np.hypot(yy - cy, xx - cx) <= rad


def synthesize_damage(
    rgb: np.ndarray, valid: np.ndarray, pixel_m: float, seed: int, patches_per_ha_canopy: float = 40.0
) -> tuple[np.ndarray, np.ndarray]:
    """Paint damage patches on the canopy of an RGB scene (3, rows, cols) uint8; returns (new rgb, damaged mask).

    About `patches_per_ha_canopy` patches per hectare of canopy (at least 4, at most 120)."""
    rng = np.random.default_rng(seed)
    out = rgb.astype(np.float32).copy()
    canopy = base_labels(rgb, valid) == 0
    h, w = canopy.shape
    n_patches = int(np.clip(canopy.sum() * pixel_m**2 / 1e4 * patches_per_ha_canopy, 4, 120))
    damaged = np.zeros((h, w), bool)
    ys, xs = np.nonzero(canopy)
    if len(ys) == 0:
        return rgb, damaged
    soil = out[:, (~canopy) & valid].mean(axis=1) if ((~canopy) & valid).any() else np.array([120, 100, 80.0])
    for _ in range(n_patches):
        i = rng.integers(len(ys))
        kind = rng.choice(["hopperburn", "yellowing", "thinning"], p=[0.45, 0.3, 0.25])
        r_m = rng.uniform(1.0, 4.0) if kind == "hopperburn" else rng.uniform(1.5, 6.0)
        r = max(3.0, r_m / pixel_m)
        r0, r1 = max(0, int(ys[i] - 1.6 * r)), min(h, int(ys[i] + 1.6 * r) + 1)
        c0, c1 = max(0, int(xs[i] - 1.6 * r)), min(w, int(xs[i] + 1.6 * r) + 1)
        blob = _blob(r1 - r0, c1 - c0, ys[i] - r0, xs[i] - c0, r, rng, round_=kind == "hopperburn")
        m = blob & canopy[r0:r1, c0:c1]
        if not m.any():
            continue
        patch = out[:, r0:r1, c0:c1]
        texture = cv2.GaussianBlur(rng.normal(0, 1, m.shape).astype(np.float32), (0, 0), 1.5)
        lum = patch.mean(axis=0)
        if kind == "hopperburn":
            target = np.array([150, 118, 72], np.float32)[:, None, None] * (0.7 + 0.6 * lum / max(lum.mean(), 1))
            alpha = 0.75 + 0.2 * rng.random()
            new = patch * (1 - alpha) + target * alpha + 12 * texture
        elif kind == "yellowing":
            target = np.stack([lum * 1.25 + 30, lum * 1.15 + 20, lum * 0.45])
            alpha = rng.uniform(0.55, 0.85)
            new = patch * (1 - alpha) + target * alpha + 6 * texture
        else:
            keep = rng.random(m.shape) < rng.uniform(0.15, 0.35)
            new = np.where(keep, patch, soil[:, None, None] * (0.85 + 0.15 * texture))
        # soft edge inside the mask so the patch blends, label stays exact
        edge = cv2.GaussianBlur(m.astype(np.float32), (0, 0), max(1.0, 0.08 * r))[None] * m[None]
        patch[:] = np.where(m[None], patch * (1 - edge) + new * edge, patch)
        damaged[r0:r1, c0:c1] |= m
    return np.clip(out, 0, 255).astype(np.uint8), damaged


def write_scene(rgb: np.ndarray, valid: np.ndarray, damaged: np.ndarray, prof: dict, tif: Path, geojson: Path) -> None:
    """Write the scene GeoTIFF (RGB + alpha) and its damage polygons (class="damaged") as GeoJSON in EPSG:4326."""
    tif.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(tif, "w", **prof) as dst:
        dst.write(rgb, [1, 2, 3])
        dst.write((valid * 255).astype(np.uint8), 4)
    feats = []
    for geom, v in shapes(damaged.astype(np.uint8), mask=damaged, transform=prof["transform"]):
        if v == 1:
            g = reproject(shape(geom), prof["crs"].to_string(), "EPSG:4326")
            feats.append({"type": "Feature", "properties": {"class": "damaged"}, "geometry": mapping(g)})
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))


def label_raster(tif: str | Path, geojson: str | Path | None) -> np.ndarray:
    """Per-pixel class index (rows, cols) uint8: label polygons (by `class`) over the index rule; IGNORE off-mosaic.

    Labels drawn on a real flight (`cropwatch datasets export-drone-labels`) carry `"unlabelled": "ignore"`: pixels
    outside every polygon are IGNORE (nobody looked at them), and a `not_damaged` polygon (a shadow, say) keeps the
    index rule inside it: canopy or soil, never damage."""
    rgb, valid, prof = read_rgb_valid(tif)
    base = base_labels(rgb, valid)
    lab = base.copy()
    if geojson and Path(geojson).exists():
        fc = json.loads(Path(geojson).read_text())
        if fc.get("unlabelled") == "ignore":
            lab[:] = IGNORE
        by_class: dict[str, list[Any]] = {}
        for f in fc["features"]:
            g = reproject(shape(f["geometry"]), "EPSG:4326", prof["crs"].to_string())
            by_class.setdefault(f["properties"]["class"], []).append(g)
        for cls in sorted(by_class, key=lambda c: c == "damaged"):  # damage drawn over a look-alike wins
            if cls not in (*CLASSES, "not_damaged"):
                raise ValueError(f"label class {cls!r} is not one of {[*CLASSES, 'not_damaged']}")
            m = rasterize(by_class[cls], out_shape=lab.shape, transform=prof["transform"], fill=0, default_value=1,
                          dtype="uint8").astype(bool) & valid
            lab[m] = base[m] if cls == "not_damaged" else CLASSES.index(cls)
    return lab


@dataclass
class Scene:
    name: str
    tif: Path
    labels: Path
    split: str  # train | test
    min_labelled: float = 0.5  # chips with a smaller labelled share are skipped (real flights: a few polygons)


def read_scenes(folder: str | Path, min_labelled: float = 0.02) -> list[Scene]:
    """Labelled real flights written by `cropwatch datasets export-drone-labels` (scenes.csv + tif + geojson), or
    any folder of `name.tif` + `name.geojson` pairs (all training scenes)."""
    folder = Path(folder)
    index = folder / "scenes.csv"
    if index.is_file():
        import csv

        with index.open(encoding="utf-8", newline="") as fh:
            return [Scene(r["name"], folder / r["tif"], folder / r["labels"], r.get("split") or "train", min_labelled)
                    for r in csv.DictReader(fh)]
    return [Scene(t.stem, t, t.with_suffix(".geojson"), "train", min_labelled)
            for t in sorted(folder.glob("*.tif")) if t.with_suffix(".geojson").is_file()]


Source = tuple[str, Path, float, str, tuple[float, float]]


def make_scenes(
    sources: list[Source], out_dir: Path, seeds_per_source: int = 3, patches_per_ha_canopy: float = 40.0,
) -> list[Scene]:
    """Synthesise damaged scenes. sources: (name, ortho path, resample scale, split, (first, last) row fraction).
    Each source keeps one split, so test scenes are never seen in training."""
    scenes = []
    for name, path, scale, split, rows in sources:
        rgb, valid, prof = read_rgb_valid(path, scale, rows)
        pixel_m = abs(prof["transform"].a)
        for s in range(seeds_per_source):
            seed = (s * 7919 + sum(map(ord, name))) % 2**31
            new, dmg = synthesize_damage(rgb, valid, pixel_m, seed, patches_per_ha_canopy)
            tif, gj = out_dir / f"{name}_s{s}.tif", out_dir / f"{name}_s{s}.geojson"
            write_scene(new, valid, dmg, prof, tif, gj)
            scenes.append(Scene(f"{name}_s{s}", tif, gj, split))
    return scenes


def iter_chips(
    scene: Scene, chip_px: int, stride_px: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(x float32 (3, c, c) in 0-1, y uint8 (c, c) class index or IGNORE) on a regular grid (scenes smaller than a
    chip are padded with IGNORE)."""
    rgb, valid, _ = read_rgb_valid(scene.tif)
    lab = label_raster(scene.tif, scene.labels)
    h, w = lab.shape
    ph, pw = max(0, chip_px - h), max(0, chip_px - w)
    if ph or pw:
        rgb = np.pad(rgb, ((0, 0), (0, ph), (0, pw)))
        lab = np.pad(lab, ((0, ph), (0, pw)), constant_values=IGNORE)
        h, w = lab.shape
    for r in range(0, h - chip_px + 1, stride_px):
        for c in range(0, w - chip_px + 1, stride_px):
            y = lab[r : r + chip_px, c : c + chip_px]
            if (y != IGNORE).mean() < scene.min_labelled:
                continue
            yield rgb[:, r : r + chip_px, c : c + chip_px].astype(np.float32) / 255.0, y


def default_sources(data_root: Path, paddy_in_training: bool = True) -> list[Source]:
    """The scenes of the first drone training set.

    Sorghum rows (Maricopa) resampled to 5, 10, 20 and 35 cm for training. The Bali paddies mosaic (35 cm) is the only
    paddy scene: with `paddy_in_training` its northern 60 % trains and its southern 40 % (a separate, never-seen block
    of fields) tests; without, all of Bali is held out and the model sees no paddy at all."""
    d = Path(data_root) / "drone_orthos"
    sorghum = d / "sorghum_rows_maricopa_utm12n.tif"
    bali = d / "bali_paddies_pix4d_utm50s.tif"
    srcs: list[Source] = [(f"sorghum_{cm}cm", sorghum, 2.0 / cm, "train", (0.0, 1.0)) for cm in (5, 10, 20, 35)]
    if paddy_in_training:
        srcs += [("bali_north", bali, 1.0, "train", (0.0, 0.6)), ("bali_south", bali, 1.0, "test", (0.6, 1.0))]
    else:
        srcs.append(("bali_35cm", bali, 1.0, "test", (0.0, 1.0)))
    return srcs
