"""`interlock rollout ...`: start a rollout from its file, list, read and steer rollouts.

Every command talks to Temporal, so each leaves through exit_process (the SDK's runtime must not
be torn down by the interpreter's exit); errors are one line on stderr and exit code 1 (2 for a
bad file).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from configuration import load_settings
from configuration.process import exit_process

rollout_app = typer.Typer(no_args_is_help=True, help="Rollouts: a route's change, step by step.")
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

IdArgument = Annotated[str, typer.Argument(help="The rollout's id (rollout-ROUTE).")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON, for scripts.")]


def with_temporal(work: Callable[[Any], Awaitable[T]]) -> T:
    """`work(client)` on a connected client; an operator's mistake is one line and exit 1."""
    from configuration.temporal import connect
    from operations.rollouts import RolloutCommandError

    async def connected() -> T:
        return await work(await connect(load_settings()))

    try:
        return asyncio.run(connected())
    except RolloutCommandError as exc:
        _say_error(str(exc))
        exit_process(1)
        raise  # unreachable: exit_process does not return


def _say_error(message: str) -> None:
    errors.print(f"error: {message}", soft_wrap=True, markup=False, highlight=False)


@rollout_app.command("start")
def start(file: Annotated[Path, typer.Argument(help="The rollout's YAML file.")]) -> None:
    """Start the rollout FILE describes (see docs/rollouts.md); prints its id."""
    from contracts.rollout import RolloutSpecError, load_rollout_spec
    from operations.rollouts import start_rollout
    from store import create_store_engine, init_schema

    try:
        spec = load_rollout_spec(file)
    except RolloutSpecError as exc:
        _say_error(str(exc))
        exit_process(2)
        return
    settings = load_settings()
    engine = create_store_engine(settings.resolved_database_url)
    try:
        init_schema(engine)
        started = with_temporal(
            lambda client: start_rollout(client, engine, spec, settings.control_task_queue)
        )
    finally:
        engine.dispose()
    console.print(started, markup=False, highlight=False)
    exit_process(0)


@rollout_app.command("list")
def list_(json_output: JsonOption = False) -> None:
    """Every rollout Temporal knows, newest first: id, route, stage, status."""
    from operations.rollouts import list_rollouts

    rows = with_temporal(list_rollouts)
    if json_output:
        typer.echo(json.dumps(rows))
    else:
        table = Table("id", "route", "stage", "status", "started")
        for row in rows:
            cells = (row["id"], row["route"] or "", row["stage"], row["status"], row["started"])
            table.add_row(*cells)
        console.print(table)
    exit_process(0)


@rollout_app.command("status")
def status(rollout: IdArgument, json_output: JsonOption = False) -> None:
    """One rollout: its stage, weights, and every decision with its reason."""
    from operations.rollouts import rollout_status

    state = with_temporal(lambda client: rollout_status(client, rollout))
    if json_output:
        typer.echo(json.dumps(state))
    else:
        console.print(_tree(state))
    exit_process(0)


def _tree(state: dict[str, Any]) -> Tree:
    tree = Tree(f"{state['id']}: {state['status']}, {state['stage']} (route {state['route']})")
    weights = tree.add("weights")
    for variant, weight in state["weights"].items():
        weights.add(f"{variant}: {weight:g}")
    decisions = tree.add("decisions")
    for line in state["decisions"]:
        decisions.add(line)
    return tree


@rollout_app.command("report")
def report(
    rollout: IdArgument,
    output: Annotated[
        Path | None, typer.Option(help="The HTML file to write (default: ID-report.html).")
    ] = None,
) -> None:
    """Write an HTML report: each step's metrics look by look, both arms, and the decisions."""
    from operations.rollout_report import write_report
    from operations.rollouts import rollout_status
    from store import create_store_engine

    state = with_temporal(lambda client: rollout_status(client, rollout))
    engine = create_store_engine(load_settings().resolved_database_url)
    try:
        written = write_report(engine, state, output or Path(f"{rollout}-report.html"))
    finally:
        engine.dispose()
    console.print(f"wrote {written}", markup=False, highlight=False)
    exit_process(0)


def _control(verb: str, rollout: str) -> None:
    from operations.rollouts import control_rollout

    result = with_temporal(lambda client: control_rollout(client, rollout, verb))
    console.print(
        f"{rollout}: {result.message} (now {result.status}, {result.stage})",
        markup=False,
        highlight=False,
    )
    exit_process(0)


@rollout_app.command("pause")
def pause(rollout: IdArgument) -> None:
    """Hold the current traffic; looks stop until resume, promote or abort."""
    _control("pause", rollout)


@rollout_app.command("resume")
def resume(rollout: IdArgument) -> None:
    """Continue a paused rollout where it stopped."""
    _control("resume", rollout)


@rollout_app.command("promote")
def promote(
    rollout: IdArgument,
    full: Annotated[bool, typer.Option("--full", help="Straight to all traffic.")] = False,
) -> None:
    """Skip the current step (with --full: make the candidate the baseline now)."""
    _control("promote_full" if full else "promote", rollout)


@rollout_app.command("abort")
def abort(rollout: IdArgument) -> None:
    """Take the candidate out of the route and end the rollout."""
    _control("abort", rollout)
