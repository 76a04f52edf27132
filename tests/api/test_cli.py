"""The `cropwatch` command: db upgrade, areas import and export (in a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shapely.geometry import shape

from tests.data.make_areas import write_fixtures


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_import_export_round_trip(tmp_path: Path) -> None:
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "var")}
    env.pop("CROPWATCH_DATABASE_URL", None)
    r = run(["db", "upgrade"], env)
    assert r.returncode == 0, r.stderr
    code = "from api.bootstrap import ensure_admin; print(ensure_admin()); print(ensure_admin())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.splitlines()
    assert out[0].startswith("('admin', ") and out[1] == "None"  # credentials are made once
    fx = write_fixtures(tmp_path / "fx")
    r = run(["areas", "import", str(fx["geojson"])], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["created"] == ["VN-STOR-0001", "VN-STOR-0002", "VN-STOR-0003"]
    r = run(["areas", "import", str(fx["geojson"])], env)
    assert r.returncode == 1 and "already registered" in r.stdout
    out_file = tmp_path / "out.geojson"
    r = run(["areas", "export", "--out", str(out_file)], env)
    assert r.returncode == 0 and "wrote 3 areas" in r.stdout
    src = json.loads(fx["geojson"].read_text())["features"]
    got = json.loads(out_file.read_text())["features"]
    assert all(shape(a["geometry"]).equals_exact(shape(b["geometry"]), 1e-12) for a, b in zip(src, got, strict=True))
    r = run(["areas", "import", str(fx["zipslip"])], env)
    assert r.returncode == 2 and "outside the archive" in r.stderr
