"""Orthomosaic analysis, window by window: vegetation indices, canopy mask, growth score and damage probability,
written as Cloud Optimized GeoTIFFs on the input's grid, with a summary per raster and per growing area.

Memory stays flat whatever the raster's size: windows are aligned with the file's blocks, read with a halo
(`boundless` at the edges), processed in a bounded thread pool (workers open the file by path; rasterio and
onnxruntime release the GIL) and written one by one. Outputs (uint8, nodata 255):
canopy.tif (0/1), growth.tif (0-100), damage.tif (probability 0-100).

Damage methods: "model" (a segmentation bundle: canopy / soil-or-water / damaged canopy) when one fits the sensor's
bands, else "index_anomaly": pixels of canopy or fading canopy (index above the profile's anomaly_floor) far below
the field's own distribution of the primary index over canopy (robust z-score from the median and MAD of a first
pass; probability rises from z = -1.5 to z = -3.5).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# GDAL's block cache defaults to 5 % of RAM and grows with the raster; a fixed cap keeps memory flat whatever the
# size. Read when GDAL first uses its cache, so it must be set before any raster is read in this process.
os.environ.setdefault("GDAL_CACHEMAX", "256")  # MB

import rasterio  # noqa: E402
import rasterio.shutil  # noqa: E402
from rasterio.features import geometry_mask  # noqa: E402
from rasterio.windows import Window  # noqa: E402
from rasterio.windows import transform as window_transform  # noqa: E402

from inference import indices  # noqa: E402
from inference.canopy import canopy_mask
from inference.errors import BadInput
from inference.results import DAMAGED_THRESHOLD, DRONE_SUMMARY_SCHEMA_VERSION, DroneSummary
from inference.sensors import RasterInfo, validate_raster  # noqa: E402

NODATA = 255
ANOMALY_Z_START = 1.5  # z below -1.5: damage probability starts rising
ANOMALY_Z_FULL = 3.5  # z at or below -3.5: probability 1
HIST_RANGE = (-1.0, 1.0)
HIST_BINS = 2000


@dataclass
class DamageModel:
    """A segmentation bundle (model.onnx + model.json) served by onnxruntime; classes include "damaged"."""

    bundle_dir: Path
    threads: int = 1

    def __post_init__(self) -> None:
        import onnxruntime as ort

        from inference.bundle import load_bundle

        self.bundle = load_bundle(self.bundle_dir)
        m = self.bundle.meta
        self.bands: list[str] = list(m["input_bands"])
        self.classes: list[str] = list(m["classes"])
        self.damaged_index = self.classes.index("damaged")
        self.halo_px = int(m["halo_px"])
        self.tile_size_px = int(m["tile_size_px"])
        self.multiple = int(m.get("size_multiple", 16))
        self.mean = np.asarray(m["normalization"]["mean"], np.float32)[:, None, None]
        self.std = np.asarray(m["normalization"]["std"], np.float32)[:, None, None]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(str(self.bundle.onnx_path), opts, providers=["CPUExecutionProvider"])

    def fits(self, sensor: str, profile: dict[str, Any]) -> bool:
        """True when the bundle was trained for this sensor (model.json "sensors") and the bands exist."""
        sensors = self.bundle.meta.get("sensors")
        return (sensors is None or sensor in sensors) and all(b in profile["bands"] for b in self.bands)

    def damage_probability(self, bands01: dict[str, np.ndarray]) -> np.ndarray:
        """bands01: name -> float32 (rows, cols) in 0-1 -> P(damaged) float32 (rows, cols)."""
        x = np.stack([bands01[b] for b in self.bands]).astype(np.float32)
        h, w = x.shape[1:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        x = (x - self.mean) / self.std
        (logits,) = self.session.run(["logits"], {"image": x[None]})
        z = logits[0, :, :h, :w]
        z = z - z.max(axis=0, keepdims=True)
        e = np.exp(z)
        return (e[self.damaged_index] / e.sum(axis=0)).astype(np.float32)


def iter_windows(info: RasterInfo, tile_size_px: int = 512) -> Iterator[Window]:
    """Windows of about tile_size_px aligned with the file's blocks (rows), covering the raster once.

    Strip-organised files (a block is a few full-width rows) get windows of whole strips; very wide strips are cut in
    columns of tile_size_px.
    """
    bh, bw = info.block_shape
    wh = max(bh, (tile_size_px // bh) * bh) if bh < tile_size_px else bh
    if bw >= info.width and info.width > 4 * tile_size_px:
        ww = tile_size_px
    elif bw < tile_size_px:
        ww = max(bw, (tile_size_px // bw) * bw)
    else:
        ww = bw
    for row in range(0, info.height, wh):
        for col in range(0, info.width, ww):
            yield Window(col, row, min(ww, info.width - col), min(wh, info.height - row))


def _read(ds: rasterio.io.DatasetReader, info: RasterInfo, win: Window, halo: int) -> tuple[dict, np.ndarray]:
    """Bands in 0-1 (dict name -> float32) and a validity mask for `win` grown by `halo` on each side.

    One read for all bands (alpha included); `boundless` (a VRT under the hood, slow) only where the halo leaves the
    raster."""
    big = Window(win.col_off - halo, win.row_off - halo, win.width + 2 * halo, win.height + 2 * halo)
    inside = big.col_off >= 0 and big.row_off >= 0 and big.col_off + big.width <= info.width and \
        big.row_off + big.height <= info.height
    prof = info.profile
    idx = sorted(prof["bands"].values()) + ([prof["alpha"]] if prof["alpha"] else [])
    if inside:
        data = ds.read(idx, window=big)
    else:
        data = ds.read(idx, window=big, boundless=True, fill_value=0)
    scale = np.float32(1.0 / float(prof["scale"]))
    bands = {name: data[idx.index(i)].astype(np.float32) * scale for name, i in prof["bands"].items()}
    if prof["alpha"]:
        valid = data[-1] > 0
    else:
        valid = np.ones(data.shape[1:], bool)
        if not inside:  # boundless pixels outside the raster are invalid
            r0, c0 = -min(0, big.row_off), -min(0, big.col_off)
            r1 = big.height - max(0, big.row_off + big.height - info.height)
            c1 = big.width - max(0, big.col_off + big.width - info.width)
            outside = np.ones_like(valid)
            outside[r0:r1, c0:c1] = False
            valid &= ~outside
        if info.nodata is not None:
            valid &= ~np.all(data == info.nodata, axis=0)
    return bands, valid


def primary_index(bands: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name == "gli":
        return indices.gli(bands["red"], bands["green"], bands["blue"])
    if name == "ndvi":
        return indices.ndvi(bands["nir"], bands["red"])
    if name == "vari":
        return indices.vari(bands["red"], bands["green"], bands["blue"])
    if name == "exg":
        return indices.exg(bands["red"], bands["green"], bands["blue"])
    if name == "ndre":
        return indices.ndre(bands["nir"], bands["red_edge"])
    raise ValueError(f"unknown index {name}")


@dataclass
class _Accumulator:
    n_valid: int = 0
    n_canopy: int = 0
    n_damaged: int = 0
    growth_sum: float = 0.0
    damage_sum: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))
    extra_means: dict[str, list[float]] = field(default_factory=dict)  # index -> [sum, count]

    def add(self, o: _Accumulator) -> None:
        self.n_valid += o.n_valid
        self.n_canopy += o.n_canopy
        self.n_damaged += o.n_damaged
        self.growth_sum += o.growth_sum
        self.damage_sum += o.damage_sum
        self.hist += o.hist
        for k, (s, n) in o.extra_means.items():
            cur = self.extra_means.setdefault(k, [0.0, 0.0])
            cur[0] += s
            cur[1] += n


def _hist(values: np.ndarray) -> np.ndarray:
    """Counts of `values` in HIST_BINS equal bins over HIST_RANGE (clipped), NaN ignored; bincount, not histogram."""
    v = values[np.isfinite(values)]
    lo, hi = HIST_RANGE
    i = ((np.clip(v, lo, hi) - lo) * (HIST_BINS / (hi - lo))).astype(np.int32)
    np.minimum(i, HIST_BINS - 1, out=i)
    return np.bincount(i, minlength=HIST_BINS).astype(np.int64)


def _hist_quantile(hist: np.ndarray, q: float) -> float:
    c = np.cumsum(hist)
    if c[-1] == 0:
        return float("nan")
    i = int(np.searchsorted(c, q * c[-1]))
    return HIST_RANGE[0] + (i + 0.5) * (HIST_RANGE[1] - HIST_RANGE[0]) / HIST_BINS


def _area_mask(area_geom: Any, win: Window, ds_transform: Any) -> np.ndarray:
    return geometry_mask([area_geom], out_shape=(int(win.height), int(win.width)),
                         transform=window_transform(win, ds_transform), invert=True)


def _canopy(bands: dict[str, np.ndarray], idx: np.ndarray, valid: np.ndarray, prof: dict[str, Any]) -> np.ndarray:
    """Canopy mask of a window: the photo method (Otsu on CIE a*) for RGB sensors, the primary index above the
    profile's threshold for multispectral ones."""
    if prof.get("canopy_method") == "lab_a_otsu":
        rgb = np.clip(np.stack([bands["red"], bands["green"], bands["blue"]], axis=-1) * 255, 0, 255).astype(np.uint8)
        return canopy_mask(rgb, valid)
    return valid & (idx > prof["canopy_threshold"])


def _stats_window(path: str, info: RasterInfo, win: Window, area_geom: Any) -> _Accumulator:
    prof = info.profile
    with rasterio.open(path) as ds:
        bands, valid = _read(ds, info, win, 0)
        if area_geom is not None:
            valid &= _area_mask(area_geom, win, ds.transform)
    idx = primary_index(bands, prof["primary_index"])
    canopy = _canopy(bands, idx, valid, prof)
    acc = _Accumulator()
    acc.hist = _hist(idx[canopy])
    return acc


def _process_window(
    path: str, info: RasterInfo, win: Window, halo: int, model: DamageModel | None,
    anomaly: tuple[float, float] | None, area_geom: Any,
) -> tuple[Window, dict[str, np.ndarray], _Accumulator]:
    prof = info.profile
    with rasterio.open(path) as ds:
        bands, valid_big = _read(ds, info, win, halo)
        transform = ds.transform
    crop = (slice(halo, halo + int(win.height)), slice(halo, halo + int(win.width)))
    valid = valid_big[crop]
    if area_geom is not None:
        valid &= _area_mask(area_geom, win, transform)
    core = {k: v[crop] for k, v in bands.items()}
    idx = primary_index(core, prof["primary_index"])
    canopy = _canopy(core, idx, valid, prof)
    lo, hi = prof["growth_range"]
    growth = np.clip((np.nan_to_num(idx, nan=lo) - lo) / (hi - lo), 0, 1) * 100
    if model is not None:
        damage = model.damage_probability(bands)[crop]
    else:
        med, scale = anomaly if anomaly else (0.0, 1.0)
        z = (np.nan_to_num(idx, nan=med) - med) / scale
        damage = np.clip((-z - ANOMALY_Z_START) / (ANOMALY_Z_FULL - ANOMALY_Z_START), 0, 1)
        candidates = valid & (np.nan_to_num(idx, nan=-9) > prof["anomaly_floor"])
        damage = np.where(candidates, damage, 0.0)
    out = {
        "canopy": np.where(valid, canopy.astype(np.uint8), NODATA).astype(np.uint8),
        "growth": np.where(valid, np.round(growth), NODATA).astype(np.uint8),
        "damage": np.where(valid, np.round(100 * damage), NODATA).astype(np.uint8),
    }
    acc = _Accumulator(
        n_valid=int(valid.sum()), n_canopy=int(canopy.sum()), n_damaged=int((valid & (damage >= DAMAGED_THRESHOLD)).sum()),
        growth_sum=float(growth[valid].sum()), damage_sum=float(damage[valid].sum()), hist=_hist(idx[valid]),
    )
    if "nir" not in core:
        for name, fn in (("vari", indices.vari), ("exg", indices.exg), ("gli", indices.gli)):
            v = fn(core["red"], core["green"], core["blue"])[valid]
            v = np.clip(v[np.isfinite(v)], -1, 1)  # VARI explodes where G + R ~ B (water, shadow)
            acc.extra_means[name] = [float(v.sum()), float(v.size)]
    else:
        for name, v in (("ndvi", indices.ndvi(core["nir"], core["red"])),
                        ("ndre", indices.ndre(core["nir"], core["red_edge"]))):
            v = v[valid]
            v = v[np.isfinite(v)]
            acc.extra_means[name] = [float(v.sum()), float(v.size)]
    return win, out, acc


def _run_bounded(fn: Callable[[Window], Any], windows: list[Window], workers: int) -> Iterator[Any]:
    """Map fn over windows with at most 2 x workers in flight (flat memory), yielding results as they complete in
    submission order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future] = deque()
        it = iter(windows)
        for w in it:
            pending.append(pool.submit(fn, w))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def area_in_raster_crs(boundary_wgs84: Any, info: RasterInfo) -> Any:
    """Reproject an EPSG:4326 boundary to the raster's CRS; BadInput when it does not overlap the raster."""
    from shapely.geometry import box, mapping

    from inference.geo import reproject

    geom = reproject(boundary_wgs84, "EPSG:4326", info.crs)
    a, b, c, d, e, f = info.transform
    xs = [c, c + a * info.width]
    ys = [f, f + e * info.height]
    if not geom.intersects(box(min(xs), min(ys), max(xs), max(ys))):
        raise BadInput("the orthomosaic does not overlap the growing area's boundary; check the area code or the "
                          "flight")
    return mapping(geom)


def _cog(tmp_tif: Path, dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    rasterio.shutil.copy(tmp_tif, part, driver="COG", compress="DEFLATE", blocksize=512, overview_resampling="nearest")
    os.replace(part, dest)


def _anomaly_params(path: str, info: RasterInfo, windows: list[Window], area_geom: Any, workers: int,
                    tick: Callable[[], None]) -> tuple[float, float]:
    """First pass of the index-anomaly method: the field's own median and robust spread of the index over canopy."""
    acc0 = _Accumulator()
    for a in _run_bounded(lambda w: _stats_window(path, info, w, area_geom), windows, workers):
        acc0.add(a)
        tick()
    med = _hist_quantile(acc0.hist, 0.5)
    mad = float(np.median(np.abs(_hist_sample(acc0.hist) - med))) if acc0.hist.sum() else 0.0
    # a floor on the spread: a very uniform field must not turn sensor noise into damage
    return (med if math.isfinite(med) else 0.0, max(1.4826 * mad, 0.03))


OUTPUT_NAMES = ("canopy", "growth", "damage")


def _write_maps(path: str, info: RasterInfo, windows: list[Window], work: Path, workers: int,
                window_fn: Callable[[Window], Any], tick: Callable[[], None]) -> _Accumulator:
    """Second pass: every window through `window_fn`, written to raw tiled rasters in `work`, then copied to COGs."""
    with rasterio.open(path) as src:
        meta = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 1, "dtype": "uint8",
                "nodata": NODATA, "crs": src.crs, "transform": src.transform, "tiled": True,
                "blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER"}  # raw: compressed once, by the COG copy
    dsts = {n: rasterio.open(work / f"{n}.raw.tif", "w", **meta) for n in OUTPUT_NAMES}
    acc = _Accumulator()
    try:
        for win, arrays, a in _run_bounded(window_fn, windows, workers):
            for n in OUTPUT_NAMES:
                dsts[n].write(arrays[n], 1, window=win)
            acc.add(a)
            tick()
    finally:
        for d in dsts.values():
            d.close()
    for n in OUTPUT_NAMES:
        _cog(work / f"{n}.raw.tif", work / f"{n}.tif")
    return acc


def analyze_orthomosaic(
    path: str | Path,
    out_dir: str | Path,
    sensor: str | None = None,
    damage_model: DamageModel | None = None,
    area_boundary_wgs84: Any = None,
    tile_size_px: int = 512,
    workers: int = 2,
    progress: Callable[[float], None] | None = None,
    info: RasterInfo | None = None,
) -> DroneSummary:
    """Analyse an orthomosaic into OUT/canopy.tif, growth.tif, damage.tif (COG, input grid) and OUT/summary.json.

    area_boundary_wgs84: a shapely geometry in EPSG:4326; the analysis is clipped to it. `progress` gets 0-1.
    `info`: the file's validation result when it was validated already (at upload); else it is validated here.
    Outputs appear only when complete (written to a temporary folder, then moved). Returns the summary.
    """
    t0 = time.perf_counter()
    info = info or validate_raster(path, sensor)
    path, out_dir = str(path), Path(out_dir)
    model = damage_model if damage_model is not None and damage_model.fits(info.sensor, info.profile) else None
    area_geom = area_in_raster_crs(area_boundary_wgs84, info) if area_boundary_wgs84 is not None else None
    windows = list(iter_windows(info, tile_size_px))
    total_steps, done = len(windows) * (1 if model else 2), [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(min(0.99, done[0] / total_steps))

    anomaly = None if model else _anomaly_params(path, info, windows, area_geom, workers, tick)
    halo = model.halo_px if model else 0
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".analysis-", dir=out_dir))
    try:
        fn = lambda w: _process_window(path, info, w, halo, model, anomaly, area_geom)  # noqa: E731
        acc = _write_maps(path, info, windows, work, workers, fn, tick)
        summary = _summary(info, acc, model, anomaly, area_boundary_wgs84 is not None, time.perf_counter() - t0)
        (work / "summary.json").write_text(summary.model_dump_json(indent=2))
        for n in (*[f"{x}.tif" for x in OUTPUT_NAMES], "summary.json"):
            os.replace(work / n, out_dir / n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if progress:
        progress(1.0)
    return summary


def _hist_sample(hist: np.ndarray) -> np.ndarray:
    """Bin centres repeated by count, thinned to at most ~200k values (for the MAD)."""
    centres = HIST_RANGE[0] + (np.arange(HIST_BINS) + 0.5) * (HIST_RANGE[1] - HIST_RANGE[0]) / HIST_BINS
    counts = hist
    if hist.sum() > 200_000:
        counts = np.round(hist * (200_000 / hist.sum())).astype(np.int64)
    return np.repeat(centres, counts)


def _summary(info: RasterInfo, acc: _Accumulator, model: DamageModel | None, anomaly: Any, clipped: bool,
             seconds: float) -> DroneSummary:
    px_m2 = info.pixel_area_m2
    n = max(acc.n_valid, 1)
    prof = info.profile
    stats = {k: (s / c if c else None) for k, (s, c) in acc.extra_means.items()}
    from rasterio.warp import transform_bounds

    a, _, c, _, e, f = info.transform
    west, south, east, north = transform_bounds(info.crs, "EPSG:4326", c, f + e * info.height, c + a * info.width, f)
    return DroneSummary.model_validate({
        "schema_version": DRONE_SUMMARY_SCHEMA_VERSION,
        "sensor": info.sensor,
        "bounds_wgs84": [west, south, east, north],
        "crs": info.crs,
        "width": info.width,
        "height": info.height,
        "pixel_area_m2": px_m2,
        "clipped_to_area": clipped,
        "analysed_area_ha": acc.n_valid * px_m2 / 1e4,
        "canopy_cover_pct": 100 * acc.n_canopy / n,
        "growth_score": acc.growth_sum / n,
        "damaged_area_ha": acc.n_damaged * px_m2 / 1e4,
        "damaged_pct": 100 * acc.n_damaged / n,
        "mean_damage_probability": acc.damage_sum / n,
        "index": {
            "primary": prof["primary_index"],
            "canopy_threshold": prof["canopy_threshold"],
            "p10": _hist_quantile(acc.hist, 0.1), "p50": _hist_quantile(acc.hist, 0.5),
            "p90": _hist_quantile(acc.hist, 0.9),
            "means": stats,
        },
        "damage_method": "model" if model else "index_anomaly",
        "damage_model": {"name": model.bundle.name, "version": model.bundle.version} if model else None,
        "anomaly": {"median": anomaly[0], "robust_sd": anomaly[1], "z_start": -ANOMALY_Z_START,
                    "z_full": -ANOMALY_Z_FULL} if anomaly else None,
        "damage_threshold": DAMAGED_THRESHOLD,
        "seconds": round(seconds, 2),
        "outputs": {"canopy": "canopy.tif", "growth": "growth.tif", "damage": "damage.tif"},
    })
