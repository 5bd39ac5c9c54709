"""`interlock flags set/list/history` and `interlock kill-switch`'s checks, through the real
commands on both databases (switching one on, which talks to Temporal, is tested against the
stack in tests/test_kill_switches.py)."""

from __future__ import annotations

import json

from store.flags import stored_flags


def test_set_list_and_history(interlock, engine) -> None:
    assert (
        interlock("flags", "set", "new-router", "on", "--by", "alice", "--reason", "go").exit_code
        == 0
    )
    assert interlock("flags", "set", "new-router", "off", "--by", "bob").exit_code == 0
    listed = interlock("flags", "list", "--json")
    [row] = json.loads(listed.output)
    assert (row["name"], row["enabled"], row["changed_by"]) == ("new-router", False, "bob")
    history = interlock("flags", "history", "new-router")
    assert history.exit_code == 0
    lines = [line for line in history.output.splitlines() if "new-router" in line]
    assert "bob" in lines[0] and "alice" in lines[1] and "go" in lines[1]
    bad = interlock("flags", "set", "new-router", "maybe")
    assert bad.exit_code == 2 and "expected on or off" in bad.output


def test_kill_switch_needs_exactly_one_scope_and_switches_off_without_temporal(
    interlock,
    engine,
) -> None:
    none = interlock("kill-switch", "on")
    assert none.exit_code == 2 and "exactly one of --provider, --route or --global" in none.output
    two = interlock("kill-switch", "on", "--route", "chat", "--global")
    assert two.exit_code == 2
    off = interlock("kill-switch", "off", "--route", "chat", "--by", "alice")
    assert off.exit_code == 0 and "kill switch on route 'chat' is off" in off.output
    assert stored_flags(engine) == {"kill.route.chat": False}
