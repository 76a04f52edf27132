"""token revocation, password change cut-off, area overlap override

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'revoked_tokens',
        sa.Column('jti', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name='fk_revoked_tokens_account_id_accounts'),
        sa.PrimaryKeyConstraint('jti'),
    )
    with op.batch_alter_table('revoked_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_tokens_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revoked_tokens_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tokens_valid_after', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('growing_areas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overlap_override_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('growing_areas', schema=None) as batch_op:
        batch_op.drop_column('overlap_override_reason')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('tokens_valid_after')
    with op.batch_alter_table('revoked_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_tokens_expires_at'))
        batch_op.drop_index(batch_op.f('ix_revoked_tokens_account_id'))
    op.drop_table('revoked_tokens')
