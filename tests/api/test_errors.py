"""One error family, one handler: every error the service sends is {"detail", "code"} with the status that fits, and
the OpenAPI spec declares that body."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.errors import ErrorBody, Unauthorized, status_of
from inference.errors import (
    BadInput,
    Conflict,
    CropwatchError,
    EmptyInput,
    Forbidden,
    NotFound,
    TooLarge,
    Unavailable,
    Unsupported,
)


@pytest.mark.parametrize(
    ("exc", "status"),
    [(EmptyInput("x"), 400), (TooLarge("x"), 413), (Unsupported("x"), 415), (BadInput("x"), 422),
     (Unauthorized("x"), 401), (Forbidden("x"), 403), (NotFound("x"), 404), (Conflict("x"), 409),
     (Unavailable("x"), 503), (CropwatchError("x"), 500)],
)
def test_each_error_class_has_its_status(exc: CropwatchError, status: int) -> None:
    assert status_of(exc) == status


def test_error_codes_are_distinct() -> None:
    classes = [EmptyInput, TooLarge, Unsupported, BadInput, Unauthorized, Forbidden, NotFound, Conflict, Unavailable]
    assert len({c.code for c in classes}) == len(classes)


def test_error_bodies_have_one_shape(client: TestClient, admin: dict[str, str]) -> None:
    cases = [
        client.get("/v1/areas/VN-STOR-0404", headers=admin),  # NotFound from a service
        client.get("/v1/areas"),  # no token: 401 from the security scheme
        client.get("/v1/areas?limit=0", headers=admin),  # request validation
        client.get("/v1/areas?bbox=1,2,3", headers=admin),  # BadInput
        client.get("/v1/no-such-route", headers=admin),  # the router's own 404
    ]
    assert [r.status_code for r in cases] == [404, 401, 422, 422, 404]
    for r in cases:
        body = ErrorBody.model_validate(r.json())
        assert body.detail and body.code
    assert cases[0].json()["code"] == "not_found" and cases[3].json()["code"] == "bad_input"
    assert cases[2].json()["errors"][0]["loc"] == ["query", "limit"]


def test_validation_errors_say_what_to_write(client: TestClient, admin: dict[str, str]) -> None:
    """Pydantic's words ("Input should be a valid date or datetime, invalid character in year", "String should match
    pattern '^\\d{4}-W\\d{2}$'") as what to write instead, with what was given."""
    from tests.api.test_areas import area_payload

    r = client.post("/v1/areas", json={**area_payload(), "sowing_date": "31/12/2026"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"] == \
        "sowing_date: write a date as YYYY-MM-DD, e.g. 2026-12-31 (given: '31/12/2026')"
    r = client.get("/v1/reports/weekly", params={"week": "2026-49"}, headers=admin)
    assert r.status_code == 422 and "week: write the ISO week as YYYY-Www, e.g. 2026-W49" in r.json()["detail"]
    assert r.json()["errors"][0]["loc"] == ["query", "week"]  # the machine-readable list is unchanged
    # a password is never said back
    from inference.errors import plain_problem

    for kind in ("string_too_short", "string_pattern_mismatch", "float_parsing"):
        said = plain_problem({"loc": ("body", "new_password"), "type": kind, "msg": "too short", "input": "abc12"})
        assert "abc12" not in said, said


def test_the_spec_declares_the_error_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "ErrorBody" in spec["components"]["schemas"]
    op = spec["paths"]["/v1/photos"]["post"]
    for status in ("413", "415", "422", "404"):
        assert op["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    # every route declares what it returns: no bare, untyped JSON 200/201 among the API's routes
    for path, ops in spec["paths"].items():
        for method, o in ops.items():
            ok = o["responses"].get("200") or o["responses"].get("201") or o["responses"].get("202")
            content = (ok or {}).get("content", {})
            if path.startswith("/v1/") and "application/json" in content:
                assert content["application/json"]["schema"], (method, path)


def test_405_lists_every_method_of_the_path(client: TestClient, admin: dict[str, str]) -> None:
    r = client.put("/v1/areas", headers=admin)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_bug_is_a_logged_500_in_the_error_shape(client: TestClient, admin: dict[str, str], monkeypatch) -> None:
    import api.services.accounts

    def boom(*_a, **_k):
        raise RuntimeError("a bug with a /secret/server/path")

    monkeypatch.setattr(api.services.accounts, "list_accounts", boom)
    r = client.get("/v1/accounts", headers=admin)
    assert r.status_code == 500 and r.json()["code"] == "internal" and "/secret" not in r.text
    assert client.get("/v1/accounts/me", headers=admin).status_code == 200  # the service goes on


def test_every_refusal_the_operator_page_meets_is_said_in_vietnamese() -> None:
    """Each finer error name (`reason`) of raster uploads, spray plans and uploads that the code raises has its
    Vietnamese sentence on the operator's page (the page showed the server's English after a Vietnamese prefix)."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    raised = set()
    for pkg in ("api", "inference"):
        for py in (repo / pkg).rglob("*.py"):
            raised |= set(re.findall(r'reason="((?:raster|plan|upload)_\w+)"', py.read_text(encoding="utf-8")))
    page = (repo / "api" / "static" / "operator" / "app.js").read_text(encoding="utf-8")
    table = page[page.index("errors: {"):page.index("} },", page.index("errors: {"))]
    said = set(re.findall(r"(\w+): \"", table))
    assert {"plan_all_excluded", "raster_bands"} <= raised
    assert raised - said == set()
