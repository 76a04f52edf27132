"""Raster analysis benchmark: megapixels per second and peak memory of the full analysis (with the damage model and
with indices only), on rasters of about 25, 100 and 400 MP made by tiling the real Bali orthomosaic, side by side with
a naive version that reads the whole raster at once; then how time grows with size.

Each case runs in a fresh process so that its peak RSS is its own. Run: .venv/bin/python benchmarks/raster_bench.py
[--sizes 25,100,400] [--naive-max 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

CASE = r'''
import json, resource, sys, time
sys.path.insert(0, {repo!r})
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if mode == "naive":
    import numpy as np, rasterio
    from inference import indices
    with rasterio.open(path) as ds:
        data = ds.read()  # the whole raster at once
    r, g, b = (data[i].astype(np.float32) / 255 for i in range(3))
    valid = data[3] > 0
    gli = indices.gli(r, g, b)
    canopy = valid & (gli > 0.05)
    med = float(np.nanmedian(gli[canopy]))
    mad = float(np.nanmedian(np.abs(gli[canopy] - med)))
    z = (gli - med) / max(1.4826 * mad, 0.03)
    damage = np.clip((-z - 1.5) / 2, 0, 1)
    growth = np.clip(gli / 0.25, 0, 1) * 100
    n = int(canopy.sum())
else:
    from inference.drone import analyze_orthomosaic
    model = None
    if mode == "model":
        from inference.drone import DamageModel
        model = DamageModel({bundle!r}, threads=1)
    analyze_orthomosaic(path, out, damage_model=model, workers=2)
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
'''


def run_case(mode: str, path: Path, bundle: str | None) -> dict:
    with tempfile.TemporaryDirectory() as out:
        code = CASE.format(repo=str(REPO), bundle=bundle)
        r = subprocess.run([sys.executable, "-c", code, mode, str(path), out], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["killed"])[-1][:80]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    from rasters import tiled_ortho

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="25,100,400")
    ap.add_argument("--naive-max", type=float, default=100, help="largest size (MP) for the naive whole-raster read")
    ap.add_argument("--bundle", default=None, help="drone_damage bundle dir (default: the active one, if any)")
    a = ap.parse_args()
    bundle = a.bundle
    if bundle is None:
        from inference.bundle import BundleError, active_bundle_path

        try:
            bundle = str(active_bundle_path("drone_damage"))
        except BundleError:
            bundle = None
    rows = []
    for mp in (float(x) for x in a.sizes.split(",")):
        path = tiled_ortho(mp)
        import rasterio

        with rasterio.open(path) as ds:
            real_mp = ds.width * ds.height / 1e6
        modes = ["indices"] + (["model"] if bundle else []) + (["naive"] if mp <= a.naive_max else [])
        for mode in modes:
            res = run_case(mode, path, bundle)
            rows.append((real_mp, mode, res))
            if "error" in res:
                print(f"{real_mp:8.1f} MP  {mode:<8} error: {res['error']}", flush=True)
            else:
                print(f"{real_mp:8.1f} MP  {mode:<8} {res['seconds']:8.1f} s  {real_mp / res['seconds']:7.2f} MP/s  "
                      f"peak {res['peak_rss_mb']:7.0f} MB", flush=True)
    print("\nmode      size MP   seconds    MP/s   peak RSS MB")
    for mp, mode, res in rows:
        if "error" not in res:
            print(f"{mode:<8} {mp:8.1f} {res['seconds']:9.1f} {mp / res['seconds']:7.2f} {res['peak_rss_mb']:12.0f}")
    for mode in ("indices", "model"):
        pts = [(mp, r["seconds"]) for mp, m, r in rows if m == mode and "error" not in r]
        if len(pts) >= 2:
            (m0, s0), (m1, s1) = pts[0], pts[-1]
            import math

            k = math.log(s1 / s0) / math.log(m1 / m0)
            print(f"{mode}: time grows as size^{k:.2f} from {m0:.0f} to {m1:.0f} MP")


if __name__ == "__main__":
    main()
