"""Knowledge objects: STIX objects and MISP items imported as knowledge, keyed by their id."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_knowledge_objects"
down_revision = "0001_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_objects",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("modified", sa.String(40), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_document", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_knowledge_objects_type", "knowledge_objects", ["type"])
    op.create_index("ix_knowledge_objects_source_document", "knowledge_objects", ["source_document"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_objects_source_document", table_name="knowledge_objects")
    op.drop_index("ix_knowledge_objects_type", table_name="knowledge_objects")
    op.drop_table("knowledge_objects")
