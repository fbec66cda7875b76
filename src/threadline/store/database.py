"""Opening the database: resolve the URL, create the SQLite folder, run the Alembic migrations up to head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from threadline import settings
from threadline.errors import StoreError
from threadline.store.repository import Store

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0003_analyses"          # kept in step with migrations/versions (a test checks it)


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")   # several threadline processes may share one file
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
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
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
        with engine.begin() as connection:
            _migrate(connection)
    except StoreError as exc:
        engine.dispose()
        raise StoreError(exc.message, where=shown) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise StoreError(f"cannot open or migrate the database ({reason})", where=shown) from None
    return Store(engine)
