"""Web jobs' owner and heartbeat: the server process that queued a job beats for it while it is queued or
running, so that a job whose server died is marked failed (with the reason) as soon as a server starts again or
sees it, instead of staying "running" for half an hour."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_job_heartbeat"
down_revision = "0005_batch_inputs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(100), nullable=True))       # host:pid:random of the server
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
