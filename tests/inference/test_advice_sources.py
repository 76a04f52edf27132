"""The advice data an extension officer signs: every item cites a listed source with the quote behind it, every
disease and pest of the class registry has an entry, the review is recorded, and the photo result carries the detail
(a diagnosed disease: measures, when to spray, actives, PHI, PPE; unsure: what to check and whom to call)."""

from __future__ import annotations

import csv
from pathlib import Path

from inference.advice_detail import SECTIONS, detail_for, load_sources
from inference.photo import Decision, advice_for, load_advice
from inference.results import PhotoQuality, PhotoSeverity

REGISTRY = Path(__file__).resolve().parents[2] / "api" / "data" / "label_classes.csv"


def _all_items(d: dict) -> list[dict]:
    items = [i for e in d["labels"].values() for k in (*SECTIONS, "active_ingredients") for i in e.get(k, [])]
    items += d["unsure"]["check"] + d["unsure"]["call"] + d["general"]["ppe"] + d["general"]["phi"]
    return items + [d["general"]["follow_label"]]


def test_every_item_cites_a_listed_source_with_its_quote() -> None:
    d = load_sources()
    items = _all_items(d)
    assert len(items) > 100
    for i in items:
        assert i["source"] in d["sources"], i
        assert len(i.get("quote", "")) >= 15, i
        assert "name" in i or (i["vi"].strip() and i["en"].strip()), i
    for key, s in d["sources"].items():
        assert s["title"] and s["url"].startswith("http"), key
    assert set(d["review"]) >= {"status", "reviewed_by", "reviewed_on"}
    actives = {a["name"].lower() for e in d["labels"].values() for a in e["active_ingredients"]}
    assert not {"carbendazim", "benomyl"} & actives  # removed from Vietnam's permitted list (cited in NOTES)


def test_every_disease_and_pest_of_the_registry_has_cited_advice() -> None:
    d = load_sources()
    with REGISTRY.open(encoding="utf-8") as f:
        wanted = [r["name"] for r in csv.DictReader(f) if r["kind"] in ("disease", "pest")]
    for name in wanted:
        e = d["labels"][name]
        assert len(e["cultural"]) >= 3 and e["check"], name
        assert e["name"]["vi"] and e["name"]["en"], name
        assert set(e["review"]) >= {"reviewed_by", "reviewed_on"}, name  # who reviewed this entry, and when


def test_the_photo_result_detail_and_the_short_advice() -> None:
    blast = detail_for("diagnosed", "blast", [])
    # while the entry is a draft, no chemical name reaches a farmer (the data says "do not publish before review")
    assert blast is not None and blast.cultural and blast.chemical_when and not blast.active_ingredients
    assert blast.withheld == ["active_ingredients"]
    assert blast.follow_label is not None and blast.ppe and blast.phi
    assert {i.source for i in blast.cultural} <= set(blast.sources)
    assert all(s.url for s in blast.sources.values()) and blast.review["status"].startswith("draft")
    unsure = detail_for("unsure", "unsure", ["blast", "brown_spot"])
    assert unsure is not None and unsure.call and len(unsure.check) >= 5
    assert any("leafhopper" in i.en for i in unsure.check)  # what the model does not know (tungro's vector)
    assert detail_for("no_symptom", "no_symptom", []) is None
    quality = PhotoQuality(ok=True, sharpness=1.6, brightness=120, clipped_pct=0.0, issues=[], messages=[])
    src = load_sources()["labels"]["blast"]
    light = advice_for(Decision("diagnosed", "blast", None), PhotoSeverity(ses=3, affected_pct=2.0), quality, load_advice())
    severe = advice_for(Decision("diagnosed", "blast", None), PhotoSeverity(ses=7, affected_pct=30.0), quality,
                        load_advice())
    assert src["cultural"][0]["en"] in light.en and src["chemical_when"][0]["en"] not in light.en
    assert src["chemical_when"][0]["vi"] in severe.vi and "SES 7" in severe.vi and "Danh mục" in severe.vi


def test_active_ingredients_are_shown_once_the_entry_is_reviewed(tmp_path) -> None:
    import json

    from inference.advice_detail import SOURCES_FILE

    data = json.loads(SOURCES_FILE.read_text(encoding="utf-8"))
    data["labels"]["blast"]["review"] = {"reviewed_by": "KS. Trần Văn A", "reviewed_on": "2026-12-03"}
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    blast = detail_for("diagnosed", "blast", [], str(path))
    assert blast is not None and blast.active_ingredients and not blast.withheld
    assert "draft" not in blast.review["status"] and "nháp" not in blast.review["status_vi"]  # reviewed, said so
    assert {a["source"] for a in blast.active_ingredients} <= set(blast.sources)

