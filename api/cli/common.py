"""Helpers shared by the command groups: errors on stderr with exit code 2, the acting account, GeoJSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer
from sqlalchemy.orm import Session

from api.orm import Account


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def cli_account(username: str | None) -> tuple[Session, Account]:
    """A session and the account a command acts as (default: the first admin)."""
    from sqlalchemy import select

    from api.db import get_engine
    from api.orm import Role

    session = Session(get_engine())
    stmt = select(Account).where(Account.username == username) if username else select(Account).where(
        Account.role == Role.admin).order_by(Account.id)
    account = session.scalars(stmt).first()
    if account is None:
        fail("no such account (run `cropwatch serve` once to create the admin)")
    return session, account


def read_geojson(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not readable GeoJSON: {exc}")
    return data


def read_geometries(path: Path, what: str) -> list[Any]:
    """The shapely geometries (EPSG:4326) of a vector file in any format and CRS that area import reads (GeoJSON,
    KML/KMZ, Shapefile alone or zipped, GeoPackage); fails with the reason."""
    from inference.vectors import VectorFileError, read_vector

    try:
        data = read_vector(path)
    except VectorFileError as exc:
        fail(f"{path}: {exc}")
    geoms = [f.geometry for f in data.features if f.geometry is not None and not f.geometry.is_empty]
    if not geoms:
        fail(f"{path}: no {what} geometry in it")
    return geoms


def write_text_atomic(dest: Path, body: str | bytes) -> None:
    """Write text (UTF-8) or bytes to `dest` whole: a `.part` file renamed at the end."""
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
    tmp.replace(dest)


def migrate_database() -> None:
    """Bring the service's database up to date (as `cropwatch serve` does), creating it in a new data folder."""
    from api.migrate import upgrade
    from api.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url())


def migrated_session():  # type: ignore[no-untyped-def]
    """A session on the service's database, migrated first (as `cropwatch serve` does)."""
    from api.db import new_session

    migrate_database()
    return new_session()
