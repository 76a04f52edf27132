"""Inputs that used to end in a server error (issue #11, items 1-3, 6, 10, 12, 13): each now gets a clear 4xx and
leaves no row behind, alike on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.settings import get_settings
from tests.api.test_areas import area_payload
from tests.conftest import row_counts


@pytest.mark.parametrize(
    ("boundary", "status", "words"),
    [
        ({"type": "Polygon", "coordinates": [[1, 2, 3, 4]]}, 422, "position 0"),
        ({"type": "Polygon", "coordinates": [[None, None, None, None]]}, 422, "position 0"),
        ({"type": "Polygon", "coordinates": [[[1, 2], [3, None], [5, 6], [1, 2]]]}, 422, "position 1"),
        ({"type": "Polygon", "coordinates": [[["a", "b"], [3, 4], [5, 6], ["a", "b"]]]}, 422, "position 0"),
        ({"type": "Polygon", "coordinates": [[[True, 2], [3, 4], [5, 6], [True, 2]]]}, 422, "position 0"),
    ],
    ids=["numbers", "nulls", "null_coordinate", "strings", "booleans"],
)
def test_malformed_rings_are_refused(client: TestClient, admin: dict, engine, boundary, status, words) -> None:
    before = row_counts(engine)
    r = client.post("/v1/areas", json=area_payload(boundary=boundary), headers=admin)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert row_counts(engine) == before


def test_too_many_vertices_is_413(client: TestClient, admin: dict, engine, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "max_boundary_vertices", 1000)
    ring = [[105.97 + 0.001 * math.cos(t), 9.56 + 0.001 * math.sin(t)]
            for t in (2 * math.pi * k / 2000 for k in range(2000))]
    ring.append(ring[0])
    before = row_counts(engine)
    r = client.post("/v1/areas", json=area_payload(boundary={"type": "Polygon", "coordinates": [ring]}),
                    headers=admin)
    assert r.status_code == 413 and "simplify" in r.json()["detail"]
    assert row_counts(engine) == before


@pytest.mark.parametrize("field", ["crop", "name", "status", "boundary"])
def test_required_fields_cannot_be_nulled(client: TestClient, admin: dict, field: str) -> None:
    assert client.post("/v1/areas", json=area_payload(), headers=admin).status_code == 201
    r = client.patch("/v1/areas/VN-STOR-0001", json={field: None}, headers=admin)
    assert r.status_code == 422 and field in r.json()["detail"]
    assert client.get("/v1/areas/VN-STOR-0001", headers=admin).json()[field] is not None


@pytest.mark.parametrize(
    ("change", "words"),
    [({"commune": "x" * 150}, "commune"), ({"name": "Ruộng\x00 1"}, "control characters"),
     ({"district": "x" * 101}, "district"), ({"province": "a\x01b"}, "control characters")],
)
def test_text_is_checked_alike_on_both_databases(client: TestClient, admin: dict, engine, change, words) -> None:
    before = row_counts(engine)
    r = client.post("/v1/areas", json=area_payload(**change), headers=admin)
    assert r.status_code == 422 and words in r.json()["detail"]
    assert row_counts(engine) == before


def test_long_full_name_is_refused(client: TestClient, admin: dict) -> None:
    r = client.post("/v1/accounts", json={"username": "longname", "password": "long enough 1", "role": "farmer",
                                          "full_name": "x" * 300}, headers=admin)
    assert r.status_code == 422 and "full_name" in r.json()["detail"]


@pytest.mark.parametrize(
    "url", ["/v1/jobs/9223372036854775808", "/v1/photos/99999999999999999999", "/v1/jobs/99999999999",
            "/v1/spray-maps/0", "/v1/photos/-1"])
def test_ids_out_of_range_are_422(client: TestClient, admin: dict, url: str) -> None:
    r = client.get(url, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "bad_input"


def test_spray_map_job_id_out_of_range(client: TestClient, admin: dict) -> None:
    r = client.post("/v1/spray-maps", json={"job_id": 9223372036854775808}, headers=admin)
    assert r.status_code == 422 and "job_id" in r.json()["detail"]


def test_garbage_damage_raster_is_refused(client: TestClient, admin: dict, engine) -> None:
    assert client.post("/v1/areas", json=area_payload(), headers=admin).status_code == 201
    before = row_counts(engine)
    r = client.post("/v1/spray-maps/from-raster", files={"file": ("d.tif", b"II*\x00garbage")},
                    data={"area_code": "VN-STOR-0001"}, headers=admin)
    assert r.status_code == 422 and "cannot be read" in r.json()["detail"]
    assert row_counts(engine) == before


def test_start_up_removes_partial_outputs(service_db: Path) -> None:
    from api.jobs import remove_partial_outputs

    data = get_settings().data_dir
    partial = data / "flights" / "7" / "analysis" / ".analysis-abc123"
    incoming = data / "flights" / ".incoming" / "deadbeef"
    done = data / "flights" / "7" / "analysis" / "summary.json"
    for d in (partial, incoming):
        d.mkdir(parents=True)
        (d / "canopy.raw.tif").write_bytes(b"half")
    done.write_text("{}")
    removed = remove_partial_outputs()
    assert sorted(removed) == sorted([partial, incoming])
    assert not partial.exists() and not incoming.exists() and done.exists()
