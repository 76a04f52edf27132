"""One spelling per place. Provinces, districts and communes are typed by hand: "SÓC TRĂNG", "sóc trăng" and
"Sóc Trăng" are one province, "Hoà Tú 1" (the tone mark on the a, as many keyboards place it) and "Hòa Tú 1" (on the
o, as the official lists write it) one commune. Compared as typed they split the weekly report's rows and hid areas
from their own province's agronomists. A name is matched by its key (NFC, the tone of a final oa / oe / uy on its
first vowel, case and spaces folded) against the spellings already in the database, and stored, or looked for, in
the spelling found there first; a place never seen is kept as typed."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.orm import Account, GrowingArea

PLACE_FIELDS = ("province", "district", "commune")
# the five tones on a, e and y, and the same tones on o and u: a final "oà" is written "òa", "uý" "úy", etc.
_TONED = {"a": "àáảãạ", "e": "èéẻẽẹ", "y": "ỳýỷỹỵ"}
_FIRST = {"o": "òóỏõọ", "u": "ùúủũụ"}
_PAIRS = {("o", "a"), ("o", "e"), ("u", "y")}
_MOVE = {f"{v}{_TONED[w][t]}": f"{_FIRST[v][t]}{w}" for v, w in _PAIRS for t in range(5)}
_FINAL = re.compile(r"(?<!q)(" + "|".join(_MOVE) + r")(?!\w)")  # "quý": the u belongs to the qu


def place_key(name: str) -> str:
    """The form two spellings of one place share: NFC, a final oa / oe / uy toned on its first vowel, lower case,
    single spaces."""
    s = unicodedata.normalize("NFC", name).lower()
    s = _FINAL.sub(lambda m: _MOVE[m.group(1)], s)
    return " ".join(s.split())


def known_spellings(session: Session, field: str) -> dict[str, str]:
    """key -> the spelling stored first, of every value of an area's `field` (and, for provinces, of the accounts'
    provinces, which decide what an agronomist sees)."""
    col = getattr(GrowingArea, field)
    values = list(session.scalars(select(col).where(col.is_not(None)).group_by(col).order_by(func.min(GrowingArea.id))))
    if field == "province":
        values += [p for (p,) in session.execute(select(Account.province).where(Account.province.is_not(None)))]
    out: dict[str, str] = {}
    for v in values:
        out.setdefault(place_key(v), v)
    return out


def canonical_place(session: Session, field: str, value: str | None, stored: bool = False) -> str | None:
    """`value` in the spelling already stored for the same place; a place not known yet as given, its spaces made
    single. The spellings are read once per session (an import of thousands of areas asks once, not once per area);
    with `stored` (the value is being written) a new place joins them, a value only looked for does not."""
    if not value:
        return value
    cache = session.info.setdefault("place_spellings", {})
    if field not in cache:
        cache[field] = known_spellings(session, field)
    key, plain = place_key(value), " ".join(value.split())
    return cache[field].setdefault(key, plain) if stored else cache[field].get(key, plain)


def canonical_places(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """`values` (an area's fields) with its province, district and commune in their stored spellings."""
    return {k: canonical_place(session, k, v, stored=True) if k in PLACE_FIELDS and isinstance(v, str) else v
            for k, v in values.items()}
