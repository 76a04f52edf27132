"""The weekly report on fabricated data: per commune and crop, areas surveyed, diseases with severity and area
affected, sprays done; only the week asked; CSV and XLSX (both sheets read back); the CLI; who may ask."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.orm import GrowingArea, Observation
from tests.api.test_areas import area_payload
from tests.api.test_spray_log import LOG

MON = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday of 2026-W48, 10:00 in Sóc Trăng


def _obs(area_id: int, when: datetime, label: str | None, ses: int | None, ok: bool = True,
         source: str = "photo", **scores: object) -> Observation:
    s = {"quality": {"ok": ok}, "diagnosis": {"status": "diagnosed", "label": label}, **scores}
    return Observation(area_id=area_id, source=source, scores=s, schema_version="1.0", observed_at=when,
                       diagnosis=label, ses=ses)


def _fabricate(client: TestClient, farm: dict, db) -> dict[str, int]:
    client.post("/v1/areas", json=area_payload("VN-STOR-0003", i=2, owner_username="farmer_a", commune="Phú Tâm"),
                headers=farm["admin"])
    with db() as s:
        ids = {a.code: a.id for a in s.query(GrowingArea)}
        s.add_all([_obs(ids["VN-STOR-0001"], MON, "blast", 3), _obs(ids["VN-STOR-0001"], MON, "blast", 7),
                   _obs(ids["VN-STOR-0002"], MON, "brown_spot", 5), _obs(ids["VN-STOR-0002"], MON, "no_symptom", 0),
                   _obs(ids["VN-STOR-0002"], MON, None, None, ok=False),  # refused: no survey
                   _obs(ids["VN-STOR-0001"], datetime(2026, 11, 16, 3, tzinfo=UTC), "blast", 9),  # week 47
                   _obs(ids["VN-STOR-0003"], MON, None, None, source="drone", damaged_area_ha=0.25)])
        s.commit()
    r = client.post("/v1/areas/VN-STOR-0001/spray-applications", json={**LOG, "applied_on": "2026-11-25T06:30:00"},
                    headers=farm["a"])
    assert r.status_code == 201, r.text
    return ids


def test_weekly_report_counts_the_week(client: TestClient, farm: dict, db, tmp_path: Path, db_url: str,
                                       data_dir: Path) -> None:
    _fabricate(client, farm, db)
    rep = client.get("/v1/reports/weekly", params={"week": "2026-W48"}, headers=farm["admin"]).json()
    assert rep["from"] == "2026-11-23" and rep["to"] == "2026-11-29"
    rows = {(r["commune"], r["disease"]): r for r in rep["rows"]}
    blast = rows[("Hòa Tú 1", "blast")]
    assert blast["disease_photos"] == 2 and blast["disease_areas"] == 1 and blast["max_ses"] == 7
    assert blast["mean_ses"] == 5.0 and blast["areas"] == 2 and blast["areas_surveyed"] == 2
    assert blast["photos"] == 4 and blast["sprays"] == 1 and blast["products"] == "Chess 50WG"
    spot = rows[("Hòa Tú 1", "brown_spot")]
    assert spot["disease_areas"] == 1 and spot["affected_ha"] > 0
    phu_tam = rows[("Phú Tâm", "")]
    assert phu_tam["flights"] == 1 and phu_tam["drone_damaged_ha"] == 0.25 and phu_tam["disease_photos"] == 0
    one = client.get("/v1/reports/weekly", params={"week": "2026-W48", "commune": "Phú Tâm", "format": "csv"},
                     headers=farm["admin"])
    assert [r["commune"] for r in csv.DictReader(io.StringIO(one.text))] == ["Phú Tâm"]
    x = client.get("/v1/reports/weekly", params={"week": "2026-W48", "format": "xlsx"}, headers=farm["admin"])
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["Tổng hợp", "Bệnh"] and wb["Bệnh"].max_row == 3  # header + blast + brown spot
    # read in the office: Vietnamese headers, crops and diseases by name (the CSV and JSON keep the keys)
    sheet = [list(r) for r in wb["Bệnh"].values]
    assert sheet[0][:4] == ["Tuần", "Xã", "Cây trồng", "Bệnh, dịch hại"]
    assert {(r[2], r[3]) for r in sheet[1:]} == {("Lúa", "Bệnh đạo ôn"), ("Lúa", "Bệnh đốm nâu")}
    w47 = client.get("/v1/reports/weekly", params={"week": "2026-W47"}, headers=farm["admin"]).json()
    assert [r["max_ses"] for r in w47["rows"] if r["disease"] == "blast"] == [9]
    assert client.get("/v1/reports/weekly", headers=farm["a"]).status_code == 403
    assert client.get("/v1/reports/weekly", params={"week": "2026-48"}, headers=farm["admin"]).status_code == 422
    out = tmp_path / "tuan48.xlsx"
    env = {**os.environ, "CROPWATCH_DATABASE_URL": db_url, "CROPWATCH_DATA_DIR": str(data_dir)}
    r = subprocess.run([sys.executable, "-m", "api.cli", "reports", "weekly", "--week", "2026-W48", "--format",
                        "xlsx", "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert load_workbook(out)["Bệnh"].max_row == 3


def test_the_report_follows_the_agronomists_reviews_and_keeps_the_past(client: TestClient, farm: dict, db) -> None:
    """A photo an agronomist corrected counts as the corrected disease, a rejected one names none (the report kept the
    model's labels); a code revoked later leaves the report of a week it was surveyed as it was (its rows vanished);
    a week outside 2000-2999 or written with other digits is a 422 (year 9999 was a 500)."""
    from api.orm import Account, PhotoReview

    ids = _fabricate(client, farm, db)
    week = {"week": "2026-W48"}

    def diseases() -> dict[tuple[str, str], int]:
        rep = client.get("/v1/reports/weekly", params=week, headers=farm["admin"]).json()
        return {(r["commune"], r["disease"]): r["disease_photos"] for r in rep["rows"]}

    before = diseases()
    assert before[("Hòa Tú 1", "blast")] == 2 and before[("Hòa Tú 1", "brown_spot")] == 1
    with db() as s:
        agro = s.query(Account).filter_by(username="admin").one()
        blast = s.query(Observation).filter_by(area_id=ids["VN-STOR-0001"], ses=7).one()
        spot = s.query(Observation).filter_by(area_id=ids["VN-STOR-0002"], diagnosis="brown_spot").one()
        s.add_all([PhotoReview(observation_id=blast.id, account_id=agro.id, action="confirm", label="blast"),
                   PhotoReview(observation_id=blast.id, account_id=agro.id, action="correct", label="brown_spot"),
                   PhotoReview(observation_id=spot.id, account_id=agro.id, action="reject", label=None)])
        s.commit()
    after = diseases()  # the newest review counts: blast 2 -> 1, brown spot: one corrected in, one rejected out
    assert after[("Hòa Tú 1", "blast")] == 1 and after[("Hòa Tú 1", "brown_spot")] == 1
    book = client.get("/v1/areas/VN-STOR-0001/record-book", params={"format": "csv"}, headers=farm["admin"]).text
    row = next(r for r in csv.DictReader(io.StringIO(book)) if r["id"] == str(blast.id))
    assert row["diagnosis"] == "brown_spot" and row["review"] == "corrected: brown_spot" and "the model said blast" in \
        row["summary"]
    book = client.get("/v1/areas/VN-STOR-0002/record-book", params={"format": "csv"}, headers=farm["admin"]).text
    row = next(r for r in csv.DictReader(io.StringIO(book)) if r["id"] == str(spot.id))
    assert row["diagnosis"] == "" and row["review"] == "rejected" and "the model said brown_spot" in row["summary"]

    r = client.patch("/v1/areas/VN-STOR-0003", json={"status": "revoked"}, headers=farm["admin"])
    assert r.status_code == 200, r.text
    rows = client.get("/v1/reports/weekly", params=week, headers=farm["admin"]).json()["rows"]
    assert [r["flights"] for r in rows if r["commune"] == "Phú Tâm"] == [1]  # surveyed that week: still there
    for bad in ("9999-W52", "0001-W01", "2026-W٤٨", "2026-W60"):
        assert client.get("/v1/reports/weekly", params={"week": bad}, headers=farm["admin"]).status_code == 422, bad


def test_text_that_looks_like_a_formula_stays_text(client: TestClient, farm: dict, db) -> None:
    """A commune typed as "=HYPERLINK(...)" reaches the office's Excel and CSV files as text, never as a formula
    (openpyxl wrote it as one; the CSVs passed it on as it was)."""
    evil = '=HYPERLINK("http://evil.example","x")'
    r = client.post("/v1/areas", json=area_payload("VN-STOR-0005", i=4, owner_username="farmer_a", commune=evil),
                    headers=farm["admin"])
    assert r.status_code == 201, r.text
    with db() as s:
        s.add(_obs(s.query(GrowingArea).filter_by(code="VN-STOR-0005").one().id, MON, "blast", 3))
        s.commit()
    week = {"week": "2026-W48"}
    x = client.get("/v1/reports/weekly", params={**week, "format": "xlsx"}, headers=farm["admin"])
    cells = [c for row in load_workbook(io.BytesIO(x.content))["Tổng hợp"].iter_rows() for c in row if c.value == evil]
    assert cells and all(c.data_type == "s" for c in cells)
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/reports/weekly", params={**week, "format": "csv"},
                                                      headers=farm["admin"]).text)))
    assert "'" + evil in {r["commune"] for r in rows} and evil not in {r["commune"] for r in rows}
    areas = client.get("/v1/areas/export", params={"format": "csv"}, headers=farm["admin"]).text
    assert "'" + evil.replace('"', '""') in areas


def test_a_place_typed_another_way_is_the_same_place(client: TestClient, farm: dict, db) -> None:
    """"HOÀ TÚ 1" and "SÓC TRĂNG" typed by hand are stored as the commune and province already known ("Hòa Tú 1",
    "Sóc Trăng"): one report row, seen by the province's agronomist, found by a filter typed either way (they were
    three communes, and the agronomist got 404 for the area)."""
    from api.orm import Role
    from tests.conftest import make_account, token_for

    _fabricate(client, farm, db)
    r = client.post("/v1/areas", json=area_payload("VN-STOR-0006", i=5, owner_username="farmer_a", commune="HOÀ TÚ 1",
                                                   province="SÓC  TRĂNG"), headers=farm["admin"])
    assert r.status_code == 201 and (r.json()["commune"], r.json()["province"]) == ("Hòa Tú 1", "Sóc Trăng"), r.text
    make_account(db, "ks_st", Role.agronomist, province="Sóc Trăng")
    assert client.get("/v1/areas/VN-STOR-0006", headers=token_for(client, "ks_st")).status_code == 200
    for typed in ("HÒA TÚ 1", "Hoà Tú 1", "hòa  tú 1"):
        rows = client.get("/v1/reports/weekly", params={"week": "2026-W48", "commune": typed},
                          headers=farm["admin"]).json()["rows"]
        assert {r["commune"] for r in rows} == {"Hòa Tú 1"} and rows[0]["areas"] == 2, typed
    r = client.patch("/v1/areas/VN-STOR-0006", json={"commune": "phú tâm"}, headers=farm["admin"])
    assert r.json()["commune"] == "Phú Tâm"


def test_a_week_to_come_is_refused(client, farm: dict) -> None:
    """An empty report of 2030-W01 read as "nothing happened": a week that has not begun is refused, saying which
    week this is."""
    r = client.get("/v1/reports/weekly", params={"week": "2999-W01"}, headers=farm["admin"])
    assert r.status_code == 422 and "has not begun" in r.json()["detail"]

