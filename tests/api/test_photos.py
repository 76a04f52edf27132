"""Photo upload and scoring through the API: linked to the right area, stored once, bad input refused, nothing
half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from api.orm import Observation, Role
from tests.api.test_areas import area_payload
from tests.conftest import make_account, row_counts, token_for
from tests.data.make_photos import (
    blurred_jpeg,
    dark_jpeg,
    gps_jpeg,
    png_header_bomb,
    real_photo,
    truncated,
)


def files_in(d: Path) -> list[Path]:
    return [p for p in d.rglob("*") if p.is_file()] if d.exists() else []


def upload(client: TestClient, headers: dict, data: bytes, name: str = "leaf.jpg", ctype: str = "image/jpeg",
           **form: str):
    return client.post("/v1/photos", files={"file": (name, data, ctype)}, data=form, headers=headers)


def test_upload_scores_and_records(client: TestClient, farm: dict, data_dir: Path) -> None:
    data = real_photo("brown_spot", 3).read_bytes()
    r = upload(client, farm["a"], data, area_code="VN-STOR-0001")
    assert r.status_code == 201, r.text
    body = r.json()
    res = body["result"]
    assert res["schema_version"] == "1.0" and res["model"]["version"]
    assert res["diagnosis"]["label"] in {"bacterial_leaf_blight", "blast", "brown_spot", "unsure"}
    assert 0 <= res["diagnosis"]["confidence"] <= 1 and res["quality"]["ok"] is True
    assert res["advice"]["vi"] and res["advice"]["en"]
    # the upload answers with the record as it reads back (built from the result in hand, not from the stored JSON)
    assert client.get(f"/v1/photos/{body['id']}", headers=farm["a"]).json() == body
    obs = client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json()
    assert [o["id"] for o in obs] == [body["id"]] and obs[0]["source"] == "photo"
    assert client.get(f"/v1/photos/{body['id']}/image", headers=farm["a"]).content == data
    thumb = client.get(f"/v1/photos/{body['id']}/thumbnail", headers=farm["a"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    # the same photo again: a second observation, one stored file
    r2 = upload(client, farm["a"], data, area_code="VN-STOR-0001")
    assert r2.status_code == 201 and r2.json()["id"] != body["id"]
    assert len(files_in(data_dir / "photos")) == 1


def test_photo_is_linked_by_its_gps(client: TestClient, farm: dict) -> None:
    inside = shape(area_payload(i=1)["boundary"]).representative_point()
    data = gps_jpeg(real_photo("blast", 2), inside.y, inside.x)
    r = upload(client, farm["b"], data)
    assert r.status_code == 201, r.text
    assert r.json()["area_code"] == "VN-STOR-0002"
    assert r.json()["result"]["photo"]["lat"] == pytest.approx(inside.y, abs=1e-5)


def test_location_form_fields_link_the_photo(client: TestClient, farm: dict) -> None:
    inside = shape(area_payload(i=0)["boundary"]).representative_point()
    r = upload(client, farm["a"], real_photo().read_bytes(), lat=str(inside.y), lon=str(inside.x))
    assert r.status_code == 201 and r.json()["area_code"] == "VN-STOR-0001"


def _tiny_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (60, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("kind", "status", "words", "reason"),
    [
        ("text", 415, "not a JPEG", "not_a_photo"),
        ("content_type", 415, "not an image", "not_a_photo"),
        ("truncated", 422, "truncated", "photo_damaged"),
        ("bomb", 413, "megapixels", "photo_too_many_pixels"),
        ("100mp", 413, "100 megapixels", "photo_too_many_pixels"),
        ("empty", 400, "empty", "photo_empty"),
        ("tiny", 422, "only 8x8 pixels", "photo_too_small"),
        ("unknown_area", 404, "no growing area", None),
        ("others_area", 404, "no growing area", None),
        ("outside", 422, "outside every growing area", "outside_every_area"),
        ("no_location", 422, "say which growing area", "no_area_given"),
    ],
)
def test_bad_uploads_store_nothing(client, farm, data_dir, engine, kind, status, words, reason) -> None:
    good = real_photo().read_bytes()
    cases = {
        "text": (b"just some text", {"area_code": "VN-STOR-0001"}, "image/jpeg"),
        "content_type": (good, {"area_code": "VN-STOR-0001"}, "text/plain"),
        "truncated": (truncated(good, 0.4), {"area_code": "VN-STOR-0001"}, "image/jpeg"),
        "bomb": (png_header_bomb(), {"area_code": "VN-STOR-0001"}, "image/png"),
        "100mp": (png_header_bomb(10_000, 10_000), {"area_code": "VN-STOR-0001"}, "image/png"),
        "empty": (b"", {"area_code": "VN-STOR-0001"}, "image/jpeg"),
        "tiny": (_tiny_png(), {"area_code": "VN-STOR-0001"}, "image/png"),
        "unknown_area": (good, {"area_code": "VN-STOR-9999"}, "image/jpeg"),
        "others_area": (good, {"area_code": "VN-STOR-0002"}, "image/jpeg"),
        "outside": (good, {"lat": "10.9", "lon": "106.9"}, "image/jpeg"),
        "no_location": (good, {}, "image/jpeg"),
    }
    data, form, ctype = cases[kind]
    before = row_counts(engine)
    r = upload(client, farm["a"], data, ctype=ctype, **form)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert r.json().get("reason") == reason  # the finer name a page shows in its own language
    assert row_counts(engine) == before
    assert files_in(data_dir) == []


def test_quality_gate_answers_what_to_do(client: TestClient, farm: dict) -> None:
    r = upload(client, farm["a"], blurred_jpeg(real_photo(), 5), area_code="VN-STOR-0001")
    assert client.get(f"/v1/photos/{r.json()['id']}", headers=farm["a"]).json() == r.json()
    res = r.json()["result"]
    assert res["quality"]["ok"] is False and "blurry" in res["quality"]["issues"]
    assert res["diagnosis"]["label"] == "unsure" and res["diagnosis"]["status"] == "retake"
    assert "steady" in res["advice"]["en"]
    res = upload(client, farm["a"], dark_jpeg(real_photo()), area_code="VN-STOR-0001").json()["result"]
    assert "too_dark" in res["quality"]["issues"] and "light" in res["advice"]["en"]


def test_a_stored_photos_advice_detail_follows_todays_advice_data(client: TestClient, farm: dict, db) -> None:
    """A photo scored while drafts still named active ingredients (stored so) shows them no more: the detail is the
    advice data's of today, on the photo and in the area's observations."""
    body = upload(client, farm["a"], real_photo("brown_spot", 51).read_bytes(), area_code="VN-STOR-0001").json()
    assert body["result"]["diagnosis"]["status"] == "diagnosed" and body["result"]["advice_detail"]["withheld"]
    with db() as s:
        obs = s.get(Observation, body["id"])
        detail = {**obs.scores["advice_detail"], "active_ingredients": [{"name": "X", "source": "bcd-daoon"}],
                  "withheld": []}
        obs.scores = {**obs.scores, "advice_detail": detail}  # as a photo of yesterday was stored
        s.commit()
    now = client.get(f"/v1/photos/{body['id']}", headers=farm["a"]).json()["result"]["advice_detail"]
    assert now["active_ingredients"] == [] and now["withheld"] == ["active_ingredients"]
    listed = client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json()[0]["scores"]["advice_detail"]
    assert listed["active_ingredients"] == [] and listed["withheld"] == ["active_ingredients"]


def test_feedback(client: TestClient, farm: dict, db) -> None:
    pid = upload(client, farm["a"], real_photo("blast", 1).read_bytes(), area_code="VN-STOR-0001").json()["id"]
    r = client.post(f"/v1/photos/{pid}/feedback", json={"label": "blast", "comment": "checked"}, headers=farm["admin"])
    assert r.status_code == 201
    assert client.post(f"/v1/photos/{pid}/feedback", json={"label": "leaf_smut"},
                       headers=farm["admin"]).status_code == 422
    assert client.post(f"/v1/photos/{pid}/feedback", json={"label": "blast"}, headers=farm["b"]).status_code == 404
    assert client.get(f"/v1/photos/{pid}", headers=farm["a"]).json()["feedback"][0]["label"] == "blast"


def test_the_lesions_measured_can_be_seen(client: TestClient, farm: dict, db) -> None:
    # the farmer and the agronomist see what the severity counted: the leaf outlined, the lesions in magenta
    import cv2
    import numpy as np

    r = upload(client, farm["a"], real_photo("brown_spot", 3).read_bytes(), area_code="VN-STOR-0001")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["lesions_url"] == f"/v1/photos/{body['id']}/lesions.jpg"
    got = client.get(body["lesions_url"], headers=farm["a"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert len(got.content) < 80_000  # small enough for a slow rural link
    img = cv2.imdecode(np.frombuffer(got.content, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert min(img.shape[:2]) == 300  # the analysis size
    magenta = (img[..., 0] > 150) & (img[..., 2] > 110) & (img[..., 1] < 90)
    res = body["result"]
    lesion_share = 100 * magenta.sum() / (res["leaf"]["leaf_fraction"] * magenta.size)
    # brown spot photo #3: tight 5.07 % (drawn 4.5 %), sensitive 9.30 % (drawn 8.4 %)
    assert res["severity"]["segmentation"] == "tight"
    assert lesion_share == pytest.approx(res["severity"]["affected_pct"], abs=1.5)  # JPEG blurs the edges
    # the same access rules as the photo itself: its farmer and the province's agronomist, not another farmer
    make_account(db, "agro", Role.agronomist, province="Sóc Trăng")
    assert client.get(body["lesions_url"], headers=token_for(client, "agro")).status_code == 200
    assert client.get(body["lesions_url"], headers=farm["b"]).status_code in (403, 404)
    assert client.get(body["lesions_url"]).status_code == 401
    # a result stored before lesion presets were named was measured with the sensitive preset: drawn so
    with db() as s:
        obs = s.get(Observation, body["id"])
        scores = dict(obs.scores)
        scores["severity"] = {k: v for k, v in scores["severity"].items() if k != "segmentation"}
        obs.scores = scores
        s.commit()
    old = cv2.imdecode(np.frombuffer(client.get(body["lesions_url"], headers=farm["a"]).content, np.uint8), 1)[..., ::-1]
    old_magenta = (old[..., 0] > 150) & (old[..., 2] > 110) & (old[..., 1] < 90)
    assert old_magenta.sum() > 1.4 * magenta.sum()  # the sensitive preset's larger lesions (9.3 % against 5.1 %)


def test_nothing_is_drawn_where_nothing_was_measured(client: TestClient, farm: dict) -> None:
    body = upload(client, farm["a"], blurred_jpeg(real_photo(), 5), area_code="VN-STOR-0001").json()
    assert body["result"]["diagnosis"]["status"] == "retake" and body["result"]["severity"]["ses"] is None
    assert body["lesions_url"] is None
    r = client.get(f"/v1/photos/{body['id']}/lesions.jpg", headers=farm["a"])
    assert r.status_code == 404 and "no severity" in r.json()["detail"]


def test_the_masks_of_a_stored_photo(client: TestClient, farm: dict) -> None:
    """GET /v1/photos/{id}/masks/{leaf|lesions|canopy}.png: one-channel PNGs of what the result measured, at the
    photo's upright size (or as analysed), the lesions with the result's own share; none of lesions where no severity
    was measured; an unknown mask 422; another farmer's photo is not theirs to see."""
    import cv2
    import numpy as np
    from PIL import Image

    src = real_photo("brown_spot", 3)
    body = upload(client, farm["a"], gps_jpeg(src, 9.6, 105.97, orientation=6), area_code="VN-STOR-0001").json()
    url = f"/v1/photos/{body['id']}/masks"
    got = {k: client.get(f"{url}/{k}.png", headers=farm["a"]) for k in ("leaf", "lesions", "canopy")}
    with Image.open(src) as im:
        upright = (im.height, im.width)  # orientation 6: turned a quarter
    masks = {}
    for k, r in got.items():
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", (k, r.text)
        masks[k] = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
        assert masks[k].shape == (upright[1], upright[0]) and set(np.unique(masks[k])) <= {0, 255}
    share = 100 * (masks["lesions"] > 0).sum() / (masks["leaf"] > 0).sum()
    assert share == pytest.approx(body["result"]["severity"]["affected_pct"], abs=0.5)
    small = client.get(f"{url}/leaf.png?size=analysed", headers=farm["a"])
    assert min(cv2.imdecode(np.frombuffer(small.content, np.uint8), cv2.IMREAD_UNCHANGED).shape) == 300
    assert client.get(f"{url}/stems.png", headers=farm["a"]).status_code == 422
    assert client.get(f"{url}/leaf.png", headers=farm["b"]).status_code in (403, 404)

    refused = upload(client, farm["a"], blurred_jpeg(real_photo(), 5), area_code="VN-STOR-0001").json()
    r = client.get(f"/v1/photos/{refused['id']}/masks/lesions.png", headers=farm["a"])
    assert r.status_code == 404 and "no lesion mask" in r.json()["detail"]
    assert client.get(f"/v1/photos/{refused['id']}/masks/leaf.png", headers=farm["a"]).status_code == 200


def test_masks_are_drawn_a_few_at_a_time(client: TestClient, farm: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of mask requests waits its turn; past the wait, 503 masks_busy, nothing drawn."""
    import threading

    from api.services import photos

    body = upload(client, farm["a"], real_photo("brown_spot", 3).read_bytes(), area_code="VN-STOR-0001").json()
    monkeypatch.setattr(photos, "MASKS_AT_ONCE", threading.BoundedSemaphore(1))
    monkeypatch.setattr(photos, "MASK_WAIT_S", 0.05)
    photos.MASKS_AT_ONCE.acquire()  # another request is drawing
    r = client.get(f"/v1/photos/{body['id']}/masks/leaf.png", headers=farm["a"])
    assert r.status_code == 503 and r.json()["reason"] == "masks_busy"
    photos.MASKS_AT_ONCE.release()
    assert client.get(f"/v1/photos/{body['id']}/masks/leaf.png", headers=farm["a"]).status_code == 200


def _tracked_scoring(monkeypatch: pytest.MonkeyPatch, hold_s: float) -> list[int]:
    """score_and_record wrapped to hold each call `hold_s` longer and count the calls running at once: returns
    [running now, peak]."""
    import threading
    import time

    from api.services import photos

    real, lock, count = photos.score_and_record, threading.Lock(), [0, 0]

    def tracked(*args, **kw):
        with lock:
            count[0] += 1
            count[1] = max(count[1], count[0])
        try:
            time.sleep(hold_s)  # long enough for the other uploads to arrive while this one is being scored
            return real(*args, **kw)
        finally:
            with lock:
                count[0] -= 1

    monkeypatch.setattr(photos, "score_and_record", tracked)
    return count


def test_uploads_beyond_the_scoring_slots_wait_their_turn(client: TestClient, farm: dict,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent uploads are scored at most CROPWATCH_SCORING_SLOTS at a time (one per core by default); the others
    wait holding no database connection, so more uploads than the pool's 15 connections plus the slots are all scored
    and recorded, promptly (a waiting upload that kept its sign-in connection stalled the slots' uploads for the
    pool's 30 s timeout, then failed them with 500)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from api.settings import get_settings

    monkeypatch.setattr(get_settings(), "scoring_slots", 2)
    count = _tracked_scoring(monkeypatch, 0.1)
    data = real_photo("brown_spot", 3).read_bytes()
    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda _: upload(client, farm["a"], data, area_code="VN-STOR-0001").status_code,
                              range(20)))
    assert codes == [201] * 20
    assert time.monotonic() - t0 < 25  # not the pool's 30 s timeout
    assert count[1] == 2, count  # never more than the slots, and the slots were used
    assert len(client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json()) == 20


def test_an_upload_that_finds_no_free_slot_in_time_is_told_to_retry(client: TestClient, farm: dict,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Past CROPWATCH_SCORING_WAIT_S without a free slot: 503 with Retry-After and what to do; nothing stored."""
    from concurrent.futures import ThreadPoolExecutor

    from api.settings import get_settings

    monkeypatch.setattr(get_settings(), "scoring_slots", 1)
    monkeypatch.setattr(get_settings(), "scoring_wait_s", 0.3)
    _tracked_scoring(monkeypatch, 1.5)
    data = real_photo("brown_spot", 3).read_bytes()
    with ThreadPoolExecutor(3) as pool:
        rs = list(pool.map(lambda _: upload(client, farm["a"], data, area_code="VN-STOR-0001"), range(3)))
    assert sorted(r.status_code for r in rs) == [201, 503, 503]
    busy = next(r for r in rs if r.status_code == 503)
    assert busy.headers["Retry-After"] == "30" and "send the photo again" in busy.json()["detail"]
    assert len(client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json()) == 1


def test_the_drawing_is_made_while_scoring_and_kept(client: TestClient, farm: dict, data_dir: Path, db,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The drawing of what the severity measured is made from the scoring's own masks and kept: asking for it
    decodes and analyses nothing again, and it is byte for byte what drawing it from the stored photo gives. A photo
    whose drawing is missing (scored before drawings were kept) is drawn once, then kept; a disk that refuses the
    drawing does not lose the upload."""
    from api.services import photos
    from inference.errors import StorageFull
    from inference.photo import PhotoScorer

    data = real_photo("brown_spot", 3).read_bytes()
    body = upload(client, farm["a"], data, area_code="VN-STOR-0001").json()
    with db() as s:
        obs = s.get(Observation, body["id"])
        kept = data_dir / photos.drawing_path(obs)
    assert kept.exists()
    drawn_again = client.app.state.photo_models.scorer.lesion_overlay(data, body["result"]["severity"]["segmentation"])
    assert kept.read_bytes() == drawn_again

    def no_redraw(*_a, **_kw):
        raise AssertionError("drawn again")

    with monkeypatch.context() as m:
        m.setattr(PhotoScorer, "lesion_overlay", no_redraw)
        got = client.get(body["lesions_url"], headers=farm["a"])
    assert got.status_code == 200 and got.content == drawn_again
    kept.unlink()  # as for a photo scored before drawings were kept
    assert client.get(body["lesions_url"], headers=farm["a"]).content == drawn_again and kept.exists()

    refused: list[Path] = []

    def full(_data_dir, rel, *_a, **_kw):
        refused.append(rel)
        raise StorageFull("the disk is full")

    with monkeypatch.context() as m:
        m.setattr(photos, "write_once", full)
        r = upload(client, farm["a"], real_photo("blast", 0).read_bytes(), area_code="VN-STOR-0001")
    assert r.status_code == 201 and r.json()["lesions_url"]
    assert [p.parts[0] for p in refused] == ["drawings"]  # the drawing was offered to the disk, and refused
    assert client.get(r.json()["lesions_url"], headers=farm["a"]).status_code == 200  # drawn when asked for


def test_a_photo_sent_again_with_its_key_is_recorded_once(client: TestClient, farm: dict, data_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The farmer's page sends an Idempotency-Key per chosen photo: sent again after a dropped link or a second tap,
    the photo returns its first record (200), scored once; the key with another photo is refused (409); another
    farmer's key is theirs; without a key every upload is a record (as before)."""
    from inference.photo import PhotoScorer

    data = real_photo("brown_spot", 3).read_bytes()
    key = {"Idempotency-Key": "3f1c2a9e-photo-1"}
    first = upload(client, {**farm["a"], **key}, data, area_code="VN-STOR-0001")
    assert first.status_code == 201, first.text

    def not_again(*_a, **_kw):
        raise AssertionError("scored again")

    with monkeypatch.context() as m:
        m.setattr(PhotoScorer, "score_with_drawing", not_again)
        again = upload(client, {**farm["a"], **key}, data, area_code="VN-STOR-0001")
    assert again.status_code == 200 and again.json() == first.json()
    other = upload(client, {**farm["a"], **key}, real_photo("blast", 0).read_bytes(), area_code="VN-STOR-0001")
    assert other.status_code == 409 and "another photo" in other.json()["detail"]
    theirs = upload(client, {**farm["b"], **key}, data, area_code="VN-STOR-0002")  # keys are per account
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert len(client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json()) == 1
    assert upload(client, farm["a"], data, area_code="VN-STOR-0001").status_code == 201  # no key: a new record
    assert len(client.get("/v1/areas/VN-STOR-0001/observations", headers=farm["a"]).json()) == 2
    # an empty key is no key, every time (it was stored, and the next empty one failed on the unique index with 500)
    for _ in range(2):
        assert upload(client, {**farm["a"], "Idempotency-Key": ""}, data, area_code="VN-STOR-0001").status_code == 201
    # the key's photo sent to another area: a conflict that says so, not the first record filed under the wrong area
    admin = farm["admin"]
    assert client.post("/v1/areas", json=area_payload("VN-STOR-0003", i=2, owner_username="farmer_a"),
                       headers=admin).status_code == 201
    moved = upload(client, {**farm["a"], **key}, data, area_code="VN-STOR-0003")
    assert moved.status_code == 409 and moved.json()["reason"] == "upload_key_reused"
