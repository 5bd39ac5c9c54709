"""Schema migrations: Alembic, configured in code, run under a lock by every process at start.

The revisions live in `store/migrations/versions` and ship with the package, so an installed
Interlock upgrades its own database; no alembic.ini is needed anywhere.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every process that migrates the schema.
_SCHEMA_LOCK_ID = 0x1_7E_21_0C


def alembic_config(
    connection: Connection | None = None, directory: Path = MIGRATIONS_DIRECTORY
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(directory))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store has no migrations"
    return head


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database or one made before Alembic."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def init_schema(engine: Engine) -> None:
    """Upgrade the schema to the newest revision. Every process runs it at start, even together.

    A database made by create_all before migrations existed has no alembic_version table: the
    baseline revision creates only the tables it lacks (IF NOT EXISTS), so such a database is
    adopted as the baseline and upgraded from there, its rows kept.
    """
    with _schema_lock(engine) as connection:
        command.upgrade(alembic_config(connection), "head")


def create_revision(engine: Engine, message: str, directory: Path = MIGRATIONS_DIRECTORY) -> Path:
    """Write a new revision file from the difference between the tables and the database.

    For developers, on a database at the head revision: review the file before committing it.
    """
    config = alembic_config(directory=directory)
    # Numbered like the others (0001_baseline.py, ...): the order reads from the file names.
    head = ScriptDirectory.from_config(config).get_current_head()
    with _schema_lock(engine) as connection:
        config.attributes["connection"] = connection
        script = command.revision(
            config, message=message, autogenerate=True, rev_id=f"{int(head or 0) + 1:04d}"
        )
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other process migrating this database holds."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # Released at commit; PostgreSQL DDL is transactional, so the upgrade is all or nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            yield connection
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with engine.begin() as connection:
            yield connection
        return
    # SQLite has no advisory locks: processes started together on one file serialize on a
    # lock file beside it.
    with open(f"{database}.schema-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
