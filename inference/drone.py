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

import functools
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioIOError
from rasterio.features import geometry_mask
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from inference import allocator, indices  # allocator: caps GDAL's block cache before any read
from inference.canopy import a_histogram, a_threshold_from_hist, lab_a_planes
from inference.errors import BadInput, reason
from inference.geo import reproject, utm_epsg_for
from inference.results import DAMAGED_THRESHOLD, DRONE_SUMMARY_SCHEMA_VERSION, MIN_AREA_COVER_PCT, DroneSummary
from inference.sensors import RasterInfo, sensor_profiles, validate_raster

NODATA = 255
ANOMALY_Z_START = 1.5  # z below -1.5: damage probability starts rising
ANOMALY_Z_FULL = 3.5  # z at or below -3.5: probability 1
HIST_RANGE = (-1.0, 1.0)
HIST_BINS = 2000
# The lab_a_otsu canopy of an orthomosaic: one threshold for the whole raster (canopy.a_threshold_from_hist on the a*
# histogram summed over the windows), never one per window: a threshold per window made the canopy depend on the
# file's block layout (the same Bali mosaic: 27.7 % canopy stored in strips, 25.7 % in 128 px tiles) and drew seams
# at window edges. The first pass keeps each pixel's a* (ACODE; NODATA outside) and a joint histogram of index bin x
# a* (a* above A_JOINT - 1 is never canopy: canopy.A_MAX_GREEN), from which the canopy's index histogram follows
# once the threshold is known.
A_JOINT = 128
JOINT_STEP = 2
FILL_PX = 33  # analysis pixels (x the decimation factor on the input): the square whose valid mean fills a pixel


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
        # logits at 1/stride of the input's size, upsampled here (bilinear, half-pixel centres, as torch and ONNX's
        # Resize do): OpenCV does it 7x faster than onnxruntime's Resize, 14 % of the network's time (1.4.1)
        self.logits_stride = int(m.get("logits_stride", 1))
        # k > 1: the network takes the image in space-to-depth layout (bands x k x k channels at 1/k of the size;
        # channel b k k + r k + c holds the pixels at row offset r, column offset c of each k x k block), laid out here
        self.space_to_depth = int(m.get("input_space_to_depth", 1))
        self.mean = np.asarray(m["normalization"]["mean"], np.float32)[:, None, None]
        self.std = np.asarray(m["normalization"]["std"], np.float32)[:, None, None]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        # int8 bundles: onnxruntime's NCHWc layout applies to their few float nodes only (1.5.x: the logits' 1x1
        # convolution; 1.2.0-1.4.2 also their transposed convolutions), where its reorders cost more than they save
        # (1.5.1, a 576 px window: the logits' convolution with its dequantize 2.8 ms with them, 1.4 ms without; the
        # same logits to the bit for 1.5.x, within 1e-6 for 1.4.0). Float bundles keep it: all their convolutions gain.
        off = ["NchwcTransformer"] if "quantization" in m else []
        self.session = ort.InferenceSession(str(self.bundle.onnx_path), opts, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=off)
        self._check_input_layout()

    def _check_input_layout(self) -> None:
        """A bundle whose graph does not take what model.json says (bands x input_space_to_depth**2 channels, sizes
        that the layout divides) is refused when loaded (at activation), not on every window of every job."""
        from inference.bundle import BundleError

        k = self.space_to_depth
        channels = self.session.get_inputs()[0].shape[1]
        want = len(self.bands) * k * k
        if k < 1 or self.multiple % k or (isinstance(channels, int) and channels != want):
            raise BundleError(f"{self.bundle_dir}: its network takes {channels} input channels and model.json says "
                              f"{len(self.bands)} bands laid out {k}x{k} ({want}) with sizes a multiple of "
                              f"{self.multiple}: the bundle is inconsistent; derive it again")

    def fits(self, sensor: str, profile: dict[str, Any]) -> bool:
        """True when the bundle was trained for this sensor (model.json "sensors") and the bands exist."""
        sensors = self.bundle.meta.get("sensors")
        known = sensors is None or sensor in sensors or profile.get("like") in sensors  # rgb_plus_band: like rgb
        return known and all(b in profile["bands"] for b in self.bands)

    @property
    def analysis_gsd_m(self) -> float | None:
        """The ground resolution the model analyses at (model.json "analysis_gsd_m"); None: the input's own."""
        v = self.bundle.meta.get("analysis_gsd_m")
        return float(v) if v else None

    def factor(self, pixel_size_m: float) -> int:
        """Integer decimation from the input's pixel size to the analysis resolution (1: analyse as is). Inputs
        coarser than the analysis resolution are never upsampled."""
        gsd = self.analysis_gsd_m
        if not gsd or pixel_size_m <= 0:
            return 1
        return max(1, int(math.floor(gsd / pixel_size_m + 1e-6)))

    def damage_probability_at(self, data: np.ndarray, names: list[str], scale: float, factor: int,
                              crop: tuple[slice, slice]) -> np.ndarray:
        """P(damaged) of data[crop] on the input's grid. data: the bands as stored (bands, rows, cols) with the
        halo, `names` their names, `scale` the value of reflectance 1. The network runs at 1/factor of the resolution:
        bands area-averaged (on the stored integers, before the float conversion), the probability resampled
        bilinearly back, for the crop only."""
        k = np.float32(1.0 / scale)
        if factor == 1:
            return self._probability_of_stored(data, names, k, crop)
        h, w = data.shape[1:]
        size = (max(1, -(-w // factor)), max(1, -(-h // factor)))
        small = {n: cv2.resize(data[i], size, interpolation=cv2.INTER_AREA).astype(np.float32) * k
                 for i, n in enumerate(names)}
        p = self.damage_probability(small)
        # input pixel (r, c) has centre (r + 0.5) / factor - 0.5 in the small grid; warp only the crop
        (r0, r1), (c0, c1) = (crop[0].start, crop[0].stop), (crop[1].start, crop[1].stop)
        m = np.array([[1 / factor, 0, (c0 + 0.5) / factor - 0.5], [0, 1 / factor, (r0 + 0.5) / factor - 0.5]],
                     np.float32)
        return cv2.warpAffine(p, m, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def damage_probability(self, bands01: dict[str, np.ndarray]) -> np.ndarray:
        """bands01: name -> float32 (rows, cols) in 0-1 -> P(damaged) float32 (rows, cols)."""
        x = np.stack([bands01[b] for b in self.bands]).astype(np.float32)
        h, w = x.shape[1:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        return self._probability((x - self.mean) / self.std, (slice(0, h), slice(0, w)))

    def _probability_of_stored(self, data: np.ndarray, names: list[str], k: np.float32,
                               crop: tuple[slice, slice]) -> np.ndarray:
        """damage_probability of the bands as stored times `k` (reflectance 0-1), for data[crop] only. A window whose
        size is a multiple of the network's needs no padding: its input is made in one buffer, band by band, with the
        same float32 operations in the same order (x * k, - mean, / std: the same input to the bit) instead of six
        arrays (stack, copy, pad, subtract, divide; 1.6 against 0.5 ms for a 576 px window)."""
        h, w = data.shape[1:]
        if h % self.multiple or w % self.multiple:
            return self.damage_probability({n: data[i].astype(np.float32) * k for i, n in enumerate(names)})[crop]
        x = np.empty((1, len(self.bands), h, w), np.float32)
        for j, b in enumerate(self.bands):
            band = x[0, j]
            np.multiply(data[names.index(b)], k, out=band, dtype=np.float32)
            band -= self.mean[j]
            band /= self.std[j]
        return self._probability(x[0], crop)

    def _probability(self, x: np.ndarray, keep: tuple[slice, slice]) -> np.ndarray:
        """P(damaged) float32 of the network's input x (bands, rows, cols; normalised, a multiple of its size), for
        x[keep] only."""
        (logits,) = self.session.run(["logits"], {"image": self.network_input(x)})
        return self.probability_of_logits(logits[0], keep)

    def network_input(self, x: np.ndarray) -> np.ndarray:
        """The network's feed (1, channels, rows, cols) of a normalised image x (bands, rows, cols): x itself, or its
        k x k blocks as channels (model.json input_space_to_depth; 0.3 ms for a 576 px window)."""
        k = self.space_to_depth
        if k == 1:
            return x[None]
        b, h, w = x.shape
        return np.ascontiguousarray(x.reshape(b, h // k, k, w // k, k).transpose(0, 2, 4, 1, 3)).reshape(
            1, b * k * k, h // k, w // k)

    def probability_of_logits(self, z: np.ndarray, keep: tuple[slice, slice]) -> np.ndarray:
        """P(damaged) float32 for the input pixels `keep` from the network's logits z (classes, rows / stride,
        cols / stride), as the softmax of the logits upsampled bilinearly (half-pixel centres) to the input's size.

        Written as P = 1 / (1 + sum over the other classes of exp(z_j - z_damaged)): a difference of logits is linear,
        so upsampling the differences is upsampling the logits (to float rounding), one channel fewer. Only the logits
        that cover `keep` are upsampled (with one row and column of context each side, which keeps every kept pixel's
        interpolation what a whole-window upsampling gives): the halo's pixels are never computed."""
        d = self.damaged_index
        diff = np.delete(z, d, axis=0) - z[d]
        s = self.logits_stride
        (r0, r1), (c0, c1) = (keep[0].start, keep[0].stop), (keep[1].start, keep[1].stop)
        if s > 1:
            a, b = max(0, r0 // s - 1), min(z.shape[1], -(-r1 // s) + 1)
            c, e = max(0, c0 // s - 1), min(z.shape[2], -(-c1 // s) + 1)
            size = (s * (e - c), s * (b - a))
            rows, cols = slice(r0 - s * a, r1 - s * a), slice(c0 - s * c, c1 - s * c)
            diff = np.stack([cv2.resize(np.ascontiguousarray(q[a:b, c:e]), size, interpolation=cv2.INTER_LINEAR)
                             [rows, cols] for q in diff])
        else:
            diff = diff[:, r0:r1, c0:c1]
        with np.errstate(over="ignore"):  # exp of a large difference, or a sum of two, is inf: P = 0, its limit
            np.exp(diff, out=diff)
            total = diff.sum(axis=0) if len(diff) > 1 else diff[0]
            total += 1
        return np.reciprocal(total, out=total).astype(np.float32, copy=False)


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


def _read(ds: rasterio.io.DatasetReader, info: RasterInfo, win: Window, halo: int) -> tuple[np.ndarray, np.ndarray]:
    """The sensor's bands as stored (bands, rows, cols; the file's dtype) and a validity mask for `win` grown by `halo`
    on each side. Bands are in the profile's order (red, green, blue first for RGB).

    One read for all bands (alpha included). Where the halo leaves the raster, the part inside is read and the rest
    is 0, as rasterio's `boundless` read with fill_value 0 gives, without the VRT that it builds (6x slower: 18 against
    3 ms for an edge window of 576 px)."""
    big = Window(win.col_off - halo, win.row_off - halo, win.width + 2 * halo, win.height + 2 * halo)
    inside = big.col_off >= 0 and big.row_off >= 0 and big.col_off + big.width <= info.width and \
        big.row_off + big.height <= info.height
    prof = info.profile
    idx = list(prof["bands"].values()) + ([prof["alpha"]] if prof["alpha"] else [])
    if inside:
        data = ds.read(idx, window=big)
    else:
        r0, c0 = max(0, big.row_off), max(0, big.col_off)
        r1, c1 = min(info.height, big.row_off + big.height), min(info.width, big.col_off + big.width)
        data = np.zeros((len(idx), int(big.height), int(big.width)), ds.dtypes[0])
        data[:, r0 - big.row_off : r1 - big.row_off, c0 - big.col_off : c1 - big.col_off] = \
            ds.read(idx, window=Window(c0, r0, c1 - c0, r1 - r0))
    nb = len(prof["bands"])
    if prof["alpha"]:
        valid = data[nb] > 0
    elif info.mask_band:  # GDAL's mask band (an internal .msk); rasterio reads it as 0 / 255, and 0 beyond the edge
        if inside:
            valid = ds.read_masks(1, window=big) > 0
        else:
            valid = np.zeros(data.shape[1:], bool)
            valid[r0 - big.row_off : r1 - big.row_off, c0 - big.col_off : c1 - big.col_off] = \
                ds.read_masks(1, window=Window(c0, r0, c1 - c0, r1 - r0)) > 0
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
        else:  # no alpha, no mask, no nodata: a pixel 0 in every band is the collar round the mosaic (a reprojection
            # without -dstnodata fills it so), not a field: it was counted as bare ground before (+4.8 % area); in a
            # float file so is one negative in every band (an untagged fill such as -9999)
            valid &= np.any(data[:nb] > 0, axis=0)
    if data.dtype.kind == "f":  # a reflectance stack marks the pixels outside the mosaic NaN, whatever its nodata
        valid &= np.isfinite(data[:nb]).all(axis=0)  # and an infinite value measures nothing either
    return data[:nb], valid


def _bands(data: np.ndarray, info: RasterInfo) -> dict[str, np.ndarray]:
    """name -> float32 band, as stored: the indices are ratios, so the reflectance scale cancels."""
    return {name: data[i].astype(np.float32) for i, name in enumerate(info.profile["bands"])}


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


# Per-pixel codes of the primary index: its histogram bin (0 .. HIST_BINS - 1), or one of these.
CODE_NAN = HIST_BINS  # index undefined (0 / 0)
CODE_NOT_CANDIDATE = HIST_BINS + 1  # valid pixel that cannot be damage (index at or below the anomaly floor)
CODE_INVALID = HIST_BINS + 2  # outside the mosaic or the area: nodata


@dataclass
class _Accumulator:
    n_valid: int = 0
    n_canopy: int = 0
    n_damaged: int = 0
    growth_sum: float = 0.0
    damage_sum: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))  # index over valid pixels
    hist_canopy: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))
    hist_candidates: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))
    a_hist: np.ndarray = field(default_factory=lambda: np.zeros(256, np.float64))  # a* over valid pixels (lab canopy)
    a_joint: np.ndarray | None = None  # (HIST_BINS + 1) x A_JOINT counts: index bin x a*, valid pixels (lab canopy)
    extra_means: dict[str, list[float]] = field(default_factory=dict)  # index -> [sum, count]

    def add(self, o: _Accumulator) -> None:
        self.n_valid += o.n_valid
        self.n_canopy += o.n_canopy
        self.n_damaged += o.n_damaged
        self.growth_sum += o.growth_sum
        self.damage_sum += o.damage_sum
        self.hist += o.hist
        self.hist_canopy += o.hist_canopy
        self.hist_candidates += o.hist_candidates
        self.a_hist += o.a_hist
        if o.a_joint is not None:
            self.a_joint = o.a_joint.copy() if self.a_joint is None else self.a_joint + o.a_joint
        for k, (s, n) in o.extra_means.items():
            cur = self.extra_means.setdefault(k, [0.0, 0.0])
            cur[0] += s
            cur[1] += n


def _bin_codes(idx: np.ndarray) -> np.ndarray:
    """uint16 histogram bin of each pixel over HIST_RANGE (clipped), CODE_NAN where the index is undefined."""
    lo, hi = HIST_RANGE
    x = (idx - np.float32(lo)) * np.float32(HIST_BINS / (hi - lo))
    np.clip(x, 0, HIST_BINS - 1, out=x)
    np.copyto(x, np.float32(CODE_NAN), where=np.isnan(x))  # 3x faster than nan_to_num (no inf after the clip)
    return x.astype(np.uint16)


def _histograms(codes: np.ndarray, valid: np.ndarray, canopy: np.ndarray | None,
                cand: np.ndarray) -> list[np.ndarray]:
    """Index histograms over valid pixels, canopy pixels and damage candidates, in one pass (key = code x 4 + flags;
    invalid pixels go to a spare bin). OpenCV's 16-bit histogram: the same counts as np.bincount, 2.8x faster
    (float32 counts are exact up to 2^24 per bin, far above a window's pixels). `canopy` None: not known yet (the
    lab canopy's threshold is the whole raster's), its histogram is zeros."""
    key = codes * np.uint16(4)  # a new array: `codes` stays as it is
    if canopy is not None:
        key += canopy
    key += cand.view(np.uint8) * np.uint8(2)
    key[~valid] = 4 * (CODE_NAN + 1)
    n = 4 * (CODE_NAN + 1) + 1
    counts = cv2.calcHist([key], [0], None, [n], [0, n]).ravel().astype(np.int64)
    h = counts[: 4 * HIST_BINS].reshape(HIST_BINS, 4)
    return [h.sum(axis=1), h[:, 1] + h[:, 3], h[:, 2] + h[:, 3]]


def _hist_quantile(hist: np.ndarray, q: float) -> float:
    c = np.cumsum(hist)
    if c[-1] == 0:
        return float("nan")
    i = int(np.searchsorted(c, q * c[-1]))
    return HIST_RANGE[0] + (i + 0.5) * (HIST_RANGE[1] - HIST_RANGE[0]) / HIST_BINS


def _area_mask(area_geom: Any, win: Window, ds_transform: Any) -> np.ndarray:
    return geometry_mask([area_geom], out_shape=(int(win.height), int(win.width)),
                         transform=window_transform(win, ds_transform), invert=True)


def _lab_canopy(profile: dict[str, Any]) -> bool:
    """Whether the profile's canopy is the photos' method (Otsu on CIE a*, one threshold for the raster: _lab_a)."""
    return profile.get("canopy_method") == "lab_a_otsu"


def _lab_a(data: np.ndarray, valid: np.ndarray, codes: np.ndarray, acc: _Accumulator, scale: float,
           win: Window) -> np.ndarray:
    """The window's 8-bit a* plane (canopy.lab_a_planes; NODATA outside `valid`) for profiles whose canopy_method is
    "lab_a_otsu" (red, green, blue first; bands of another type brought to 8 bits by the profile's `scale`), its a*
    histogram and index bin x a* histogram set in `acc` (A_JOINT). The canopy is a* at or under the whole raster's
    threshold (_finish_canopy)."""
    planes = [data[i] if data.dtype == np.uint8 else
              np.clip(data[i] * np.float32(255.0 / scale) + np.float32(0.5), 0, 255).astype(np.uint8) for i in range(3)]
    a = lab_a_planes(*planes)
    acc.a_hist = a_histogram(a, valid)
    # the joint histogram on every JOINT_STEP-th row and column of the raster (by absolute position: the same
    # pixels whatever the windows): the reference is a median and a spread, and a 2 MB table filled at every pixel
    # cost 40 % more window time
    sub = (slice(-int(win.row_off) % JOINT_STEP, None, JOINT_STEP), slice(-int(win.col_off) % JOINT_STEP, None,
                                                                          JOINT_STEP))
    key = codes[sub].astype(np.int32)
    key *= A_JOINT
    key += np.asarray(cv2.min(a[sub], A_JOINT - 1), np.uint8)  # cv2.min: 10x faster than np.minimum
    spare = (HIST_BINS + 1) * A_JOINT
    np.copyto(key, np.int32(spare), where=~valid[sub])
    acc.a_joint = np.bincount(key.ravel(), minlength=spare + 1)[:spare]
    np.copyto(a, np.uint8(NODATA), where=~valid)  # a* of 8-bit sRGB lies within 42-226: 255 is free
    return a


def _finish_canopy(acc: _Accumulator) -> int:
    """The lab canopy's threshold from the whole raster's a* histogram, and in `acc` the canopy's pixel count and its
    index histogram (from the joint histogram's sample of pixels: the anomaly reference's median and spread). Returns
    the 8-bit a* threshold."""
    t = a_threshold_from_hist(acc.a_hist)
    acc.n_canopy = int(acc.a_hist[: t + 1].sum())
    if acc.a_joint is not None:
        acc.hist_canopy = acc.a_joint.reshape(HIST_BINS + 1, A_JOINT)[:HIST_BINS, : t + 1].sum(axis=1)
    return t


def _masked_sum(v: np.ndarray, keep: np.ndarray) -> list[float]:
    """[sum, count] of v over `keep` and finite values."""
    keep = keep & np.isfinite(v)
    return [float(np.sum(v, where=keep, dtype=np.float64)), float(np.count_nonzero(keep))]


def _extra_means(data: np.ndarray, info: RasterInfo, valid: np.ndarray) -> dict[str, list[float]]:
    """[sum, count] of the secondary indices for the summary's means, on every fourth row and column (1/16 of the
    pixels, 1.6 million on a 26 MP mosaic; on the Bali mosaic the means moved by under 1e-4 and the pass went from
    6.2 to 2.4 ns/px). data: the window's bands as stored."""
    sub = (slice(None, None, 4), slice(None, None, 4))
    b, valid = _bands(data[(slice(None), *sub)], info), valid[sub]
    out: dict[str, list[float]] = {}
    if "nir" not in b:
        num = 2 * b["green"] - b["red"] - b["blue"]
        with np.errstate(divide="ignore", invalid="ignore"):
            fields = {"vari": (b["green"] - b["red"]) / (b["green"] + b["red"] - b["blue"]),
                      "exg": num / (b["red"] + b["green"] + b["blue"]),
                      "gli": num / (2 * b["green"] + b["red"] + b["blue"])}
        for name, v in fields.items():
            # VARI explodes where G + R ~ B (water, shadow)
            out[name] = _masked_sum(np.clip(v, -1, 1, out=v), valid)
    else:
        for name in ("ndvi", "ndre"):
            out[name] = _masked_sum(primary_index(b, name), valid)
    return out


def _growth(idx: np.ndarray, growth_range: tuple[float, float]) -> np.ndarray:
    """Growth score 0-100 (float32, NaN where the index is) of the primary index; overwrites `idx`."""
    lo, hi = growth_range
    return np.clip((idx - np.float32(lo)) * np.float32(100 / (hi - lo)), 0, 100, out=idx)


@dataclass(frozen=True)
class _Rgb8Tables:
    """Per-pixel products of GLI for 8-bit RGB sensors, as look-up tables. GLI = (2G - R - B) / (2G + R + B) depends
    on G and R + B only, so each product is a table of 256 x 511 entries (about 0.9 MB in all), indexed by
    G x 511 + R + B. The tables are made by the float path's own functions (indices.gli, _bin_codes, _growth) on
    every (G, R + B), so the look-ups equal the float path bit for bit (a test compares all 2^24 colours), at about
    60 % of its cost (6.3 against 10-11 ns/px: no float bands, no division)."""

    code: np.ndarray  # uint16 histogram bin or CODE_NAN
    growth: np.ndarray  # float32 0-100, 0 where GLI is undefined
    candidate: np.ndarray  # bool: GLI above the anomaly floor
    canopy: np.ndarray  # bool: GLI above the canopy threshold (profiles whose canopy_method is "index")

    @staticmethod
    def key(data: np.ndarray) -> np.ndarray:
        """data: (red, green, blue, ...) uint8 bands -> each pixel's entry, G x 511 + R + B (intp: np.take converts
        any other index type to it first, once per table; 0.18 against 0.30 ms per look-up of a 512 px window)."""
        key = data[1].astype(np.intp)
        key *= 511
        key += data[0]
        key += data[2]
        return key


@functools.lru_cache(maxsize=8)
def _rgb8_tables(growth_range: tuple[float, float], anomaly_floor: float, canopy_threshold: float) -> _Rgb8Tables:
    g, rb = np.meshgrid(np.arange(256, dtype=np.float32), np.arange(511, dtype=np.float32), indexing="ij")
    # R + B in R's place and B = 0: 2G - R - B and 2G + R + B are the same (exact) float32 integers
    idx = indices.gli(rb.ravel(), g.ravel(), np.zeros(rb.size, np.float32))
    growth = _growth(idx.copy(), growth_range)
    np.copyto(growth, np.float32(0), where=np.isnan(growth))
    return _Rgb8Tables(code=_bin_codes(idx), growth=growth, candidate=idx > anomaly_floor,
                       canopy=idx > canopy_threshold)


def _uses_rgb8_tables(data: np.ndarray, prof: dict[str, Any]) -> bool:
    """The look-up path: 8-bit red, green, blue bands (in that order) and GLI as the primary index."""
    return prof["primary_index"] == "gli" and data.dtype == np.uint8 and list(prof["bands"])[:3] == \
        ["red", "green", "blue"]


class _Sources:
    """One open dataset per worker thread: a GDAL dataset must not be read by two threads at once, and opening the
    file for every window cost 1.4 ms each (7 % of the first pass)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._opened: list[rasterio.io.DatasetReader] = []
        self._lock = threading.Lock()

    def get(self) -> rasterio.io.DatasetReader:
        ds = getattr(self._local, "ds", None)
        if ds is None:
            ds = self._local.ds = rasterio.open(self.path)
            with self._lock:
                self._opened.append(ds)
        return ds

    def close(self) -> None:
        with self._lock:
            for ds in self._opened:
                ds.close()
            self._opened.clear()


def _index_planes(data: np.ndarray, valid: np.ndarray, info: RasterInfo,
                  lab: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """A window's primary index as histogram codes, growth (float32 0-100), damage candidates and, for an index
    canopy, the canopy (None for the lab canopy, whose threshold is the whole raster's: _lab_a)."""
    prof = info.profile
    canopy: np.ndarray | None = None
    if _uses_rgb8_tables(data, prof):
        tables = _rgb8_tables(tuple(prof["growth_range"]), float(prof["anomaly_floor"]),
                              float(prof["canopy_threshold"]))
        key = tables.key(data)
        codes, growth, cand = np.take(tables.code, key), np.take(tables.growth, key), np.take(tables.candidate, key)
        cand &= valid
        if not lab:
            canopy = np.take(tables.canopy, key) & valid
    else:
        idx = primary_index(_bands(data, info), prof["primary_index"])
        if not lab:
            canopy = valid & (idx > prof["canopy_threshold"])
        codes = _bin_codes(idx)
        cand = valid & (idx > prof["anomaly_floor"])  # NaN compares False
        growth = _growth(idx, prof["growth_range"])  # idx's memory
        np.copyto(growth, np.float32(0), where=np.isnan(growth))
    return codes, growth, cand, canopy


def _process_window(
    src: _Sources, info: RasterInfo, win: Window, model: DamageModel | None, factor: int, area_geom: Any,
) -> tuple[Window, dict[str, np.ndarray], _Accumulator]:
    """One window: canopy and growth (uint8), and damage (the model's at 1/factor of the resolution, uint8) or the
    damage codes (uint16, index bin or CODE_*) that the second pass turns into damage once the field's distribution
    is known."""
    prof = info.profile
    halo = model.halo_px * factor if model else 0
    ds = src.get()
    try:
        data_big, valid_big = _read(ds, info, win, halo)
    except RasterioIOError as exc:  # a corrupt block inside the file (the upload's check decodes the first and last)
        raise BadInput(f"the GeoTIFF's pixels cannot be read near column {int(win.col_off)}, row {int(win.row_off)} "
                       f"({reason(exc)}): the file is corrupt; export the orthomosaic again and upload the new file",
                       reason="raster_truncated") from exc
    # the damage network's input, filled outside the mosaic before the area clip narrows `valid`
    net_in = _fill_invalid(data_big, valid_big, FILL_PX * factor) if model is not None else data_big
    transform = ds.transform
    crop = (slice(halo, halo + int(win.height)), slice(halo, halo + int(win.width)))
    data, valid = data_big[(slice(None), *crop)], valid_big[crop]
    if area_geom is not None:
        valid &= _area_mask(area_geom, win, transform)
    codes, growth, cand, canopy = _index_planes(data, valid, info, _lab_canopy(prof))
    acc = _Accumulator(n_valid=int(np.count_nonzero(valid)),
                       n_canopy=int(np.count_nonzero(canopy)) if canopy is not None else 0,
                       extra_means=_extra_means(data, info, valid))
    # the lab canopy (canopy None): its index histogram follows from the joint one (_lab_a, _finish_canopy)
    acc.hist, acc.hist_canopy, acc.hist_candidates = _histograms(codes, valid, canopy, cand)
    invalid = ~valid
    np.copyto(growth, np.float32(0), where=invalid)
    acc.growth_sum = float(growth.sum(dtype=np.float64))
    growth8 = np.rint(growth, out=growth).astype(np.uint8)
    np.copyto(growth8, np.uint8(NODATA), where=invalid)
    out: dict[str, np.ndarray] = {"growth": growth8}
    if canopy is None:  # the lab canopy
        out["acode"] = _lab_a(data, valid, codes, acc, float(prof["scale"]), win)
    else:
        canopy8 = canopy.astype(np.uint8)
        np.copyto(canopy8, np.uint8(NODATA), where=invalid)
        out["canopy"] = canopy8
    if model is not None:
        damage = model.damage_probability_at(net_in, list(prof["bands"]), float(prof["scale"]), factor, crop)
        acc.n_damaged = int(np.count_nonzero(valid & (damage >= DAMAGED_THRESHOLD)))
        acc.damage_sum = float(np.sum(damage, where=valid, dtype=np.float64))
        out["damage"] = np.where(valid, np.rint(100 * damage).astype(np.uint8), np.uint8(NODATA))
    else:
        dcode = np.where(cand, codes, np.uint16(CODE_NOT_CANDIDATE))
        dcode[~valid] = CODE_INVALID
        out["dcode"] = dcode
    return win, out, acc


def _fill_invalid(data: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """The damage network's input: each pixel outside the mosaic (nodata, alpha 0, beyond the raster's edge) set to
    the mean of the valid pixels in the size x size square around it (the window's valid mean where that holds none),
    instead of black. The network never saw black in training and read dark soil or dead canopy in it beside the
    mosaic's edge: on 2 cm plot clips, 1.4.0 called 25 % of the pixels within 8 px of the edge damaged against 4 %
    elsewhere; with the fill, 0 % and 0 %. About 2 ms for a 640 px window. `data` itself is left as it is."""
    if valid.all() or not valid.any():
        return data
    out = data.copy()
    invalid = ~valid
    v8 = valid.view(np.uint8)
    box = lambda x: cv2.boxFilter(x, cv2.CV_32F, (size, size), normalize=False,  # noqa: E731
                                  borderType=cv2.BORDER_CONSTANT)[invalid]
    weight = box(v8)
    for band in out:
        mean = cv2.mean(band, mask=v8)[0]
        inside = np.where(valid, band, 0)  # not band * valid: NaN (outside a reflectance stack) times 0 is NaN
        band[invalid] = np.where(weight > 0, box(inside) / np.maximum(weight, 1), mean).astype(band.dtype)
    return out


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
    from shapely.geometry import mapping

    from inference.geo import reproject

    geom = reproject(boundary_wgs84, "EPSG:4326", info.crs)
    if not geom.intersects(info.footprint()):  # its four corners: a rotated raster is no axis-aligned box
        raise BadInput("the orthomosaic does not overlap the growing area's boundary; check the area code or the "
                       "flight", reason="raster_outside_area")
    return mapping(geom)


# The analysis maps' compression, by name: (GDAL's COMPRESS, its LEVEL). The service stores ZSTD level 1: on the 26
# MP Bali mosaic the three maps take 12.9 MB against DEFLATE level 1's 14.4 MB, and the whole analysis 0.84 against
# 0.97 s (1.49 against 1.76 s of CPU; four alternated runs each, 2026-12-03): compressing the maps and their overviews
# was the largest single cost after the first pass (growth alone 0.078 against 0.156 s). GDAL (2.3 and later), QGIS,
# rasterio and ArcGIS Pro read ZSTD GeoTIFFs; for any other tool the download is a DEFLATE copy made on demand
# (`recompressed`), which is what `cropwatch drone analyze` writes unless told otherwise. PACKBITS was as fast but
# its three maps 40 % larger than DEFLATE's (20.2 against 14.4 MB); LZW slower than DEFLATE (0.27 s for growth).
MAP_COMPRESSIONS: dict[str, tuple[str, int | None]] = {"zstd": ("ZSTD", 1), "deflate": ("DEFLATE", 1)}
SERVICE_COMPRESSION = "zstd"


def _check_compression(compression: str) -> tuple[str, int | None]:
    if compression not in MAP_COMPRESSIONS:
        raise BadInput(f"unknown compression {compression!r}; known: {', '.join(MAP_COMPRESSIONS)}",
                       reason="unknown_compression")
    return MAP_COMPRESSIONS[compression]


def _cog(tmp_tif: Path, dest: Path, threads: int, compression: str = SERVICE_COMPRESSION) -> None:
    """The raw tiled raster as a Cloud Optimized GeoTIFF (MAP_COMPRESSIONS[compression]; DEFLATE level 1 was as small
    as level 6 on these maps and 1.5x faster). Overviews (nearest neighbour: the values are classes and scores) are
    built on the uncompressed raw file first and reused: the COG driver's own overview pass compresses, re-reads and
    decompresses them (2x the time)."""
    from rasterio.enums import Resampling

    with rasterio.open(tmp_tif, "r+") as ds:
        factors: list[int] = []
        side = max(ds.width, ds.height)
        while side > 512 * 2 ** len(factors):
            factors.append(2 ** (len(factors) + 1))
        if factors:
            ds.build_overviews(factors, Resampling.nearest)
    _cog_copy(tmp_tif, dest, compression, bool(factors), threads)


def _cog_copy(src: Path, dest: Path, compression: str, overviews: bool, threads: int = 1) -> None:
    """`src` (with its overviews, when `overviews`) copied to a COG at `dest`, written to DEST.part then renamed."""
    codec, level = _check_compression(compression)
    part = dest.with_name(dest.name + ".part")
    opts = {"level": level} if level is not None else {}
    try:
        rasterio.shutil.copy(src, part, driver="COG", compress=codec, blocksize=512, **opts,
                             overviews="FORCE_USE_EXISTING" if overviews else "NONE", num_threads=str(max(1, threads)))
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)  # a failed copy (a full disk) leaves no half-written file


def recompressed(cog: Path, dest: Path, compression: str) -> Path:
    """An analysis map (a COG of `analyze_orthomosaic`) in `compression` (MAP_COMPRESSIONS): `cog` itself when it is
    so compressed already (maps stored before 2026-12-03 are DEFLATE), else a copy at `dest`, its overviews, tags and
    grid kept (about 0.2 s for a 26 MP map), made once: an existing `dest` newer than `cog` is returned as it is.
    Written to a temporary name first, so a reader never sees half a file."""
    codec, _ = _check_compression(compression)
    with rasterio.open(cog) as ds:
        if ds.compression is not None and ds.compression.value.upper() == codec:
            return cog
        overviews = bool(ds.overviews(1))
    if dest.exists() and dest.stat().st_mtime_ns >= cog.stat().st_mtime_ns:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}")  # two downloads at once each write their own
    try:
        _cog_copy(cog, tmp, compression, overviews)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _anomaly_params(acc: _Accumulator) -> tuple[float, float]:
    """The index-anomaly method's reference: the field's own median and robust spread of the index over canopy."""
    med = _hist_quantile(acc.hist_canopy, 0.5)
    mad = float(np.median(np.abs(_hist_sample(acc.hist_canopy) - med))) if acc.hist_canopy.sum() else 0.0
    # a floor on the spread: a very uniform field must not turn sensor noise into damage
    return (med if math.isfinite(med) else 0.0, max(1.4826 * mad, 0.03))


def _anomaly_lut(anomaly: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Damage probability at each index bin's centre, and the uint8 map from damage codes to the damage raster."""
    med, scale = anomaly
    lo, hi = HIST_RANGE
    centres = lo + (np.arange(HIST_BINS) + 0.5) * (hi - lo) / HIST_BINS
    z = (centres - med) / scale
    prob = np.clip((-z - ANOMALY_Z_START) / (ANOMALY_Z_FULL - ANOMALY_Z_START), 0, 1)
    lut = np.zeros(CODE_INVALID + 1, np.uint8)
    lut[:HIST_BINS] = np.rint(100 * prob)
    lut[CODE_INVALID] = NODATA
    return prob, lut


OUTPUT_NAMES = ("canopy", "growth", "damage")


def _raw_writer(src: rasterio.io.DatasetReader, path: Path, dtype: str, nodata: int | None) -> Any:
    """A raw tiled raster on the source's grid, tagged CROPWATCH_LAYER=<canopy|growth|damage|...> (the COG copy keeps
    the tag: the spray planner refuses a canopy or growth map given as the damage map)."""
    meta = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 1, "dtype": dtype,
            "nodata": nodata, "crs": src.crs, "transform": src.transform, "tiled": True,
            "blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER"}  # raw: compressed once, by the COG copy
    dst = rasterio.open(path, "w", **meta)
    dst.update_tags(CROPWATCH_LAYER=path.name.split(".")[0])
    return dst


def _first_pass(path: str, info: RasterInfo, windows: list[Window], work: Path, workers: int, names: tuple[str, ...],
                window_fn: Callable[[_Sources, Window], Any], tick: Callable[[], None]) -> _Accumulator:
    """Every window through `window_fn` (with this thread's open source), its arrays `names` written to raw tiled
    rasters in `work`."""
    with rasterio.open(path) as src:
        dsts = {n: _raw_writer(src, work / f"{n}.raw.tif", "uint16" if n == "dcode" else "uint8",
                               None if n == "dcode" else NODATA) for n in names}
    acc = _Accumulator()
    sources = _Sources(path)
    try:
        for win, arrays, a in _run_bounded(lambda w: window_fn(sources, w), windows, workers):
            for n, arr in arrays.items():
                dsts[n].write(arr, 1, window=win)
            acc.add(a)
            tick()
    finally:
        sources.close()
        for d in dsts.values():
            d.close()
    return acc


def _damage_from_codes(work: Path, lut: np.ndarray) -> None:
    """Second pass of the index-anomaly method: damage codes -> damage raster through the LUT (no source read)."""
    with rasterio.open(work / "dcode.raw.tif") as src, _raw_writer(src, work / "damage.raw.tif", "uint8", NODATA) as dst:
        for _, win in src.block_windows(1):
            dst.write(np.take(lut, src.read(1, window=win)), 1, window=win)  # np.take: 1.4x faster than lut[...]


def _canopy_from_a(work: Path, threshold: int) -> None:
    """The lab canopy's raster from the first pass's a* raster: 1 at or under the whole raster's threshold, 0 above,
    NODATA outside (no source read). Rewritten in place, block by block, then renamed: a second raw raster of the
    same size (400 MB at 400 MP) doubled this step's share of the page cache and of the disk's write-back."""
    lut = (np.arange(256) <= threshold).astype(np.uint8)
    lut[NODATA] = NODATA
    with rasterio.open(work / "acode.raw.tif", "r+") as ds:
        for _, win in ds.block_windows(1):
            ds.write(cv2.LUT(ds.read(1, window=win), lut), 1, window=win)
        ds.update_tags(CROPWATCH_LAYER="canopy")
    os.replace(work / "acode.raw.tif", work / "canopy.raw.tif")


def _canopy_cog(work: Path, a_threshold: int | None, compression: str) -> None:
    if a_threshold is not None:
        _canopy_from_a(work, a_threshold)
    _cog(work / "canopy.raw.tif", work / "canopy.tif", 1, compression)


def _finish_outputs(work: Path, acc: _Accumulator, with_model: bool, a_threshold: int | None = None,
                    compression: str = SERVICE_COMPRESSION) -> tuple[float, float] | None:
    """The three COGs from the first pass's raw rasters in `work`; without a model, the index-anomaly damage first
    (its reference, the damage totals in `acc`, the damage raster). `a_threshold`: the lab canopy's (the canopy raster
    is made from the a* raster first). Returns the anomaly reference (None with a model).
    Canopy and growth compress in two background threads while damage is finished: three streams on two cores keep
    both busy (with one background thread, canopy then growth took 0.55 s on 26 MP against 0.35 s for the damage)."""
    anomaly = None
    with ThreadPoolExecutor(max_workers=2) as bg:
        cogs = [bg.submit(_canopy_cog, work, a_threshold, compression),
                bg.submit(_cog, work / "growth.raw.tif", work / "growth.tif", 1, compression)]
        if not with_model:
            anomaly = _anomaly_params(acc)
            prob, lut = _anomaly_lut(anomaly)
            acc.n_damaged = int(acc.hist_candidates[prob >= DAMAGED_THRESHOLD].sum())
            acc.damage_sum = float((acc.hist_candidates * prob).sum())
            _damage_from_codes(work, lut)
        _cog(work / "damage.raw.tif", work / "damage.tif", 1, compression)
        for f in cogs:
            f.result()
    return anomaly


@contextmanager
def _work_folder(out_dir: Path) -> Iterator[Path]:
    """A temporary folder inside OUT for the outputs under way, removed at the end; when the work fails, OUT goes too
    if this made it (a refused analysis writes nothing: it left an empty folder)."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".analysis-", dir=out_dir))
    try:
        yield work
    except BaseException:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
    compression: str = SERVICE_COMPRESSION,
) -> DroneSummary:
    """Analyse an orthomosaic into OUT/canopy.tif, growth.tif, damage.tif (COG, input grid, MAP_COMPRESSIONS
    [compression]) and OUT/summary.json.

    The source is read once. area_boundary_wgs84: a shapely geometry in EPSG:4326; the analysis is clipped to it.
    `progress` gets 0-1. `info`: the file's validation result when it was validated already (at upload); else it is
    validated here. Outputs appear only when complete (written to a temporary folder, then moved). Returns the summary.
    """
    t0 = time.perf_counter()
    allocator.tune()  # windows' arrays reuse freed heap instead of fresh pages (1.5x on 26-400 MP; inference.allocator)
    _check_compression(compression)  # before any work
    info = info or validate_raster(path, sensor)
    path, out_dir = str(path), Path(out_dir)
    model = damage_model if damage_model is not None and damage_model.fits(info.sensor, info.profile) else None
    area_geom = area_in_raster_crs(area_boundary_wgs84, info) if area_boundary_wgs84 is not None else None
    factor = model.factor(math.sqrt(info.pixel_area_m2)) if model else 1
    # with a model, windows of the network's own tile size at its analysis resolution: the halo stays a small share
    windows = list(iter_windows(info, max(tile_size_px, model.tile_size_px * factor) if model else tile_size_px))
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(min(0.99, 0.9 * done[0] / len(windows)))

    with _work_folder(out_dir) as work:
        fn = lambda src, w: _process_window(src, info, w, model, factor, area_geom)  # noqa: E731
        lab = _lab_canopy(info.profile)
        names = ("acode" if lab else "canopy", "growth", "damage" if model else "dcode")
        with allocator.gdal_block_cache(_block_cache_bytes(info, windows, model.halo_px * factor if model else 0)):
            acc = _first_pass(path, info, windows, work, workers, names, fn, tick)
            if acc.n_valid == 0:  # nothing to measure: no output, no record
                where = "over the growing area" if area_geom is not None else "in the file"
                raise BadInput(f"the orthomosaic has no valid pixel {where}: every pixel there is transparent (alpha 0), "
                               "masked or nodata; check that the flight covers the area and that the export keeps the "
                               "mosaic's pixels", reason="raster_no_valid_pixels")
            a_threshold = _finish_canopy(acc) if lab else None
            anomaly = _finish_outputs(work, acc, with_model=model is not None, a_threshold=a_threshold,
                                      compression=compression)
        summary = _summary(info, acc, model, factor, anomaly, area_boundary_wgs84 is not None,
                           time.perf_counter() - t0)
        _publish(work, out_dir, summary, info, acc, area_boundary_wgs84)
    if progress:
        progress(1.0)
    return summary


def _publish(work: Path, out_dir: Path, summary: DroneSummary, info: RasterInfo, acc: _Accumulator,
             area_wgs84: Any) -> None:
    """The summary's warnings and notices, then summary.json and the maps moved from `work` into OUT."""
    summary.warnings.extend(info.notes)
    summary.notices.extend(_notices(info))
    _note_no_colour(summary, acc)
    if area_wgs84 is not None:
        _note_coverage(summary, area_wgs84)
    (work / "summary.json").write_text(summary.model_dump_json(indent=2))
    for n in (*[f"{x}.tif" for x in OUTPUT_NAMES], "summary.json"):
        os.replace(work / n, out_dir / n)


# Every code DroneSummary.notices may hold; the operator's page says each in Vietnamese and English (a test checks)
NOTICES = ("bands_by_tags", "band_left_out", "sixth_band_left_out", "bit_depth", "mostly_black")


def _notices(info: RasterInfo) -> list[str]:
    """The codes of what validation decided about how the file is read (DroneSummary.notices): bands placed by their
    tags or names, a band left out (the profile's `notice`, by default band_left_out: the fourth of an RGB file), a
    16-bit file read at a lower bit depth (a float RGB file's range is said in its notes only)."""
    base = sensor_profiles()[info.sensor]
    return ["bands_by_tags"] * info.bands_moved + [base.get("notice", "band_left_out")] * bool(base.get("warning")) + \
        ["bit_depth"] * bool(base.get("scale_from_data") and "uint16" in base["dtypes"]
                             and info.profile["scale"] != base["scale"])


def _note_no_colour(summary: DroneSummary, acc: _Accumulator) -> None:
    """A warning when most of the mosaic's valid pixels have no index (black in every band: 0 / 0): an export that
    kept its collar or a dark frame as pixels, whose canopy and growth of 0 would enter the record as a bare field."""
    undefined = acc.n_valid - int(acc.hist.sum())
    if acc.n_valid and undefined > 0.5 * acc.n_valid:
        summary.notices.append("mostly_black")
        summary.warnings.append(
            f"{100 * undefined / acc.n_valid:.0f} % of the mosaic's pixels are black in every band: no index, canopy "
            "or growth can be measured there; check that the export kept the mosaic's colours and marks the area "
            "outside it as nodata or alpha 0")


def _note_coverage(summary: DroneSummary, area_wgs84: Any) -> None:
    """The share of the growing area the flight's valid pixels cover, and a warning when it is not all of it. A flight
    of one pixel, or of a strip across the field, was recorded as the field's growth before."""
    c = area_wgs84.centroid
    area_m2 = reproject(area_wgs84, "EPSG:4326", f"EPSG:{utm_epsg_for(c.x, c.y)}").area
    pct = min(100.0, 100 * summary.analysed_area_ha * 1e4 / area_m2) if area_m2 > 0 else 0.0
    summary.area_covered_pct = round(pct, 2)
    if pct < 95:
        tail = ("" if pct >= MIN_AREA_COVER_PCT else "; under half of it, so the area's growth record leaves this "
                "flight out")
        summary.warnings.append(f"the flight covers {pct:.1f} % of the growing area ({summary.analysed_area_ha:.2f} "
                                f"of {area_m2 / 1e4:.2f} ha): its figures describe that part only{tail}")


def _block_cache_bytes(info: RasterInfo, windows: list[Window], halo: int) -> int:
    """GDAL block cache an analysis needs: 64 MiB for the outputs' blocks, or with a halo, three rows of windows of
    the source with their halos (a halo reads into the window rows above and below, whose blocks are then read
    again as their own: kept, they are decoded once), at the widest sample the sensor profile allows."""
    rows = max((int(w.height) for w in windows), default=0) + 2 * halo
    sample = max(np.dtype(d).itemsize for d in info.profile["dtypes"])
    return max(64 << 20, 3 * rows * info.width * info.count * sample) if halo else 64 << 20


def _hist_sample(hist: np.ndarray) -> np.ndarray:
    """Bin centres repeated by count, thinned to at most ~200k values (for the MAD)."""
    centres = HIST_RANGE[0] + (np.arange(HIST_BINS) + 0.5) * (HIST_RANGE[1] - HIST_RANGE[0]) / HIST_BINS
    counts = hist
    if hist.sum() > 200_000:
        counts = np.round(hist * (200_000 / hist.sum())).astype(np.int64)
    return np.repeat(centres, counts)


def _summary(info: RasterInfo, acc: _Accumulator, model: DamageModel | None, factor: int, anomaly: Any,
             clipped: bool, seconds: float) -> DroneSummary:
    px_m2 = info.pixel_area_m2
    n = max(acc.n_valid, 1)
    prof = info.profile
    stats = {k: (s / c if c else None) for k, (s, c) in acc.extra_means.items()}
    west, south, east, north = info.bounds_wgs84()
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
        "damage_model": {"name": model.bundle.name, "version": model.bundle.version,
                         "warning": model.bundle.meta.get("warning"),
                         "warning_vi": model.bundle.meta.get("warning_vi")} if model else None,
        "damage_pixel_size_m": math.sqrt(px_m2) * factor if model else None,
        "anomaly": {"median": anomaly[0], "robust_sd": anomaly[1], "z_start": -ANOMALY_Z_START,
                    "z_full": -ANOMALY_Z_FULL} if anomaly else None,
        "damage_threshold": DAMAGED_THRESHOLD,
        "seconds": round(seconds, 2),
        "outputs": {"canopy": "canopy.tif", "growth": "growth.tif", "damage": "damage.tif"},
    })
