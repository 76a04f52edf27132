"""Every file of the bad-input corpus gets its expected status and words, and leaves no row and no file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.orm import Role
from tests.conftest import make_account, row_counts, token_for
from tests.corpus.make_corpus import AREA, Case, make_corpus

ENDPOINTS = {"photos": "/v1/photos", "flights": "/v1/flights", "areas_import": "/v1/areas/import",
             "damage_raster": "/v1/spray-maps/from-raster", "areas": "/v1/areas"}


def stored_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and p.name not in ("secret_key",)
            and not p.name.startswith("cropwatch.sqlite3")] if data_dir.exists() else []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    out = tmp_path_factory.mktemp("corpus")
    return out, make_corpus(out)


def test_the_corpus_covers_every_kind(corpus) -> None:
    assert {c.endpoint for c in corpus[1]} == set(ENDPOINTS) and len(corpus[1]) >= 25


@pytest.mark.slow
def test_every_bad_input_is_refused_cleanly(client: TestClient, db, engine, service_db: Path, corpus) -> None:
    from shapely.geometry import box, mapping

    folder, cases = corpus
    make_account(db, "admin", Role.admin)
    admin = token_for(client, "admin")
    area = {"code": AREA, "name": "Ruộng", "crop": "rice", "boundary": mapping(box(105.95, 9.55, 105.99, 9.58))}
    assert client.post("/v1/areas", json=area, headers=admin).status_code == 201
    before, files_before = row_counts(engine), stored_files(service_db)
    failures = []
    for c in cases:
        url = ENDPOINTS[c.endpoint]
        if c.file is None:
            r = client.post(url, json=c.json_body, headers=admin)
        else:
            with (folder / c.file).open("rb") as fh:
                r = client.post(url, files={"file": (Path(c.file).name, fh)}, data=c.form, headers=admin)
        body = r.text
        if r.status_code != c.status or c.words not in body:
            failures.append(f"{c.name}: {r.status_code} {body[:200]}")
        if c.status < 300 and r.status_code < 300:
            assert r.json()["created"] == [], c.name
    assert failures == []
    assert row_counts(engine) == before
    assert stored_files(service_db) == files_before


def test_no_answer_shows_a_server_path(client: TestClient, db, corpus) -> None:
    folder, cases = corpus
    make_account(db, "admin", Role.admin)
    admin = token_for(client, "admin")
    for c in cases:
        if c.endpoint == "areas_import":
            with (folder / c.file).open("rb") as fh:
                r = client.post(ENDPOINTS[c.endpoint], files={"file": (Path(c.file).name, fh)}, headers=admin)
            assert "/tmp/" not in r.text and str(folder) not in r.text, (c.name, r.text)
