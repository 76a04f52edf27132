"""Promotion of served models: recorded in the database (who, when, from, to, why), gated by a comparison on the
frozen benchmark, rolled back in one call, allowed to admins and agronomists given the right, and seen by a second
running server process within 5 seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.devserver import running_server
from api.orm import Role
from api.services import model_registry as registry
from api.settings import get_settings
from inference.bundle import MODELS_DIR
from tests.conftest import make_account, token_for


def models_copy(root: Path, active: str = "1.2.0") -> Path:
    """A models folder with the shipped field-photo bundles linked in, so that no test writes the repository's."""
    d = root / "models" / "field_photo"
    d.mkdir(parents=True)
    for v in ("1.1.0", "1.2.0"):
        os.symlink(MODELS_DIR / "field_photo" / v, d / v)
    (d / "ACTIVE").write_text(active + "\n")
    return root / "models"


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: TestClient) -> Path:
    m = models_copy(tmp_path)
    monkeypatch.setattr(get_settings(), "models_dir", m)
    holder = client.app.state.photo_models
    monkeypatch.setattr(holder, "models_dir", m)
    holder.sync("1.2.0")
    return m


def test_promotion_is_gated_recorded_and_rolled_back(client: TestClient, admin: dict, db, models: Path) -> None:
    holder = client.app.state.photo_models
    r = client.post("/v1/models/field_photo/activate", json={"version": "1.1.0"}, headers=admin)
    assert r.status_code == 409 and "cropwatch models compare field_photo 1.2.0 1.1.0" in r.json()["detail"]
    r = client.post("/v1/models/field_photo/activate", json={"version": "1.1.0", "force": True}, headers=admin)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    assert client.post("/v1/models/field_photo/activate", json={"version": "../1.1.0"},
                       headers=admin).status_code == 422
    assert client.post("/v1/models/field_photo/activate", json={"version": "9.9.9", "force": True, "reason": "x"},
                       headers=admin).status_code == 404
    same = client.post("/v1/models/field_photo/activate", json={"version": "1.2.0", "force": True, "reason": "x"},
                       headers=admin)
    assert same.status_code == 409 and "already the active version" in same.json()["detail"]
    assert client.get("/v1/models/field_photo/activations", headers=admin).json() == []  # refusals wrote nothing

    r = client.post("/v1/models/field_photo/activate", headers=admin,
                    json={"version": "1.1.0", "force": True, "reason": "blast season: fewer unsure answers"})
    assert r.status_code == 200, r.text
    assert r.json() == {"active": "1.1.0", "previous": "1.2.0", "activation_id": r.json()["activation_id"]}
    assert holder.scorer.model.bundle.version == "1.1.0"
    assert client.get("/v1/models/field_photo", headers=admin).json()["version"] == "1.1.0"
    # the database says what is served; the models folder's ACTIVE file, part of the checkout, is left alone
    assert (models / "field_photo" / "ACTIVE").read_text().strip() == "1.2.0"

    r = client.post("/v1/models/field_photo/rollback", json={"reason": "farmers complain"}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] == "1.2.0" and r.json()["previous"] == "1.1.0"
    assert holder.scorer.model.bundle.version == "1.2.0"
    hist = client.get("/v1/models/field_photo/activations", headers=admin).json()
    assert [(h["action"], h["previous_version"], h["version"], h["actor"], h["forced"]) for h in hist] == [
        ("rollback", "1.1.0", "1.2.0", "admin", False), ("activate", "1.2.0", "1.1.0", "admin", True)]
    assert hist[1]["reason"] == "blast season: fewer unsure answers"

    versions = client.get("/v1/models/field_photo/versions", headers=admin).json()
    assert [v["version"] for v in versions] == ["1.2.0", "1.1.0"] and versions[0]["active"]
    assert "MODEL_CARD.md" in versions[0]["files"]
    card = client.get("/v1/models/field_photo/versions/1.2.0/files/MODEL_CARD.md", headers=admin)
    assert card.status_code == 200 and "1.2.0" in card.text
    assert client.get("/v1/models/field_photo/versions/1.2.0/files/model.onnx", headers=admin).status_code == 404
    assert client.get("/v1/models/tungro/versions", headers=admin).status_code == 404


def test_comparison_decides(client: TestClient, admin: dict, service_db: Path, models: Path) -> None:
    bench = registry.current_benchmark("field_photo")
    record = {"benchmark": bench, "margin": 0.02, "created_at": "2026-11-29T00:00:00+00:00",
              "regressions": ["source roboflow: macro-F1 0.600 against 0.700"]}
    registry.save_comparison(service_db, "field_photo", "1.2.0", "1.1.0", record)
    r = client.post("/v1/models/field_photo/activate", json={"version": "1.1.0"}, headers=admin)
    assert r.status_code == 409 and "source roboflow: macro-F1 0.600 against 0.700" in r.json()["detail"]
    registry.save_comparison(service_db, "field_photo", "1.2.0", "1.1.0", {**record, "benchmark": "old@000"})
    assert client.post("/v1/models/field_photo/activate", json={"version": "1.1.0"},
                       headers=admin).status_code == 409  # a comparison on another benchmark does not count
    registry.save_comparison(service_db, "field_photo", "1.2.0", "1.1.0", {**record, "regressions": []})
    r = client.post("/v1/models/field_photo/activate", json={"version": "1.1.0"}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] == "1.1.0"
    hist = client.get("/v1/models/field_photo/activations", headers=admin).json()
    assert hist[0]["forced"] is False


def test_only_promoters_switch_models(client: TestClient, admin: dict, db, models: Path) -> None:
    make_account(db, "agro", Role.agronomist, province="Sóc Trăng")
    make_account(db, "farmer1", Role.farmer)
    agro, farmer = token_for(client, "agro"), token_for(client, "farmer1")
    body = {"version": "1.1.0", "force": True, "reason": "test"}
    for h in (agro, farmer):
        assert client.post("/v1/models/field_photo/activate", json=body, headers=h).status_code == 403
        assert client.post("/v1/models/field_photo/rollback", json={}, headers=h).status_code == 403
    assert client.post("/v1/accounts/farmer1/promote-right", headers=admin).status_code == 422
    assert client.post("/v1/accounts/agro/promote-right", headers=agro).status_code == 403
    r = client.post("/v1/accounts/agro/promote-right", headers=admin)
    assert r.status_code == 200 and r.json()["can_promote"] is True
    assert client.post("/v1/models/field_photo/activate", json=body, headers=agro).status_code == 200
    assert client.get("/v1/models/field_photo/activations", headers=farmer).json()[0]["actor"] == "agro"
    assert client.delete("/v1/accounts/agro/promote-right", headers=admin).json()["can_promote"] is False
    assert client.post("/v1/models/field_photo/rollback", json={}, headers=agro).status_code == 403


def test_rollbacks_walk_back_and_never_bring_back_what_they_took_out(client: TestClient, admin: dict, db,
                                                                     models: Path) -> None:
    """Two forced activations, then rollbacks: each goes one activation further back, and past the first one there
    is nothing left (a second rollback once undid the first, putting the forced version back in service)."""
    os.symlink(MODELS_DIR / "field_photo" / "1.0.0", models / "field_photo" / "1.0.0")
    for v in ("1.1.0", "1.0.0"):
        r = client.post("/v1/models/field_photo/activate", json={"version": v, "force": True, "reason": "trial"},
                        headers=admin)
        assert r.status_code == 200, r.text
    walk = [client.post("/v1/models/field_photo/rollback", json={}, headers=admin) for _ in range(3)]
    assert [(r.status_code, r.json().get("active")) for r in walk[:2]] == [(200, "1.1.0"), (200, "1.2.0")]
    assert walk[2].status_code == 409 and "every field_photo activation has been rolled back" in walk[2].json()["detail"]
    assert client.get("/v1/models/field_photo", headers=admin).json()["version"] == "1.2.0"


def test_rollback_without_history_is_a_conflict(client: TestClient, admin: dict, models: Path) -> None:
    r = client.post("/v1/models/field_photo/rollback", json={}, headers=admin)
    assert r.status_code == 409 and "nothing to roll back" in r.json()["detail"]


def test_cli_activation_reaches_a_running_server_within_5_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = models_copy(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CROPWATCH_MODELS_DIR", str(models))
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(data)}
    env.pop("CROPWATCH_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api.cli", "models", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    with running_server(data) as server:
        h = server.token()
        served = lambda: httpx.get(f"{server.url}/v1/models/field_photo", headers=h).json()["version"]  # noqa: E731
        assert served() == "1.2.0"
        refused = cli("activate", "field_photo", "1.1.0")
        assert refused.returncode == 2 and "models compare" in refused.stderr
        r = cli("activate", "field_photo", "1.1.0", "--force", "--reason", "field test")
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        while served() != "1.1.0":
            assert time.monotonic() - t0 < 5, "the running server still serves 1.2.0 after 5 s"
            time.sleep(0.1)
        r = cli("rollback", "field_photo")
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        while served() != "1.2.0":
            assert time.monotonic() - t0 < 5, "the rollback did not reach the running server within 5 s"
            time.sleep(0.1)
        hist = cli("history", "field_photo").stdout
        assert "rollback 1.1.0 -> 1.2.0 by cli" in hist and "field test" in hist
        acts = httpx.get(f"{server.url}/v1/models/field_photo/activations", headers=h).json()
        assert [a["version"] for a in acts] == ["1.2.0", "1.1.0"]


def test_compare_prints_the_table_and_writes_the_plots(tmp_path: Path) -> None:
    bench = tmp_path / "bench.csv"
    lines = (Path(__file__).resolve().parents[2] / "datasets" / "benchmarks" / "field_photo-v1.csv").read_text()
    rows = lines.splitlines()
    sethy = [r for r in rows[1:] if r.endswith(",sethy2020")]
    picked = [next(r for r in sethy if f",{c}," in r) for c in ("bacterial_leaf_blight", "blast", "brown_spot")]
    bench.write_text("\n".join([rows[0], *picked]) + "\n")
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-m", "api.cli", "models", "compare", "field_photo", "1.1.0", "1.2.0",
                        "--benchmark", str(bench), "--out", str(tmp_path / "plots")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "source sethy2020 (macro-F1)" in r.stdout and "class blast (F1)" in r.stdout
    assert "1.1.0 trained without the benchmark: yes" in r.stdout
    for name in ("outcomes.png", "coverage_accuracy.png", "confusion_1.1.0.png", "confusion_1.2.0.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000
    # on another benchmark than the frozen one: kept apart under its id, never where the promotion gate reads (it
    # overwrote the frozen benchmark's comparison, and a refused candidate then "may replace" the served one)
    folder = tmp_path / "data" / "comparisons" / "field_photo"
    assert not (folder / "1.1.0__1.2.0.json").exists() and "does not count for promotion" in r.stdout
    record = json.loads(next(folder.glob("1.1.0__1.2.0@bench@*.json")).read_text())
    assert record["benchmark"].startswith("bench@") and set(record["versions"]) == {"1.1.0", "1.2.0"}
    assert record["versions"]["1.2.0"]["per_source"]["sethy2020"]["n"] == 3
    bad = subprocess.run([sys.executable, "-m", "api.cli", "models", "compare", "field_photo", "1.1.0", "9.9.9"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "9.9.9" in bad.stderr


def test_drone_damage_compare_and_promotion_work_as_for_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               client: TestClient, db) -> None:
    """The drone damage model: compared on the held-out Bali scenes through the raster pipeline, per scene; the
    promotion is refused without that comparison and recorded with it."""
    from api.services.comparisons import compare

    d = tmp_path / "models" / "drone_damage"
    d.mkdir(parents=True)
    for v in ("1.0.0", "1.1.0"):
        os.symlink(MODELS_DIR / "drone_damage" / v, d / v)
    (d / "ACTIVE").write_text("1.1.0\n")
    monkeypatch.setattr(get_settings(), "models_dir", tmp_path / "models")
    make_account(db, "admin", Role.admin)
    h = token_for(client, "admin")
    r = client.post("/v1/models/drone_damage/activate", json={"version": "1.0.0"}, headers=h)
    assert r.status_code == 409 and "compare" in r.json()["detail"]
    result = compare("drone_damage", "1.1.0", "1.0.0")
    rec = result.record
    assert rec["benchmark"].startswith("drone_damage-v1@")
    assert set(rec["versions"]["1.0.0"]["per_source"]) == {"bali_south_s0", "bali_south_s1", "bali_south_s2"}
    shipped = json.loads((d / "1.0.0" / "model.json").read_text())["metrics"]["held_out_scenes"]
    for scene, m in rec["versions"]["1.0.0"]["per_source"].items():  # the notebook's own held-out figures, again
        assert m["f1"] == pytest.approx(shipped[scene]["model"]["f1"], abs=0.02), scene
    assert (result.plots / "outcomes.png").stat().st_size > 1000 and "bali_south_s0" in "\n".join(result.lines)
    r = client.post("/v1/models/drone_damage/activate", json={"version": "1.0.0"}, headers=h)
    if rec["regressions"]:
        assert r.status_code == 409
        r = client.post("/v1/models/drone_damage/activate", json={"version": "1.0.0", "force": True,
                                                                  "reason": "test"}, headers=h)
    assert r.status_code == 200, r.text
    acts = client.get("/v1/models/drone_damage/activations", headers=h).json()
    assert acts[0]["version"] == "1.0.0" and acts[0]["comparison"]["benchmark"] == rec["benchmark"]


def test_versions_list_the_headline_figures_a_bundle_has(tmp_path: Path) -> None:
    """A bundle's leave-one-domain-out figures (trained since 2026-12-01) reach the models page beside leave one
    source out; figures that are not headline ones stay in model.json."""
    m = models_copy(tmp_path)
    d = m / "field_photo" / "9.9.9"
    d.mkdir()
    lodo = {"test_roboflow_other": {"macro_f1": 0.55}}
    (d / "model.json").write_text(json.dumps({"architecture": "x", "metrics": {
        "leave_one_source_out": {}, "leave_one_domain_out": lodo, "training_curve": [1, 2]}}))
    v = {x["version"]: x for x in registry.versions("field_photo", m, "1.2.0")}["9.9.9"]
    assert v["metrics"] == {"leave_one_source_out": {}, "leave_one_domain_out": lodo}


def test_a_bundle_that_is_no_servable_model_of_the_task_is_refused(client: TestClient, admin: dict,
                                                                     models: Path) -> None:
    """A drone bundle copied under field_photo was activated while the server kept the old model (a KeyError logged
    every second); a folder with a broken model.json made the versions list a 500; a quick-subset run ("no candidate
    to serve") was activated without a word. Now: 404 naming what the bundle is, the broken folder listed with its
    error, a 409 for the quick subset unless forced with a reason; nothing activated."""
    import shutil

    d = models / "field_photo"
    shutil.copytree(MODELS_DIR / "drone_damage" / "1.4.1", d / "9.6.0")
    shutil.copytree(MODELS_DIR / "field_photo" / "1.2.0", d / "9.0.3")
    (d / "9.0.3" / "model.json").write_text('{"model_name": "field_photo", ')
    shutil.copytree(MODELS_DIR / "field_photo" / "1.2.0", d / "9.1.0")
    meta = json.loads((d / "9.1.0" / "model.json").read_text())
    meta.setdefault("training", {})["warnings"] = ["trained on a quick subset (max_images 60: 68 photos): its figures "
                                                   "are not comparable with a full run's, and it is no candidate to serve"]
    (d / "9.1.0" / "model.json").write_text(json.dumps(meta))
    url = "/v1/models/field_photo/activate"
    r = client.post(url, json={"version": "9.6.0", "force": True, "reason": "x"}, headers=admin)
    assert r.status_code == 404 and "segmentation bundle" in r.json()["detail"], r.text
    r = client.post(url, json={"version": "9.0.3", "force": True, "reason": "x"}, headers=admin)
    assert r.status_code == 404 and "not valid JSON" in r.json()["detail"], r.text
    versions = {v["version"]: v for v in client.get("/v1/models/field_photo/versions", headers=admin).json()}
    assert "not valid JSON" in versions["9.0.3"]["error"] and "quick subset" in versions["9.1.0"]["warning"]
    r = client.post(url, json={"version": "9.1.0", "reason": "x"}, headers=admin)
    assert r.status_code == 409 and "quick subset" in r.json()["detail"]
    assert client.get("/v1/models/field_photo/activations", headers=admin).json() == []


def test_the_served_models_headline_figures_are_filled(client: TestClient, admin: dict) -> None:
    """GET /v1/models/field_photo gave accuracy, macro-F1, ECE and abstain as null for every lesion-patch bundle;
    they are its in-source figures now, said as such, with leave one source out beside them."""
    from api.routers.models import headline_metrics
    from inference.bundle import active_bundle_path

    m = client.get("/v1/models/field_photo", headers=admin).json()["metrics"]
    assert all(m[k] is not None for k in ("accuracy", "macro_f1", "ece", "abstain")), m
    meta = json.loads((active_bundle_path("field_photo") / "model.json").read_text())["metrics"]
    assert headline_metrics(meta)["macro_f1"] == meta["in_source_grouped_cv"]["all"]["macro_f1"]
    assert "unsure included" in headline_metrics(meta)["basis"]
    assert headline_metrics({"accuracy": 0.9, "macro_f1": 0.8, "ece": 0.1, "abstain": 0.2})["macro_f1"] == 0.8


def test_a_comparison_on_part_of_the_frozen_benchmark_knows_a_bundle_left_it_out() -> None:
    """`compare --benchmark subset.csv` said "trained without the benchmark: no (it left out field_photo-v1@...)" for a
    bundle that left out every photo of the subset; a photo outside the frozen benchmark still says no."""
    from api.services.comparisons import training_excludes
    from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_path, read_benchmark
    from datasets.field_photos import DEFAULT_DATA_ROOT, build_manifest, load_config

    bench = read_benchmark(benchmark_path(DEFAULT_BENCHMARK["field_photo"]))
    meta = {"training": {"benchmark_excluded": "field_photo-v1@0123456789ab"}}
    assert training_excludes(Path("."), meta, bench[:7], "field_photo-v1@0123456789ab") == "yes"
    said = training_excludes(Path("."), meta, bench[:7], "blast_only@ba9876543210")
    assert said.startswith("yes (every photo is in field_photo-v1")
    in_bench = {r.path for r in bench}
    trained = next(r for r in build_manifest(load_config(), DEFAULT_DATA_ROOT)[0] if r.path not in in_bench)
    assert training_excludes(Path("."), meta, [*bench[:3], trained], "mixed@ba9876543210").startswith("no (it left out")
