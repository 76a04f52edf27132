"""Lint (ruff) and types (mypy) of the packages are part of the suite, so they cannot drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "cmd",
    [["ruff", "check", "api", "inference", "models", "datasets", "tests", "benchmarks"], ["mypy", "api", "inference"]],
    ids=["ruff", "mypy"],
)
def test_static_checks(cmd: list[str]) -> None:
    exe = BIN / cmd[0] if (BIN / cmd[0]).exists() else shutil.which(cmd[0])
    if exe is None:
        pytest.skip(f"{cmd[0]} is not installed (pip install -e '.[dev]')")
    r = subprocess.run([str(exe), *cmd[1:]], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
