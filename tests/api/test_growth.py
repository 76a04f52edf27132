"""An area's growth over time: photos that passed the gate, with days after sowing and links; refused photos left
out; the time window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.test_photos import upload
from tests.data.make_photos import dark_jpeg, real_photo


def test_growth_series_from_photos(client: TestClient, farm: dict) -> None:
    sown = date.today() - timedelta(days=30)
    r = client.patch("/v1/areas/VN-STOR-0001", json={"sowing_date": sown.isoformat()}, headers=farm["a"])
    assert r.status_code == 200 and r.json()["sowing_date"] == sown.isoformat()
    ids = [upload(client, farm["a"], real_photo("brown_spot", i).read_bytes(), area_code="VN-STOR-0001").json()["id"]
           for i in (44, 48)]
    dark = upload(client, farm["a"], dark_jpeg(real_photo("blast", 0)), area_code="VN-STOR-0001").json()
    assert dark["result"]["quality"]["ok"] is False  # refused by the gate: it says nothing about growth
    g = client.get("/v1/areas/VN-STOR-0001/growth", headers=farm["a"]).json()
    assert [p["observation_id"] for p in g["points"]] == ids and g["n_photos"] == 2 and g["n_flights"] == 0
    p = g["points"][0]
    assert p["days_after_sowing"] == 30 and 0 <= p["growth_score"] <= 100 and p["method"] == "leaf_colour"
    assert p["thumbnail_url"] == f"/v1/photos/{ids[0]}/thumbnail"
    assert client.get(p["thumbnail_url"], headers=farm["a"]).headers["content-type"] == "image/jpeg"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/v1/areas/VN-STOR-0001/growth", params={"since": later}, headers=farm["a"]).json()["points"] == []
    assert client.get("/v1/areas/VN-STOR-0001/growth", headers=farm["b"]).status_code == 404  # another farmer's area
