"""console: a rejection's reason category (incorrect, inappropriate, incomplete, outdated, already answered,
other), kept beside the free-text reason so the queue can filter and insights can count them; and when a
key last signed out of the console (its sessions issued before then are over)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reject_category', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index('ix_drafts_reject_category', ['reject_category'], unique=False)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_out_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('signed_out_at')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_index('ix_drafts_reject_category')
        batch_op.drop_column('reject_category')
