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


def test_places_spelt_two_ways_become_one(tmp_path) -> None:
    """0011: areas stored before place names were matched ("SÓC TRĂNG", "Hoà Tú 1") take the first spelling of
    their place, and so does an agronomist's province; other places are left as they are."""
    from sqlalchemy import text

    from api.db import make_engine
    from api.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'places.sqlite3'}"
    upgrade(url, "0010")
    engine = make_engine(url)
    area = ("INSERT INTO growing_areas (code, name, crop, commune, province, status, boundary_geojson, min_lon, "
            "min_lat, max_lon, max_lat, area_ha, utm_epsg, created_at, updated_at) VALUES (:code, 'x', 'rice', "
            ":commune, :province, 'active', '{}', 0, 0, 0, 0, 1, 32648, '2026-12-01', '2026-12-01')")
    with engine.begin() as conn:
        for code, commune, province in (("VN-STR-0001", "Hòa Tú 1", "Sóc Trăng"), ("VN-STR-0002", "Hoà Tú 1", "SÓC TRĂNG"),
                                        ("VN-STR-0003", "HÒA TÚ 1", None), ("VN-STR-0004", "Phú Tâm", "sóc trăng")):
            conn.execute(text(area), {"code": code, "commune": commune, "province": province})
        conn.execute(text("INSERT INTO accounts (username, full_name, role, province, password_hash, is_active, created_at) VALUES "
                          "('ks', 'K S', 'agronomist', 'SÓC  TRĂNG', 'x', 1, '2026-12-01')"))
    upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT commune, province FROM growing_areas ORDER BY code")).all()
        assert [tuple(r) for r in rows] == [("Hòa Tú 1", "Sóc Trăng"), ("Hòa Tú 1", "Sóc Trăng"),
                                            ("Hòa Tú 1", None), ("Phú Tâm", "Sóc Trăng")]
        assert conn.execute(text("SELECT province FROM accounts")).scalar() == "Sóc Trăng"


def test_a_crop_typed_in_another_name_takes_the_tables_name(tmp_path) -> None:
    """0012: "lúa", "Lúa ", "RICE" become rice (the weekly report had a row for each); an unknown crop stays."""
    from sqlalchemy import text

    from api.db import make_engine
    from api.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'crops.sqlite3'}"
    upgrade(url, "0011")
    engine = make_engine(url)
    area = ("INSERT INTO growing_areas (code, name, crop, status, boundary_geojson, min_lon, min_lat, max_lon, "
            "max_lat, area_ha, utm_epsg, created_at, updated_at) VALUES (:code, 'x', :crop, 'active', '{}', 0, 0, 0, "
            "0, 1, 32648, '2026-12-01', '2026-12-01')")
    typed = ("rice", "lúa", "Lúa ", "RICE", "hành tím", "khoai mỡ")
    with engine.begin() as conn:
        for i, crop in enumerate(typed):
            conn.execute(text(area), {"code": f"VN-STR-000{i}", "crop": crop})
    upgrade(url)
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text("SELECT crop FROM growing_areas ORDER BY code"))]
    assert rows == ["rice"] * 4 + ["shallot", "khoai mỡ"]
    from api.services.crops import canonical_crop

    assert [canonical_crop(c) for c in typed] == rows  # what new areas get: the same

