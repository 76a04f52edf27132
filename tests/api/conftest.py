"""Fixtures shared by the API tests: a farm of two farmers with one area each, and the service's data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.orm import Role
from tests.api.test_areas import area_payload
from tests.conftest import make_account, token_for


@pytest.fixture
def data_dir(service_db: Path) -> Path:
    return service_db


@pytest.fixture
def farm(client: TestClient, admin: dict, db, data_dir: Path) -> dict:
    make_account(db, "farmer_a", Role.farmer)
    make_account(db, "farmer_b", Role.farmer)
    client.post("/v1/areas", json=area_payload(owner_username="farmer_a"), headers=admin)
    client.post("/v1/areas", json=area_payload("VN-STOR-0002", i=1, owner_username="farmer_b"), headers=admin)
    return {"a": token_for(client, "farmer_a"), "b": token_for(client, "farmer_b"), "admin": admin}


@pytest.fixture
def app_settings(service_db: Path) -> Path:
    return service_db


@pytest.fixture
def flight_client(app_settings: Path, db) -> Iterator[tuple[TestClient, dict]]:
    from api.app import create_app

    make_account(db, "admin", Role.admin)
    make_account(db, "pilot", Role.drone_operator, province="Sóc Trăng")
    make_account(db, "farmer", Role.farmer)
    with TestClient(create_app()) as c:
        yield c, {"admin": token_for(c, "admin"), "pilot": token_for(c, "pilot"), "farmer": token_for(c, "farmer")}
