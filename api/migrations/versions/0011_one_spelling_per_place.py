"""one spelling per place: provinces, districts and communes typed as "SÓC TRĂNG" or "Hoà Tú 1" are stored in the
spelling the same place was first stored in (api/services/place_names.py), so reports, filters and an agronomist's
province see one place; data only

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 12:00:00
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


PLACE_FIELDS = ("province", "district", "commune")
# api.services.place_names.place_key as it stood when this migration was written, frozen here so that a later
# change to the service's key cannot change what this migration does on a new database
_TONED = {"a": "àáảãạ", "e": "èéẻẽẹ", "y": "ỳýỷỹỵ"}
_FIRST = {"o": "òóỏõọ", "u": "ùúủũụ"}
_MOVE = {f"{v}{_TONED[w][t]}": f"{_FIRST[v][t]}{w}" for v, w in (("o", "a"), ("o", "e"), ("u", "y")) for t in range(5)}
_FINAL = re.compile(r"(?<!q)(" + "|".join(_MOVE) + r")(?!\w)")


def place_key(name: str) -> str:
    s = unicodedata.normalize("NFC", name).lower()
    s = _FINAL.sub(lambda m: _MOVE[m.group(1)], s)
    return " ".join(s.split())


def upgrade() -> None:
    bind = op.get_bind()
    for field in PLACE_FIELDS:
        rows = bind.execute(sa.text(f"SELECT {field}, MIN(id) FROM growing_areas WHERE {field} IS NOT NULL "
                                    f"GROUP BY {field} ORDER BY MIN(id)")).all()
        first: dict[str, str] = {}
        for value, _ in rows:
            first.setdefault(place_key(value), value)
        if field == "province":  # an agronomist's province takes its areas' spelling
            for (value,) in bind.execute(sa.text("SELECT province FROM accounts WHERE province IS NOT NULL "
                                                 "GROUP BY province ORDER BY MIN(id)")):
                spelling = first.setdefault(place_key(value), value)
                if spelling != value:
                    bind.execute(sa.text("UPDATE accounts SET province = :new WHERE province = :old"),
                                 {"new": spelling, "old": value})
        for value, _ in rows:
            spelling = first[place_key(value)]
            if spelling != value:
                bind.execute(sa.text(f"UPDATE growing_areas SET {field} = :new WHERE {field} = :old"),
                             {"new": spelling, "old": value})


def downgrade() -> None:
    pass  # the merged spellings are not told apart again
