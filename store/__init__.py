"""The sqlmodel store: SQLite (WAL) by default, PostgreSQL through DATABASE_URL."""

from store.engine import create_store_engine
from store.schema import init_schema

__all__ = ["create_store_engine", "init_schema"]
