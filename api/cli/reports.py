"""`cropwatch reports weekly`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import cli_account, fail, write_text_atomic

app = typer.Typer(help="Reports for the plant-protection office.", no_args_is_help=True)


@app.command("weekly")
def reports_weekly(
    week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W48 (default: this week)")] = None,
    commune: Annotated[str | None, typer.Option(help="one commune (default: all)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write; default stdout (not for xlsx)")] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="account whose areas count (default: the first admin)")]
    = None,
) -> None:
    """Per commune and crop: areas surveyed, diseases found with severity and area affected, sprays done."""
    from api.services import labels, reports
    from inference.errors import CropwatchError

    if fmt not in reports.REPORT_TYPES:
        fail("--format must be csv, xlsx or json")
    if fmt == "xlsx" and out is None:
        fail("an XLSX workbook needs --out FILE.xlsx")
    session, account = cli_account(as_user)
    with session:
        try:
            rep = reports.weekly(session, account, week, commune)
            names = labels.names_vi(session)
        except CropwatchError as exc:
            fail(str(exc))
    body = reports.render(rep, fmt, names)
    if out is None:
        sys.stdout.write(str(body))
        return
    write_text_atomic(out, body)
    typer.echo(f"week {rep['week']}: {len(rep['rows'])} rows written to {out}", err=True)
