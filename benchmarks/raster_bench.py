"""Raster analysis benchmark: megapixels per second and peak memory of the full analysis (indices only, and with the
damage model), on rasters of about 26, 100 and 400 MP made by tiling the real Bali orthomosaic, side by side in the
same run with two baselines:
- `gdal_calc`: GDAL's own gdal_calc.py writing ONE index (GLI, float32, tiled, DEFLATE; no COG, no overviews) from
  the same file: the pipeline writes three COGs with overviews and a summary;
- `naive`: numpy on the whole raster read at once (no outputs written);
the indices case writing DEFLATE maps (`deflate`: what `cropwatch drone analyze` writes by default; the service
stores ZSTD); with --before DIR, the indices case from another checkout (the code before a change), and its model
case (`model_before`: that checkout's code with its active drone_damage bundle); with
--baseline-bundle VERSION the model case with another drone_damage bundle (model_base), in turn with the others.
With --runs N every case runs N times, in turn (each run starting at the next case; the disk write-back flushed before
each case, untimed), and the medians are printed (x gdal_calc: the median of the run-by-run
ratios), so a drift of the shared machine's speed hits every case alike. Then how time grows with size (time ~ size^k).

Each case runs in a fresh process so that its peak RSS is its own (gdal_calc's is its child's); the pipeline's
process builds the canopy's colour table before the clock starts, as the service does at start-up (about 0.25 s
once per process; a one-off `cropwatch drone analyze` pays it). Run:
.venv/bin/python benchmarks/raster_bench.py [--sizes 26,100,400] [--runs 3] [--before DIR] [--naive-max 100] [--model-max 26]
    [--baseline-bundle 1.2.0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from benchmarks import targets  # noqa: E402
from benchmarks.targets import Targets  # noqa: E402

CASE = r'''
import json, resource, sys, time
sys.path.insert(0, {repo!r})
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np, rasterio  # noqa: E401  (imports are not timed: a service has them loaded)
from inference import indices
from inference.drone import DamageModel, analyze_orthomosaic
import inference.canopy as canopy_method
if mode != "gdal_calc" and hasattr(canopy_method, "warm_up"):  # "before" may predate it
    canopy_method.warm_up()  # the colour table, built once per process: the service does it at start-up (0.25 s)
t = time.perf_counter()
if mode == "gdal_calc":
    import subprocess
    b = ["-A", path, "--A_band=1", "-B", path, "--B_band=2", "-C", path, "--C_band=3"]
    subprocess.run(["gdal_calc.py", "--quiet", *b, f"--outfile={{out}}/gli.tif", "--type=Float32", "--overwrite",
                    "--calc=(2.0*B-A-C)/(2.0*B+A+C+1e-9)", "--co=TILED=YES", "--co=COMPRESS=DEFLATE"], check=True)
elif mode == "naive":
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
    model = None  # "before": the indices case run from another checkout (--before)
    if mode in ("model", "model_base"):
        model = DamageModel({bundle!r}, threads=1)
    # "deflate": the indices case writing DEFLATE maps (`cropwatch drone analyze`'s default) instead of the service's ZSTD
    kw = {{"compression": "deflate"}} if mode == "deflate" else {{}}
    analyze_orthomosaic(path, out, damage_model=model, workers=2, **kw)
dt = time.perf_counter() - t
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({{"seconds": dt, "peak_rss_mb": rss / 1024}}))
'''


def run_case(mode: str, path: Path, bundle: str | None, repo: Path = REPO) -> dict:
    with tempfile.TemporaryDirectory() as out:
        code = CASE.format(repo=str(repo), bundle=bundle)
        r = subprocess.run([sys.executable, "-c", code, mode, str(path), out], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["killed"])[-1][:80]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="26,100,400")
    ap.add_argument("--naive-max", type=float, default=100, help="largest size (MP) for the naive whole-raster read")
    ap.add_argument("--before", default=None, metavar="DIR",
                    help="another checkout (e.g. `git worktree add /tmp/before REV`) whose indices case runs in turn")
    ap.add_argument("--runs", type=int, default=1, help="runs of every case, in turn; medians are printed")
    ap.add_argument("--model-max", type=float, default=26, help="largest size (MP) for the damage model")
    ap.add_argument("--fine-mp", type=float, default=26, help="size of the 2 cm mosaic for the model cases (0: skip)")
    ap.add_argument("--bundle", default=None, help="drone_damage bundle dir (default: the active one; '' for none)")
    ap.add_argument("--baseline-bundle", default=None, metavar="VERSION",
                    help="another drone_damage version whose model case (model_base) runs in turn with the others")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be 1 or more")
    a.before = Path(a.before).resolve() if a.before else None
    if a.before and not (a.before / "inference" / "drone.py").exists():
        ap.error(f"--before {a.before}: not a cropwatch checkout")
    from inference.bundle import BundleError, active_bundle_path

    a.before_bundle = None
    if a.before:
        with contextlib.suppress(BundleError):  # a checkout without a drone model: no model_before case
            a.before_bundle = str(active_bundle_path("drone_damage", a.before / "models"))
    a.base = str(REPO / "models" / "drone_damage" / a.baseline_bundle) if a.baseline_bundle else None
    if a.base and not (Path(a.base) / "model.json").exists():
        ap.error(f"--baseline-bundle {a.baseline_bundle}: no such bundle in models/drone_damage")
    if a.bundle is None:
        try:
            a.bundle = str(active_bundle_path("drone_damage"))
        except BundleError:
            a.bundle = None
    return a


def _print_case(real_mp: float, mode: str, runs: dict[str, list[dict]]) -> dict | None:
    """One case's row (medians, the median of the run-by-run ratios to gdal_calc, the spread); its result."""
    ok = [r for r in runs[mode] if "error" not in r]
    if not ok:
        print(f"{real_mp:8.1f}  {mode:<12} error: {runs[mode][0]['error']}", flush=True)
        return None
    secs = statistics.median(r["seconds"] for r in ok)
    res = {"seconds": secs, "peak_rss_mb": max(r["peak_rss_mb"] for r in ok)}
    ratio = ""
    if mode != "gdal_calc" and runs.get("gdal_calc"):
        pairs = [c["seconds"] / r["seconds"] for c, r in zip(runs["gdal_calc"], runs[mode], strict=True)
                 if "error" not in c and "error" not in r]
        if pairs:
            res["x_gdal_calc"] = statistics.median(pairs)
            ratio = f"{res['x_gdal_calc']:5.2f}x"
    spread = f"  ({min(r['seconds'] for r in ok):.2f}-{max(r['seconds'] for r in ok):.2f} s)" if len(ok) > 1 else ""
    print(f"{real_mp:8.1f}  {mode:<12} {secs:8.2f} {real_mp / secs:7.2f} {res['peak_rss_mb']:8.0f}  "
          f"{ratio:>6}{spread}", flush=True)
    return res


def _sizes(a: argparse.Namespace, has_calc: bool) -> list[tuple[float, str, dict]]:
    """Every case at every size, in turn, run after run (a drift of the machine's speed hits them all), each run
    starting at the next case."""
    import rasterio
    from rasters import tiled_ortho

    rows = []
    for mp in (float(x) for x in a.sizes.split(",")):
        path = tiled_ortho(mp)
        with rasterio.open(path) as ds:
            real_mp = ds.width * ds.height / 1e6
        modes = (["gdal_calc"] if has_calc else []) + (["naive"] if mp <= a.naive_max else []) + ["indices", "deflate"] + \
            (["before"] if a.before else []) + (["model"] if a.bundle and mp <= a.model_max else []) + \
            (["model_base"] if a.base and mp <= a.model_max else []) + \
            (["model_before"] if a.before_bundle and a.bundle and mp <= a.model_max else [])
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for k in range(a.runs):
            # each run starts at another case, and the disk's write-back is flushed before every case (untimed): a
            # case run right after gdal_calc wrote 1.6 GB at 400 MP was slowed by that write-back (16.0 s against
            # 11.4-11.8 s run after another pipeline case)
            for mode in modes[k % len(modes):] + modes[: k % len(modes)]:
                os.sync()
                b = {"model_base": a.base, "model_before": a.before_bundle}.get(mode, a.bundle or None)
                repo = a.before if mode in ("before", "model_before") else REPO
                runs[mode].append(run_case("model" if mode == "model_before" else mode, path, b, repo))
        for mode in modes:
            res = _print_case(real_mp, mode, runs)
            if res:
                rows.append((real_mp, mode, res))
    return rows


def _fine(fine_mp: float, bundle: str) -> None:
    """A low flight (the 2 cm sorghum mosaic, tiled): the damage model at the input's resolution (bundle 1.0.0) and
    at the active bundle's declared analysis resolution."""
    import rasterio
    from rasters import SORGHUM, tiled_ortho

    path = tiled_ortho(fine_mp, SORGHUM)
    with rasterio.open(path) as ds:
        real_mp = ds.width * ds.height / 1e6
    print(f"\n2 cm orthomosaic, {real_mp:.1f} MP:")
    native = str(REPO / "models" / "drone_damage" / "1.0.0")
    for mode, b in (("indices", None), ("model", native), ("model", bundle)):
        res = run_case(mode, path, b)
        label = mode if b is None else f"model {Path(b).name}"
        if "error" in res:
            print(f"{real_mp:8.1f}  {label:<12} error: {res['error']}", flush=True)
            continue
        print(f"{real_mp:8.1f}  {label:<12} {res['seconds']:8.2f} {real_mp / res['seconds']:7.2f} "
              f"{res['peak_rss_mb']:8.0f}", flush=True)


def main() -> None:
    import math
    import shutil

    a = _args()
    has_calc = shutil.which("gdal_calc.py") is not None
    if not has_calc:
        print("note: gdal_calc.py not found (Debian: apt-get install gdal-bin python3-gdal); its column is skipped")
    print(f"{'size MP':>8}  {'case':<12} {'seconds':>8} {'MP/s':>7} {'peak MB':>8}  x gdal_calc", flush=True)
    rows = _sizes(a, has_calc)
    if a.fine_mp and a.bundle:
        _fine(a.fine_mp, a.bundle)
    for mode in ("gdal_calc", "indices", "model"):
        pts = [(mp, r["seconds"]) for mp, m, r in rows if m == mode]
        if len(pts) >= 2:
            (m0, s0), (m1, s1) = pts[0], pts[-1]
            print(f"{mode}: time grows as size^{math.log(s1 / s0) / math.log(m1 / m0):.2f} from {m0:.0f} to {m1:.0f} MP")
    check_targets(rows)


def check_targets(rows: list[tuple[float, str, dict]]) -> Targets:
    """Issue #12's raster targets beside what this run measured: the indices case (the served pipeline, ZSTD maps)
    at every size, its peak memory at the largest size run (the target is set at 400 MP), the damage model's rate."""
    check = Targets("issue #12 raster targets, this run")
    indices = [(mp, r) for mp, m, r in rows if m == "indices"]
    for mp, r in indices:
        check.at_least(f"indices at {mp:.0f} MP: MP/s end to end", mp / r["seconds"], targets.INDICES_MP_S, "MP/s")
        if "x_gdal_calc" in r:
            check.at_least(f"indices at {mp:.0f} MP: x gdal_calc", r["x_gdal_calc"], targets.INDICES_X_GDAL_CALC, "x")
    if indices:
        mp, r = indices[-1]
        note = "" if mp >= 390 else " (target at 400 MP)"
        check.at_most(f"indices at {mp:.0f} MP: peak memory{note}", r["peak_rss_mb"], targets.PEAK_MB_AT_400_MP, "MB")
    for mp, mode, r in rows:
        if mode == "model":
            check.at_least(f"damage model at {mp:.0f} MP: MP/s of input", mp / r["seconds"], targets.DAMAGE_MP_S,
                           "MP/s")
    check.print()
    return check


if __name__ == "__main__":
    main()
