"""risk flags: a draft's triage risk flags as rows of their own (draft id, flag) with an index on the flag,
so the queue's risk filter no longer scans every draft's triage JSON; backfilled from that JSON

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""
import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None
_BATCH = 1000


def _flags(triage: object) -> set[str]:
    if isinstance(triage, str):  # SQLite hands JSON back as text
        try:
            triage = json.loads(triage)
        except ValueError:
            return set()
    flags = triage.get('risk_flags') if isinstance(triage, dict) else None
    return {str(f) for f in flags if isinstance(f, str) and f} if isinstance(flags, list) else set()


def upgrade() -> None:
    table = op.create_table(
        'draft_risk_flags',
        sa.Column('draft_id', sa.Integer(), nullable=False),
        sa.Column('flag', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], ),
        sa.PrimaryKeyConstraint('draft_id', 'flag'),
    )
    op.create_index('ix_draft_risk_flags_flag', 'draft_risk_flags', ['flag', 'draft_id'], unique=False)
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.text('SELECT id, triage FROM drafts WHERE id > :last ORDER BY id LIMIT :n'),
                            {'last': last, 'n': _BATCH}).all()
        if not rows:
            break
        found = [{'draft_id': draft_id, 'flag': flag} for draft_id, triage in rows for flag in sorted(_flags(triage))]
        if found:
            conn.execute(table.insert(), found)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index('ix_draft_risk_flags_flag', table_name='draft_risk_flags')
    op.drop_table('draft_risk_flags')
