"""connectors: platform accounts per workspace, which message came through which connector, pollers'
cursors, and the platform's post id and URL on a delivery

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'connectors',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('secrets', sa.JSON(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('removed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace', 'name', name='uq_connector_name'),
    )
    op.create_index('ix_connectors_workspace', 'connectors', ['workspace'])
    op.create_table(
        'connector_links',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('connector_id', sa.Integer(), nullable=False),
        sa.Column('reply_to', sa.JSON(), nullable=False),
        sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id']),
        sa.ForeignKeyConstraint(['connector_id'], ['connectors.id']),
        sa.PrimaryKeyConstraint('message_id'),
    )
    op.create_index('ix_connector_links_connector_id', 'connector_links', ['connector_id'])
    op.create_table(
        'connector_cursors',
        sa.Column('connector_id', sa.Integer(), nullable=False),
        sa.Column('stream', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('cursor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['connector_id'], ['connectors.id']),
        sa.PrimaryKeyConstraint('connector_id', 'stream'),
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_post_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('platform_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('platform_url')
        batch_op.drop_column('platform_post_id')
    op.drop_table('connector_cursors')
    op.drop_index('ix_connector_links_connector_id', table_name='connector_links')
    op.drop_table('connector_links')
    op.drop_index('ix_connectors_workspace', table_name='connectors')
    op.drop_table('connectors')
