"""`interlock budgets ...`: a tenant's spending limits per day or month, and where they stand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.common import HomeOption, console, fail, store

budgets_app = typer.Typer(
    no_args_is_help=True, help="Spending limits per tenant (and route), per day or month."
)
RouteOption = Annotated[
    str | None, typer.Option(help="Only this route (default: all the tenant's routes).")
]


@budgets_app.command("set")
def set_(
    tenant: str,
    usd: Annotated[float, typer.Option(help="The limit in US dollars.", min=0)],
    period: Annotated[str, typer.Option(help="day or month (UTC).")] = "month",
    route: RouteOption = None,
    home: HomeOption = None,
) -> None:
    """Limit what TENANT may spend; requests that could pass it are answered 429."""
    from store.budgets import EVERY_ROUTE, set_budget
    from store.tenants import tenant_exists

    if period not in ("day", "month"):
        raise fail(f"--period is day or month, not {period!r}", code=2)
    with store(home) as engine:
        if not tenant_exists(engine, tenant):
            raise fail(f"no tenant named {tenant!r}")
        rule = set_budget(engine, tenant, usd, period, route or EVERY_ROUTE)  # type: ignore[arg-type]
    console.print(f"{rule.describe()} is set", markup=False, highlight=False)


@budgets_app.command("remove")
def remove(tenant: str, route: RouteOption = None, home: HomeOption = None) -> None:
    """Lift TENANT's budget (on all routes, or on --route)."""
    from store.budgets import EVERY_ROUTE, remove_budget

    with store(home) as engine:
        if not remove_budget(engine, tenant, route or EVERY_ROUTE):
            where = f" on route {route!r}" if route else ""
            raise fail(f"tenant {tenant!r} has no budget{where}")
    console.print("removed", markup=False, highlight=False)


@budgets_app.command("get")
def get(
    tenant: str,
    json_output: Annotated[bool, typer.Option("--json", help="JSON, for scripts.")] = False,
    home: HomeOption = None,
) -> None:
    """TENANT's budgets in their current window: limit, reserved, spent, remaining."""
    from store.budgets import NANO, budget_states, usd, window_end
    from store.tenants import tenant_exists

    now = datetime.now(UTC)
    with store(home) as engine:
        if not tenant_exists(engine, tenant):
            raise fail(f"no tenant named {tenant!r}")
        states = budget_states(engine, tenant, now)
    rows = [
        {
            "tenant": tenant,
            "route": state.rule.route,
            "period": state.rule.period,
            "window": state.window,
            "resets_at": window_end(state.rule.period, now).isoformat(),
            "limit_usd": state.rule.limit_nusd / NANO,
            "reserved_usd": state.reserved_nusd / NANO,
            "spent_usd": state.spent_nusd / NANO,
            "remaining_usd": state.remaining_nusd / NANO,
        }
        for state in states
    ]
    if json_output:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print(f"tenant {tenant!r} has no budget", markup=False, highlight=False)
        return
    table = Table("route", "period", "window", "limit", "reserved", "spent", "remaining")
    for state in states:
        table.add_row(
            state.rule.route,
            state.rule.period,
            state.window,
            usd(state.rule.limit_nusd),
            usd(state.reserved_nusd),
            usd(state.spent_nusd),
            usd(state.remaining_nusd),
        )
    console.print(table)
