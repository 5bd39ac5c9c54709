"""`interlock experiment ...`: start an experiment from its file, list, read, stop and evaluate.

`create` (which asks Temporal whether a rollout holds the route) and `evaluate` talk to Temporal
and leave through exit_process; the others read and write the store. Errors are one line on
stderr and exit code 1 (2 for a bad file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import ByOption, HomeOption, console, fail, settings_with, store, who_is

experiment_app = typer.Typer(
    no_args_is_help=True, help="Experiments: variants of a route sharing its traffic, judged."
)
NameArgument = Annotated[str, typer.Argument(help="The experiment's name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON, for scripts.")]


@experiment_app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="The experiment's YAML file.")],
    name: Annotated[
        str | None, typer.Option(help="Run it under this name instead of the file's.")
    ] = None,
    by: ByOption = None,
    home: HomeOption = None,
) -> None:
    """Start the experiment FILE describes (docs/experiments.md); gateways assign within 1 s."""
    import asyncio

    from activities.providers.catalog import build_registry
    from configuration.process import exit_process
    from configuration.temporal import connect
    from contracts.experiment import ExperimentFileError, load_experiment_file
    from operations.experiments import ExperimentCommandError, start_experiment
    from store.experiments import ExperimentBusy, ExperimentExists

    try:
        spec = load_experiment_file(file)
    except ExperimentFileError as exc:
        raise fail(str(exc), code=2) from None
    if name is not None:
        try:
            spec = spec.model_validate({**spec.model_dump(), "name": name})
        except ValueError as exc:
            raise fail(f"--name: {exc}", code=2) from None
    settings = settings_with(home=home)
    registry = build_registry(settings)

    async def run(engine: Any) -> Any:
        # Temporal is asked whether a rollout holds the route.
        client = await connect(settings)
        return await start_experiment(client, engine, registry, spec, who_is(by))

    code = 0
    try:
        with store(home) as engine:
            state = asyncio.run(run(engine))
        shares = ", ".join(f"{arm} {share:.0%}" for arm, share in state.weights.items())
        console.print(
            f"experiment {state.name} running on route {state.spec.route}: {shares}",
            markup=False,
            highlight=False,
        )
    except (ExperimentCommandError, ExperimentExists, ExperimentBusy) as exc:
        fail(str(exc))
        code = 1
    except typer.Exit as exc:
        code = exc.exit_code
    except Exception as exc:  # Temporal unreachable: one line, exit 1
        fail(f"the experiment was not started: {exc}")
        code = 1
    # The SDK's runtime started: leave without the interpreter's teardown (see exit_process).
    exit_process(code)


@experiment_app.command("list")
def list_(json_output: JsonOption = False, home: HomeOption = None) -> None:
    """Every experiment, oldest first, with where it stands."""
    from store.experiments import list_experiments

    with store(home) as engine:
        states = list_experiments(engine)
    rows = [_summary(state) for state in states]
    if json_output:
        console.print_json(json.dumps(rows))
        return
    table = Table("name", "route", "status", "arms", "winner", "started")
    for row in rows:
        table.add_row(
            row["name"],
            row["route"],
            row["status"],
            ", ".join(f"{a} {s:.0%}" for a, s in row["weights"].items()),
            row["winner"] or "",
            row["started_at"][:19],
        )
    console.print(table)


@experiment_app.command("status")
def status(name: NameArgument, json_output: JsonOption = False, home: HomeOption = None) -> None:
    """Where NAME stands: its arms' figures at the last evaluation and its decisions."""
    from store.experiments import decisions_of, experiment

    with store(home) as engine:
        state = experiment(engine, name)
        if state is None:
            raise fail(f"no experiment named {name!r}")
        decisions = decisions_of(engine, name)
    summary = _summary(state) | {
        "decisions": [
            {
                "action": d.action,
                "reason": d.reason,
                "decided_at": d.decided_at.isoformat(),
                "evidence": d.evidence,
            }
            for d in decisions
        ]
    }
    if json_output:
        console.print_json(json.dumps(summary))
        return
    say = console.print
    say(
        f"{state.name} on route {state.spec.route}: {state.status}"
        + (f", winner {state.winner}" if state.winner else "")
        + (f" ({state.ended_reason})" if state.ended_reason else ""),
        markup=False,
        highlight=False,
    )
    if not decisions:
        say("not evaluated yet", markup=False, highlight=False)
        return
    last = decisions[-1]
    arms: dict[str, dict[str, Any]] = last.evidence.get("arms", {})
    if arms:
        metrics = [k for k in next(iter(arms.values())) if k != "requests"]
        table = Table("arm", "share", "requests", *metrics)
        for arm, figures in arms.items():
            table.add_row(
                arm,
                f"{state.weights.get(arm, 0.0):.0%}",
                str(figures["requests"]),
                *(f"{figures[m]:.4g}" for m in metrics),
            )
        say(table)
    say(f"last decision: {last.action}: {last.reason}", markup=False, highlight=False)


@experiment_app.command("stop")
def stop(
    name: NameArgument,
    reason: Annotated[str, typer.Option(help="Why: kept with the experiment.")] = "no reason given",
    by: ByOption = None,
    home: HomeOption = None,
) -> None:
    """Stop NAME: its traffic goes back to the route as it was; nothing is promoted."""
    from operations.experiments import ExperimentCommandError, stop_experiment

    with store(home) as engine:
        try:
            stopped = stop_experiment(engine, name, who_is(by), reason)
        except ExperimentCommandError as exc:
            raise fail(str(exc)) from None
    console.print(f"{stopped.name} stopped", markup=False, highlight=False)


@experiment_app.command("report")
def report(
    name: NameArgument,
    output: Annotated[
        Path | None, typer.Option(help="The HTML file to write (default: NAME-report.html).")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Write an HTML report: each arm's metrics over time, the shares, breakdowns, decisions."""
    from operations.experiment_report import write_report

    with store(home) as engine:
        written = write_report(engine, name, output or Path(f"{name}-report.html"))
    if written is None:
        raise fail(f"no experiment named {name!r}")
    console.print(f"wrote {written}", markup=False, highlight=False)


@experiment_app.command("evaluate")
def evaluate(name: NameArgument, json_output: JsonOption = False, home: HomeOption = None) -> None:
    """Evaluate NAME now, as the Schedule does every few minutes, and act on the verdict."""
    import asyncio

    from configuration.process import exit_process
    from configuration.temporal import connect
    from operations.experiments import ExperimentCommandError, evaluate_now

    settings = settings_with(home=home)

    async def run(engine: Any) -> Any:
        client = await connect(settings)
        return await evaluate_now(client, engine, name, settings.control_task_queue)

    code = 0
    try:
        with store(home) as engine:
            report = asyncio.run(run(engine))
        [verdict] = report.verdicts
        if json_output:
            console.print_json(verdict.model_dump_json())
        else:
            console.print(f"{verdict.action}: {verdict.reason}", markup=False, highlight=False)
    except ExperimentCommandError as exc:
        fail(str(exc))
        code = 1
    except typer.Exit as exc:
        code = exc.exit_code
    except Exception as exc:  # Temporal unreachable, the evaluation failed: one line, exit 1
        fail(f"the evaluation did not run: {exc}")
        code = 1
    # The SDK's runtime started: leave without the interpreter's teardown (see exit_process).
    exit_process(code)


def _summary(state: Any) -> dict[str, Any]:
    return {
        "name": state.name,
        "route": state.spec.route,
        "status": state.status,
        "weights": state.weights,
        "winner": state.winner,
        "ended_reason": state.ended_reason,
        "unit": state.spec.unit,
        "allocation": state.spec.allocation.kind,
        "primary": state.spec.primary.name,
        "created_by": state.created_by,
        "started_at": state.started_at.isoformat(),
        "ended_at": None if state.ended_at is None else state.ended_at.isoformat(),
    }
