"""Photos scored in worker processes, so that scoring runs on every core at once.

Scoring a photo is about 45 ms of CPU in many small numpy and OpenCV steps, and numpy's small steps hold the
interpreter lock: two threads of one process score 1.5x what one does, two processes 2x (page-sized photos, 2 cores,
2026-12-01: 20.7, 32.0 and 40.3 photos/s), and the server's own HTTP and database work waits for the same lock. With
CROPWATCH_SCORING_PROCESSES (default: one per core) the server hands each upload's bytes to a pool of worker
processes, each scoring one photo at a time (one onnxruntime and one OpenCV thread; the network beside the leaf
analysis in a second thread, CROPWATCH_PHOTO_OVERLAP) with its own copy of the served model, and gets the result
document and the lesion drawing back; the database, the files and the jobs stay in the server.

Each task names the bundle folder it must be scored with, so an activated version reaches the workers with the next
upload (each keeps the two bundles it used last). A worker that dies (killed, out of memory) breaks the pool: it is
replaced and the photo is tried once more on the new one; a photo that kills that one too is answered 503 and
nothing is stored. Errors the scorer raises on purpose (a damaged or too large photo) reach the client as they would
from the server's own thread: same class, message and reason. Workers end with the server: shut down with it, or,
when it is killed, on seeing it gone (each watches its pid).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from inference.errors import Unavailable
from inference.photo import PhotoScorer
from inference.results import PhotoResult

log = logging.getLogger("cropwatch.scoring")


ScorerArgs = tuple[str, int, int, int, bool]  # bundle folder, byte and pixel limits, onnxruntime threads, overlap


# A CC BY sample leaf (api/data/sample) each worker scores once as it starts: a process's first photo pays
# onnxruntime's first run and OpenCV's and numpy's first calls, 200-220 ms against 36-44 ms for a page-sized photo
# scored after it (one process, 2026-12-04), and the first farmer of each worker waited for that.
WARM_UP_PHOTO = Path(__file__).resolve().parent / "data" / "sample" / "photos" / "BROWNSPOT1_151.jpg"
_warmed: list[str] = []  # the bundles this worker scored its warm-up photo with (a test asks)


def _start_worker(parent: int, preload: ScorerArgs | None) -> None:
    """One OpenCV thread per worker (the pool's processes are the parallelism), a watch on the server, and the served
    bundle loaded, and a sample photo scored with it, before the first photo arrives."""
    import cv2

    cv2.setNumThreads(1)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="exit-with-server").start()
    if preload is not None:
        try:
            scorer = _worker_scorer(*preload)
        except Exception:  # noqa: BLE001 - the photo that needs it gets the error, whole
            log.exception("a scoring process could not load %s", preload[0])
            return
        try:
            scorer.score_with_drawing(WARM_UP_PHOTO.read_bytes())
            _warmed.append(preload[0])
        except Exception:  # noqa: BLE001 - only the first photo's speed depends on it
            log.exception("a scoring process could not score its warm-up photo %s", WARM_UP_PHOTO)


def _warmed_with() -> list[str]:
    return list(_warmed)


def _exit_with(parent: int, every_s: float = 1.0) -> None:
    """End this worker once the server process `parent` is gone (killed, or stopped without shutting the pool down):
    a worker waiting for photos would otherwise wait for ever, holding its memory."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


@lru_cache(maxsize=2)
def _worker_scorer(bundle_dir: str, max_bytes: int, max_pixels: int, threads: int, overlap: bool) -> PhotoScorer:
    from inference.lesion_patch_model import load_photo_model

    return PhotoScorer(load_photo_model(bundle_dir, threads), max_bytes=max_bytes, max_pixels=max_pixels,
                       overlap=overlap)


def _score(bundle_dir: str, max_bytes: int, max_pixels: int, threads: int, overlap: bool, data: bytes,
           ) -> tuple[PhotoResult, bytes | None]:
    return _worker_scorer(bundle_dir, max_bytes, max_pixels, threads, overlap).score_with_drawing(data)


def _ready() -> int:
    time.sleep(0.2)  # long enough that each of the pool's first tasks goes to another process
    return os.getpid()


class ScoringPool:
    """`processes` single-threaded worker processes (spawned: the server's threads are not forked) scoring photos
    with the bundle of the scorer they are handed; each loads `scorer`'s bundle as it starts."""

    def __init__(self, processes: int, threads: int | None = None, scorer: PhotoScorer | None = None) -> None:
        self.processes = processes
        self.threads = threads or 1
        self._preload = self._args(scorer) if scorer is not None else None
        self._lock = threading.Lock()
        self._executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.processes, multiprocessing.get_context("spawn"), initializer=_start_worker,
                                   initargs=(os.getpid(), self._preload))

    def _args(self, scorer: PhotoScorer) -> ScorerArgs:
        return str(scorer.model.bundle.path), scorer.max_bytes, scorer.max_pixels, self.threads, scorer.overlap

    def warm(self, timeout_s: float = 300.0) -> None:
        """Start the workers and wait until they have loaded the bundle (a server that answers is ready to score)."""
        try:
            for f in [self._executor.submit(_ready) for _ in range(self.processes)]:
                f.result(timeout_s)
        except (BrokenProcessPool, TimeoutError) as exc:  # the first upload tries a new pool
            log.warning("the scoring processes did not start (%s)", exc)

    def score_with_drawing(self, scorer: PhotoScorer, data: bytes) -> tuple[PhotoResult, bytes | None]:
        """`scorer.score_with_drawing(data)`, run in a worker process."""
        args = self._args(scorer)
        try:
            return self._run(args, data)
        except BrokenProcessPool as exc:
            log.warning("a scoring process stopped (%s); scoring the photo again on a new pool", exc)
        try:
            return self._run(args, data)
        except BrokenProcessPool as exc:
            raise Unavailable("the scoring process stopped twice on this photo; nothing was stored: send it again, "
                              "or a smaller photo") from exc

    def _run(self, args: ScorerArgs, data: bytes) -> tuple[PhotoResult, bytes | None]:
        """One try on the current pool; a pool found broken is replaced before the error is passed on."""
        executor = self._executor
        try:
            return executor.submit(_score, *args, data).result()
        except BrokenProcessPool:
            self._replace(executor, args)
            raise

    def _replace(self, broken: ProcessPoolExecutor, args: ScorerArgs) -> None:
        """A new pool in place of `broken` (once, whichever thread notices first), its workers loading `args`."""
        with self._lock:
            if self._executor is broken:
                self._preload = args
                self._executor = self._new()
        broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop the workers, after the photos they are scoring (without waiting, they outlived the server)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class PooledScorer(PhotoScorer):
    """A PhotoScorer whose uploads are scored in a ScoringPool (what the upload route is handed when the pool is on);
    the rest (drawing an old photo's lesions, the model's classes and bundle) runs in the server, on its own copy of
    the same bundle."""

    pool: ScoringPool = field(kw_only=True)

    def score_with_drawing(self, data: bytes, draw: bool = True) -> tuple[PhotoResult, bytes | None]:
        result, drawing = self.pool.score_with_drawing(self, data)
        return result, drawing if draw else None

    @classmethod
    def of(cls, scorer: PhotoScorer, pool: ScoringPool) -> PooledScorer:
        return cls(scorer.model, scorer.advice_path, scorer.max_bytes, scorer.max_pixels, pool=pool)


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container limited to 2 CPUs
    on a 32-core node gets 2)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n
