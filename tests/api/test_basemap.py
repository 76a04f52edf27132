"""The department's base map: latest status kept on the area as photos arrive, polygons when zoomed in, clusters
that add up when zoomed out, filters, the outbreak layer's 14-day window, and who may see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.orm import GrowingArea, Observation, Role
from tests.api.test_areas import area_payload
from tests.api.test_photos import upload
from tests.conftest import make_account, token_for
from tests.data.make_photos import real_photo

VIEW = "105.0,9.0,107.0,10.5"


def _photo_obs(area_id: int, label: str, ses: int, days_ago: float, status: str = "diagnosed") -> Observation:
    scores = {"quality": {"ok": True}, "diagnosis": {"status": status, "label": label},
              "severity": {"ses": ses}, "growth": {"score": 60}}
    return Observation(area_id=area_id, source="photo", scores=scores, schema_version="1.0", diagnosis=label,
                       ses=ses, observed_at=datetime.now(UTC) - timedelta(days=days_ago))


def test_map_shows_latest_status_polygons_clusters_and_outbreaks(client: TestClient, farm: dict, db) -> None:
    admin = farm["admin"]
    client.post("/v1/areas", json=area_payload("VN-STOR-0003", i=2, owner_username="farmer_a", crop="shallot",
                                               season="Đông Xuân 2026-2027"), headers=admin)
    r = upload(client, farm["a"], real_photo("brown_spot", 44).read_bytes(), area_code="VN-STOR-0001").json()
    status, label = r["result"]["diagnosis"]["status"], r["result"]["diagnosis"]["label"]
    zoomed = client.get("/v1/map/areas", params={"bbox": VIEW, "zoom": 15}, headers=admin).json()
    assert zoomed["mode"] == "polygons" and zoomed["n_areas"] == 3
    props = {f["id"]: f["properties"] for f in zoomed["features"]}
    assert props["VN-STOR-0001"]["diagnosis"] == (label if status == "diagnosed" else status)
    assert props["VN-STOR-0001"]["growth"] == r["result"]["growth"]["score"]
    assert props["VN-STOR-0002"]["diagnosis"] is None and props["VN-STOR-0002"]["latest_at"] is None
    out = client.get("/v1/map/areas", params={"bbox": VIEW, "zoom": 8}, headers=admin).json()
    assert out["mode"] == "clusters" and sum(f["properties"]["count"] for f in out["features"]) == 3
    only = client.get("/v1/map/areas", params={"bbox": VIEW, "zoom": 15, "crop": "shallot"}, headers=admin).json()
    assert [f["id"] for f in only["features"]] == ["VN-STOR-0003"]
    season = client.get("/v1/map/areas", params={"bbox": VIEW, "zoom": 15, "season": "Đông Xuân 2026-2027"},
                        headers=admin).json()
    assert season["n_areas"] == 1
    f = client.get("/v1/map/filters", headers=admin).json()
    assert f["crops"] == ["rice", "shallot"]
    assert f["crop_names"]["shallot"] == {"vi": "Hành tím", "en": "Shallot"}  # api/data/crop_names.csv

    with db() as s:
        ids = {a.code: a.id for a in s.query(GrowingArea)}
        s.add_all([_photo_obs(ids["VN-STOR-0002"], "blast", 5, 2), _photo_obs(ids["VN-STOR-0002"], "blast", 7, 3),
                   _photo_obs(ids["VN-STOR-0003"], "blast", 3, 20),  # outside the 14 days
                   _photo_obs(ids["VN-STOR-0003"], "no_symptom", 0, 1, status="no_symptom")])
        s.commit()
    ob = client.get("/v1/map/outbreaks", params={"bbox": VIEW, "zoom": 8}, headers=admin).json()
    blast = [f["properties"] for f in ob["features"] if f["properties"]["disease"] == "blast"]
    # the uploaded photo counts when the served model diagnosed it blast (a model's call, not this test's)
    up = int(status == "diagnosed" and label == "blast")
    up_ses = (r["result"]["severity"]["ses"] or 0) if up else 0
    assert sum(p["photos"] for p in blast) == 2 + up and max(p["max_ses"] for p in blast) == max(7, up_ses)
    assert "no_symptom" not in ob["totals"] and ob["totals"]["blast"] == 2 + up
    month = client.get("/v1/map/outbreaks", params={"bbox": VIEW, "zoom": 8, "days": 30, "disease": "blast"},
                       headers=admin).json()
    assert month["totals"] == {"blast": 3 + up}


def test_map_is_for_agronomists_and_admins_and_checks_the_view(client: TestClient, farm: dict, db) -> None:
    r = client.get("/v1/map/areas", params={"bbox": VIEW, "zoom": 10}, headers=farm["a"])
    assert r.status_code == 403 and "agronomists and admins" in r.json()["detail"]
    make_account(db, "agro_elsewhere", Role.agronomist, province="An Giang")
    other = token_for(client, "agro_elsewhere")
    assert client.get("/v1/map/areas", params={"bbox": VIEW, "zoom": 15}, headers=other).json()["n_areas"] == 0
    bad = client.get("/v1/map/areas", params={"bbox": "106,10,105,9", "zoom": 10}, headers=farm["admin"])
    assert bad.status_code == 422 and "min_lon < max_lon" in bad.json()["detail"]
