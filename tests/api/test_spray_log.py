"""The spray log checks (issue #15): products from the permitted list (the shipped sample, or the official list an
admin imports), dose and water volume, times in the farm's zone, the pre-harvest interval against the planned
harvest, and an idempotency key against duplicates; refusals write nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import mapping

from tests.conftest import row_counts
from tests.data.make_damage import field_boundary_wgs84

LOG = {"applied_on": "2026-11-27T06:30:00", "product": "Chess 50WG", "dose_per_ha": 0.3, "dose_unit": "kg",
       "water_l_per_ha": 20, "volume_l": 40, "operator": "Nguyễn Văn Bay"}


@pytest.fixture
def logged(flight_client):  # noqa: F811
    client, tok = flight_client
    area = {"code": "VN-STOR-0011", "name": "log", "crop": "rice", "province": "Sóc Trăng",
            "boundary": mapping(field_boundary_wgs84())}
    assert client.post("/v1/areas", json=area, headers=tok["admin"]).status_code == 201
    return client, tok, "/v1/areas/VN-STOR-0011/spray-applications"


def test_listed_product_local_time_and_the_pre_harvest_interval(logged) -> None:
    client, tok, url = logged
    r = client.post(url, json={**LOG, "planned_harvest_on": "2026-12-01"}, headers=tok["pilot"])
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["applied_on"] == "2026-11-27T06:30:00+07:00" and a["time_zone"] == "Asia/Ho_Chi_Minh"
    assert a["listed"] is True and a["active_ingredient"] == "Pymetrozine" and a["registration_number"]
    assert a["phi_days"] == 7 and a["harvest_allowed_from"] == "2026-12-04"
    assert any("pre-harvest interval" in w for w in a["warnings"]) and any("sample" in w for w in a["warnings"])
    # a time with its own zone keeps its instant and is shown in the farm's zone
    r = client.post(url, json={**LOG, "applied_on": "2026-11-27T23:30:00Z", "dose_per_ha": 0.5}, headers=tok["pilot"])
    assert r.json()["applied_on"] == "2026-11-28T06:30:00+07:00"
    assert any("above the label" in w for w in r.json()["warnings"])
    log = client.get(url, headers=tok["admin"]).json()
    assert [x["applied_on"] for x in log] == ["2026-11-28T06:30:00+07:00", "2026-11-27T06:30:00+07:00"]


def test_idempotency_key_prevents_duplicates(logged, engine) -> None:
    client, tok, url = logged
    first = client.post(url, json={**LOG, "idempotency_key": "phone-42"}, headers=tok["pilot"])
    again = client.post(url, json={**LOG, "idempotency_key": "phone-42"}, headers=tok["pilot"])
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    header = client.post(url, json=LOG, headers={**tok["pilot"], "Idempotency-Key": "phone-43"})
    replay = client.post(url, json=LOG, headers={**tok["pilot"], "Idempotency-Key": "phone-43"})
    assert header.json()["id"] == replay.json()["id"] and replay.status_code == 200
    before = row_counts(engine)
    other = client.post(url, json={**LOG, "volume_l": 99, "idempotency_key": "phone-42"}, headers=tok["pilot"])
    assert other.status_code == 409 and "phone-42" in other.json()["detail"]
    assert row_counts(engine) == before and before["spray_applications"] == 2


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"product": "Thuốc lạ 10EC"}, 422, "not on the permitted-products list"),
    ({"time_zone": "Mars/Olympus"}, 422, "IANA"),
    ({"dose_per_ha": None}, 422, "dose"),
    ({"dose_unit": None}, 422, "dose_unit"),
    ({"applied_on": "2099-06-30T16:00:00"}, 422, "in the future"),  # the trace page would show a PHI not yet begun
    ({"product": "Beam 75WP", "registration_number": "SAMPLE-0001"}, 422, "does not match registration number"),
    ({"volume_l": 1e300}, 422, "volume_l"),  # stored and printed over six lines of the record book before
    ({"volume_l": 500_000}, 422, "L/ha over the area's"),  # within the schema's cap, far beyond this field's size
])
def test_refused_records_write_nothing(logged, engine, change, status, words) -> None:
    client, tok, url = logged
    assert client.get("/v1/products?q=chess", headers=tok["pilot"]).json()[0]["is_sample"]  # the sample list, seeded
    before = row_counts(engine)
    r = client.post(url, json={k: v for k, v in {**LOG, **change}.items() if v is not None}, headers=tok["pilot"])
    assert r.status_code == status and words in r.text, r.text
    assert row_counts(engine) == before


def test_a_listed_product_is_stored_under_its_listed_name(logged) -> None:
    client, tok, url = logged
    r = client.post(url, json={**LOG, "product": "chess 50wg", "idempotency_key": "k1"}, headers=tok["pilot"])
    assert r.status_code == 201 and r.json()["product"] == "Chess 50WG"
    again = client.post(url, json={**LOG, "product": "CHESS 50WG", "idempotency_key": "k1"}, headers=tok["pilot"])
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    # found by its registration number, spelt another way: stored under the list's name, and the same request sent
    # again is the same record (it once compared the stored name with the one sent: 409)
    body = {**LOG, "product": "Chess 50 WG", "registration_number": "SAMPLE-0001", "idempotency_key": "k2"}
    first = client.post(url, json=body, headers=tok["pilot"])
    assert first.status_code == 201 and first.json()["product"] == "Chess 50WG", first.text
    again = client.post(url, json=body, headers=tok["pilot"])
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text


def test_unlisted_products_flagged_when_the_settings_say_so(logged, monkeypatch) -> None:
    from api.settings import get_settings

    client, tok, url = logged
    monkeypatch.setattr(get_settings(), "unlisted_products", "flag")
    r = client.post(url, json={**LOG, "product": "Thuốc lạ 10EC", "active_ingredient": "X"}, headers=tok["pilot"])
    assert r.status_code == 201 and r.json()["listed"] is False and "not on the" in r.json()["warnings"][0]


def test_products_import_replaces_the_sample(tmp_path: Path) -> None:
    """`cropwatch products import` with the official list's Vietnamese headers, semicolons; then the sample's
    products are gone and the imported ones are found."""
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(tmp_path / "data")}
    env.pop("CROPWATCH_DATABASE_URL", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "api.cli", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, timeout=120)
    assert run("db", "upgrade").returncode == 0
    assert "Chess 50WG" in run("products", "list", "chess").stdout  # the sample, before any import
    csv = tmp_path / "danh_muc.csv"
    csv.write_text("Tên hoạt chất;Tên thương phẩm;Đối tượng phòng trừ;Thời gian cách ly (ngày)\n"
                   "Tricyclazole;Beam 75WP;đạo ôn/lúa;14\nIsoprothiolane;Fuji-One 40EC;đạo ôn/lúa;\n", encoding="utf-8")
    r = run("products", "import", str(csv), "--replace")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '{"imported": 2, "removed": 5, "total": 2}'
    listed = run("products", "list").stdout
    assert "Fuji-One 40EC" in listed and "Chess 50WG" not in listed and '"is_sample":false' in listed
    bad = tmp_path / "bad.csv"
    bad.write_text("name,price\nx,1\n", encoding="utf-8")
    r = run("products", "import", str(bad))
    assert r.returncode != 0 and "trade_name" in r.stderr and "Traceback" not in r.stderr


def test_the_dose_is_checked_in_any_unit_and_kept_from_older_clients(logged) -> None:
    """500 g/ha is above a 0.3 kg/ha label as 0.5 kg/ha is (it went unchecked); an older client's dose_l_per_ha is
    the record's dose (the record book said "dose not recorded"); a date before 2000 is refused (year 1 gave a 500)."""
    client, tok, url = logged
    over = client.post(url, json={**LOG, "dose_per_ha": 500, "dose_unit": "g"}, headers=tok["pilot"])
    assert over.status_code == 201 and any("above the label" in w for w in over.json()["warnings"])
    within = client.post(url, json={**LOG, "dose_per_ha": 250, "dose_unit": "g"}, headers=tok["pilot"])
    assert not any("above the label" in w for w in within.json()["warnings"])
    old = {k: v for k, v in LOG.items() if k not in ("dose_per_ha", "dose_unit")}
    r = client.post(url, json={**old, "product": "Tilt Super 300EC", "dose_l_per_ha": 3.0}, headers=tok["pilot"])
    assert r.status_code == 201, r.text
    assert (r.json()["dose_per_ha"], r.json()["dose_unit"]) == (3.0, "L")
    for day in ("0001-01-01T00:00:00", "1900-01-01T07:00:00"):
        bad = client.post(url, json={**LOG, "applied_on": day}, headers=tok["pilot"])
        assert bad.status_code == 422 and "before 2000" in bad.text
    bad = client.post(url, json={**LOG, "planned_harvest_on": "2026-11-20"}, headers=tok["pilot"])  # sprayed 11-27
    assert bad.status_code == 422 and "before the spray" in bad.text


def test_a_product_registered_for_another_crop_is_warned(logged) -> None:
    """Chess 50WG is registered for rice: logged on a shallot area it is recorded with a warning that names both
    (it passed with the sample-list warning only); on rice no such warning."""
    client, tok, url = logged
    rice = client.post(url, json=LOG, headers=tok["pilot"]).json()
    assert not any("registered for" in w for w in rice["warnings"])
    assert client.patch("/v1/areas/VN-STOR-0011", json={"crop": "shallot"}, headers=tok["admin"]).status_code == 200
    r = client.post(url, json={**LOG, "idempotency_key": "on-shallot"}, headers=tok["pilot"])
    assert r.status_code == 201, r.text
    assert any("registered for lúa (rice)" in w and "(shallot)" in w for w in r.json()["warnings"])
