"""Engines for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine


def normalize_url(url: str) -> str:
    """Accept the usual postgres:// and postgresql:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_store_engine(url: str) -> Engine:
    # Statements' parameters can hold answers whole (the response cache keeps them): kept out of
    # SQLAlchemy's log lines and out of its errors' messages, which callers log.
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the gateway read while the worker writes; NORMAL is durable across process crashes.
    cursor.execute("PRAGMA busy_timeout=30000")  # first, so the pragmas below wait for locks
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def store_answers(engine: Engine) -> None:
    """Raise unless the store answers a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def insert_for(dialect: str):  # type: ignore[no-untyped-def]
    """The dialect's INSERT, which has ON CONFLICT (both dialects spell it the same way)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
