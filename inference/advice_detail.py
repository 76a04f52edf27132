"""Advice an extension officer can check: per disease or pest, cultural measures, when chemical control is
warranted, active ingredients named by public extension guidance, the pre-harvest interval, protective equipment and
what to check; for an unsure answer, what to check and whom to call. Every item cites a source (title, publisher,
address) in inference/data/advice_sources.json, which also keeps the verbatim quote behind each item and who reviewed
the file and when. The short advice sentence stays in advice.json; this is the detail shown under it."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SOURCES_FILE = Path(__file__).resolve().parent / "data" / "advice_sources.json"
SECTIONS = ("cultural", "chemical_when", "phi", "ppe", "check")


class AdviceItem(BaseModel):
    vi: str
    en: str
    source: str = Field(description="key of `sources`")


class SourceRef(BaseModel):
    title: str
    publisher: str | None = None
    url: str | None = None
    retrieved: str | None = None


class AdviceDetail(BaseModel):
    label: str = Field(description="the disease or pest, or 'unsure'")
    cultural: list[AdviceItem] = Field(default_factory=list, description="water, nitrogen, varieties, hygiene")
    chemical_when: list[AdviceItem] = Field(default_factory=list, description="when chemical control is warranted")
    active_ingredients: list[dict[str, str]] = Field(
        default_factory=list, description="named by the cited guidance; check the product is on Vietnam's permitted "
        "list and follow its label")
    phi: list[AdviceItem] = Field(default_factory=list, description="pre-harvest interval")
    ppe: list[AdviceItem] = Field(default_factory=list, description="protective equipment")
    check: list[AdviceItem] = Field(default_factory=list, description="what to check in the field")
    call: list[AdviceItem] = Field(default_factory=list, description="whom to call")
    follow_label: AdviceItem | None = None
    sources: dict[str, SourceRef] = Field(default_factory=dict, description="the sources the items cite")
    review: dict[str, Any] = Field(default_factory=dict, description="status, reviewed_by, reviewed_on")
    withheld: list[str] = Field(default_factory=list, description="sections left out until an agronomist reviews "
                                "the entry: 'active_ingredients' (chemical names a farmer might buy on) while the "
                                "entry is a draft whose products' registration was not checked")


@lru_cache
def load_sources(path: str = str(SOURCES_FILE)) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _items(raw: list[dict[str, Any]]) -> list[AdviceItem]:
    return [AdviceItem(vi=i["vi"], en=i["en"], source=i["source"]) for i in raw]


def detail_for(status: str, label: str, candidates: list[str], path: str = str(SOURCES_FILE)) -> AdviceDetail | None:
    """The detail for a decision: a named disease or pest gets its entry; "unsure" gets what to check (for the two
    likeliest diseases too) and whom to call; other answers (no symptom, field patch, retake) get none."""
    data = load_sources(path)
    general = data.get("general", {})
    if status == "diagnosed" and label in data.get("labels", {}):
        e = data["labels"][label]
        d = AdviceDetail(label=label, active_ingredients=[{"name": a["name"], "source": a["source"]}
                                                          for a in e.get("active_ingredients", [])])
        for k in SECTIONS:
            setattr(d, k, _items(e.get(k, [])))
        d.phi += _items(general.get("phi", []))
        d.ppe += _items(general.get("ppe", []))
    elif status == "unsure":
        u = data.get("unsure", {})
        checks = [i for c in candidates for i in data.get("labels", {}).get(c, {}).get("check", [])]
        d = AdviceDetail(label="unsure", check=_items(checks + u.get("check", [])), call=_items(u.get("call", [])))
    else:
        return None
    if general.get("follow_label"):
        d.follow_label = AdviceItem(**{k: general["follow_label"][k] for k in ("vi", "en", "source")})
    cited = {i.source for k in (*SECTIONS, "call") for i in getattr(d, k)} | {a["source"] for a in
                                                                              d.active_ingredients}
    if d.follow_label:
        cited.add(d.follow_label.source)
    d.sources = {k: SourceRef(**{f: v for f, v in data["sources"][k].items() if f in SourceRef.model_fields})
                 for k in sorted(cited)}
    entry = data["labels"].get(label) if status == "diagnosed" else data.get("unsure")
    own = (entry or {}).get("review") or {}
    d.review = {**data.get("review", {}), **own}
    if own.get("reviewed_by") and "status" not in own:  # the file's "draft" status is not this reviewed entry's
        d.review["status"] = f"reviewed by {own['reviewed_by']} on {own.get('reviewed_on') or '?'}"
        d.review["status_vi"] = f"đã được {own['reviewed_by']} duyệt ngày {own.get('reviewed_on') or '?'}"
    if d.active_ingredients and not d.review.get("reviewed_by"):
        # the data's own warning: "Not reviewed by an agronomist: do not publish before review", and its products'
        # registration on Vietnam's permitted list unchecked. Cultural measures stay; chemical names wait for review
        d.active_ingredients, d.withheld = [], ["active_ingredients"]
        d.sources = {k: v for k, v in d.sources.items()
                     if k in {i.source for sec in (*SECTIONS, "call") for i in getattr(d, sec)}
                     | ({d.follow_label.source} if d.follow_label else set())}
    return d


def current_advice_detail(scores: dict[str, Any]) -> dict[str, Any]:
    """A stored photo result with its advice detail as the advice data says it today: a photo scored before an entry
    was reviewed (or before chemical names were withheld from drafts) must not keep showing them, nor one scored
    before a review keep withholding them."""
    d = scores.get("diagnosis") or {}
    if "advice_detail" not in scores or not d.get("status"):
        return scores
    detail = detail_for(d["status"], d.get("label") or "", [c.get("label") for c in d.get("candidates") or []])
    return {**scores, "advice_detail": detail.model_dump() if detail is not None else None}
