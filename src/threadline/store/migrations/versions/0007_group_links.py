"""Group links: the evidence each stored analysis ties to the one ATT&CK group its claims name, as rows beside the
analysis (issue 15), so that `analyze` reads small rows instead of every stored analysis's JSON.

The backfill makes the rows of the analyses already stored with the package's own function
(``threadline.attribute.known.link_values``), reading them a few at a time. The knowledge base is loaded only if
one of them claims exactly one group; if it cannot be loaded (no ATT&CK bundle on this machine), the table starts
empty and ``threadline analyze`` of those reports again, or any later save, fills it: an upgrade never fails on it.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_group_links"
down_revision = "0006_job_heartbeat"
branch_labels = None
depends_on = None

_BATCH = 200


def upgrade() -> None:
    op.create_table(
        "group_links",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("document_id", sa.String(64), sa.ForeignKey("analyses.document_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("group_id", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
    )
    op.create_index("ix_group_links_document_id", "group_links", ["document_id"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    from threadline.errors import ThreadlineError
    from threadline.store.analyses import link_rows

    analyses = sa.table("analyses", sa.column("document_id", sa.String), sa.column("data", sa.JSON))
    links = sa.table("group_links", *(sa.column(c) for c in ("id", "document_id", "group_id", "kind", "key",
                                                              "source")))
    ids = list(conn.execute(sa.select(analyses.c.document_id).order_by(analyses.c.document_id)).scalars())
    for start in range(0, len(ids), _BATCH):
        part = ids[start:start + _BATCH]
        rows: list[dict[str, Any]] = []
        try:
            for document_id, data in conn.execute(sa.select(analyses.c.document_id, analyses.c.data)
                                                  .where(analyses.c.document_id.in_(part))):
                rows.extend(link_rows(str(document_id), data))
        except ThreadlineError as exc:
            logging.getLogger(__name__).warning("group links not backfilled: %s", exc.one_line())
            return
        if rows:
            conn.execute(sa.insert(links), rows)


def downgrade() -> None:
    op.drop_index("ix_group_links_document_id", table_name="group_links")
    op.drop_table("group_links")
