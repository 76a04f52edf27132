"""Photo scoring benchmark: end-to-end latency of a 12 MP phone JPEG through the served pipeline (DCT-scaled JPEG
decode + onnxruntime) and through a naive one (full-size decode + torch eager, same network), then the API's
sustained photos per second under concurrent uploads against a real server on localhost (errors counted).

Run: .venv/bin/python benchmarks/photo_bench.py [--repeats 20] [--concurrency 8] [--requests 120]
Needs the train extra (torch) for the naive baseline and the FLOP count.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datasets.samples import phone_size_jpeg, real_photo  # noqa: E402
from inference.bundle import active_bundle_path  # noqa: E402
from inference.field_photo_model import FieldPhotoModel, preprocess  # noqa: E402
from inference.lesion_patch_model import load_photo_model  # noqa: E402
from inference.photo import PhotoScorer  # noqa: E402

WHOLE_IMAGE_BUNDLE = REPO / "models" / "field_photo" / "1.1.0"  # the whole-image network, for the naive baseline
PEAK_GFLOPS = 537.0  # this CPU's fp32 peak with AVX-512 (2 cores), from the brief


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def bench_pipelines(jpeg: bytes, repeats: int) -> list[tuple[str, list[float]]]:
    import torch
    from PIL import Image

    from models.field_photo import PhotoClassifier

    torch.set_num_threads(2)
    model = FieldPhotoModel(WHOLE_IMAGE_BUNDLE, threads=2)
    scorer = PhotoScorer(load_photo_model(active_bundle_path("field_photo")))
    eager = PhotoClassifier(len(model.classes)).eval()  # same architecture and FLOPs as the whole-image network

    def ours() -> None:
        scorer.score(jpeg)

    def naive() -> None:
        rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))  # full 12 MP decode
        x = torch.from_numpy(preprocess(rgb, model.meta)[None])
        with torch.no_grad():
            eager(x)

    out = []
    for name, fn in (("served: DCT-scaled decode + gate + lesions + active bundle (onnxruntime)", ours),
                     ("naive: full decode + resize + torch eager", naive)):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t))
        out.append((name, times))
    return out


def network_cost() -> tuple[float, float]:
    """(GFLOP per 224x224 image, ms per image in onnxruntime for the network alone)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from models.field_photo import PhotoClassifier

    m = PhotoClassifier(3, pretrained=False).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m(torch.zeros(1, 3, 224, 224))
    gflop = fc.get_total_flops() / 1e9
    model = FieldPhotoModel(WHOLE_IMAGE_BUNDLE, threads=2)
    x = np.zeros((1, 3, 224, 224), np.float32)
    model.run(x)
    t = time.perf_counter()
    n = 30
    for _ in range(n):
        model.run(x)
    return gflop, 1000 * (time.perf_counter() - t) / n


async def load(url: str, headers: dict[str, str], jpeg: bytes, concurrency: int, total: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    async with httpx.AsyncClient(timeout=60) as client:
        async def worker() -> None:
            nonlocal errors, sent
            while sent < total:
                sent += 1
                t = time.perf_counter()
                try:
                    r = await client.post(f"{url}/v1/photos", headers=headers,
                                          files={"file": ("leaf.jpg", jpeg, "image/jpeg")},
                                          data={"area_code": "VN-STOR-0001"})
                    if r.status_code != 201:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(1000 * (time.perf_counter() - t))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"requests": len(latencies), "errors": errors, "photos_per_s": len(latencies) / wall,
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95)}


def bench_api(jpeg: bytes, concurrency: int, total: int) -> dict[str, float]:
    import httpx

    from api.devserver import running_server
    from datasets.samples import feature_collection

    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp)) as server:
        headers = server.token()
        f = feature_collection(1)["features"][0]
        httpx.post(f"{server.url}/v1/areas", headers=headers, json={**f["properties"], "boundary": f["geometry"]})
        return asyncio.run(load(server.url, headers, jpeg, concurrency, total))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=120)
    a = ap.parse_args()
    jpeg = phone_size_jpeg(real_photo("blast", 0), 12.0)
    print(f"input: {len(jpeg) / 2**20:.1f} MiB JPEG, 12.0 MP (4000x3000), made from a real CC BY leaf photo\n")
    rows = bench_pipelines(jpeg, a.repeats)
    print(f"{'pipeline':<62} {'median ms':>10} {'p95 ms':>8}")
    for name, times in rows:
        print(f"{name:<62} {statistics.median(times):>10.1f} {pct(times, 95):>8.1f}")
    speedup = statistics.median(rows[1][1]) / statistics.median(rows[0][1])
    print(f"speed-up of the served pipeline: {speedup:.1f}x\n")
    gflop, ms = network_cost()
    print(f"network: {gflop:.2f} GFLOP per 224x224 image; onnxruntime {ms:.1f} ms -> {gflop / ms * 1000:.0f} GFLOP/s "
          f"= {100 * gflop / ms * 1000 / PEAK_GFLOPS:.0f}% of the {PEAK_GFLOPS:.0f} GFLOP/s fp32 peak; "
          f"floor at peak: {gflop / PEAK_GFLOPS * 1000:.2f} ms\n")
    api = bench_api(jpeg, a.concurrency, a.requests)
    print(f"API under load ({a.concurrency} concurrent uploads of the 12 MP JPEG, {a.requests} requests, localhost):")
    print(f"{'requests':>9} {'errors':>7} {'photos/s':>9} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{api['requests']:>9.0f} {api['errors']:>7.0f} {api['photos_per_s']:>9.2f} {api['p50_ms']:>8.0f} "
          f"{api['p95_ms']:>8.0f}")


if __name__ == "__main__":
    main()
