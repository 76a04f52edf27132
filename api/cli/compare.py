"""`cropwatch models compare`: two bundle versions through the served pipeline on a frozen benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from api.cli.common import fail


def run_compare(task: str, version_a: str, version_b: str, benchmark: Path | None, out: Path | None) -> None:
    from tqdm import tqdm

    from api.services.comparisons import compare
    from inference.errors import CropwatchError

    def bar(it):  # type: ignore[no-untyped-def]
        return tqdm(it, desc="scoring", unit="photo", file=sys.stderr)

    try:
        result = compare(task, version_a, version_b, benchmark, out, bar)
    except CropwatchError as exc:
        fail(str(exc))
    for line in result.lines:
        typer.echo(line)
