"""Analyses: one per document (the full JSON), and findings: every item it found, with its evidence, indexed by
kind and key so that pages and queries can ask "which reports mention G0129 / T1566.001 / this domain?"."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_analyses"
down_revision = "0002_knowledge_objects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("document_id", sa.String(64), sa.ForeignKey("documents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("published", sa.String(40), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("document_id", sa.String(64), sa.ForeignKey("analyses.document_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("sentence", sa.Text(), nullable=True),
        sa.Column("start", sa.Integer(), nullable=True),
        sa.Column("end", sa.Integer(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("inferred", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_findings_kind_key", "findings", ["kind", "key"])
    op.create_index("ix_findings_document_id", "findings", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_findings_document_id", table_name="findings")
    op.drop_index("ix_findings_kind_key", table_name="findings")
    op.drop_table("findings")
    op.drop_table("analyses")
