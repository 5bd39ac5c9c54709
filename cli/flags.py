"""`interlock flags ...` and `interlock kill-switch on|off`: switches an operator flips without a
restart, each change audited with who made it and why."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from cli.common import ByOption, HomeOption, console, fail, store, who_is

flags_app = typer.Typer(no_args_is_help=True, help="Feature flags and their history.")
ReasonOption = Annotated[str, typer.Option(help="Why: kept in the flag's history.")]


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise fail(f"expected on or off, got {value!r}", code=2)
    return value == "on"


@flags_app.command("set")
def set_(
    name: str,
    value: Annotated[str, typer.Argument(help="on or off")],
    reason: ReasonOption = "",
    by: ByOption = None,
    home: HomeOption = None,
) -> None:
    """Switch flag NAME on or off for every process within a second."""
    from activities.flags import Flags

    enabled = _on_off(value)
    with store(home) as engine:
        Flags(engine).set(name, enabled, who_is(by), reason)
    console.print(f"{name} is {value}", markup=False, highlight=False)


@flags_app.command("list")
def list_(
    json_output: Annotated[bool, typer.Option("--json", help="JSON, for scripts.")] = False,
    home: HomeOption = None,
) -> None:
    """Every flag set in the store, and whether this environment overrides it."""
    import os

    from activities.flags import environment_name
    from store.flags import flag_changes, stored_flags

    with store(home) as engine:
        flags = stored_flags(engine)
        latest = {c.name: c for c in reversed(flag_changes(engine, limit=10_000))}
    rows = [
        {
            "name": name,
            "enabled": enabled,
            "changed_by": latest[name].changed_by if name in latest else "",
            "changed_at": latest[name].changed_at.isoformat() if name in latest else "",
            "overridden_here": os.environ.get(environment_name(name)),
        }
        for name, enabled in sorted(flags.items())
    ]
    if json_output:
        console.print_json(json.dumps(rows))
        return
    table = Table("flag", "state", "changed by", "changed at", "override here")
    for row in rows:
        table.add_row(
            row["name"],
            "on" if row["enabled"] else "off",
            row["changed_by"],
            row["changed_at"],
            row["overridden_here"] or "",
        )
    console.print(table)


@flags_app.command("history")
def history(name: Annotated[str | None, typer.Argument()] = None, home: HomeOption = None) -> None:
    """Who changed flags (or flag NAME), when, and why; newest first."""
    from store.flags import flag_changes

    with store(home) as engine:
        changes = flag_changes(engine, name)
    table = Table("when", "flag", "state", "by", "why")
    for change in changes:
        table.add_row(
            change.changed_at.isoformat(timespec="seconds"),
            change.name,
            "on" if change.enabled else "off",
            change.changed_by,
            change.reason,
        )
    console.print(table)


def kill_switch(
    value: Annotated[str, typer.Argument(help="on or off")],
    provider: Annotated[str | None, typer.Option(help="Switch off one provider.")] = None,
    route: Annotated[str | None, typer.Option(help="Switch off one route.")] = None,
    global_: Annotated[bool, typer.Option("--global", help="Switch off every request.")] = False,
    reason: ReasonOption = "",
    by: ByOption = None,
    home: HomeOption = None,
) -> None:
    """Stop requests to a provider, a route or everything within a second, without a restart;
    turning one on also aborts the running rollouts it covers."""
    from cli.rollout import with_temporal
    from configuration.process import exit_process
    from operations.kill_switches import flip_kill_switch

    enabled = _on_off(value)
    chosen = [
        s for s, asked in (("provider", provider), ("route", route), ("global", global_)) if asked
    ]
    if len(chosen) != 1:
        raise fail("name exactly one of --provider, --route or --global", code=2)
    scope = chosen[0]
    name = provider or route
    who = who_is(by)
    what = "every request" if scope == "global" else f"{scope} {name!r}"
    with store(home) as engine:
        if not enabled:
            asyncio.run(flip_kill_switch(None, engine, scope, name, False, who, reason))  # type: ignore[arg-type]
            console.print(f"kill switch on {what} is off", markup=False, highlight=False)
            return
        aborted = with_temporal(
            lambda client: flip_kill_switch(client, engine, scope, name, True, who, reason)  # type: ignore[arg-type]
        )
    console.print(f"kill switch on {what} is on", markup=False, highlight=False)
    for rollout in aborted:
        console.print(f"aborted {rollout}", markup=False, highlight=False)
    # Temporal's runtime must not be torn down by the interpreter's exit (configuration.process).
    exit_process(0)
