"""The agronomist's loop on the API side: feedback with registry labels (new and special ones), the review queue
and its order, only reviewed labels exported, the manifest the trainer reads."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.orm import Role
from tests.api.test_photos import upload
from tests.conftest import make_account, token_for
from tests.data.make_photos import real_photo

DISEASES = ("bacterial_leaf_blight", "blast", "brown_spot")


@pytest.fixture
def agro(client: TestClient, db) -> dict:
    make_account(db, "agro", Role.agronomist, province="Sóc Trăng")
    return token_for(client, "agro")


def phone_jpeg(label: str, i: int, make: str = "Samsung", model: str = "SM-A125F") -> bytes:
    """A real photo re-saved with the phone's make and model in EXIF."""
    im = Image.open(real_photo(label, i)).convert("RGB")
    exif = Image.Exif()
    exif[271], exif[272] = make, model
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def scored(client: TestClient, headers: dict, data: bytes, **form: str) -> dict:
    r = upload(client, headers, data, area_code="VN-STOR-0001", **form)
    assert r.status_code == 201, r.text
    return r.json()


def test_feedback_takes_registry_labels_and_special_ones(client: TestClient, farm: dict, agro: dict) -> None:
    body = scored(client, farm["a"], real_photo("brown_spot", 51).read_bytes())  # diagnosed, 0.98 with 1.2.0
    pid, model_label = body["id"], body["result"]["diagnosis"]["label"]
    assert model_label == "brown_spot"
    url = f"/v1/photos/{pid}/feedback"
    labels = {lab["name"]: lab for lab in client.get("/v1/labels", headers=farm["a"]).json()}
    assert {"tungro", "healthy", "other", "not_sure", *DISEASES} <= set(labels)
    assert labels["tungro"]["name_vi"] and labels["tungro"]["kind"] == "disease" and labels["blast"]["in_model"]
    # a disease the model does not know, in the registry: recorded with the model's answer and version
    r = client.post(url, json={"verdict": "wrong", "label": "tungro"}, headers=farm["a"])
    assert r.status_code == 201, r.text
    assert r.json()["model_label"] == model_label and r.json()["model_version"] == body["result"]["model"]["version"]
    assert r.json()["confirmed"] is False
    # "other" needs a name; "not sure" is a label of its own
    r = client.post(url, json={"label": "other"}, headers=farm["a"])
    assert r.status_code == 422 and "other_name" in r.json()["detail"]
    assert client.post(url, json={"label": "other", "other_name": "lem lép hạt"}, headers=farm["a"]).status_code == 201
    assert client.post(url, json={"label": "not_sure"}, headers=farm["a"]).json()["kind"] == "unsure"
    # the farmer's own "I do not know" is named apart from the model's "unsure" (the page's "Chưa chắc chắn"): two
    # names for one idea ("Không chắc" beside "Chưa chắc chắn") read as two different answers
    assert (labels["not_sure"]["name_vi"], labels["not_sure"]["name_en"]) == ("Tôi không biết", "I do not know")
    # "right" confirms the model's answer, whatever it was
    r = client.post(url, json={"verdict": "right"}, headers=farm["a"])
    assert r.status_code == 201 and r.json()["label"] == model_label and r.json()["confirmed"] is True
    assert client.post(url, json={"label": "leaf_smut"}, headers=farm["a"]).status_code == 422
    unsure = scored(client, farm["a"], real_photo("brown_spot", 42).read_bytes())  # unsure with 1.2.0 and 1.3.1
    assert unsure["result"]["diagnosis"]["status"] == "unsure"
    r = client.post(f"/v1/photos/{unsure['id']}/feedback", json={"verdict": "right"}, headers=farm["a"])
    assert r.status_code == 422 and "say what it is" in r.json()["detail"]
    fb = client.get(f"/v1/photos/{pid}", headers=farm["a"]).json()["feedback"]
    assert [f["label"] for f in fb] == ["tungro", "other", "not_sure", model_label]
    assert fb[1]["other_name"] == "lem lép hạt" and fb[0]["by"] == "farmer_a"
    # an agronomist adds a label: farmers can then use it, without code
    assert client.post("/v1/labels", json={"name": "leaf_smut", "kind": "disease", "name_vi": "Bệnh than đen",
                                           "name_en": "Leaf smut"}, headers=farm["a"]).status_code == 403
    r = client.post("/v1/labels", json={"name": "leaf_smut", "kind": "disease", "name_vi": "Bệnh than đen",
                                        "name_en": "Leaf smut"}, headers=agro)
    assert r.status_code == 201 and r.json()["added_by"] == "agro"
    assert client.post(url, json={"label": "leaf_smut"}, headers=farm["a"]).status_code == 201
    assert client.post("/v1/labels", json={"name": "blast", "kind": "disease", "name_vi": "x", "name_en": "x"},
                       headers=agro).status_code == 409
    # another name of a registry label (training would read it as that label): refused, saying which
    r = client.post("/v1/labels", json={"name": "leaf_blast", "kind": "disease", "name_vi": "x", "name_en": "x"},
                    headers=agro)
    assert r.status_code == 409 and "'blast'" in r.json()["detail"]
    assert client.post("/v1/labels", json={"name": "Bad Name", "kind": "disease", "name_vi": "x", "name_en": "x"},
                       headers=agro).status_code == 422


def test_review_queue_shows_what_the_severity_counted(client: TestClient, farm: dict, agro: dict) -> None:
    """The reviewer sees the severity and can look at its drawing (lesions.jpg) beside the photo, as the farmer did;
    a photo without a severity has neither."""
    photo = scored(client, farm["a"], real_photo("brown_spot", 51).read_bytes())
    client.post(f"/v1/photos/{photo['id']}/feedback", json={"label": "blast"}, headers=farm["a"])
    item = next(it for it in client.get("/v1/review/queue", headers=agro).json()["items"]
                if it["photo_id"] == photo["id"])
    sev = photo["result"]["severity"]
    assert item["lesions_url"] == photo["lesions_url"] == f"/v1/photos/{photo['id']}/lesions.jpg"
    assert item["severity"] == {k: sev[k] for k in ("affected_pct", "ses", "segmentation")}
    r = client.get(item["lesions_url"], headers=agro)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    dark = Image.open(real_photo("brown_spot", 51)).convert("RGB").point(lambda v: v // 12)
    buf = io.BytesIO()
    dark.save(buf, "JPEG", quality=90)
    retake = scored(client, farm["a"], buf.getvalue())
    assert retake["result"]["diagnosis"]["status"] == "retake"
    client.post(f"/v1/photos/{retake['id']}/feedback", json={"label": "blast"}, headers=farm["a"])
    item = next(it for it in client.get("/v1/review/queue", headers=agro).json()["items"]
                if it["photo_id"] == retake["id"])
    assert item["lesions_url"] is None and item["severity"] is None


def test_review_queue_puts_disagreement_first_and_only_reviewed_labels_export(
        client: TestClient, farm: dict, agro: dict, db, tmp_path: Path) -> None:
    from api.services.feedback import export_feedback
    from api.services.review import queue
    from models.extra_datasets import read_extra_dataset

    agree = scored(client, farm["a"], real_photo("brown_spot", 51).read_bytes(), device="OPPO A57")  # no EXIF
    photos = [agree, scored(client, farm["a"], phone_jpeg("brown_spot", 42)),
              scored(client, farm["a"], phone_jpeg("brown_spot", 50))]
    other = scored(client, farm["a"], phone_jpeg("blast", 4, "Xiaomi", "Redmi Note 12"))
    wrong = "bacterial_leaf_blight"
    client.post(f"/v1/photos/{photos[0]['id']}/feedback", json={"verdict": "right"}, headers=farm["a"])
    client.post(f"/v1/photos/{photos[1]['id']}/feedback", json={"label": "not_sure"}, headers=farm["a"])
    client.post(f"/v1/photos/{photos[2]['id']}/feedback", json={"label": wrong}, headers=farm["a"])
    assert client.get("/v1/review/queue", headers=farm["a"]).status_code == 403
    q = client.get("/v1/review/queue", headers=agro).json()
    reason = {it["photo_id"]: it["reason"] for it in q["items"]}
    ours = [it["photo_id"] for it in q["items"] if it["photo_id"] != other["id"]]  # `other` depends on the model
    assert ours[:3] == [p["id"] for p in reversed(photos)] and q["items"][0]["photo_id"] == photos[2]["id"]
    assert [reason[p["id"]] for p in photos] == ["agreement", "farmer_unsure", "disagreement"]
    first = q["items"][0]
    assert first["farmer"]["label"] == wrong and first["farmer"]["by"] == "farmer_a"
    assert len(first["model"]["top2"]) == 2 and first["device"] == "Samsung SM-A125F"
    assert reason.get(other["id"]) in (None, "model_unsure")  # queued only when the model was unsure
    assert next(it for it in q["items"] if it["photo_id"] == agree["id"])["device"] == "OPPO A57"
    # nothing reviewed yet: nothing to export, and the command line says how many wait (it said nothing)
    with db() as s:
        assert export_feedback(s, tmp_path / "empty")["n_photos"] == 0
        waiting = queue(s, None, limit=0)[1]
    assert waiting == len(q["items"]) >= 3
    # confirm the farmer's correction, correct the unsure one, reject the agreeing one, confirm the Xiaomi one
    r = client.post(f"/v1/review/photos/{photos[2]['id']}", json={"action": "confirm", "only_if_unreviewed": True},
                    headers=agro)
    assert r.status_code == 201 and r.json()["label"] == wrong and r.json()["by"] == "agro"
    # a second reviewer on a page shown before that decision: refused, saying who decided (it overwrote it silently)
    stale = client.post(f"/v1/review/photos/{photos[2]['id']}",
                        json={"action": "correct", "label": "blast", "only_if_unreviewed": True}, headers=agro)
    assert stale.status_code == 409 and stale.json()["reason"] == "review_already_reviewed"
    assert "agro (confirm bacterial_leaf_blight" in stale.json()["detail"]
    assert client.post(f"/v1/review/photos/{photos[1]['id']}", json={"action": "correct"}, headers=agro).status_code == 422
    assert client.post(f"/v1/review/photos/{photos[1]['id']}", json={"action": "correct", "label": "not_sure"},
                       headers=agro).status_code == 422
    assert client.post(f"/v1/review/photos/{photos[1]['id']}", json={"action": "correct", "label": "tungro"},
                       headers=agro).status_code == 201
    assert client.post(f"/v1/review/photos/{photos[0]['id']}", json={"action": "reject", "note": "blurred"},
                       headers=agro).status_code == 201
    assert client.post(f"/v1/review/photos/{other['id']}", json={"action": "confirm", "label": "blast"},
                       headers=agro).status_code == 201
    remaining = {it["photo_id"] for it in client.get("/v1/review/queue", headers=agro).json()["items"]}
    assert not remaining & {p["id"] for p in photos}
    with db() as s:
        assert queue(s, None, limit=0)[1] == len(remaining) == waiting - 4
    stats = client.get("/v1/review/stats", headers=agro).json()
    assert stats["totals"] == {wrong: 1, "tungro": 1, "blast": 1}
    assert stats["confirmed"]["tungro"] == {"Samsung SM-A125F": 1} and stats["reviews_by"] == {"agro": 4}
    log = client.get("/v1/review/log", headers=agro).json()
    assert [e["action"] for e in log] == ["confirm", "reject", "correct", "confirm"]
    with db() as s:
        info = export_feedback(s, tmp_path / "fb")
    assert info["n_photos"] == 3 and info["kind"] == "cropwatch-feedback"
    with (tmp_path / "fb" / "manifest.csv").open() as fh:
        rows = {r["label"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {wrong, "tungro", "blast"}
    assert rows["tungro"]["phone_model"] == "Samsung SM-A125F" and rows["tungro"]["source"] == "feedback/samsung-sm-a125f"
    assert rows["tungro"]["farmer_label"] == "not_sure" and rows["tungro"]["reviewed_by"] == "agro"
    assert rows["tungro"]["group"].startswith("feedback:VN-STOR-0001:") and rows["tungro"]["split"] in ("train", "test")
    assert all((tmp_path / "fb" / r["path"]).is_file() for r in rows.values())
    # the trainer reads the folder back
    extra = read_extra_dataset(tmp_path / "fb")
    assert sorted(r.label for r in extra) == sorted(rows) and {r.source for r in extra} >= {"feedback/samsung-sm-a125f"}
    info = json.loads((tmp_path / "fb" / "dataset.json").read_text())
    assert info["n_photos"] == 3
    # the service's registry travels with the export: tungro (a seeded disease) is named as the pages name it
    assert set(info["registered_labels"]) == {wrong, "tungro", "blast"}
    assert info["registered_labels"]["tungro"]["kind"] == "disease"
    # a second export never writes over the first unless asked
    with db() as s, pytest.raises(Exception, match="not empty"):
        export_feedback(s, tmp_path / "fb")


def test_a_farmer_naming_what_the_list_lacks_against_a_diagnosis_disagrees() -> None:
    """"Wrong, it is <leaf folder, not in the list>" against a 92 % leaf blight is a disagreement, first in the queue
    (it was queued as "farmer unsure"); against an unsure answer it stays "farmer unsure"."""
    from types import SimpleNamespace

    from api.services.review import _reason

    reg = {"not_sure": SimpleNamespace(kind="unsure"), "other": SimpleNamespace(kind="other"),
           "blast": SimpleNamespace(kind="disease")}
    diagnosed = SimpleNamespace(scores={"diagnosis": {"status": "diagnosed", "label": "bacterial_leaf_blight"}})
    unsure = SimpleNamespace(scores={"diagnosis": {"status": "unsure", "label": "unsure"}})
    said = lambda label: SimpleNamespace(label=label)  # noqa: E731
    assert _reason(diagnosed, said("other"), reg) == "disagreement"  # type: ignore[arg-type]
    assert _reason(diagnosed, said("not_sure"), reg) == "farmer_unsure"  # type: ignore[arg-type]
    assert _reason(unsure, said("other"), reg) == "farmer_unsure"  # type: ignore[arg-type]
    assert _reason(diagnosed, said("blast"), reg) == "disagreement"  # type: ignore[arg-type]


def test_stats_say_who_was_asked_to_take_photos_again(client: TestClient, farm: dict, agro: dict) -> None:
    """The gate's refusals reach no queue: the stats list them per area and farmer, most first, with the reasons."""
    from tests.data.make_photos import dark_jpeg

    for _ in range(2):
        assert scored(client, farm["a"], dark_jpeg(real_photo()))["result"]["diagnosis"]["status"] == "retake"
    scored(client, farm["a"], real_photo("blast", 3).read_bytes())  # answered: not counted
    rt = client.get("/v1/review/stats", headers=agro).json()["retakes"]
    assert [(r["area_code"], r["by"], r["refused"]) for r in rt] == [("VN-STOR-0001", "farmer_a", 2)]
    assert rt[0]["issues"]["too_dark"] == 2

