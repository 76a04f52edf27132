"""Crop names in Vietnamese and English, from api/data/crop_names.csv: the one table the traceability page and the
map page's filter (through `GET /v1/map/filters`) name crops from. An area's crop is free text; a crop not in the
table is shown as it was entered."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

CROPS_CSV = Path(__file__).resolve().parents[1] / "data" / "crop_names.csv"


@lru_cache
def crop_names() -> dict[str, dict[str, str]]:
    """crop -> {"vi": ..., "en": ...}."""
    with CROPS_CSV.open(encoding="utf-8") as f:
        return {r["name"]: {"vi": r["name_vi"], "en": r["name_en"]} for r in csv.DictReader(f)}


def bilingual(crop: str | None) -> str | None:
    """'Lúa / Rice' for a known crop, the crop as entered otherwise."""
    n = crop_names().get(crop or "")
    return f"{n['vi']} / {n['en']}" if n else crop
