"""The look activity's own logic on a real store: which rows make each arm, how a blue-green look
reads the baseline from before the switch, and what a decision's record says where the judge has
no bound yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from activities.rollout_analysis import RolloutAnalysisActivities, judge_step
from contracts.rollout import LookInput, RolloutSpec
from contracts.routing import RouteTarget
from store.breaker_states import DatabaseBreakerStates
from store.outcomes import record_outcomes
from store.rollout_records import looks_of_step
from store.routes import publish_route
from tests.test_rollout_stats import outcome

SWITCH = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BASE = RouteTarget(variant="base", provider="simulated", model="sim-fast")


def spec(**overrides) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "route": "chat",
            "candidate": {"variant": "next", "provider": "simulated", "model": "sim-smart"},
            "metrics": [{"name": "error_rate", "margin": 0.05}],
            **overrides,
        }
    )


def rows(variant: str, count: int, errors: int, at: datetime, prefix: str) -> list:
    return [
        outcome(f"{prefix}-{i}", variant, "error" if i < errors else "ok", finished_at=at)
        for i in range(count)
    ]


def blue_green_look(look: int, may_pass: bool) -> LookInput:
    return LookInput(
        rollout_id="rollout-chat/1",
        spec=spec(strategy="blue-green"),
        baseline="base",
        step=0,
        look=look,
        share=None,
        since=SWITCH,
        baseline_window=(SWITCH - timedelta(hours=1), SWITCH),
        may_pass=may_pass,
        min_requests=100,
    )


def test_a_blue_green_look_reads_the_baseline_before_the_switch_only(engine: Engine) -> None:
    record_outcomes(
        engine,
        # Counted: the baseline's hour before the switch, the candidate's rows since.
        rows("base", 400, 8, SWITCH - timedelta(minutes=30), "before")
        + rows("next", 400, 8, SWITCH + timedelta(minutes=1), "after")
        # Not counted: the baseline's rows before the window and after the switch (as a
        # fallback at weight 0 it still answers some), the candidate's before the switch.
        + rows("base", 500, 500, SWITCH - timedelta(hours=2), "too-early")
        + rows("base", 50, 50, SWITCH + timedelta(minutes=1), "fallback")
        + rows("next", 70, 70, SWITCH - timedelta(minutes=5), "shadowed"),
    )
    analysis = RolloutAnalysisActivities(engine)
    baking = analysis.judge_look(blue_green_look(1, may_pass=False))
    assert (baking.baseline_requests, baking.candidate_requests) == (400, 400)
    [error_rate] = baking.metrics
    assert error_rate.baseline == error_rate.candidate == 0.02
    # Equal, and plenty of requests, but the bake is still running: no pass yet.
    assert baking.outcome == "INCONCLUSIVE" and baking.srm_p_value is None
    baked = analysis.judge_look(blue_green_look(2, may_pass=True))
    assert baked.outcome == "PASS"


def test_an_interval_without_an_upper_bound_is_recorded_as_none(engine: Engine) -> None:
    """Both arms without a single error: the rate ratio has no upper bound yet. The record says
    so (null), rather than a number that would read as a bound."""
    record_outcomes(
        engine,
        rows("base", 300, 0, SWITCH + timedelta(minutes=1), "b")
        + rows("next", 300, 0, SWITCH + timedelta(minutes=1), "c"),
    )
    decision = RolloutAnalysisActivities(engine).judge_look(
        LookInput(
            rollout_id="rollout-chat/2",
            spec=spec(),
            baseline="base",
            step=0,
            look=1,
            share=0.5,
            since=SWITCH,
            min_requests=100,
        )
    )
    [error_rate] = decision.metrics
    assert error_rate.ci_high is None and error_rate.ci_low is not None
    assert '"ci_high":null' in decision.model_dump_json()


def test_a_canary_whose_candidate_stops_getting_traffic_fails_on_its_split(
    engine: Engine,
) -> None:
    # Both arms at 50%, then the candidate's breaker opens after 13 requests: admission sends
    # its share to the baseline, and the candidate can never reach the step's 100 requests.
    since = SWITCH + timedelta(seconds=2)

    def canary_look(look: int) -> LookInput:
        return LookInput(
            rollout_id="rollout-chat/2",
            spec=spec(),
            baseline="base",
            step=0,
            look=look,
            share=0.5,
            since=since,
            min_requests=100,
        )

    analysis = RolloutAnalysisActivities(engine)
    record_outcomes(engine, rows("next", 13, 8, since + timedelta(seconds=1), "cut-off"))
    outcomes = []
    for look in range(1, 6):
        at = since + timedelta(seconds=look)
        record_outcomes(engine, rows("base", 60, 6, at, f"look-{look}"))
        outcomes.append(analysis.judge_look(canary_look(look)))
    first_failure = next(i for i, decision in enumerate(outcomes) if decision.outcome == "FAIL")
    assert all(decision.outcome == "INCONCLUSIVE" for decision in outcomes[:first_failure])
    failed = outcomes[first_failure]
    # Decided within a few looks, with the candidate far short of its minimum.
    assert "sample ratio mismatch" in failed.reason and failed.candidate_requests == 13
    assert first_failure <= 2


def blue_green_with_breakers(
    engine: Engine,
) -> tuple[DatabaseBreakerStates, RolloutAnalysisActivities]:
    """Route `chat` on its baseline, an hour of its rows before the switch and a failing
    candidate's after it; the breakers' states and a look activity that reads them."""
    record_outcomes(
        engine,
        rows("base", 400, 8, SWITCH - timedelta(minutes=30), "before")
        + rows("next", 20, 12, SWITCH + timedelta(minutes=1), "after"),
    )
    publish_route(engine, "chat", [BASE])
    states = DatabaseBreakerStates(engine)
    return states, RolloutAnalysisActivities(engine, states)


def test_a_candidate_whose_breaker_is_open_fails_the_look(engine: Engine) -> None:
    # A blue-green step whose candidate's breaker has opened: admission sends its traffic back
    # to the baseline, and no split would show it, so the open breaker itself decides.
    states, analysis = blue_green_with_breakers(engine)
    assert analysis.judge_look(blue_green_look(1, may_pass=False)).outcome == "INCONCLUSIVE"
    assert states.change(("simulated", "sim-smart"), None, "open", reason="12 of 20 calls failed")
    failed = analysis.judge_look(blue_green_look(2, may_pass=False))
    assert failed.outcome == "FAIL"
    assert failed.reason == "the candidate's circuit breaker is open: 12 of 20 calls failed"
    # Judged again from the stored looks, by a fresh judge, the same.
    looks = looks_of_step(engine, "rollout-chat/1", 0)
    again = judge_step(spec(strategy="blue-green"), 100, None, looks, fixed_baseline=True)
    assert (again.outcome, again.reason) == (failed.outcome, failed.reason)


def test_an_outage_of_the_baselines_model_too_is_no_evidence_against_the_candidate(
    engine: Engine,
) -> None:
    states, analysis = blue_green_with_breakers(engine)
    assert states.change(("simulated", "sim-smart"), None, "open", reason="outage")
    assert states.change(("simulated", "sim-fast"), None, "open", reason="outage")
    # Both providers' models down: the step goes on, as it would without breakers.
    assert analysis.judge_look(blue_green_look(1, may_pass=False)).outcome == "INCONCLUSIVE"
    # A prompt change: the candidate is the baseline's own model, whose breaker is the same one.
    publish_route(engine, "chat", [BASE.model_copy(update={"model": "sim-smart"})])
    states.change(("simulated", "sim-fast"), 1, "closed", reason="recovered")
    assert analysis.judge_look(blue_green_look(2, may_pass=False)).outcome == "INCONCLUSIVE"
