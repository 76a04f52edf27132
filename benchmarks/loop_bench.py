"""One full turn of the agronomist's loop on the shipped data, timed step by step, through the same code the pages
and notebook 05 call: a farmer sends photos and corrects the diagnoses; an agronomist reviews them; the reviewed
labels are exported; a candidate is trained with them as an extra dataset; it is compared with the served version
on the frozen benchmark, promoted, and served without a restart.

    python -m benchmarks.loop_bench [--photos 24] [--max-images N] [--keep DIR]

Everything happens in a temporary data folder and models folder (the shipped bundles linked in): the repository's
models/ and var/ are never written. The photos are training-source photos outside the frozen benchmark, so the
candidate's figures say nothing about accuracy: this measures how long the loop takes, not how good the model gets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def setup(root: Path) -> None:
    """A data folder and a models folder of our own, before the service's settings are read."""
    from inference.bundle import MODELS_DIR

    models = root / "models"
    for task in ("field_photo", "drone_damage"):
        (models / task).mkdir(parents=True)
        for b in (MODELS_DIR / task).iterdir():
            if b.is_dir():
                os.symlink(b, models / task / b.name)
        (models / task / "ACTIVE").write_text((MODELS_DIR / task / "ACTIVE").read_text())
    os.environ.update(CROPWATCH_DATA_DIR=str(root / "data"), CROPWATCH_MODELS_DIR=str(models))


def pick_photos(n: int) -> list[tuple[Path, str]]:
    """n training-source photos outside the benchmark, alternating sources and classes."""
    from datasets.benchmark import without_benchmark
    from datasets.field_photos import DEFAULT_DATA_ROOT, build_manifest, load_config

    rows = without_benchmark(build_manifest(load_config(), DEFAULT_DATA_ROOT)[0])
    by: dict[tuple[str, str], list] = {}
    for r in rows:
        by.setdefault((r.source, r.label), []).append(r)
    keys = sorted(by)
    return [(Path(by[keys[i % len(keys)]][i // len(keys)].path), keys[i % len(keys)][1]) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--max-images", type=int, default=None, help="train on a small subset (a quick look)")
    ap.add_argument("--keep", type=Path, default=None, help="work here instead of a temporary folder")
    a = ap.parse_args()
    root = a.keep or Path(tempfile.mkdtemp(prefix="cropwatch-loop-"))
    setup(root)
    times: list[tuple[str, float, str]] = []

    def step(name: str, t0: float, note: str = "") -> float:
        times.append((name, time.perf_counter() - t0, note))
        print(f"{name}: {times[-1][1]:.1f} s {note}", file=sys.stderr)
        return time.perf_counter()

    run_loop(a, root, step)
    print(f"\nOne turn of the agronomist's loop ({a.photos} photos, training on "
          f"{'all' if not a.max_images else a.max_images} shipped photos + the reviewed ones), {root}")
    print(f"{'step':<46}{'seconds':>9}  note")
    for name, s, note in times:
        print(f"{name:<46}{s:>9.1f}  {note}")
    print(f"{'total':<46}{sum(s for _, s, _ in times):>9.1f}")


def run_loop(a: argparse.Namespace, root: Path, step) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.db import new_session
    from api.migrate import upgrade
    from api.orm import Account, Role
    from api.security import hash_password
    from api.services.comparisons import compare
    from api.services.feedback import export_feedback
    from api.settings import get_settings
    from models.lesion_patch_pipeline import LesionPatchConfig, run

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url())  # as `cropwatch serve` does
    photos = pick_photos(a.photos)
    with TestClient(create_app()) as c:
        with new_session() as s:
            for user, role in (("farmer", Role.farmer), ("agro", Role.agronomist), ("boss", Role.admin)):
                s.add(Account(username=user, role=role, province="Sóc Trăng", password_hash=hash_password("pw-12345678")))
            s.commit()
        tok = {u: {"Authorization": "Bearer " + c.post("/v1/auth/token", data={"username": u, "password": "pw-12345678"})
                   .json()["access_token"]} for u in ("farmer", "agro", "boss")}
        resp = c.post("/v1/areas", headers=tok["boss"], json={**_area(), "owner_username": "farmer"})
        assert resp.status_code == 201, resp.text
        t0 = time.perf_counter()
        for p, label in photos:
            resp = c.post("/v1/photos", headers=tok["farmer"], data={"area_code": "VN-LOOP-0001"},
                          files={"file": (p.name, p.read_bytes(), "image/jpeg")})
            assert resp.status_code == 201, resp.text
            r = resp.json()
            said = r["result"]["diagnosis"]["label"]
            body = {"verdict": "right"} if said == label else {"label": label}
            c.post(f"/v1/photos/{r['id']}/feedback", headers=tok["farmer"], json=body)
        t0 = step("farmer: upload, score and correct", t0, f"{len(photos)} photos through the served pipeline")
        q = c.get("/v1/review/queue?limit=500", headers=tok["agro"]).json()
        for it in q["items"]:
            c.post(f"/v1/review/photos/{it['photo_id']}", headers=tok["agro"], json={"action": "confirm"})
        t0 = step("agronomist: review queue, confirm each", t0, f"{q['queued']} queued")
        with new_session() as s:
            info = export_feedback(s, root / "feedback")
        t0 = step("cropwatch datasets export-feedback", t0, f"{info['n_photos']} photos")
        meta = run("9.9.9-loop", root / "models" / "field_photo" / "9.9.9-loop", max_images=a.max_images,
                   cfg=LesionPatchConfig(min_class_examples=3 if a.max_images else 20), extra=[root / "feedback"])
        t0 = step("train candidate (lesion pipeline, --extra)", t0,
                  f"{meta['training']['photos']} photos, LOSO+LOCO+CV+export")
        cmp = compare("field_photo", c.get("/v1/models/field_photo", headers=tok["boss"]).json()["version"],
                      "9.9.9-loop")
        t0 = step("cropwatch models compare (frozen benchmark)", t0,
                  f"regressions: {len(cmp.record['regressions'])}")
        body = {"version": "9.9.9-loop", "reason": "loop benchmark", "force": bool(cmp.record["regressions"])}
        r = c.post("/v1/models/field_photo/activate", headers=tok["boss"], json=body)
        assert r.status_code == 200, r.text
        while c.get("/v1/models/field_photo", headers=tok["boss"]).json()["version"] != "9.9.9-loop":
            time.sleep(0.05)
        step("promote and serve (no restart)", t0, "forced: regressions" if body["force"] else "")


def _area() -> dict:
    ring = [[105.97, 9.60], [105.971, 9.60], [105.971, 9.601], [105.97, 9.601], [105.97, 9.60]]
    return {"code": "VN-LOOP-0001", "name": "loop", "crop": "rice", "province": "Sóc Trăng",
            "boundary": {"type": "Polygon", "coordinates": [ring]}}


if __name__ == "__main__":
    main()
