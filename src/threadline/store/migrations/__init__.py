"""Alembic migrations of the store, run programmatically by :func:`threadline.store.open_store`."""
