"""the base map: an area's season, a photo's diagnosis and SES as columns (the outbreak layer),, a point inside its boundary and its latest status (growth, damage, diagnosis),
filled here from the existing boundaries and observations

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 19:30:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

COLUMNS: list[tuple[str, Any]] = [
    ('season', sa.String(length=64)), ('centroid_lon', sa.Float()), ('centroid_lat', sa.Float()),
    ('latest_at', sa.DateTime(timezone=True)), ('latest_growth', sa.Float()), ('latest_damage_pct', sa.Float()),
    ('latest_diagnosis', sa.String(length=64)), ('latest_ses', sa.Integer()),
]


def upgrade() -> None:
    with op.batch_alter_table('growing_areas', schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_index('ix_growing_areas_season', ['season'], unique=False)
        batch_op.create_index('ix_growing_areas_centroid', ['centroid_lon', 'centroid_lat'], unique=False)
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('diagnosis', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('ses', sa.Integer(), nullable=True))
        batch_op.create_index('ix_observations_diagnosis', ['diagnosis'], unique=False)
    # fill the new columns from what is recorded (the same code that keeps them up to date)
    from api.services.area_status import backfill
    backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ix_observations_diagnosis')
        batch_op.drop_column('ses')
        batch_op.drop_column('diagnosis')
    with op.batch_alter_table('growing_areas', schema=None) as batch_op:
        batch_op.drop_index('ix_growing_areas_centroid')
        batch_op.drop_index('ix_growing_areas_season')
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
