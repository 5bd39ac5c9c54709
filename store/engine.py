"""Engines and schema set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import fcntl
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

# Any constant works; it only has to be the same in every process that sets up the schema.
_SCHEMA_LOCK_ID = 0x1_7E_21_0C


def normalize_url(url: str) -> str:
    """Accept the usual postgres:// and postgresql:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_store_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the gateway read while the worker writes; NORMAL is durable across process crashes.
    cursor.execute("PRAGMA busy_timeout=30000")  # first, so the pragmas below wait for locks
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_schema(engine: Engine) -> None:
    """Create missing tables. Safe to run from every process at every start, even concurrently."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # Two replicas starting at once would race on CREATE TABLE; serialize them.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            SQLModel.metadata.create_all(connection)
        return
    database = engine.url.database
    if not database or database == ":memory:":
        SQLModel.metadata.create_all(engine)
        return
    # Processes started together on a fresh file would race on CREATE TABLE; serialize them
    # with an advisory lock on a file beside the database.
    with open(f"{database}.schema-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            SQLModel.metadata.create_all(engine)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
