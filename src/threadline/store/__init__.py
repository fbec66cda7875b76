"""The store: SQLAlchemy models, Alembic migrations run on open, and transactional repository functions.

SQLite by default (setting ``db``, ``--db``, ``THREADLINE_DB``); only portable SQL, so PostgreSQL works through
the same code.
"""

from __future__ import annotations

from threadline.store.database import HEAD_REVISION, open_store
from threadline.store.repository import ImportResult, KnowledgeItem, SaveResult, Store

__all__ = ["HEAD_REVISION", "ImportResult", "KnowledgeItem", "SaveResult", "Store", "open_store"]
