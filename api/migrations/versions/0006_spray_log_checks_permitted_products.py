"""spray log checks: permitted products, dose and water, time zone, pre-harvest interval, idempotency key

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NEW_COLUMNS: list[sa.Column] = [
    sa.Column('registration_number', sa.String(length=64), nullable=True),
    sa.Column('listed', sa.Boolean(), nullable=True),
    sa.Column('dose_per_ha', sa.Float(), nullable=True),
    sa.Column('dose_unit', sa.String(length=8), nullable=True),
    sa.Column('water_l_per_ha', sa.Float(), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('phi_days', sa.Integer(), nullable=True),
    sa.Column('planned_harvest_on', sa.Date(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
]


def upgrade() -> None:
    op.create_table(
        'permitted_products',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trade_name', sa.String(length=200), nullable=False),
        sa.Column('active_ingredient', sa.String(length=300), nullable=False),
        sa.Column('registration_number', sa.String(length=64), nullable=True),
        sa.Column('crops', sa.Text(), nullable=True),
        sa.Column('target', sa.Text(), nullable=True),
        sa.Column('phi_days', sa.Integer(), nullable=True),
        sa.Column('max_dose_per_ha', sa.Float(), nullable=True),
        sa.Column('dose_unit', sa.String(length=8), nullable=True),
        sa.Column('is_sample', sa.Boolean(), nullable=False),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('permitted_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_permitted_products_trade_name'), ['trade_name'], unique=False)
    with op.batch_alter_table('spray_applications', schema=None) as batch_op:
        for c in NEW_COLUMNS:
            batch_op.add_column(c.copy())
        batch_op.alter_column('dose_l_per_ha', existing_type=sa.Float(), nullable=True)
        batch_op.create_index('ux_spray_applications_idempotency', ['area_id', 'idempotency_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('spray_applications', schema=None) as batch_op:
        batch_op.drop_index('ux_spray_applications_idempotency')
        for c in reversed(NEW_COLUMNS):
            batch_op.drop_column(c.name)
        batch_op.alter_column('dose_l_per_ha', existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table('permitted_products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_permitted_products_trade_name'))
    op.drop_table('permitted_products')
