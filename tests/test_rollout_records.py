"""A rollout's looks and decisions on real SQLite and PostgreSQL: retried writes land once, and
both read back in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.rollout_records import decisions_of, looks_of_step, record_decision, save_look

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def test_looks_read_back_in_look_order_for_their_step_only(engine: Engine) -> None:
    for look in (3, 1, 2):
        save_look(engine, "ro-1", 0, look, {"look": look, "baseline": {"latency": {"12": 4}}})
    save_look(engine, "ro-1", 1, 1, {"look": "step 1"})
    save_look(engine, "ro-2", 0, 1, {"look": "another rollout"})
    assert looks_of_step(engine, "ro-1", 0) == [
        {"look": n, "baseline": {"latency": {"12": 4}}} for n in (1, 2, 3)
    ]
    assert looks_of_step(engine, "ro-1", 1) == [{"look": "step 1"}]
    assert looks_of_step(engine, "ro-1", 7) == []


def test_a_retried_look_overwrites_its_statistics(engine: Engine) -> None:
    save_look(engine, "ro-1", 0, 1, {"requests": 10})
    save_look(engine, "ro-1", 0, 2, {"requests": 25})
    save_look(engine, "ro-1", 0, 2, {"requests": 31, "retried": True})
    assert looks_of_step(engine, "ro-1", 0) == [{"requests": 10}, {"requests": 31, "retried": True}]
    assert count(engine, "rollout_looks") == 2


def decide(engine: Engine, look: int, action: str, **overrides: object) -> bool:
    fields: dict = {
        "rollout_id": "ro-1",
        "route": "chat",
        "step": 0,
        "look": look,
        "stage": "canary 5%",
        "outcome": "INCONCLUSIVE",
        "action": action,
        "reason": f"look {look}",
        "evidence": {"errors": [100, 1]},
        "decided_at": T0 + timedelta(minutes=look),
    } | overrides
    return record_decision(engine, **fields)  # type: ignore[arg-type]


def test_a_retried_decision_is_recorded_once_and_the_first_stands(engine: Engine) -> None:
    assert decide(engine, 1, "continue") is True
    assert decide(engine, 1, "continue", reason="the retry") is False
    # Another action at the same look is another decision (an operator's pause, say).
    assert decide(engine, 1, "pause", outcome="pause", reason="operator") is True
    assert count(engine, "rollout_decisions") == 2
    [first, pause] = decisions_of(engine, "ro-1")
    assert (first.action, first.reason, first.evidence) == (
        "continue",
        "look 1",
        {"errors": [100, 1]},
    )
    assert (pause.action, pause.outcome) == ("pause", "pause")


def test_decisions_read_back_in_the_order_they_were_taken(engine: Engine) -> None:
    decide(engine, 3, "rollback", outcome="FAIL", step=1)
    decide(engine, 1, "continue")
    decide(engine, 2, "advance", outcome="PASS")
    # Same moment as look 2's: recording order decides.
    decide(engine, 2, "abort", outcome="abort", decided_at=T0 + timedelta(minutes=2))
    decide(engine, 1, "continue", rollout_id="ro-2")
    decisions = decisions_of(engine, "ro-1")
    assert [(d.step, d.look, d.action) for d in decisions] == [
        (0, 1, "continue"),
        (0, 2, "advance"),
        (0, 2, "abort"),
        (1, 3, "rollback"),
    ]
    assert decisions[0].decided_at == T0 + timedelta(minutes=1)
    assert [d.route for d in decisions_of(engine, "ro-2")] == ["chat"]
    assert decisions_of(engine, "ro-unknown") == []


def test_decided_at_defaults_to_now(engine: Engine) -> None:
    before = datetime.now(UTC)
    assert record_decision(engine, "ro-1", "chat", 0, 1, "shadow", "PASS", "advance", "ok", {})
    [decision] = decisions_of(engine, "ro-1")
    assert before <= decision.decided_at <= datetime.now(UTC)
