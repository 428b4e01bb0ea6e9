"""one history: join the feature branches (0002 queue trust, 0005 draft insights, 0006 eval runs,
0007 insights) that each grew off 0001 into a single head

Revision ID: 0008
Revises: 0002, 0005, 0006, 0007
Create Date: 2026-12-02
"""

revision = '0008'
down_revision = ('0002', '0005', '0006', '0007')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # a merge point only: every schema change is in the revisions it joins


def downgrade() -> None:
    pass
