"""inference.allocator: the heap thresholds are really set (measured by page faults, in fresh processes), the
operator's settings win, and GDAL's block cache is sized while an analysis runs and restored after."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from rasterio.windows import Window

from inference.sensors import RasterInfo, sensor_profiles

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
GLIBC = platform.libc_ver()[0] == "glibc" and not os.environ.get("LD_PRELOAD")


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MALLOC_", "CROPWATCH_TUNE", "GLIBC_TUNABLES", "LD_PRELOAD"))}
    r = subprocess.run([sys.executable, "-c", PROBE, str(REPO)], capture_output=True, text=True, check=True,
                       env={**clean, **env})
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt (not another libc or a preloaded allocator)")
def test_tuned_heap_keeps_freed_arrays_for_the_next_ones() -> None:
    tuned, untuned = _probe(), _probe(CROPWATCH_TUNE_MALLOC="0")
    assert tuned["tuned"] and not untuned["tuned"]
    pages = 24 * (1 << 20) // 4096
    assert untuned["faults"] > 0.8 * pages  # every page zeroed again by the kernel
    assert tuned["faults"] < 0.1 * pages


@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "1000000"}, {"MALLOC_MMAP_THRESHOLD_": "1000000"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"}], ids=str)
def test_the_operators_own_malloc_settings_win(env: dict[str, str]) -> None:
    assert _probe(**env)["tuned"] is False


def _cache_api() -> tuple:
    from inference import allocator

    api = allocator._gdal_cache_api()
    if api is None or allocator.OPERATOR_GDAL_CACHEMAX:
        pytest.skip("no GDAL cache API, or the operator set GDAL_CACHEMAX")
    return api


def test_gdal_block_cache_adds_up_stays_under_the_cap_and_comes_back() -> None:
    from inference import allocator

    get = _cache_api()[0]
    cap = get()
    with allocator.gdal_block_cache(64 << 20):
        assert get() == 64 << 20
        with allocator.gdal_block_cache(100 << 20):  # a second analysis at once: room for both
            assert get() == 164 << 20
            with allocator.gdal_block_cache(10 * cap):  # never above the process's cap
                assert get() == cap
        assert get() == 64 << 20
    assert get() == cap
    with pytest.raises(RuntimeError), allocator.gdal_block_cache(64 << 20):
        raise RuntimeError("an analysis fails")
    assert get() == cap


def test_block_cache_size_for_an_analysis() -> None:
    """64 MiB without a halo; with one, three rows of halo'd windows of the source at its widest sample: a 100,000 px
    wide 16-bit 5-band mosaic, windows of 512 rows, halo 64: 3 x 640 x 100,000 x 5 x 2 bytes."""
    from inference import drone

    prof = sensor_profiles()["micasense_rededge"]
    assert prof["dtypes"] == ["uint16"]
    info = RasterInfo(path="x.tif", sensor="micasense_rededge", profile=prof, width=100_000, height=2000, count=5,
                      crs="EPSG:32648", crs_is_geographic=False, transform=(0.1, 0, 0, 0, -0.1, 0), nodata=None,
                      block_shape=(512, 512))
    windows = [Window(0, 0, 512, 512), Window(512, 0, 512, 512), Window(0, 512, 512, 200)]
    assert drone._block_cache_bytes(info, windows, 0) == 64 << 20
    assert drone._block_cache_bytes(info, windows, 64) == 1_920_000_000


def test_the_analysis_runs_inside_its_cache_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inference import allocator, drone
    from tests.data.make_rasters import synthetic_rgba

    get = _cache_api()[0]
    cap = get()
    seen: list[int] = []
    real = drone._first_pass
    monkeypatch.setattr(drone, "_first_pass", lambda *a, **k: (seen.append(get()), real(*a, **k))[1])
    drone.analyze_orthomosaic(synthetic_rgba(tmp_path / "a.tif"), tmp_path / "out")
    assert seen == [64 << 20] and get() == cap
    assert allocator._cache_bounds == []
