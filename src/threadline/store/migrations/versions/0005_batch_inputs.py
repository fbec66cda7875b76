"""Batch inputs: every input of a distributed batch (`analyze --workers/--scheduler`) whose analyses are committed,
written in the same transaction as those analyses, so that a batch run again skips exactly what was committed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_batch_inputs"
down_revision = "0004_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_inputs",
        sa.Column("key", sa.String(64), primary_key=True),        # SHA-256 of what identifies the input
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),        # SHA-256 of each document it gave
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("batch_inputs")
