"""inference.allocator: the thresholds are really set (measured by page faults, in fresh processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# 24 arrays of 1 MiB are filled, freed (the heap's top is then 24 MiB free) and filled again: untuned, glibc trims
# the free top (its adaptive trim threshold is 2 MiB here) and the second fill faults every page in again
PROBE = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from inference import allocator
tuned = allocator.tune()
def fill():
    return [np.ones(1 << 18, np.float32) for _ in range(24)]
arrays = fill(); del arrays
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
arrays = fill()
print(json.dumps({"tuned": tuned, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "CROPWATCH_TUNE"))}
    r = subprocess.run([sys.executable, "-c", PROBE, str(REPO)], capture_output=True, text=True, check=True,
                       env={**clean, **env})
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_heap_keeps_freed_arrays_for_the_next_ones() -> None:
    tuned, untuned = _probe(), _probe(CROPWATCH_TUNE_MALLOC="0")
    assert tuned["tuned"] and not untuned["tuned"]
    pages = 24 * (1 << 20) // 4096
    assert untuned["faults"] > 0.8 * pages  # every page zeroed again by the kernel
    assert tuned["faults"] < 0.1 * pages


def test_the_operators_own_malloc_settings_win() -> None:
    assert _probe(MALLOC_TRIM_THRESHOLD_="1000000")["tuned"] is False


def test_gdal_block_cache_bound_nests_and_comes_back() -> None:
    from inference import allocator

    api = allocator._gdal_cache_api()
    if api is None or allocator.OPERATOR_GDAL_CACHEMAX:
        pytest.skip("no GDAL cache API, or the operator set GDAL_CACHEMAX")
    get = api[0]
    before = get()
    with allocator.gdal_block_cache(64 << 20):
        assert get() == 64 << 20
        with allocator.gdal_block_cache(200 << 20):  # a second analysis at once: the larger bound
            assert get() == 200 << 20
        assert get() == 64 << 20
    assert get() == before


def test_the_analysis_bounds_gdals_block_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """analyze_orthomosaic runs inside the bound: 64 MiB without a halo, three halo'd window rows with one."""
    from inference import allocator, drone
    from inference.sensors import validate_raster
    from tests.data.make_rasters import synthetic_rgba

    seen: list[int] = []
    real = allocator.gdal_block_cache
    monkeypatch.setattr(allocator, "gdal_block_cache", lambda n: (seen.append(n), real(n))[1])
    path = synthetic_rgba(tmp_path / "a.tif")
    drone.analyze_orthomosaic(path, tmp_path / "out")
    assert seen == [64 << 20]
    info = validate_raster(path)
    windows = list(drone.iter_windows(info, 512))
    rows = max(int(w.height) for w in windows) + 2 * 64
    assert drone._block_cache_bytes(info, windows, 64) == max(64 << 20, 3 * rows * info.width * info.count)
