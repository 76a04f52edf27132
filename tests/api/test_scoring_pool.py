"""Photos scored in worker processes (api/scoring.py, CROPWATCH_SCORING_PROCESSES): the same result and drawing as
the server's own thread gives, refusals whole (class, message, reason), nothing stored for them, a dead worker
replaced, and the version the server serves used by the workers from the next upload on.

The rest of the suite scores in the server's threads (tests/conftest.py sets CROPWATCH_SCORING_PROCESSES=0) so that
it can watch and replace the scorer in-process; each test here starts its own worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.orm import Observation
from api.scoring import PooledScorer, ScoringPool
from inference.bundle import active_bundle_path
from inference.errors import BadInput, Unavailable
from inference.lesion_patch_model import load_photo_model
from inference.photo import PhotoScorer
from inference.results import as_dict
from tests.api.test_photos import files_in, upload
from tests.conftest import api_client
from tests.data.make_photos import real_photo, truncated


def without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timings_ms"}


@pytest.fixture
def client(db, service_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API client of tests/conftest.py, scoring uploads in one worker process."""
    from api.settings import get_settings

    monkeypatch.setattr(get_settings(), "scoring_processes", 1)
    yield from api_client(db)


def test_an_upload_scored_in_a_worker_is_scored_as_here_and_recorded(client: TestClient, farm: dict, db,
                                                                     data_dir: Path) -> None:
    pool = client.app.state.scoring_pool
    assert isinstance(pool, ScoringPool) and pool.processes == 1
    here = client.app.state.photo_models.scorer  # the server's own scorer of the same bundle
    data = real_photo("brown_spot", 3).read_bytes()
    r = upload(client, farm["a"], data, area_code="VN-STOR-0001")
    assert r.status_code == 201, r.text
    body = r.json()
    result, drawing = here.score_with_drawing(data)
    assert without_timings(body["result"]) == without_timings(as_dict(result))
    with db() as s:
        obs = s.get(Observation, body["id"])
        assert without_timings(obs.scores) == without_timings(as_dict(result))
    got = client.get(body["lesions_url"], headers=farm["a"])  # the drawing the worker made, kept
    assert got.status_code == 200 and got.content == drawing


def test_a_photo_refused_in_a_worker_is_refused_whole_and_nothing_is_stored(client: TestClient, farm: dict,
                                                                            data_dir: Path) -> None:
    bad = truncated(real_photo("blast", 0).read_bytes())
    with pytest.raises(BadInput) as here:
        client.app.state.photo_models.scorer.score(bad)
    r = upload(client, farm["a"], bad, area_code="VN-STOR-0001")
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == here.value.message and r.json()["reason"] == here.value.reason == "photo_damaged"
    assert files_in(data_dir / "photos") == []
    assert client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json() == []


def test_the_workers_score_with_the_version_the_server_serves(client: TestClient, farm: dict) -> None:
    """An activation swaps the server's scorer (the model watcher's callback); the next upload is scored in the
    worker with that bundle."""
    holder = client.app.state.photo_models
    data = real_photo("blast", 0).read_bytes()
    first = upload(client, farm["a"], data, area_code="VN-STOR-0001").json()["result"]["model"]["version"]
    assert first == holder.scorer.model.bundle.version
    other = "1.6.0" if first != "1.6.0" else "1.5.0"
    holder.load(other)
    r = upload(client, farm["a"], real_photo("blast", 1).read_bytes(), area_code="VN-STOR-0001")
    assert r.status_code == 201 and r.json()["result"]["model"]["version"] == other


@pytest.fixture(scope="module")
def scorer() -> PhotoScorer:
    return PhotoScorer(load_photo_model(active_bundle_path("field_photo")))


def test_a_dead_worker_is_replaced_and_the_photo_scored(scorer: PhotoScorer) -> None:
    pool = ScoringPool(1)
    try:
        pooled = PooledScorer.of(scorer, pool)
        data = real_photo("bacterial_leaf_blight", 2).read_bytes()
        first = pooled.score(data)
        (pid,) = list(pool._executor._processes)  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
        again = pooled.score(data)  # the broken pool is replaced and the photo scored on the new one
        assert without_timings(as_dict(again)) == without_timings(as_dict(first))
        assert list(pool._executor._processes) != [pid]  # type: ignore[attr-defined]
    finally:
        pool.shutdown()


class _Broken:
    """An executor whose every task fails as a pool whose worker died does."""

    def submit(self, *_a: object, **_kw: object) -> Future:
        f: Future = Future()
        f.set_exception(BrokenProcessPool("a worker died"))
        return f

    def shutdown(self, **_kw: object) -> None:
        pass


def test_a_photo_that_stops_the_worker_twice_is_answered_unavailable(scorer: PhotoScorer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ScoringPool, "_new", lambda self: _Broken())
    pool = ScoringPool(1)
    with pytest.raises(Unavailable, match="stopped twice"):
        PooledScorer.of(scorer, pool).score(real_photo("blast", 0).read_bytes())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its new parent) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pids: list[int], seconds: float) -> bool:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_the_workers_end_with_the_pool_and_with_a_killed_server() -> None:
    """Shut down, the workers end; a server killed without shutting the pool down (SIGKILL, a crash) leaves no worker
    behind either: each watches its server (found: after a SIGTERM'd `cropwatch serve`, its workers lived on)."""
    import subprocess
    import sys

    pool = ScoringPool(1)
    pool.warm()
    pids = list(pool._executor._processes)  # type: ignore[attr-defined]
    pool.shutdown()
    assert _gone_within(pids, 5)

    script = ("import os\nfrom api.scoring import ScoringPool\np = ScoringPool(2)\np.warm()\n"
              "print(*p._executor._processes, flush=True)\nos._exit(0)\n")  # ends without shutting the pool down
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout
    orphans = [int(p) for p in out.split()]
    assert len(orphans) == 2 and _gone_within(orphans, 10), out


def test_the_overlap_setting_reaches_the_workers_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    """CROPWATCH_PHOTO_OVERLAP=0: the server's scorer and the one each worker builds from the pool's arguments score a
    photo on one thread."""
    from api.scoring import _worker_scorer
    from api.services.photos import make_scorer
    from api.settings import Settings

    pool = ScoringPool(1)  # its workers start with the first photo: none here
    try:
        for value, overlap in (("0", False), ("1", True)):
            monkeypatch.setenv("CROPWATCH_PHOTO_OVERLAP", value)
            here = make_scorer(active_bundle_path("field_photo"), Settings())
            assert here.overlap is overlap
            assert _worker_scorer(*pool._args(here)).overlap is overlap
    finally:
        pool.shutdown()


def test_a_worker_scores_a_sample_photo_before_the_first_upload(scorer: PhotoScorer) -> None:
    """Each worker scores a sample leaf with the served bundle as it starts, so that the first farmer's photo does not
    pay the process's first onnxruntime run and first OpenCV calls (200 ms against 40)."""
    from api.scoring import WARM_UP_PHOTO, _warmed_with

    assert WARM_UP_PHOTO.is_file()
    pool = ScoringPool(1, scorer=scorer)
    try:
        pool.warm()
        assert pool._executor.submit(_warmed_with).result(60) == [str(scorer.model.bundle.path)]
    finally:
        pool.shutdown()
