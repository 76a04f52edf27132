"""The C allocator's settings for a process that handles many short-lived, multi-megabyte arrays.

glibc serves an allocation above its mmap threshold (128 KiB at start, raised adaptively to at most 32 MiB) with a
fresh mmap and returns it to the kernel on free, and trims the top of a heap once more than twice that threshold is
free there. A raster window's arrays (0.25-4 MiB each) and a photo's decoded planes are exactly that size, so every
window paid for zeroed pages again: on a 26 MP orthomosaic, 200,000 minor page faults and 0.7 s of kernel time out of
2.0 s of CPU (benchmarks/raster_bench.py). Fixing the thresholds keeps freed blocks in the heap for the next window:
the same analysis takes 50,000 faults and 0.25 s of kernel time. Memory stays bounded by the working set (the
largest windows in flight) plus the trim threshold (32 MiB) in each of glibc's arenas. The photo path gained nothing
from it (photo_bench, served pipeline and API at 16 concurrent uploads, same run): it is not called there.

`tune()` is called once, before the first heavy piece of work; it is a no-op outside glibc, and when the operator
set glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (or CROPWATCH_TUNE_MALLOC=0).

`gdal_block_cache(nbytes)` bounds GDAL's block cache while an orthomosaic is analysed. GDAL's default (5 % of the
machine's memory, 1.2 GB here) keeps every source block decoded and every output block written until the cache is
full, though a windowed pass reads each block once: on 100 MP that was 640 MB of RSS and 90,000 more page faults
than with 64 MB (355 MB, 2-3 % faster). The bound is process-wide: with analyses running at once it is the largest
that any of them asked for, and the process's cap comes back when the last one ends. Outside analyses the cap is
256 MB (GDAL_CACHEMAX, set here at import unless the operator set it: read when GDAL first uses its cache, so this
module is imported before any raster is read); an operator's GDAL_CACHEMAX wins everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
    if os.environ.get("CROPWATCH_TUNE_MALLOC", "1") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the operator's own settings win
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                 TRIM_THRESHOLD_BYTES))


_cache_lock = threading.Lock()
_cache_bounds: list[int] = []  # the bounds of the analyses running now
_cache_default: list[int] = []  # GDAL's own setting, while any bound is in force


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
    """GDAL's block cache bounded to `nbytes` (or the largest bound in force) while the block runs."""
    api = None if OPERATOR_GDAL_CACHEMAX else _gdal_cache_api()
    if api is None:
        yield
        return
    get, put = api
    with _cache_lock:
        if not _cache_bounds:
            _cache_default[:] = [int(get())]  # type: ignore[operator]
        _cache_bounds.append(int(nbytes))
        put(max(_cache_bounds))  # type: ignore[operator]
    try:
        yield
    finally:
        with _cache_lock:
            _cache_bounds.remove(int(nbytes))
            put(max(_cache_bounds) if _cache_bounds else _cache_default[0])  # type: ignore[operator]
