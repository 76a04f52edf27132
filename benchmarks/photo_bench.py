"""Photo scoring benchmark, side by side in one run (#12):

1. the floor: the same JPEG decoded alone by libjpeg-turbo at 1/8 scale (entropy decoding dominates; nothing that
   reads every coefficient can be faster on one core);
2. the served pipeline (DCT-scaled decode, quality gate, leaf analysis, lesion patches through onnxruntime), on a
   12 MP phone JPEG and on a page-sized one (1600 x 1200, quality 0.85: what the farmer's page uploads), with a
   per-stage breakdown from the result's own timings; and on frozen-benchmark photos made page-sized
   (--benchmark-photos, default 24), whose leaves hold more lesion candidates than the three samples';
3. the same pipeline on one thread (the network after the leaf analysis, not beside it), running every lesion
   patch (the bundle as first served), and a naive pipeline (full decode, resize, torch eager on the whole-image
   network), as baselines;
4. the API on a live server on localhost: 16 concurrent uploads of each photo size (photos/s, errors, p50, p99);
   with --baseline-bundle a second server serving that bundle takes the same load right after the first, with
   --baseline-slots N one scoring N uploads at once (the service's default: two per scoring process), with
   --baseline-processes N one scoring in N worker processes (0: in the server's threads; the default: one per core),
   with --baseline-serial one scoring each photo on one thread (the network after the leaf analysis).

Run: .venv/bin/python benchmarks/photo_bench.py [--repeats 30] [--concurrency 16] [--api-s 30] [--no-api]
     [--baseline-bundle 1.3.1] [--baseline-slots 64] [--baseline-processes 0] [--baseline-serial]
     [--benchmark-photos 24]
Needs the train extra (torch) for the naive baseline; the load client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import targets  # noqa: E402
from benchmarks.targets import Targets  # noqa: E402
from datasets.field_photos import read_manifest  # noqa: E402
from datasets.samples import phone_size_jpeg, real_photo  # noqa: E402
from inference.bundle import active_bundle_path  # noqa: E402
from inference.field_photo_model import FieldPhotoModel, preprocess  # noqa: E402
from inference.lesion_patch_model import LesionPatchModel, load_photo_model  # noqa: E402
from inference.photo import PhotoScorer  # noqa: E402

WHOLE_IMAGE_BUNDLE = REPO / "models" / "field_photo" / "1.1.0"  # the whole-image network, for the naive baseline
PEAK_GFLOPS = 537.0  # this CPU's fp32 peak with AVX-512 (2 cores), from the brief
PHOTOS = [("blast", 0), ("brown_spot", 1), ("bacterial_leaf_blight", 2)]  # real CC BY leaves, 20 / 1 / 40 patches


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return out


def floor_decode(jpeg: bytes) -> None:
    from PIL import Image

    im = Image.open(io.BytesIO(jpeg))
    im.draft("RGB", (im.size[0] // 8, im.size[1] // 8))
    im.load()


def naive(model: FieldPhotoModel, eager: object) -> Callable[[bytes], None]:
    import torch
    from PIL import Image

    def run(jpeg: bytes) -> None:
        rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))  # full-size decode
        with torch.no_grad():
            eager(torch.from_numpy(preprocess(rgb, model.meta)[None]))  # type: ignore[operator]

    return run


def bench_pipelines(sets: dict[str, list[bytes]], repeats: int,
                    baseline_version: str | None = None) -> dict[str, tuple[float, float]]:
    """The pipelines' table; returns each input set's (floor p50, served p50) in ms."""
    import torch

    from models.field_photo import PhotoClassifier

    torch.set_num_threads(2)
    bundle = active_bundle_path("field_photo")
    served = PhotoScorer(load_photo_model(bundle))
    serial = PhotoScorer(served.model, overlap=False)  # the same model, the network after the analysis
    # as a scoring process of the service runs it (api/scoring.py): one onnxruntime and one OpenCV thread
    worker = PhotoScorer(load_photo_model(bundle, threads=1))
    worker_serial = PhotoScorer(worker.model, overlap=False)
    every = PhotoScorer(LesionPatchModel(bundle, every_patch=True)) if served.model.meta.get("patches") else None
    other = PhotoScorer(load_photo_model(bundle.parent / baseline_version)) if baseline_version else None
    whole = FieldPhotoModel(WHOLE_IMAGE_BUNDLE, threads=2)
    slow = naive(whole, PhotoClassifier(len(whole.classes)).eval())
    print(f"bundle {bundle.parent.name} {bundle.name}; {repeats} runs per photo, photos: "
          + ", ".join(f"{c} #{i}" for c, i in PHOTOS))
    print(f"{'input':<22} {'pipeline':<50} {'p50 ms':>8} {'p95 ms':>8} {'x floor':>8} {'mean ms':>8}")
    measured: dict[str, tuple[float, float]] = {}
    for size, jpegs in sets.items():
        floor = [t for j in jpegs for t in timed(lambda j=j: floor_decode(j), repeats)]
        f50 = statistics.median(floor)
        cases: list[tuple[str, Callable[[bytes], object], int | None]] = [  # name, run, OpenCV threads
            ("floor: 1/8-scale decode alone (libjpeg-turbo)", floor_decode, None),
            ("served: decode + gate + leaf + patches", served.score, None),
            ("baseline: served on one thread (no overlap)", serial.score, None),
            ("scoring process (1 onnxruntime + 1 OpenCV thread)", worker.score, 1),
            ("baseline: scoring process, no overlap", worker_serial.score, 1)]
        if other is not None:
            cases.append((f"baseline: bundle {baseline_version} served", other.score, None))
        if every is not None:
            cases.append(("baseline: served, every patch run", every.score, None))
        cases.append(("baseline: naive (full decode + torch eager)", slow, None))
        for name, fn, cv_threads in cases:
            default_threads = cv2.getNumThreads()
            cv2.setNumThreads(cv_threads or default_threads)
            try:
                ts = floor if fn is floor_decode else [t for j in jpegs for t in timed(lambda j=j, fn=fn: fn(j),
                                                                                       repeats)]
            finally:
                cv2.setNumThreads(default_threads)
            print(f"{size:<22} {name:<50} {statistics.median(ts):>8.1f} {pct(ts, 95):>8.1f} "
                  f"{statistics.median(ts) / f50:>8.2f} {statistics.fmean(ts):>8.1f}")
            if name.startswith("served"):
                measured[size] = (f50, statistics.median(ts))
        stages: dict[str, list[float]] = {}
        for j in jpegs:
            for _ in range(repeats):
                for k, v in served.score(j).timings_ms.items():
                    stages.setdefault(k, []).append(v)
        print(f"{'':<22} stages of the served pipeline (p50 ms): "
              + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in stages.items()))
    return measured


async def load(url: str, headers: dict[str, str], jpegs: list[bytes], concurrency: int,
               seconds: float, drawing: bool = False) -> dict[str, float]:
    """`concurrency` upload loops for `seconds`, the photos in turn (load_bench's driver: latencies, errors); with
    `drawing` each upload then fetches its lesion drawing, as the farmer's page does."""
    import itertools

    import httpx

    from benchmarks.load_bench import drive

    turn = itertools.count()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def upload() -> bool:
            r = await client.post(f"{url}/v1/photos", headers=headers,
                                  files={"file": ("leaf.jpg", jpegs[next(turn) % len(jpegs)], "image/jpeg")},
                                  data={"area_code": "VN-STOR-0001"})
            if r.status_code != 201:
                return False
            if drawing and r.json().get("lesions_url"):
                return (await client.get(url + r.json()["lesions_url"], headers=headers)).status_code == 200
            return True

        return await drive(upload, concurrency, seconds)


def models_dir_serving(version: str, tmp: Path) -> Path:
    """A models folder under `tmp` whose field_photo task serves `version` (links to the repo's bundles)."""
    src = active_bundle_path("field_photo").parent.parent
    out = tmp / "models"
    (out / "field_photo").mkdir(parents=True)
    for task in src.iterdir():
        if task.is_dir() and task.name != "field_photo":
            (out / task.name).symlink_to(task, target_is_directory=True)
    (out / "field_photo" / version).symlink_to(src / "field_photo" / version, target_is_directory=True)
    (out / "field_photo" / "ACTIVE").write_text(version + "\n")
    return out


def bench_api(sets: dict[str, list[bytes]], concurrency: int, seconds: float,
              baseline_version: str | None = None, baseline_slots: int | None = None,
              farmer_flow: bool = False, baseline_processes: int | None = None,
              baseline_serial: bool = False) -> dict[str, dict[str, float]]:
    """The live server under `concurrency` uploads per photo size; with `baseline_version` a second server serving
    that bundle, with `baseline_slots` one scoring that many photos at once (CROPWATCH_SCORING_SLOTS; the served
    default is one per core), each running the same load right after (one server at a time: they would share the two
    cores), with `baseline_serial` one scoring each photo on one thread (CROPWATCH_PHOTO_OVERLAP=0). Returns the
    served server's load figures by input."""
    import httpx

    from api.devserver import running_server
    from datasets.samples import feature_collection

    print(f"\nAPI, {concurrency} concurrent uploads for {seconds:g} s each, live server on localhost (SQLite):")
    print(f"{'input':<32} {'server':<16} {'requests':>9} {'errors':>7} {'photos/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p99/p50':>8}")
    served = active_bundle_path("field_photo").name
    servers: list[tuple[str, str, dict[str, str]]] = [(served, served, {})]
    if baseline_version and baseline_version != served:
        servers.append((baseline_version, baseline_version, {}))
    if baseline_slots:
        servers.append((f"{served}, {baseline_slots} slots", served, {"CROPWATCH_SCORING_SLOTS": str(baseline_slots)}))
    if baseline_processes is not None:
        servers.append((f"{served}, {baseline_processes} proc", served,
                        {"CROPWATCH_SCORING_PROCESSES": str(baseline_processes)}))
    if baseline_serial:
        servers.append((f"{served}, 1 thread", served, {"CROPWATCH_PHOTO_OVERLAP": "0"}))
    saved = {k: os.environ.get(k) for k in ("CROPWATCH_MODELS_DIR", "CROPWATCH_SCORING_SLOTS",
                                            "CROPWATCH_SCORING_PROCESSES", "CROPWATCH_PHOTO_OVERLAP")}
    measured: dict[str, dict[str, float]] = {}
    for label, version, env in servers:
        with tempfile.TemporaryDirectory() as tmp:
            if version != served:
                os.environ["CROPWATCH_MODELS_DIR"] = str(models_dir_serving(version, Path(tmp)))
            os.environ.update(env)
            try:
                with running_server(Path(tmp)) as server:
                    headers = server.token()
                    f = feature_collection(1)["features"][0]
                    httpx.post(f"{server.url}/v1/areas", headers=headers,
                               json={**f["properties"], "boundary": f["geometry"]})
                    for (size, jpegs), drawing in [(item, False) for item in sets.items()] + (
                            [(item, True) for item in sets.items()] if farmer_flow else []):
                        m = asyncio.run(load(server.url, headers, jpegs, concurrency, seconds, drawing))
                        name = f"{size} + drawing" if drawing else size
                        print(f"{name:<32} {label:<16} {m['requests']:>9.0f} {m['errors']:>7.0f} "
                              f"{m['per_s']:>9.1f} {m['p50']:>8.0f} {m['p99']:>8.0f} {m['p99'] / m['p50']:>8.1f}")
                        if label == served and not drawing:
                            measured[size] = m
            finally:  # the caller's own settings back
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
    return measured


def check_targets(pipelines: dict[str, tuple[float, float]], api: dict[str, dict[str, float]]) -> Targets:
    """Issue #12's photo targets beside what this run measured."""
    check = Targets("issue #12 photo targets, this run")
    for size, (floor, served) in pipelines.items():
        if size.startswith("12 MP"):
            check.at_most(f"{size}: served p50 / decode floor p50", served / floor, targets.PHOTO_12MP_X_FLOOR, "x")
        elif size.startswith("page"):
            check.at_most(f"{size}: served p50", served, targets.PAGE_P50_MS, "ms")
    for size, m in api.items():
        bound = next(v for k, v in targets.API_PER_S.items() if size.startswith(k))
        check.at_least(f"API {size}: photos/s at 16 concurrent", m["per_s"], bound, "photos/s")
        check.at_most(f"API {size}: errors", m["errors"], 0)
        check.at_most(f"API {size}: p99 / p50", m["p99"] / m["p50"], targets.API_P99_OVER_P50, "x")
    check.print()
    return check


def patch_network_cost(repeats: int = 20) -> None:
    """FLOPs of one lesion patch through the served network (torch's counter on the same layers) against
    onnxruntime's time for it, batch of 8: how far from this CPU's fp32 peak."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from models.lesion_patch import PatchFeatures

    model = load_photo_model(active_bundle_path("field_photo"))
    if not isinstance(model, LesionPatchModel):
        return
    s = model.patch_px
    backbone = model.meta.get("backbone", "efficientnet-lite0")  # bundles before 1.3.1 name none: Lite0
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        PatchFeatures(pretrained=False, backbone=backbone)(torch.zeros(1, 3, s, s))
    gflop = fc.get_total_flops() / 1e9
    x = np.zeros((8, 3, s, s), np.float32)
    colour = np.zeros((8, 4), np.float32) if model.colour else None
    ms = statistics.median(timed(lambda: model._run(x, colour), repeats)) / 8
    print(f"patch network ({backbone}): {gflop:.3f} GFLOP per {s} px patch; onnxruntime {ms:.2f} ms per patch "
          "(batch of 8) -> "
          f"{gflop / ms * 1000:.0f} GFLOP/s = {100 * gflop / ms * 1000 / PEAK_GFLOPS:.0f} % of the "
          f"{PEAK_GFLOPS:.0f} GFLOP/s fp32 peak; at peak {gflop / PEAK_GFLOPS * 1000:.2f} ms\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10, help="runs per photo (three photos)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--api-s", type=float, default=30)
    ap.add_argument("--no-api", action="store_true")
    ap.add_argument("--baseline-bundle", default=None, metavar="VERSION",
                    help="another field_photo bundle version served side by side (e.g. the one it replaced)")
    ap.add_argument("--farmer-flow", action="store_true",
                    help="also load uploads each followed by fetching its lesion drawing, as the farmer's page does")
    ap.add_argument("--baseline-slots", type=int, default=None, metavar="N",
                    help="also load a server scoring N photos at once (e.g. 64: every upload at once, as before "
                         "2026-12-01)")
    ap.add_argument("--benchmark-photos", type=int, default=24, metavar="N",
                    help="also time N photos of the frozen benchmark made page-sized (never trained on; they hold "
                         "more lesion candidates than the three sample leaves: about 9 patches run per photo "
                         "against 5); 0: the three sample leaves only")
    ap.add_argument("--baseline-processes", type=int, default=None, metavar="N",
                    help="also load a server scoring in N worker processes (0: in the server's own threads, as "
                         "before 2026-12-01's evening; its slots default to one per core)")
    ap.add_argument("--baseline-serial", action="store_true",
                    help="also load a server scoring each photo on one thread (CROPWATCH_PHOTO_OVERLAP=0: the network "
                         "after the leaf analysis, as before 2026-12-04's evening)")
    a = ap.parse_args()
    sets = {"12 MP (4000x3000)": [phone_size_jpeg(real_photo(c, i), 12.0) for c, i in PHOTOS],
            "page (1600x1200 q85)": [phone_size_jpeg(real_photo(c, i), 1.92, quality=85) for c, i in PHOTOS]}
    for size, js in sets.items():
        print(f"input {size}: " + ", ".join(f"{len(j) / 2**20:.2f} MiB" for j in js))
    pipeline_sets = dict(sets)
    if a.benchmark_photos:
        rows = read_manifest(REPO / "datasets" / "benchmarks" / "field_photo-v1.csv")
        step = max(1, len(rows) // a.benchmark_photos)
        pages = [phone_size_jpeg(Path(r.path), 1.92, quality=85) for r in rows[::step][: a.benchmark_photos]]
        pipeline_sets[f"page, {len(pages)} benchmark"] = pages
        print(f"input page, {len(pages)} benchmark photos: mean {np.mean([len(j) for j in pages]) / 2**20:.2f} MiB")
    pipelines = bench_pipelines(pipeline_sets, a.repeats, a.baseline_bundle)
    patch_network_cost()
    api = {}
    if not a.no_api:
        api = bench_api(sets, a.concurrency, a.api_s, a.baseline_bundle, a.baseline_slots, a.farmer_flow,
                        a.baseline_processes, a.baseline_serial)
    check_targets(pipelines, api if a.concurrency == 16 else {})


if __name__ == "__main__":
    main()
