"""Evaluating experiments on real outcome rows, on both databases: a better arm is promoted, a
harmful one stopped, a broken split stops everything, a bandit moves traffic, time runs out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from activities.experiment_evaluation import ExperimentActivities
from contracts.experiment import EvaluateExperiment, ExperimentSpec, ExperimentVerdict
from contracts.outcome import OutcomeRecord
from contracts.routing import RouteTarget
from operations.experiment_report import write_report
from store.experiments import create_experiment, decisions_of, experiment, looks_of
from store.outcomes import record_outcomes
from store.routes import RouteConfig, live_config, publish_routes

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONTROL = RouteTarget(variant="control", provider="simulated", model="sim-fast")
FALLBACK = RouteTarget(variant="backup", provider="simulated", model="sim-flaky", weight=0)


def spec(*arms: str, **changes: object) -> ExperimentSpec:
    described = [
        {"variant": arm, "provider": "simulated", "model": "sim-smart", "system_prompt": arm}
        for arm in arms
    ]
    fields = {
        "name": "tone",
        "route": "support",
        "arms": [{"variant": "control"}, *described],
        "min_samples": 100,
        **changes,
    }
    return ExperimentSpec.model_validate(fields)


@pytest.fixture
def routed(engine: Engine) -> Engine:
    publish_routes(engine, [RouteConfig(name="support", targets=[CONTROL, FALLBACK])])
    return engine


def rows(
    arm: str,
    count: int,
    quality: float = 0.7,
    error_rate: float = 0.01,
    latency_ms: float = 300.0,
    seed: int = 0,
    start: int = 0,
) -> list[OutcomeRecord]:
    rng = random.Random(f"{arm}:{seed}")
    records = []
    for i in range(start, start + count):
        failed = rng.random() < error_rate
        latency = latency_ms * rng.lognormvariate(0, 0.3)
        records.append(
            OutcomeRecord(
                request_id=f"{arm}-{seed}-{i}",
                tenant_id="acme",
                route="support",
                variant=arm,
                provider="simulated",
                model="sim-smart",
                status="error" if failed else "ok",
                latency_ms=latency,
                quality_score=None if failed else min(1.0, max(0.0, rng.gauss(quality, 0.1))),
                experiment="tone",
                experiment_arm=arm,
                started_at=NOW - timedelta(milliseconds=latency),
                finished_at=NOW,
            )
        )
    return records


def evaluate(engine: Engine, evaluation: str, now: datetime = NOW) -> ExperimentVerdict:
    activities = ExperimentActivities(engine)
    asked = EvaluateExperiment(experiment="tone", evaluation=evaluation)
    verdict = activities.evaluate_now(asked, now)
    return activities.apply_now(verdict)


def test_a_better_arm_is_promoted_into_the_route(routed: Engine) -> None:
    create_experiment(routed, spec("concise"), "alice")
    record_outcomes(routed, rows("control", 60) + rows("concise", 60, quality=0.85))
    early = evaluate(routed, "e1")
    assert early.action == "continue" and "collecting: 60 of 100" in early.reason
    record_outcomes(
        routed,
        rows("control", 300, seed=1) + rows("concise", 300, quality=0.85, seed=1),
    )
    verdict = evaluate(routed, "e2")
    assert verdict.action == "promote" and verdict.winner == "concise", verdict.reason
    assert verdict.reason.startswith("concise over control: quality better by +0.1")
    state = experiment(routed, "tone")
    assert state is not None and (state.status, state.winner) == ("completed", "concise")
    _, config = live_config(routed, "support")  # type: ignore[misc]
    assert [(t.variant, t.model, t.weight, t.system_prompt) for t in config.targets] == [
        ("concise", "sim-smart", 1.0, "concise"),
        ("backup", "sim-flaky", 0.0, None),
    ]
    # Both looks are kept, and each evaluation's decision once, with its numbers.
    assert [look.evaluation for look in looks_of(routed, "tone")] == ["e1", "e2"]
    decisions = decisions_of(routed, "tone")
    assert [d.action for d in decisions] == ["continue", "promote"]
    arms = decisions[-1].evidence["arms"]
    assert arms["concise"]["requests"] == 360 and arms["concise"]["quality"] > 0.8
    # A retried evaluation changes nothing more.
    assert evaluate(routed, "e2").action == "none"


def test_report_only_names_the_winner_and_leaves_the_route(routed: Engine) -> None:
    create_experiment(routed, spec("concise", on_win="report"), "alice")
    record_outcomes(routed, rows("control", 300) + rows("concise", 300, quality=0.85))
    verdict = evaluate(routed, "e1")
    assert (verdict.action, verdict.winner) == ("report_winner", "concise")
    _, config = live_config(routed, "support")  # type: ignore[misc]
    assert [t.variant for t in config.targets] == ["control", "backup"]


def test_a_harmful_arm_is_stopped_and_the_others_go_on(routed: Engine) -> None:
    create_experiment(routed, spec("concise", "warm"), "alice")
    record_outcomes(
        routed,
        rows("control", 300) + rows("concise", 300) + rows("warm", 300, error_rate=0.25),
    )
    verdict = evaluate(routed, "e1")
    assert verdict.action == "stop_arm", verdict.reason
    assert "stopped warm" in verdict.reason and "error_rate" in verdict.reason
    state = experiment(routed, "tone")
    assert state is not None and state.status == "running"
    assert state.weights["warm"] == 0 and state.weights["control"] > 0
    # The next evaluation compares only the arms still running.
    record_outcomes(routed, rows("control", 50, seed=2) + rows("concise", 50, seed=2))
    again = evaluate(routed, "e2")
    assert again.action == "continue"
    assert set(again.evidence["comparisons"]) == {"concise"}


def test_when_every_other_arm_is_harmful_the_control_stays(routed: Engine) -> None:
    create_experiment(routed, spec("concise"), "alice")
    record_outcomes(routed, rows("control", 300) + rows("concise", 300, error_rate=0.3))
    verdict = evaluate(routed, "e1")
    assert verdict.action == "complete" and "control stays" in verdict.reason
    state = experiment(routed, "tone")
    assert state is not None and (state.status, state.winner) == ("completed", None)


def test_a_broken_split_stops_the_experiment(routed: Engine) -> None:
    create_experiment(routed, spec("concise"), "alice")
    # Equal shares configured, 1,000 against 700 seen: something drops the arm's requests.
    record_outcomes(routed, rows("control", 1000) + rows("concise", 700))
    verdict = evaluate(routed, "e1")
    assert verdict.action == "stop" and "sample ratio mismatch" in verdict.reason
    state = experiment(routed, "tone")
    assert state is not None and state.status == "stopped"


def on_users(records: list[OutcomeRecord], requests_per_user: list[int], first: int = 0) -> list:
    """The rows as sent by users first, first + 1, ...: user k sends requests_per_user[k]."""
    users = [first + k for k, many in enumerate(requests_per_user) for _ in range(many)]
    return [
        record.model_copy(update={"experiment_unit": f"user-{user}"})
        for record, user in zip(records, users, strict=True)
    ]


def test_a_split_by_user_is_checked_on_users_not_requests(routed: Engine) -> None:
    create_experiment(routed, spec("concise"), "alice")  # split by user, half each
    # 300 users on each arm; on the control ten of them send 51 requests each. 800 requests
    # against 300 would be a broken split; 300 users against 300 is not.
    heavy = [51] * 10 + [1] * 290
    record_outcomes(
        routed,
        on_users(rows("control", 800), heavy) + on_users(rows("concise", 300), [1] * 300, 1000),
    )
    kept = evaluate(routed, "e1")
    assert kept.action == "continue", kept.reason
    [look] = looks_of(routed, "tone")
    assert (look.statistics["control"]["units"], look.statistics["concise"]["units"]) == (300, 300)
    # Then 200 more users reach the control and none the other arm: that split is broken.
    record_outcomes(routed, on_users(rows("control", 200, start=800), [1] * 200, 2000))
    stopped = evaluate(routed, "e2")
    assert stopped.action == "stop" and "300 of 800 units" in stopped.reason


def test_at_its_time_limit_an_undecided_experiment_ends(routed: Engine) -> None:
    state = create_experiment(routed, spec("concise", max_duration="1d"), "alice")
    record_outcomes(routed, rows("control", 300) + rows("concise", 300, seed=5))
    verdict = evaluate(routed, "e1", now=state.started_at + timedelta(days=2))
    assert verdict.action == "expire" and "time limit" in verdict.reason
    assert experiment(routed, "tone").status == "completed"  # type: ignore[union-attr]


def test_a_bandit_moves_traffic_to_the_better_arm_and_keeps_the_floor(routed: Engine) -> None:
    create_experiment(
        routed,
        spec("concise", "warm", allocation={"kind": "thompson", "floor": 0.1}, min_samples=1000),
        "alice",
    )
    record_outcomes(
        routed,
        rows("control", 80) + rows("concise", 80, quality=0.78) + rows("warm", 80, quality=0.6),
    )
    verdict = evaluate(routed, "e1")
    assert verdict.action == "reweight" and verdict.weights is not None
    weights = experiment(routed, "tone").weights  # type: ignore[union-attr]
    assert weights == verdict.weights
    assert weights["concise"] > 0.5 and min(weights.values()) >= 0.1 - 1e-9
    assert sum(weights.values()) == pytest.approx(1.0)


def test_the_report_shows_the_arms_over_time_and_the_decisions(routed: Engine, tmp_path) -> None:
    create_experiment(
        routed,
        spec("concise", "warm", allocation={"kind": "thompson", "floor": 0.1}, min_samples=500),
        "alice",
    )
    for look in range(3):
        record_outcomes(
            routed,
            rows("control", 60, seed=look)
            + rows("concise", 60, quality=0.8, seed=look)
            + rows("warm", 60, quality=0.6, seed=look),
        )
        evaluate(routed, f"e{look}")
    written = write_report(routed, "tone", tmp_path / "tone.html")
    assert written is not None
    page = written.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<h1>tone: running</h1>" in page
    assert "At the last of 3 evaluations" in page
    # One plot per metric of the spec, and the shares.
    assert page.count("<img") == 4 and "alt='shares'" in page
    assert "By hour" in page and "By tenant" in page and "acme" in page
    assert page.count("<td>reweight</td>") == 3
    assert write_report(routed, "nothing", tmp_path / "x.html") is None
