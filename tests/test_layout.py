"""The packages imported are this repository's, and the serving path does not import torch."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["api", "inference", "models", "datasets"])
def test_package_is_this_repository(name: str) -> None:
    mod = importlib.import_module(name)
    origin = Path(mod.__file__ or "").resolve()
    assert origin.parent == REPO / name, f"{name} was imported from {origin}, not from this repository"


def test_design_card_layout() -> None:
    for p in ["notebooks", "models", "inference", "datasets", "api", "tests", "environment.yml", "pyproject.toml",
              "README.md", "Makefile", "CHANGELOG.md", ".ci/run", "benchmarks"]:
        assert (REPO / p).exists(), p


def test_serving_path_never_imports_torch() -> None:
    code = (
        "import sys, api.app, api.cli, inference.geo, inference.vectors; "
        "api.app.create_app(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
