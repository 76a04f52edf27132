"""Traceability: the public page needs no sign-in and shows crop, season and the sprays with their pre-harvest
status, never personal data; the QR codes point at it; the stamps PDF of a commune."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.api.test_spray_log import LOG


def test_public_page_has_the_sprays_and_no_personal_data(client: TestClient, farm: dict) -> None:
    client.patch("/v1/areas/VN-STOR-0001", json={"season": "Hè Thu 2026", "cooperative": "HTX Hòa Tú"},
                 headers=farm["admin"])
    yesterday = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() - timedelta(days=1)
    phi_end = yesterday + timedelta(days=7)  # Chess 50WG: 7 days
    r = client.post("/v1/areas/VN-STOR-0001/spray-applications",
                    json={**LOG, "applied_on": f"{yesterday}T07:00:00", "operator": "Trần Thị Hai"}, headers=farm["a"])
    assert r.status_code == 201, r.text
    client.post("/v1/areas/VN-STOR-0001/spray-applications", json={**LOG, "applied_on": "2026-10-01T06:30:00", "idempotency_key": "old"}, headers=farm["a"])
    page = client.get("/trace/VN-STOR-0001")  # no token
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    for expected in ("VN-STOR-0001", "Lúa / Rice", "ST25", "Hè Thu 2026", "Hòa Tú 1", "Chess 50WG", "Pymetrozine", "SAMPLE-0001",
                     f"Còn trong thời gian cách ly: được thu hoạch từ {phi_end:%d/%m/%Y}",
                     "Đã hết thời gian cách ly (được thu hoạch từ 08/10/2026)",
                     f"được thu hoạch từ ngày {phi_end:%d/%m/%Y}"):
        assert expected in text, expected
    for private in ("farmer_a", "Trần Thị Hai", "Nguyễn Văn Bay", "HTX Hòa Tú", "coordinates", "105.", "9.5"):
        assert private not in text, private
    data = client.get("/trace/VN-STOR-0001/record.json").json()
    assert data["harvest_allowed_from"] == str(phi_end) and "operator" not in data["sprays"][0]
    svg = client.get("/trace/VN-STOR-0001/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    assert b"http://testserver/trace/VN-STOR-0001" in svg.content  # the QR's title is its address
    png = client.get("/trace/VN-STOR-0001/qr.png")
    assert png.content.startswith(b"\x89PNG")
    missing = client.get("/trace/VN-NOPE-0001")  # a buyer reads a page, not JSON
    assert missing.status_code == 404 and "Hãy kiểm tra mã in trên tem" in missing.text
    assert "check the code" in client.get("/trace/VN-NOPE-0001/record.json").json()["detail"]
    # a code typed in lower case or with a space is found, as the API finds it
    assert client.get("/trace/vn-stor-0001%20").status_code == 200
    # a revoked code's page says so first, never the green "clean" line; no stamp is made for it
    clean = client.get("/trace/VN-STOR-0002").text
    assert "Không còn lần phun nào trong thời gian cách ly" in clean and 'class="ok"' in clean
    assert client.patch("/v1/areas/VN-STOR-0002", json={"status": "revoked"}, headers=farm["admin"]).status_code == 200
    revoked = client.get("/trace/VN-STOR-0002").text
    assert "Mã số vùng trồng này đã thu hồi" in revoked and "is revoked" in revoked and 'class="ok"' not in revoked
    assert client.get("/trace/VN-STOR-0002/qr.png").status_code == 409
    assert client.get("/trace/VN-STOR-0002/record.json").json()["status"] == "revoked"


def test_stamps_command_writes_a_pdf_for_a_commune(client: TestClient, farm: dict, tmp_path: Path, db_url: str,
                                                  data_dir: Path) -> None:
    out = tmp_path / "tem.pdf"
    env = {**os.environ, "CROPWATCH_DATABASE_URL": db_url, "CROPWATCH_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "api.cli", "areas", "stamps", "--commune", "Hòa Tú 1", "--out", str(out),
           "--base-url", "https://cropwatch.example.vn"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 stamps" in r.stdout
    text = " ".join(PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text().split())
    assert "VN-STOR-0001" in text and "VN-STOR-0002" in text and "Quét để truy xuất" in text
    none = subprocess.run([*cmd[:5], "Nowhere", *cmd[6:]], capture_output=True, text=True, env=env, timeout=120)
    assert none.returncode != 0 and "commune" in none.stderr
