"""An area's growth over time: photos that passed the gate, with days after sowing and links; refused photos left
out; the time window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

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


def test_a_flight_over_a_corner_of_the_area_is_not_its_growth(client: TestClient, farm: dict, db) -> None:
    """A flight whose valid pixels cover under half of the growing area (a strip, a corner, one pixel) stays in the
    area's history but is no point of its growth series and no latest status; flights recorded before coverage was
    measured count as before."""
    from api.orm import GrowingArea, Observation
    from api.services.analysis import record_drone_observation
    from inference.results import DroneSummary

    def flight(covered: float | None, growth: float) -> int:
        s = DroneSummary.model_validate({
            "sensor": "rgb", "bounds_wgs84": [0, 0, 1, 1], "crs": "EPSG:32648", "width": 1, "height": 1,
            "pixel_area_m2": 1.0, "clipped_to_area": True, "analysed_area_ha": 1.0, "canopy_cover_pct": growth,
            "growth_score": growth, "damaged_area_ha": 0.0, "damaged_pct": 0.0, "mean_damage_probability": 0.0,
            "index": {"primary": "gli", "canopy_threshold": 0.1, "p10": 0, "p50": 0, "p90": 0, "means": {}},
            "damage_method": "index_anomaly", "seconds": 1.0, "outputs": {}, "area_covered_pct": covered})
        with db() as session:
            area = session.query(GrowingArea).filter_by(code="VN-STOR-0001").one()
            return record_drone_observation(session, area.id, s, data_dir_of(session))

    def data_dir_of(_session) -> Path:
        from api.settings import get_settings

        return get_settings().data_dir / "flights" / "x"

    whole, corner, before = flight(97.0, 70.0), flight(0.01, 100.0), flight(None, 60.0)
    g = client.get("/v1/areas/VN-STOR-0001/growth", headers=farm["a"]).json()
    assert [p["observation_id"] for p in g["points"]] == [whole, before] and g["n_flights"] == 2
    with db() as session:
        assert session.get(Observation, corner) is not None  # kept in the record
        area = session.query(GrowingArea).filter_by(code="VN-STOR-0001").one()
        assert area.latest_growth == 60.0  # the newest flight that covers the area (the map's colour), not the corner's
