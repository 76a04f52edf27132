"""`cropwatch products import|list`: the permitted-products list that the spray log checks against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail

app = typer.Typer(help="The list of plant-protection products permitted in Vietnam.", no_args_is_help=True)


@app.command("import")
def products_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, UTF-8 (see api/data/README.md)")],
    replace: bool = typer.Option(False, help="remove the current list (the shipped sample with it) first"),
    source: Annotated[str | None, typer.Option(help="where the list comes from (default: the file name)")] = None,
) -> None:
    """Import the official list exported to CSV: all rows or none; prints the counts."""
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.services.products import import_products
    from inference.errors import BadInput

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text: save the list as CSV UTF-8")
    with Session(get_engine()) as session:
        try:
            counts = import_products(session, text, source or file.name, replace=replace)
        except BadInput as exc:
            fail(f"{file}: {exc}")
    typer.echo(json.dumps(counts))


@app.command("list")
def products_list(q: Annotated[str | None, typer.Argument(help="part of a trade name or active ingredient")] = None,
                  ) -> None:
    """Products on the list (at most 50), one JSON object per line."""
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.schemas import PermittedProductPublic
    from api.services.products import ensure_sample, search

    with Session(get_engine()) as session:
        ensure_sample(session)
        for p in search(session, q):
            typer.echo(PermittedProductPublic.model_validate(p).model_dump_json())
