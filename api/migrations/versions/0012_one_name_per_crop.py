"""one name per crop: an area's crop typed as "lúa", "Lúa" or "RICE" is stored as the crop table's name ("rice",
api/data/crop_names.csv), as new areas are (api.services.crops.canonical_crop), so the weekly report and the map's
filter see one crop; data only

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# api/data/crop_names.csv as it stood when this migration was written (name, Vietnamese, English), frozen here so that
# a later row cannot change what this migration does on a new database
CROPS = (("rice", "Lúa", "Rice"), ("sugarcane", "Mía", "Sugarcane"), ("shallot", "Hành tím", "Shallot"),
         ("fruit", "Cây ăn trái", "Fruit trees"), ("maize", "Bắp", "Maize"), ("vegetables", "Rau màu", "Vegetables"))


def _key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFC", text).casefold() if ch.isalnum())


def upgrade() -> None:
    bind = op.get_bind()
    names = {_key(n): row[0] for row in CROPS for n in row}
    for (crop,) in bind.execute(sa.text("SELECT DISTINCT crop FROM growing_areas WHERE crop IS NOT NULL")).all():
        name = names.get(_key(crop))
        if name is not None and name != crop:
            bind.execute(sa.text("UPDATE growing_areas SET crop = :new WHERE crop = :old"), {"new": name, "old": crop})


def downgrade() -> None:
    pass  # the names typed before are not kept: nothing to restore
