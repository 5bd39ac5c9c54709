"""`interlock budgets set/get/remove`, through the real commands on both databases."""

from __future__ import annotations

import json

from store.budgets import budget_rules, reserve, settle, to_nano
from store.tenants import ensure_tenant


def test_set_get_and_remove_a_budget(interlock, engine) -> None:
    ensure_tenant(engine, "acme")
    set_day = interlock("budgets", "set", "acme", "--usd", "5", "--period", "day")
    assert set_day.exit_code == 0, set_day.output
    assert "tenant 'acme''s daily budget of $5 is set" in set_day.output
    on_route = interlock("budgets", "set", "acme", "--usd", "1.25", "--route", "summarizer")
    assert "monthly budget of $1.25 on route 'summarizer'" in on_route.output

    reserve(engine, "r1", budget_rules(engine, "acme"), "chat", 0.5)
    reserve(engine, "r2", budget_rules(engine, "acme"), "chat", 0.25)
    settle(engine, "r2", 0.125)
    shown = interlock("budgets", "get", "acme", "--json")
    assert shown.exit_code == 0, shown.output
    every_route, summarizer = json.loads(shown.output)
    assert (every_route["route"], every_route["period"]) == ("*", "day")
    assert every_route["limit_usd"] == 5
    assert every_route["reserved_usd"] == to_nano(0.5) / 1e9
    assert every_route["spent_usd"] == 0.125 and every_route["remaining_usd"] == 4.375
    assert (summarizer["route"], summarizer["spent_usd"]) == ("summarizer", 0)
    table = interlock("budgets", "get", "acme")
    assert "summarizer" in table.output and "$4.375" in table.output

    assert interlock("budgets", "remove", "acme", "--route", "summarizer").exit_code == 0
    again = interlock("budgets", "remove", "acme", "--route", "summarizer")
    assert again.exit_code == 1 and "has no budget on route 'summarizer'" in again.output
    assert [rule.route for rule in budget_rules(engine, "acme")] == ["*"]


def test_mistakes_are_one_line_errors(interlock, engine) -> None:
    ensure_tenant(engine, "acme")
    unknown = interlock("budgets", "set", "nobody", "--usd", "5")
    assert unknown.exit_code == 1 and "no tenant named 'nobody'" in unknown.output
    period = interlock("budgets", "set", "acme", "--usd", "5", "--period", "week")
    assert period.exit_code == 2 and "--period is day or month" in period.output
    negative = interlock("budgets", "set", "acme", "--usd", "-1")
    assert negative.exit_code == 2
    assert interlock("budgets", "get", "nobody").exit_code == 1
    empty = interlock("budgets", "get", "acme")
    assert empty.exit_code == 0 and "has no budget" in empty.output
