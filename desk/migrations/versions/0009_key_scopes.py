"""key scopes: an API key carries the workspaces it may act in; keys made before this are
installation-wide ("*"), so they keep working exactly as before

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspaces', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default='*'))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('workspaces')
