"""What the `interlock` commands share: consoles, the state-directory option, the store."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from configuration import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[
    Path | None, typer.Option(help="State directory (default .interlock, or INTERLOCK_HOME).")
]


ByOption = Annotated[str | None, typer.Option("--by", help="Who (default: the login name).")]


def who_is(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return "unknown"


def settings_with(**overrides: object) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"error: {message}", soft_wrap=True, markup=False, highlight=False)
    return typer.Exit(code)


@contextlib.contextmanager
def store(home: Path | None, migrate: bool = True) -> Iterator[Engine]:
    """The configured store (schema upgraded unless `migrate` is False); a database error
    becomes a one-line message and exit code 1 rather than a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from store import create_store_engine, init_schema

    engine = create_store_engine(settings_with(home=home).resolved_database_url)
    try:
        if migrate:
            init_schema(engine)
        yield engine
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise fail(f"the store at {where} failed: {getattr(exc, 'orig', None) or exc}") from exc
    finally:
        engine.dispose()
