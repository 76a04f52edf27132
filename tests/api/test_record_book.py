"""The record book in each format (the PDF's text read back), and the area export as KML and GeoPackage read back
through GDAL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pyogrio
from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.api.test_photos import upload
from tests.api.test_spray_log import LOG
from tests.data.make_photos import real_photo


def _area_with_history(client: TestClient, farm: dict) -> list[int]:
    client.patch("/v1/areas/VN-STOR-0001", json={"sowing_date": "2026-10-20", "season": "Đông Xuân 2026-2027"},
                 headers=farm["a"])
    ids = [upload(client, farm["a"], real_photo("blast", i).read_bytes(), area_code="VN-STOR-0001").json()["id"]
           for i in (3, 7)]
    r = client.post("/v1/areas/VN-STOR-0001/spray-applications", json={**LOG, "planned_harvest_on": "2026-12-30"},
                    headers=farm["a"])
    assert r.status_code == 201, r.text
    return ids


def test_record_book_csv_geojson_and_pdf(client: TestClient, farm: dict) -> None:
    ids = _area_with_history(client, farm)
    url = "/v1/areas/VN-STOR-0001/record-book"
    rows = list(csv.DictReader(io.StringIO(client.get(url, params={"format": "csv"}, headers=farm["a"]).text)))
    assert [r["kind"] for r in rows].count("photo") == 2 and [int(r["id"]) for r in rows if r["kind"] == "photo"] == ids
    spray = next(r for r in rows if r["kind"] == "spray_application")
    assert spray["time"] == "2026-11-27T06:30:00+07:00" and spray["active_ingredient"] == "Pymetrozine"
    assert spray["harvest_allowed_from"] == "2026-12-04" and spray["phi_days"] == "7"
    gj = json.loads(client.get(url, params={"format": "geojson"}, headers=farm["a"]).content)
    assert gj["features"][0]["properties"]["kind"] == "area" and gj["features"][0]["geometry"]["type"] == "Polygon"
    assert gj["features"][0]["properties"]["season"] == "Đông Xuân 2026-2027"
    assert {f["properties"]["kind"] for f in gj["features"][1:]} == {"photo", "spray_application"}
    r = client.get(url, headers=farm["a"])  # PDF by default
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages).split())
    for expected in ("NHẬT KÝ CANH TÁC", "VN-STOR-0001", "Đông Xuân 2026-2027", "Chess 50WG (Pymetrozine)",
                     "SAMPLE-0001", "27/11/2026 06:30", "04/12/2026", "Nguyễn Văn Bay", "Chỉ số sinh trưởng",
                     "Ngày sau sạ", "Ảnh chụp", "Phun thuốc", "Cây trồng Lúa"):  # the crop in Vietnamese, not "rice"
        assert expected in text, expected
    assert client.get(url, headers=farm["b"]).status_code == 404  # another farmer's area
    assert client.get(url, params={"format": "docx"}, headers=farm["a"]).status_code == 422
    # the same rows as an Excel workbook: Vietnamese intact where Excel garbles a UTF-8 CSV
    from openpyxl import load_workbook

    xl = client.get(url, params={"format": "xlsx"}, headers=farm["a"])
    assert xl.status_code == 200 and xl.headers["content-disposition"].endswith('nhat-ky-VN-STOR-0001.xlsx"')
    book = load_workbook(io.BytesIO(xl.content))
    # the clerk's sheet first: Vietnamese headers, kinds and wording, real date-times in the area's local time
    vi = book.worksheets[0]
    assert vi.title == "Nhật ký canh tác" and "(Lúa)" in vi["A1"].value
    assert [c.value for c in vi[2]][:4] == ["Thời gian", "Loại", "Nội dung", "Mã"]
    spray_row = next(r for r in vi.iter_rows(min_row=3, values_only=True) if r[1] == "Phun thuốc")
    assert spray_row[0] == datetime(2026, 11, 27, 6, 30) and "Chess 50WG (Pymetrozine), 40 L" in spray_row[2]
    assert spray_row[15] == 40 and spray_row[16] == "Nguyễn Văn Bay"
    sheet = book["Nhật ký"]
    values = list(sheet.values)
    assert values[0][0].startswith("Nhật ký canh tác VN-STOR-0001") and list(values[1]) == list(rows[0])
    got = [dict(zip(values[1], v, strict=True)) for v in values[2:]]
    assert [(g["kind"], str(g["id"]), g["time"]) for g in got] == [(r["kind"], r["id"], r["time"]) for r in rows]
    assert [g["operator"] for g in got if g["kind"] == "spray_application"] == ["Nguyễn Văn Bay"]


def test_area_export_as_kml_and_geopackage(client: TestClient, farm: dict, tmp_path) -> None:
    for fmt, driver in (("kml", "KML"), ("gpkg", "GPKG")):
        r = client.get("/v1/areas/export", params={"format": fmt}, headers=farm["admin"])
        assert r.status_code == 200, r.text
        path = tmp_path / f"areas.{fmt}"
        path.write_bytes(r.content)
        info = pyogrio.read_info(path)
        assert info["features"] == 2 and info["crs"] == "EPSG:4326", (fmt, info)
        _, _, geoms, fields = pyogrio.raw.read(path)
        names = list(info["fields"])
        codes = sorted(fields[names.index("code")])
        assert codes == ["VN-STOR-0001", "VN-STOR-0002"] and len(geoms) == 2, fmt
        assert driver in info["driver"] or fmt == "kml", info["driver"]
    empty = client.get("/v1/areas/export", params={"format": "gpkg", "crop": "durian"}, headers=farm["admin"])
    assert empty.status_code == 404 and "widen the filters" in empty.json()["detail"]


def test_the_pdf_says_when_harvest_is_allowed_and_warns_of_an_early_one(client: TestClient, farm: dict) -> None:
    """The inspector reads, under the spray table, the first day every recorded spray's interval has passed (the
    table gave only each row's date), and a spray whose planned harvest falls inside its interval is said (it was in
    no format); the CSV carries the planned harvest and the notes."""
    _area_with_history(client, farm)  # Chess 50WG on 27/11, 7 days: harvest from 04/12
    r = client.post("/v1/areas/VN-STOR-0001/spray-applications",
                    json={**LOG, "applied_on": "2026-11-29T06:30:00", "idempotency_key": "second",
                          "planned_harvest_on": "2026-12-01", "notes": "ruộng phía kênh"}, headers=farm["a"])
    assert r.status_code == 201, r.text
    url = "/v1/areas/VN-STOR-0001/record-book"
    pdf = client.get(url, headers=farm["a"]).content
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    allowed = [a["harvest_allowed_from"] for a in client.get("/v1/areas/VN-STOR-0001/spray-applications",
                                                             headers=farm["a"]).json()]
    first = max(allowed)
    assert f"Được thu hoạch từ ngày {first[8:10]}/{first[5:7]}/{first[:4]}" in text
    assert "Cảnh báo: lần phun 29/11/2026" in text and "dự kiến thu hoạch 01/12/2026" in text
    rows = list(csv.DictReader(io.StringIO(client.get(url, params={"format": "csv"}, headers=farm["a"]).text)))
    second = next(r for r in rows if r["notes"] == "ruộng phía kênh")
    assert second["planned_harvest_on"] == "2026-12-01" and "inside the pre-harvest interval" in second["summary"]


def test_refused_photos_stay_out_of_the_history_and_the_record_book(client: TestClient, farm: dict) -> None:
    """A photo the gate refused (the farmer was asked to take it again) is no observation of the crop: it is kept
    (include_refused lists it) but not shown as history, nor listed in the record book, which counts it."""
    from tests.data.make_photos import dark_jpeg

    kept = upload(client, farm["a"], real_photo("blast", 3).read_bytes(), area_code="VN-STOR-0001").json()["id"]
    refused = upload(client, farm["a"], dark_jpeg(real_photo()), area_code="VN-STOR-0001").json()
    assert refused["result"]["diagnosis"]["status"] == "retake"
    obs = "/v1/areas/VN-STOR-0001/observations"
    assert [o["id"] for o in client.get(obs, headers=farm["a"]).json()] == [kept]
    assert [o["id"] for o in client.get(obs, params={"source": "photo"}, headers=farm["a"]).json()] == [kept]
    both = client.get(obs, params={"include_refused": "true"}, headers=farm["a"]).json()
    assert [o["id"] for o in both] == [refused["id"], kept]
    url = "/v1/areas/VN-STOR-0001/record-book"
    rows = list(csv.DictReader(io.StringIO(client.get(url, params={"format": "csv"}, headers=farm["a"]).text)))
    assert [int(r["id"]) for r in rows if r["kind"] == "photo"] == [kept]
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(client.get(url, headers=farm["a"]).content))
                             .pages).split())
    assert "Không ghi 1 ảnh không đạt chất lượng" in text and "không chấm điểm" not in text
    # a photo an agronomist rejected: listed as rejected, with no severity or growth, and no growth point
    growth = client.get("/v1/areas/VN-STOR-0001/growth", headers=farm["a"]).json()["points"]
    assert [p["observation_id"] for p in growth] == [kept]
    assert client.post(f"/v1/review/photos/{kept}", json={"action": "reject"}, headers=farm["admin"]).status_code == 201
    assert client.get("/v1/areas/VN-STOR-0001/growth", headers=farm["a"]).json()["points"] == []
    rows = list(csv.DictReader(io.StringIO(client.get(url, params={"format": "csv"}, headers=farm["a"]).text)))
    row = next(r for r in rows if r["kind"] == "photo")
    assert (row["review"], row["ses"], row["growth_score"]) == ("rejected", "", ""), row


def test_the_pdf_writes_numbers_as_vietnamese_does() -> None:
    from api.services.vi_format import vi_number

    assert [vi_number(1.21, 2), vi_number(12345.6), vi_number(40.0, 2, False), vi_number(0.3, 3, False)] == \
        ["1,21", "12.345,6", "40", "0,3"]

