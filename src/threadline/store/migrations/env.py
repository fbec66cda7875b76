"""Alembic environment: always driven by open_store(), which passes an open connection."""

from __future__ import annotations

from alembic import context

from threadline.store.models import Base

connection = context.config.attributes["connection"]
# render_as_batch lets later migrations alter columns on SQLite too, through the same code as PostgreSQL.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
