"""Opening the database: resolve the URL, create the SQLite folder, run the Alembic migrations up to head.

Several processes may open one database at once (a batch split over workers): migrations run one process at a
time (a file lock and SQLite's write lock; a PostgreSQL advisory lock), and SQLite runs in WAL mode with a busy
timeout so that concurrent writers wait for each other instead of failing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from threadline import settings
from threadline.errors import StoreError
from threadline.store.repository import Store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0007_group_links"      # kept in step with migrations/versions (a test checks it)
BUSY_TIMEOUT_MS = 30_000                  # how long a SQLite writer waits for another one
LOCK_WAIT = 120.0                         # seconds a process waits for another one's migration
PG_LOCK_KEY = 0x7468_726C_6D69_6772       # pg_advisory_xact_lock key for migrations ("thrlmigr")

try:
    import fcntl
except ImportError:                       # Windows
    fcntl = None  # type: ignore[assignment]


def _current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _migrate(connection: Connection) -> None:
    """Upgrade to the newest revision; alembic (slow to import) is loaded only when there is work to do."""
    if _current_revision(connection) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except CommandError as exc:   # e.g. a database written by a newer Threadline, at a revision unknown here
        raise StoreError(f"cannot migrate the database schema ({' '.join(str(exc).split())})") from None


@contextmanager
def _file_lock(database: Path | None) -> Iterator[None]:
    """An exclusive lock on ``FILE.lock`` beside a SQLite file, so that one process at a time migrates it.

    A separate file, because SQLite's own POSIX locks on the database are dropped when any descriptor of it is
    closed. The lock file stays (removing it would race with a process about to lock it). Without ``fcntl``
    (Windows), SQLite's write lock taken by ``BEGIN IMMEDIATE`` alone serialises the migrations.
    """
    if database is None or fcntl is None:
        yield
        return
    lock = database.with_name(database.name + ".lock")
    try:
        handle = lock.open("a")
    except OSError as exc:
        raise StoreError(f"cannot create the migration lock ({exc.strerror})", where=str(lock)) from None
    with handle:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"another process has been migrating the database for {LOCK_WAIT:.0f} s "
                                     f"(lock held on {lock})") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _upgrade(engine: Engine, database: Path | None) -> None:
    """Bring the schema to head, one process at a time: several processes opening a new database at once used to
    run the first migration each ("table documents already exists") and lose their documents."""
    with engine.connect() as connection:
        if _current_revision(connection) == HEAD_REVISION:
            return                      # the usual case: no lock, no alembic
    if engine.dialect.name == "sqlite":
        with _file_lock(database), engine.connect() as connection:
            # SQLite's write lock for the whole migration (waiting on busy_timeout), and the DDL in one
            # transaction: a crash leaves the old schema, never half of the new one. The revision is read again
            # under the lock, so a process that waited finds the work done.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            _migrate(connection)
            connection.commit()
    elif engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # Held until this transaction ends; PostgreSQL's DDL is transactional, so the waiting process then
            # reads the new revision.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            _migrate(connection)
    else:
        with engine.begin() as connection:
            _migrate(connection)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")   # several threadline processes may share one file
    # Write-ahead logging: readers never wait for a writer, and writers wait in turn (busy_timeout) instead of
    # failing. The mode is stored in the file, so it is switched once; a file that cannot switch (read-only
    # folder, another process holding it) keeps working in its old mode.
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() not in ("wal", "memory"):
        with suppress(sqlite3.Error):
            cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def open_store(url_or_path: str | Path | None = None) -> Store:
    """Open (creating and migrating if needed) the store at a URL or SQLite path; default from the ``db`` setting."""
    raw = settings.get("db", str(url_or_path) if url_or_path is not None else None)
    url_text = settings.sqlalchemy_url(raw)
    shown = settings.shown_db(raw)          # errors name the database without its password
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise StoreError("not a database URL or path", where=shown) from None
    database = None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = database = Path(str(url.database))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder ({exc.strerror})", where=str(path)) from None
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open the database ({exc})", where=shown) from None
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        _upgrade(engine, database)
    except StoreError as exc:
        engine.dispose()
        raise StoreError(exc.message, where=shown) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise StoreError(f"cannot open or migrate the database ({reason})", where=shown) from None
    return Store(engine)
