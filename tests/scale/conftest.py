"""A real local Dask cluster (2 worker processes) shared by the module's tests, and stores on SQLite and, when
THREADLINE_TEST_POSTGRES names a throwaway database, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from threadline.store import Store, open_store
from threadline.store.models import Base

PG_URL = os.environ.get("THREADLINE_TEST_POSTGRES", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not PG_URL, reason="set THREADLINE_TEST_POSTGRES to a throwaway PostgreSQL URL (CI does: .ci/postgres.sh)"))]


def fresh_url(backend: str, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or the PostgreSQL test database with Threadline's tables dropped."""
    if backend == "sqlite":
        return str(tmp_path / "batch.db")
    pytest.importorskip("psycopg", reason="the psycopg driver is needed for PostgreSQL")
    engine = create_engine(PG_URL)
    tables = ", ".join([*Base.metadata.tables, "alembic_version"])
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {tables} CASCADE"))
    engine.dispose()
    return PG_URL


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_store(fresh_url(str(request.param), tmp_path)) as opened:
        yield opened


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    """Two worker processes on loopback, as `analyze --workers 2` starts them."""
    from threadline.scale.runner import connect

    with connect(2, None) as dask_client:
        dask_client.wait_for_workers(2, timeout=120)
        yield dask_client
