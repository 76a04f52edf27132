"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from api.orm import Base


def test_migrations_reach_head_and_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
        head = ctx.get_current_revision()
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"
    assert head is not None
    assert {"accounts", "growing_areas", "observations", "spray_maps", "spray_applications"} <= set(
        inspect(engine).get_table_names()
    )


def test_sqlite_uses_wal(tmp_path) -> None:
    from api.db import make_engine
    from api.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'wal.sqlite3'}"
    upgrade(url)
    with make_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
