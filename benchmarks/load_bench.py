"""The API under load, against a live `cropwatch serve` on localhost (SQLite): 16 concurrent photo uploads for 60 s,
then 32 concurrent point look-ups for 30 s. Prints throughput, p50/p95/p99 and errors for each.

    python benchmarks/load_bench.py [--upload-s 60] [--lookup-s 30] [--photo-mp 12]

Every request loop is bounded in time and stops by itself; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets.samples import feature_collection, phone_size_jpeg, real_photo  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return float(statistics.quantiles(values, n=100)[q - 1]) if len(values) > 1 else float("nan")


async def drive(call: Callable[[], Awaitable[bool]], concurrency: int, seconds: float) -> dict[str, float]:
    """`concurrency` loops calling `call` until `seconds` have passed; latencies in ms, errors counted."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                ok = await call()
            except Exception:  # noqa: BLE001 - a failed request is an error to count, not a crash
                ok = False
            errors += not ok
            latencies.append(1000 * (time.perf_counter() - t))

    t0 = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"requests": len(latencies), "errors": errors, "per_s": len(latencies) / wall, "p50": pct(latencies, 50),
            "p95": pct(latencies, 95), "p99": pct(latencies, 99)}


async def run(url: str, headers: dict[str, str], jpeg: bytes, a: argparse.Namespace) -> list[tuple[str, dict]]:
    import httpx

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def upload() -> bool:
            r = await client.post(f"{url}/v1/photos", headers=headers, files={"file": ("leaf.jpg", jpeg, "image/jpeg")},
                                  data={"area_code": "VN-STOR-0001"})
            return r.status_code == 201

        async def lookup() -> bool:
            r = await client.get(f"{url}/v1/areas/lookup", params={"lat": 9.5602, "lon": 105.9705}, headers=headers)
            return r.status_code in (200, 404)

        up = await drive(upload, a.upload_concurrency, a.upload_s)
        look = await drive(lookup, a.lookup_concurrency, a.lookup_s)
    return [(f"photo upload ({a.photo_mp:g} MP JPEG) x{a.upload_concurrency}", up),
            (f"area look-up x{a.lookup_concurrency}", look)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upload-s", type=float, default=60)
    ap.add_argument("--lookup-s", type=float, default=30)
    ap.add_argument("--upload-concurrency", type=int, default=16)
    ap.add_argument("--lookup-concurrency", type=int, default=32)
    ap.add_argument("--photo-mp", type=float, default=12.0)
    a = ap.parse_args()
    import httpx

    from api.devserver import running_server

    jpeg = phone_size_jpeg(real_photo("blast", 0), a.photo_mp)
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp)) as server:
        headers = server.token()
        f = feature_collection(1)["features"][0]
        r = httpx.post(f"{server.url}/v1/areas", headers=headers, json={**f["properties"], "boundary": f["geometry"]})
        r.raise_for_status()
        rows = asyncio.run(run(server.url, headers, jpeg, a))
    print(f"{'load':<36} {'requests':>9} {'errors':>7} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'p99/p50':>8}")
    for name, m in rows:
        print(f"{name:<36} {m['requests']:>9.0f} {m['errors']:>7.0f} {m['per_s']:>8.1f} {m['p50']:>8.0f} "
              f"{m['p95']:>8.0f} {m['p99']:>8.0f} {m['p99'] / m['p50']:>8.1f}")


if __name__ == "__main__":
    main()
