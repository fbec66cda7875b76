"""The store: SQLAlchemy models, Alembic migrations run on open, and transactional repository functions.

SQLite by default (setting ``db``, ``--db``, ``THREADLINE_DB``); only portable SQL, so PostgreSQL works through
the same code. Names are imported on first use, so that reading a document (ingest's records) does not load
SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.lazy import lazy_attributes

if TYPE_CHECKING:
    from threadline.store.database import HEAD_REVISION, open_store
    from threadline.store.records import ImportResult, KnowledgeItem, SaveResult
    from threadline.store.repository import Store

_LAZY = {"HEAD_REVISION": "database", "open_store": "database", "ImportResult": "records",
         "KnowledgeItem": "records", "SaveResult": "records", "Store": "repository"}

__all__ = ["HEAD_REVISION", "ImportResult", "KnowledgeItem", "SaveResult", "Store", "open_store"]


__getattr__ = lazy_attributes(__name__, _LAZY)
