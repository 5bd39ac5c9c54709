"""Secrets one installation's processes share, made by whichever process needs one first."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from store.engine import insert_for
from store.tables import InstallationSecret

_secrets = InstallationSecret.__table__  # type: ignore[attr-defined]


def installation_secret(engine: Engine, name: str) -> str:
    """The secret called `name`, created at random (256 bits) the first time; every process
    gets the same one, however many ask at once."""
    with engine.begin() as connection:
        insert = insert_for(connection.dialect.name)
        connection.execute(
            insert(_secrets)
            .values(name=name, value=secrets.token_hex(32), created_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        return connection.execute(
            select(_secrets.c.value).where(_secrets.c.name == name)
        ).scalar_one()


def redis_namespace(engine: Engine) -> str:
    """The prefix of every Redis key this installation writes: its own, so two installations
    (staging and production, or two test stacks) pointed at one Redis database never read each
    other's cached answers, rate limit buckets or breakers. Not a secret; made like one so every
    process of the installation agrees on it."""
    return f"interlock:{installation_secret(engine, 'redis-namespace')[:16]}"
