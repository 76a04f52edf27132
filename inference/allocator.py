"""Process-wide memory settings for a process that handles many short-lived, multi-megabyte arrays.

glibc serves an allocation above its mmap threshold (128 KiB at start, raised adaptively to at most 32 MiB) with a
fresh mmap and returns it to the kernel on free, and trims the top of a heap once more than twice that threshold is
free there. A raster window's arrays (0.25-4 MiB each) are exactly that size, so every window paid for zeroed pages
again: on a 26 MP orthomosaic, 200,000 minor page faults and 0.7 s of kernel time out of 2.0 s of CPU
(benchmarks/raster_bench.py). With both thresholds fixed at 32 MiB, freed blocks stay in the heap for the next
window: 50,000 faults and 0.25 s of kernel time. What a heap keeps is its live blocks, the holes between them, and
at most 32 MiB free at its top, in each of glibc's arenas. Photos were neither faster nor slower with it
(photo_bench: the served pipeline, and the API at 16 concurrent uploads), and the API's memory did not grow: after
15 s of 16 concurrent 12 MP uploads its RSS was 619 MB tuned against 634 MB with CROPWATCH_TUNE_MALLOC=0.

`tune()` sets them once per process. The API and the Celery workers call it at start-up, before their threads run
(glibc updates its adaptive thresholds in free() without a lock, so a call while other threads free memory could be
overwritten); `analyze_orthomosaic` calls it too, for the CLI and scripts (a no-op when done). It does nothing
outside glibc, under an LD_PRELOADed allocator, or when the operator set glibc's own MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_ or glibc.malloc tunables (GLIBC_TUNABLES), or CROPWATCH_TUNE_MALLOC=0.

`gdal_block_cache(nbytes)` sizes GDAL's block cache while an orthomosaic is analysed. The process's cap (256 MB,
GDAL_CACHEMAX, set here at import unless the operator set it: GDAL reads it when it first uses its cache, so this
module is imported before any raster is read) keeps every source block decoded and every output block written until
it is full, though a windowed pass reads each block once: on 100 MP that was 650 MB of RSS and 100,000 more page
faults than with 64 MiB (350 MB, 2-3 % faster). With analyses running at once the size is the sum of what they asked
for, never above the cap, which comes back when the last one ends. An operator's GDAL_CACHEMAX wins everywhere.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own adaptive ceiling; larger arrays (a full 12 MP frame) still mmap
TRIM_THRESHOLD_BYTES = 32 << 20  # per arena: 16 MiB did as well on 100 MP; kept small for a many-threaded server

OPERATOR_GDAL_CACHEMAX = "GDAL_CACHEMAX" in os.environ
os.environ.setdefault("GDAL_CACHEMAX", "256")  # MB: GDAL's default (5 % of RAM) grows with the rasters served

_lock = threading.Lock()
_state: dict[str, bool] = {}


def tune() -> bool:
    """Set the mmap and trim thresholds once per process. True when they are set (now or before)."""
    with _lock:
        if "done" not in _state:
            _state["done"] = _apply()
        return _state["done"]


def _apply() -> bool:
    env = os.environ
    if env.get("CROPWATCH_TUNE_MALLOC", "1") == "0" or "MALLOC_MMAP_THRESHOLD_" in env or \
            "MALLOC_TRIM_THRESHOLD_" in env or "glibc.malloc" in env.get("GLIBC_TUNABLES", "") or env.get("LD_PRELOAD"):
        return False  # switched off, or the operator's own settings, or another allocator, win
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: glibc's
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                 TRIM_THRESHOLD_BYTES))


_cache_lock = threading.Lock()
_cache_bounds: list[int] = []  # the sizes asked for by the analyses running now
_cache_default: list[int] = []  # the process's cap, captured while any size is in force


@functools.cache
def _gdal_cache_api() -> tuple[object, object] | None:
    """GDALGetCacheMax64 and GDALSetCacheMax64 of the GDAL that rasterio loaded (found through rasterio's own
    extension module, whose dependencies include it), or None."""
    try:
        import rasterio._base as base

        lib = ctypes.CDLL(base.__file__)
        get, put = lib.GDALGetCacheMax64, lib.GDALSetCacheMax64
    except (ImportError, OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int64, []
    put.restype, put.argtypes = None, [ctypes.c_int64]
    return get, put


@contextmanager
def gdal_block_cache(nbytes: int) -> Iterator[None]:
    """GDAL's block cache set to `nbytes` while the block runs: with analyses running at once, the sum of their
    sizes; never above the process's own cap (256 MB unless the operator chose), which comes back after the last."""
    api = None if OPERATOR_GDAL_CACHEMAX else _gdal_cache_api()
    if api is None:
        yield
        return
    get, put = api
    with _cache_lock:
        if not _cache_bounds:
            _cache_default[:] = [int(get())]  # type: ignore[operator]
        _cache_bounds.append(int(nbytes))
        put(min(sum(_cache_bounds), _cache_default[0]))  # type: ignore[operator]
    try:
        yield
    finally:
        with _cache_lock:
            _cache_bounds.remove(int(nbytes))
            put(min(sum(_cache_bounds), _cache_default[0]) if _cache_bounds else _cache_default[0])  # type: ignore[operator]
