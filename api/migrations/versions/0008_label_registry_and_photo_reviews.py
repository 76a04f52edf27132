"""the class registry (label_classes), agronomists' photo reviews, feedback with the model's answer and version, the
photo's device, drone labels drawn on flights, an area's sowing date

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'label_classes',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name_vi', sa.String(length=200), nullable=False),
        sa.Column('name_en', sa.String(length=200), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('added_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'photo_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('observation_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('label', sa.String(length=64), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
        sa.ForeignKeyConstraint(['observation_id'], ['observations.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('photo_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_reviews_observation_id'), ['observation_id'], unique=False)
    op.create_table(
        'drone_labels',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=32), nullable=False),
        sa.Column('geometry_geojson', sa.JSON(), nullable=False),
        sa.Column('area_m2', sa.Float(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('drone_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drone_labels_job_id'), ['job_id'], unique=False)
    with op.batch_alter_table('photo_feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('other_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('model_label', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('model_version', sa.String(length=50), nullable=True))
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device', sa.String(length=100), nullable=True))
    with op.batch_alter_table('growing_areas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sowing_date', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('growing_areas', schema=None) as batch_op:
        batch_op.drop_column('sowing_date')
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_column('device')
    with op.batch_alter_table('photo_feedback', schema=None) as batch_op:
        batch_op.drop_column('model_version')
        batch_op.drop_column('model_label')
        batch_op.drop_column('other_name')
    with op.batch_alter_table('drone_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drone_labels_job_id'))
    op.drop_table('drone_labels')
    with op.batch_alter_table('photo_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_reviews_observation_id'))
    op.drop_table('photo_reviews')
    op.drop_table('label_classes')
