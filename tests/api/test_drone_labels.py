"""Ground truth drawn on a flight: stored with the flight, refused when it makes no sense, farmers' photos inside the
flight as points, exported as a scene that the drone trainer reads (labelled pixels only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from shapely.geometry import box, mapping

from api.orm import Role
from datasets.drone import CLASSES, IGNORE, iter_chips, label_raster, read_scenes
from tests.api.test_flights import area_over, post_flight, wait_job
from tests.conftest import make_account, token_for
from tests.data.make_photos import gps_jpeg, real_photo
from tests.data.make_rasters import bali_crop


def test_labels_on_a_flight_become_a_training_scene(flight_client, db, tmp_path: Path) -> None:
    from api.services.drone_labels import export

    client, tok = flight_client
    src = bali_crop(tmp_path / "bali.tif")
    area = area_over(src)
    assert client.post("/v1/areas", json={**area, "owner_username": "farmer"}, headers=tok["admin"]).status_code == 201
    job = wait_job(client, tok["pilot"], post_flight(client, tok["pilot"], src, area_code="VN-STOR-0001").json()["id"])
    assert job["status"] == "succeeded", job
    w, s, e, n = job["result"]["bounds_wgs84"]
    dx, dy = (e - w) / 10, (n - s) / 10
    damage = mapping(box(w + 2 * dx, s + 2 * dy, w + 4 * dx, s + 4 * dy))
    stubble = mapping(box(w + 6 * dx, s + 6 * dy, w + 8 * dx, s + 8 * dy))
    url = f"/v1/flights/{job['id']}/labels"
    make_account(db, "agro", Role.agronomist, province="Sóc Trăng")
    agro = token_for(client, "agro")
    # drone operators see labels but do not draw them; nonsense is refused with the reason
    assert client.post(url, json={"label": "damage", "geometry": damage}, headers=tok["pilot"]).status_code == 403
    r = client.post(url, json={"label": "rust", "geometry": damage}, headers=agro)
    assert r.status_code == 422
    far = mapping(box(w + 5, s + 5, w + 5.1, s + 5.1))
    r = client.post(url, json={"label": "damage", "geometry": far}, headers=agro)
    assert r.status_code == 422 and "outside the flight" in r.json()["detail"]
    bow = {"type": "Polygon", "coordinates": [[[w, s], [e, n], [e, s], [w, n], [w, s]]]}
    assert "crosses itself" in client.post(url, json={"label": "damage", "geometry": bow}, headers=agro).json()["detail"]
    r = client.post(url, json={"label": "damage", "geometry": damage, "note": "hopperburn, checked"}, headers=agro)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["class"] == "damaged" and r.json()["properties"]["area_m2"] > 10
    ids = [r.json()["id"], client.post(url, json={"label": "stubble", "geometry": stubble}, headers=agro).json()["id"]]
    fc = client.get(url, headers=tok["pilot"]).json()
    assert [f["properties"]["label"] for f in fc["features"]] == ["damage", "stubble"] and fc["unlabelled"] == "ignore"
    assert fc["features"][0]["properties"]["by"] == "agro"
    # a farmer's geotagged photo inside the flight shows as a point with its diagnosis
    inside = box(w + 3 * dx, s + 3 * dy, w + 3 * dx, s + 3 * dy).centroid
    photo = gps_jpeg(real_photo("brown_spot", 51), lat=inside.y, lon=inside.x)
    farmer = token_for(client, "farmer")
    assert client.post("/v1/photos", files={"file": ("p.jpg", photo, "image/jpeg")}, headers=farmer).status_code == 201
    pts = client.get(f"/v1/flights/{job['id']}/photos", headers=agro).json()["features"]
    assert len(pts) == 1 and pts[0]["properties"]["diagnosis"] and pts[0]["properties"]["area_code"] == "VN-STOR-0001"
    # the area's growth series has the flight and the photo, with their links
    g = client.get("/v1/areas/VN-STOR-0001/growth", headers=agro).json()
    assert [p["source"] for p in g["points"]] == ["drone", "photo"] and g["n_flights"] == 1
    assert g["points"][0]["flight_url"] == f"/v1/jobs/{job['id']}" and g["points"][0]["growth_score"] is not None
    # a label drawn by mistake is removed
    extra = client.post(url, json={"label": "shadow", "geometry": stubble}, headers=agro).json()["id"]
    assert client.delete(f"{url}/{extra}", headers=agro).status_code == 204
    assert [f["id"] for f in client.get(url, headers=agro).json()["features"]] == ids

    # exported as a scene: only the drawn pixels are labelled; the trainer's chips come from them
    with db() as session:
        scenes = export(session, tmp_path / "drone_labels")
    assert [sc["n_labels"] for sc in scenes] == [2]
    (scene,) = read_scenes(tmp_path / "drone_labels")
    lab = label_raster(scene.tif, scene.labels)
    labelled = lab != IGNORE
    assert 0.02 < labelled.mean() < 0.2  # two polygons of 4 % of the footprint each (less what is off the mosaic)
    assert (lab == CLASSES.index("damaged")).sum() > 0 and set(np.unique(lab[labelled])) <= {0, 1, 2}
    assert json.loads(scene.labels.read_text())["features"][1]["properties"]["class"] == "soil_water"
    chips = list(iter_chips(scene, 64, 64))
    assert chips and all((y != IGNORE).mean() >= scene.min_labelled for _, y in chips)
