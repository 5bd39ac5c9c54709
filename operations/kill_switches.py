"""Kill switches: flip one, and take back every running rollout it covers.

A kill switch stops new requests within a second on every gateway (activities/flags.py). A
rollout whose route it covers (the whole gateway, its route, or a provider its route uses) is
aborted, so the route is left on its baseline, and the abort's record says which switch and who.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.flags import GLOBAL_KILL, Flags, provider_kill, route_kill
from operations.rollouts import RolloutCommandError, control_rollout, running_rollout_on
from store.routes import list_routes, live_config

Scope = Literal["global", "route", "provider"]


def switch_name(scope: Scope, name: str | None) -> str:
    if scope == "global":
        return GLOBAL_KILL
    if not name:
        raise ValueError(f"a {scope} kill switch needs the {scope}'s name")
    return route_kill(name) if scope == "route" else provider_kill(name)


async def flip_kill_switch(
    client: Client | None,
    engine: Engine,
    scope: Scope,
    name: str | None,
    on: bool,
    changed_by: str,
    reason: str = "",
) -> list[str]:
    """Set the switch (audited); when on, abort the running rollouts it covers. Their ids."""
    flag = switch_name(scope, name)
    Flags(engine).set(flag, on, changed_by, reason)
    if not on or client is None:
        return []
    why = f"kill switch {flag} switched on by {changed_by}" + (f" ({reason})" if reason else "")
    aborted = []
    # Each route's rollout has an id of its own (rollout-ROUTE), asked of Temporal directly:
    # its visibility list can lag a rollout started a moment ago, which would escape the switch.
    for route in list_routes(engine):
        if not _covers(engine, scope, name, route.name):
            continue
        running = await running_rollout_on(client, route.name)
        if running is None:
            continue
        try:
            await control_rollout(client, running, "abort", reason=why)
        except RolloutCommandError:
            continue  # it ended on its own meanwhile
        aborted.append(running)
    return aborted


def _covers(engine: Engine, scope: Scope, name: str | None, route: str) -> bool:
    if scope == "global":
        return True
    if scope == "route":
        return route == name
    found = live_config(engine, route)
    if found is None:
        return False
    config = found[1]
    providers = {t.provider for t in config.targets}
    if config.shadow is not None:
        providers.add(config.shadow.target.provider)
    return name in providers
