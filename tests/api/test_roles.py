"""The README's table of who may do what, row by row: each role either reaches the action (any answer but 403) or is
refused with 403. Requests are built to stop early (bad files, unknown versions) where the action itself is heavy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from api.orm import Role
from tests.conftest import make_account, token_for

PROVINCE = "Sóc Trăng"
YES, NO = True, False
# action -> allowed for (farmer, agronomist, drone_operator, admin), as in README "Who may do what"
TABLE = {
    "register_area": (YES, YES, NO, YES),
    "import_areas": (YES, YES, NO, YES),
    "change_area": (YES, YES, NO, YES),
    "suspend_area": (NO, YES, NO, YES),
    "upload_photo": (YES, YES, NO, YES),
    "upload_flight": (NO, YES, YES, YES),
    "make_spray_map": (NO, YES, YES, YES),
    "record_spray_application": (YES, YES, YES, YES),
    "switch_photo_model": (NO, NO, NO, YES),  # agronomists only once an admin gave them the right (tested apart)
    "create_account": (NO, NO, NO, YES),
    "disable_account": (NO, NO, NO, YES),
}
ROLES = ("farmer", "agronomist", "drone_operator", "admin")


def area(code: str, x: float, owner: str | None = None) -> dict:
    a = {"code": code, "name": "Ruộng", "crop": "rice", "province": PROVINCE,
         "boundary": mapping(box(105.97 + x, 9.56, 105.971 + x, 9.561))}
    return {**a, "owner_username": owner} if owner else a


def attempt(client: TestClient, action: str, role: str, h: dict[str, str], n: int) -> int:
    """Try `action` as `role`; returns the status code."""
    code = f"VN-STOR-{n:04d}"
    own = "farmer" if role in ("farmer", "drone_operator") else None
    calls = {
        "register_area": lambda: client.post("/v1/areas", json=area(code, 0.01 * n, own), headers=h),
        "import_areas": lambda: client.post("/v1/areas/import", files={"file": ("a.geojson", b"")}, headers=h),
        "change_area": lambda: client.patch("/v1/areas/VN-STOR-0001", json={"name": "Ruộng mới"}, headers=h),
        "suspend_area": lambda: client.delete("/v1/areas/VN-STOR-0001", headers=h),
        "upload_photo": lambda: client.post("/v1/photos", files={"file": ("x.jpg", b"not a photo", "image/jpeg")},
                                            data={"area_code": "VN-STOR-0001"}, headers=h),
        "upload_flight": lambda: client.post("/v1/flights", files={"file": ("o.tif", b"not a tiff")},
                                             data={"area_code": "VN-STOR-0001"}, headers=h),
        "make_spray_map": lambda: client.post("/v1/spray-maps/from-raster", files={"file": ("d.tif", b"not a tiff")},
                                              data={"area_code": "VN-STOR-0001"}, headers=h),
        "record_spray_application": lambda: client.post("/v1/areas/VN-STOR-0001/spray-applications", json={
            "applied_on": "2026-11-20T06:30:00+07:00", "product": "Beam 75WP", "active_ingredient": "tricyclazole",
            "dose_l_per_ha": 0.3, "volume_l": 12, "operator": "Tư"}, headers=h),
        "switch_photo_model": lambda: client.post("/v1/models/field_photo/activate", json={"version": "no-such"},
                                                  headers=h),
        "create_account": lambda: client.post("/v1/accounts", json={"username": f"u{n}", "password": "long enough 1",
                                                                    "role": "farmer"}, headers=h),
        "disable_account": lambda: client.post("/v1/accounts/nobody/disable", headers=h),
    }
    return calls[action]().status_code


@pytest.fixture
def tokens(client: TestClient, admin: dict[str, str], db) -> dict[str, dict[str, str]]:
    make_account(db, "farmer", Role.farmer)
    make_account(db, "agronomist", Role.agronomist, province=PROVINCE)
    make_account(db, "drone_operator", Role.drone_operator, province=PROVINCE)
    assert client.post("/v1/areas", json=area("VN-STOR-0001", 0, "farmer"), headers=admin).status_code == 201
    return {"admin": admin, **{r: token_for(client, r) for r in ROLES if r != "admin"}}


def test_who_may_do_what(client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    wrong = []
    n = 100
    for action, allowed in TABLE.items():
        for role, ok in zip(ROLES, allowed, strict=True):
            n += 1
            status = attempt(client, action, role, tokens[role], n)
            if ok == (status == 403) or status >= 500:
                wrong.append(f"{action} as {role}: {status} (expected {'allowed' if ok else '403'})")
    assert wrong == []
