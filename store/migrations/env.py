"""Alembic environment: always online, on the connection `store.schema` hands over.

There is no alembic.ini: `store.schema.alembic_config` builds the configuration in code and puts
the connection (already holding the schema lock) into `config.attributes`.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER constraints; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
