"""a photo upload's idempotency key: a photo sent again (a dropped link, a second tap) returns the first record

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=100), nullable=True))
        batch_op.create_index('ux_observations_idempotency', ['created_by_id', 'idempotency_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ux_observations_idempotency')
        batch_op.drop_column('idempotency_key')
