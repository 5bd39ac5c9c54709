"""Feature flags on SQLite and PostgreSQL: environment over store over default, a second's cache
that the process's own change skips, every change audited; and kill switches applied to a route."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from activities.flags import (
    GLOBAL_KILL,
    Flags,
    KillSwitchOn,
    environment_name,
    provider_kill,
    route_kill,
)
from contracts.routing import ResolvedRoute, RouteTarget
from store.flags import flag_changes


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_environment_beats_store_beats_default(engine: Engine) -> None:
    environ: dict[str, str] = {}
    flags = Flags(engine, environ)
    assert flags.enabled("new-router") is False and flags.enabled("new-router", True) is True
    flags.set("new-router", True, "alice", "ship it")
    assert flags.enabled("new-router") is True
    environ[environment_name("new-router")] = "off"
    assert environment_name("new-router") == "INTERLOCK_FLAG_NEW_ROUTER"
    assert flags.enabled("new-router") is False
    environ[environment_name("new-router")] = "maybe"  # not a value: the store decides
    assert flags.enabled("new-router") is True


def test_other_processes_see_a_change_within_a_second(engine: Engine) -> None:
    clock = Clock()
    here, elsewhere = Flags(engine, {}, clock), Flags(engine, {}, clock)
    assert elsewhere.enabled("dark-feature") is False
    here.set("dark-feature", True, "bob")
    assert here.enabled("dark-feature") is True  # its own change, at once
    assert elsewhere.enabled("dark-feature") is False  # still within its second
    clock.now += 1.01
    assert elsewhere.enabled("dark-feature") is True


def test_every_change_is_audited(engine: Engine) -> None:
    flags = Flags(engine, {})
    flags.set(route_kill("chat"), True, "alice", "provider outage")
    flags.set(route_kill("chat"), False, "bob", "recovered")
    flags.set("other", True, "carol")
    history = flag_changes(engine, route_kill("chat"))
    assert [(c.enabled, c.changed_by, c.reason) for c in history] == [
        (False, "bob", "recovered"),
        (True, "alice", "provider outage"),
    ]
    assert len(flag_changes(engine)) == 3


ROUTE = ResolvedRoute(
    route="chat",
    version=1,
    targets=[
        RouteTarget(variant="main", provider="openai", model="gpt-4o-mini", weight=1),
        RouteTarget(variant="backup", provider="bedrock", model="claude", weight=0),
    ],
)


def test_kill_switches_take_variants_or_whole_routes_out(engine: Engine) -> None:
    flags = Flags(engine, {})
    assert flags.without_killed(ROUTE) == ROUTE
    flags.set(provider_kill("openai"), True, "alice")
    # The backup takes the traffic the killed provider's variant had.
    assert [(t.variant, t.weight) for t in flags.without_killed(ROUTE).targets] == [("backup", 1.0)]
    flags.set(provider_kill("bedrock"), True, "alice")
    with pytest.raises(KillSwitchOn, match="kill switch: bedrock, openai"):
        flags.without_killed(ROUTE)
    flags.set(provider_kill("openai"), False, "alice")
    flags.set(provider_kill("bedrock"), False, "alice")
    flags.set(route_kill("chat"), True, "alice")
    with pytest.raises(KillSwitchOn, match="route 'chat' is switched off"):
        flags.without_killed(ROUTE)
    flags.set(route_kill("chat"), False, "alice")
    flags.set(GLOBAL_KILL, True, "alice")
    with pytest.raises(KillSwitchOn, match="kill switch: global"):
        flags.without_killed(ROUTE)
