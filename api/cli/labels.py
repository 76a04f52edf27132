"""`cropwatch labels list|add`: the class registry from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import fail, migrated_session

app = typer.Typer(help="The class registry: labels farmers and agronomists may give photos.", no_args_is_help=True)


@app.command("list")
def labels_list() -> None:
    """Every label with its kind and names (seed file + database)."""
    from api.services.labels import registry

    with migrated_session() as session:
        for lab in registry(session).values():
            typer.echo(f"{lab.name:<24}{lab.kind:<9}{'' if lab.active else '(hidden) '}{lab.name_vi} / {lab.name_en}")


@app.command("add")
def labels_add(
    name: Annotated[str, typer.Argument(help="identifier, e.g. leaf_smut")],
    vi: Annotated[str, typer.Option("--vi", help="Vietnamese name")],
    en: Annotated[str, typer.Option("--en", help="English name")],
    kind: Annotated[str, typer.Option("--kind", help="disease | pest | healthy | other | unsure")] = "disease",
) -> None:
    """Add a label: farmers can use it at once; a model learns it once enough reviewed photos of it exist."""
    from api.services.labels import add_label
    from api.services.model_registry import cli_actor
    from inference.errors import CropwatchError

    with migrated_session() as session:
        try:
            lab = add_label(session, name, kind, vi, en, cli_actor())
        except CropwatchError as exc:
            fail(str(exc))
    typer.echo(f"added {lab.name} ({lab.kind}): {lab.name_vi} / {lab.name_en}")
