"""The C allocator's settings for a process that handles many short-lived, multi-megabyte arrays.

glibc serves an allocation above its mmap threshold (128 KiB at start, raised adaptively to at most 32 MiB) with a
fresh mmap and returns it to the kernel on free, and trims the top of a heap once more than twice that threshold is
free there. A raster window's arrays (0.25-4 MiB each) and a photo's decoded planes are exactly that size, so every
window paid for zeroed pages again: on a 26 MP orthomosaic, 200,000 minor page faults and 0.7 s of kernel time out of
2.0 s of CPU (benchmarks/raster_bench.py). Fixing the thresholds keeps freed blocks in the heap for the next window:
the same analysis takes 50,000 faults and 0.25 s of kernel time. Memory stays bounded by the working set (the
largest windows in flight) plus the trim threshold.

`tune()` is called once, before the first heavy piece of work; it is a no-op outside glibc, and when the operator
set glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (or CROPWATCH_TUNE_MALLOC=0).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's own adaptive ceiling; larger arrays (a full 12 MP frame) still mmap
TRIM_THRESHOLD_BYTES = 128 << 20

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
