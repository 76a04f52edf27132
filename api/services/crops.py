"""Crop names in Vietnamese and English, from api/data/crop_names.csv: the one table the traceability page and the
map page's filter (through `GET /v1/map/filters`) name crops from. An area's crop is stored as the table's name when
it is one of the table's crops in any spelling ("lúa", "Lúa", "Rice" -> rice: a clerk's "lúa" made a second row in
the weekly report and a second entry in the map's filter); a crop not in the table is kept as it was entered."""

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


def canonical_crop(crop: str) -> str:
    """The table's name of a crop given in any of its names, case and spacing aside; another crop as entered."""
    from inference.names import spelling_key

    key = spelling_key(crop)
    for name, n in crop_names().items():
        if key in (spelling_key(name), spelling_key(n["vi"]), spelling_key(n["en"])):
            return name
    return crop.strip()


def bilingual(crop: str | None) -> str | None:
    """'Lúa / Rice' for a known crop, the crop as entered otherwise."""
    n = crop_names().get(crop or "")
    return f"{n['vi']} / {n['en']}" if n else crop
