"""Sign-in and tokens (issue #11 items 9 and 16): throttling with 429 and Retry-After, constant-time refusals,
tokens that must expire and can be revoked, disabled accounts, password change; headers and file modes."""

from __future__ import annotations

import os
import stat
import statistics
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from api.orm import Role
from api.settings import get_settings
from tests.conftest import make_account, token_for


def sign_in(client: TestClient, username: str, password: str):
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def test_repeated_failures_are_throttled_per_account(client: TestClient, db, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "login_max_failures_per_account", 3)
    make_account(db, "nong_dan", Role.farmer)
    for _ in range(3):
        assert sign_in(client, "nong_dan", "wrong password").status_code == 401
    r = sign_in(client, "nong_dan", "correct horse 42")  # even the right password waits now
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["code"] == "rate_limited"
    make_account(db, "other", Role.farmer)
    assert sign_in(client, "other", "correct horse 42").status_code == 200  # other accounts are not locked


def test_repeated_failures_are_throttled_per_address(client: TestClient, db, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "login_max_failures_per_address", 4)
    for i in range(4):
        assert sign_in(client, f"ghost{i}", "whatever").status_code == 401
    assert sign_in(client, "ghost99", "whatever").status_code == 429


def test_unknown_user_costs_as_much_as_a_wrong_password(client: TestClient, db) -> None:
    make_account(db, "real_user", Role.farmer)
    sign_in(client, "nobody", "x")  # warm-up (the dummy hash is made once)

    def median_s(username: str) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            assert sign_in(client, username, "wrong password").status_code == 401
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    known, unknown = median_s("real_user"), median_s("nobody_here")
    assert unknown > 0.5 * known, (known, unknown)


def _forge(claims: dict) -> dict[str, str]:
    token = jwt.encode(claims, get_settings().resolved_secret_key(), algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def test_tokens_need_an_expiry_and_an_id(client: TestClient, db) -> None:
    acc = make_account(db, "farmer_x", Role.farmer)
    now = datetime.now(UTC)
    no_exp = _forge({"sub": str(acc.id), "iat": now, "jti": "abc"})
    no_jti = _forge({"sub": str(acc.id), "iat": now, "exp": now + timedelta(hours=1)})
    ok = _forge({"sub": str(acc.id), "iat": now, "exp": now + timedelta(hours=1), "jti": "abc"})
    assert client.get("/v1/accounts/me", headers=no_exp).status_code == 401
    assert client.get("/v1/accounts/me", headers=no_jti).status_code == 401
    assert client.get("/v1/accounts/me", headers=ok).status_code == 200


def test_sign_out_ends_the_token(client: TestClient, db) -> None:
    make_account(db, "farmer_y", Role.farmer)
    tok, other = token_for(client, "farmer_y"), token_for(client, "farmer_y")
    assert client.post("/v1/auth/sign-out", headers=tok).status_code == 204
    r = client.get("/v1/accounts/me", headers=tok)
    assert r.status_code == 401 and "signed out" in r.json()["detail"]
    assert client.get("/v1/accounts/me", headers=other).status_code == 200  # only that token


def test_disabling_an_account_ends_its_tokens_at_once(client: TestClient, admin: dict, db) -> None:
    make_account(db, "farmer_z", Role.farmer)
    tok = token_for(client, "farmer_z")
    assert client.post("/v1/accounts/farmer_z/disable", headers=tok).status_code == 403  # admins only
    r = client.post("/v1/accounts/farmer_z/disable", headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert client.get("/v1/accounts/me", headers=tok).status_code == 401
    assert sign_in(client, "farmer_z", "correct horse 42").status_code == 401
    assert client.post("/v1/accounts/farmer_z/enable", headers=admin).status_code == 200
    assert sign_in(client, "farmer_z", "correct horse 42").status_code == 200


def test_password_change_ends_older_tokens(client: TestClient, db) -> None:
    make_account(db, "farmer_p", Role.farmer)
    old = token_for(client, "farmer_p")
    time.sleep(1.1)  # token times have whole seconds
    bad = client.post("/v1/accounts/me/password", json={"current_password": "nope", "new_password": "new secret 99"},
                      headers=old)
    assert bad.status_code == 422
    r = client.post("/v1/accounts/me/password", json={"current_password": "correct horse 42",
                                                      "new_password": "new secret 99"}, headers=old)
    assert r.status_code == 200
    new = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/v1/accounts/me", headers=old).status_code == 401
    assert client.get("/v1/accounts/me", headers=new).status_code == 200
    assert sign_in(client, "farmer_p", "new secret 99").status_code == 200


def test_security_headers(client: TestClient, admin: dict) -> None:
    r = client.get("/v1/accounts/me", headers=admin)
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"


def test_times_carry_their_time_zone(client: TestClient, admin: dict) -> None:
    from tests.api.test_areas import area_payload

    body = client.post("/v1/areas", json=area_payload(), headers=admin).json()
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)


def test_secret_key_and_sqlite_file_are_private(tmp_path, monkeypatch) -> None:
    from api.db import make_engine

    s = get_settings()
    monkeypatch.setattr(s, "data_dir", tmp_path)
    monkeypatch.setattr(s, "secret_key", None)
    s.resolved_secret_key()
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}").dispose()
    assert stat.S_IMODE(os.stat(tmp_path / "x.sqlite3").st_mode) == 0o600


@pytest.mark.parametrize("giver", [Role.agronomist])
def test_areas_are_given_to_farmers_only(client: TestClient, admin: dict, db, giver: Role) -> None:
    from tests.api.test_areas import area_payload

    make_account(db, "agro", giver, province="Sóc Trăng")
    agro = token_for(client, "agro")
    r = client.post("/v1/areas", json=area_payload(owner_username="admin"), headers=agro)
    assert r.status_code == 403 and "owned by farmers" in r.json()["detail"]


def test_an_admin_cannot_disable_themselves(client: TestClient, admin: dict) -> None:
    r = client.post("/v1/accounts/admin/disable", headers=admin)
    assert r.status_code == 409 and client.get("/v1/accounts/me", headers=admin).status_code == 200
