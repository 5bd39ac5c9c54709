"""Whole rollouts against the real stack: traffic through the gateway, outcomes in the store,
looks judged, the route's weights moved, controls applied."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from contracts.rollout import rollout_id
from operations.rollout_report import write_report
from operations.rollouts import (
    RolloutCommandError,
    control_rollout,
    list_rollouts,
    rollout_status,
    start_rollout,
)
from store.rollout_records import decisions_of
from store.routes import live_config, live_targets
from tests.rollout_helpers import (
    BASELINE_ERRORS,
    HEALTHY_CANDIDATE_ERRORS,
    finished,
    publish_baseline,
    shown_when,
    spec_for,
    traffic,
)


async def test_a_healthy_candidate_becomes_the_baseline(stack) -> None:
    publish_baseline(stack, "ro-healthy")
    spec = spec_for("ro-healthy", candidate_errors=HEALTHY_CANDIDATE_ERRORS)
    async with traffic(stack, "ro-healthy"):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        assert started == rollout_id("ro-healthy")
        state = await finished(stack, started)
    assert state.status == "promoted" and state.stage == "active"
    _version, targets = live_targets(stack.engine, "ro-healthy")
    assert [(t.variant, t.model, t.weight) for t in targets] == [("next", "sim-smart", 1.0)]
    decisions = decisions_of(stack.engine, state.record_id)
    assert [d.action for d in decisions] == ["advance"]
    assert decisions[0].outcome == "PASS"
    evidence = decisions[0].evidence
    assert evidence["baseline_requests"] >= 100
    # The judge's whole record: its settings, the split's test, each metric's tests.
    assert (evidence["alpha"], evidence["min_requests"], evidence["candidate_share"]) == (
        0.05,
        100,
        0.5,
    )
    assert 0 <= evidence["srm_p_value"] <= 1
    [error_rate] = evidence["metrics"]
    assert error_rate["role"] == "primary" and error_rate["margin"] == 0.2
    assert error_rate["p_noninferior"] <= 0.05 and error_rate["verdict"] == "pass"
    shown = await rollout_status(stack.client, started)
    assert shown["status"] == "promoted" and shown["decisions"]


async def test_a_worse_candidate_is_rolled_back(stack, tmp_path) -> None:
    publish_baseline(stack, "ro-worse")
    spec = spec_for("ro-worse", candidate_errors=0.85)
    async with traffic(stack, "ro-worse"):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        state = await finished(stack, started)
    assert state.status == "rolled_back" and state.stage == "baseline"
    assert state.last_decision is not None and state.last_decision.outcome == "FAIL"
    error_rate = next(m for m in state.last_decision.metrics if m.name == "error_rate")
    assert error_rate.candidate > error_rate.baseline
    _version, targets = live_targets(stack.engine, "ro-worse")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    assert [d.action for d in decisions_of(stack.engine, state.record_id)] == ["rollback"]
    # The report shows the step's looks for both arms and the decision with its reason.
    shown = await rollout_status(stack.client, started)
    page = write_report(stack.engine, shown, tmp_path / "report.html").read_text()
    assert "rolled_back" in page and "worse beyond doubt on error_rate" in page
    assert page.count("<img alt='error_rate' src='data:image/png;base64,") == 1
    assert "<img alt='p95_latency'" in page


async def test_controls_a_second_start_and_an_abort(stack) -> None:
    publish_baseline(stack, "ro-steered")
    # No traffic at all: no data never promotes, so the rollout waits for its operator.
    spec = spec_for("ro-steered", candidate_errors=0.0)
    queue = stack.settings.control_task_queue
    started = await start_rollout(stack.client, stack.engine, spec, queue)
    with pytest.raises(RolloutCommandError, match="already running"):
        await start_rollout(stack.client, stack.engine, spec, queue)
    with pytest.raises(RolloutCommandError, match=r"resume: .*running"):
        await control_rollout(stack.client, started, "resume")
    paused = await control_rollout(stack.client, started, "pause")
    assert paused.status == "paused"
    listed = {row["id"]: row for row in await list_rollouts(stack.client)}
    assert listed[started]["route"] == "ro-steered"
    resumed = await control_rollout(stack.client, started, "resume")
    assert resumed.status == "running"
    running = await rollout_status(stack.client, started)
    assert running["weights"] == {"base": 0.5, "next": 0.5}
    aborted = await control_rollout(stack.client, started, "abort")
    assert "aborted" in aborted.message
    state = await finished(stack, started)
    assert state.status == "aborted"
    _version, targets = live_targets(stack.engine, "ro-steered")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]
    with pytest.raises(RolloutCommandError, match="has ended"):
        await control_rollout(stack.client, started, "abort")
    first_record = decisions_of(stack.engine, state.record_id)
    assert [d.action for d in first_record] == ["pause", "resume", "abort"]
    # The route's next rollout reuses the id, and keeps records of its own.
    again = await start_rollout(stack.client, stack.engine, spec, queue)
    assert again == started
    await control_rollout(stack.client, again, "abort")
    second = await finished(stack, again)
    assert second.record_id != state.record_id
    assert [d.action for d in decisions_of(stack.engine, second.record_id)] == ["abort"]
    assert decisions_of(stack.engine, state.record_id) == first_record


async def test_a_rollout_the_route_cannot_take_is_refused_at_start(stack) -> None:
    with pytest.raises(RolloutCommandError, match="no route named"):
        await start_rollout(
            stack.client,
            stack.engine,
            spec_for("ro-missing", 0.0),
            stack.settings.control_task_queue,
        )


async def test_a_paused_rollout_still_ends_at_its_time_limit(stack) -> None:
    publish_baseline(stack, "ro-forgotten")
    spec = spec_for("ro-forgotten", candidate_errors=0.0, time_limit="4s")
    started = await start_rollout(
        stack.client, stack.engine, spec, stack.settings.control_task_queue
    )
    await control_rollout(stack.client, started, "pause")
    # Nobody resumes it: the candidate must not stay on the route for ever.
    state = await finished(stack, started, seconds=30)
    assert state.status == "rolled_back"
    assert "time limit passed while it was paused" in state.decisions[-1]
    _version, targets = live_targets(stack.engine, "ro-forgotten")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]


async def test_a_shadow_stage_judges_copies_before_any_client_sees_the_candidate(stack) -> None:
    publish_baseline(stack, "ro-shadowed")
    spec = spec_for(
        "ro-shadowed",
        candidate_errors=HEALTHY_CANDIDATE_ERRORS,
        shadow={"sample": 1.0, "min_requests": 100, "time_limit": "60s"},
    )
    async with traffic(stack, "ro-shadowed"):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        state = await finished(stack, started)
    decisions = decisions_of(stack.engine, state.record_id)
    assert state.status == "promoted", [(d.stage, d.outcome, d.reason) for d in decisions]
    assert [(d.stage, d.action) for d in decisions] == [
        ("shadow 100%", "advance"),
        ("canary 50%", "advance"),
    ]
    # The shadow stage compared the baseline's answers with the candidate's copies.
    shadow_look = decisions[0].evidence
    assert shadow_look["candidate_share"] is None and shadow_look["candidate_requests"] >= 100
    arms = _rows_by_arm(stack, "ro-shadowed", "next")
    assert arms["shadow"] >= 100 and arms["primary"] >= 100


async def test_an_inconclusive_step_rolls_back_at_its_time_limit_when_asked(stack) -> None:
    publish_baseline(stack, "ro-unclear-rollback")
    # No traffic: every look is inconclusive until the step's two seconds are up.
    spec = spec_for(
        "ro-unclear-rollback",
        candidate_errors=0.0,
        steps=[{"weight": 50, "min_requests": 100, "time_limit": "2s"}],
        on_inconclusive="rollback",
    )
    started = await start_rollout(
        stack.client, stack.engine, spec, stack.settings.control_task_queue
    )
    state = await finished(stack, started, seconds=30)
    assert (state.status, state.stage) == ("rolled_back", "baseline")
    [decision] = decisions_of(stack.engine, state.record_id)
    assert decision.outcome == "INCONCLUSIVE" and "step time limit passed" in decision.reason


async def test_an_inconclusive_step_with_its_requests_is_promoted_when_asked(stack) -> None:
    publish_baseline(stack, "ro-unclear-promote")
    # Equal arms, a margin of 0 and an alpha of 0.001: neither a pass nor a failure can be
    # shown in a few seconds, so the step has its requests and is still inconclusive.
    spec = spec_for(
        "ro-unclear-promote",
        candidate_errors=BASELINE_ERRORS,
        steps=[{"weight": 50, "min_requests": 50, "time_limit": "20s"}],
        metrics=[{"name": "error_rate", "margin": 0.0}],
        alpha=0.001,
        on_inconclusive="promote",
    )
    async with traffic(stack, "ro-unclear-promote"):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        state = await finished(stack, started, seconds=60)
    assert (state.status, state.stage) == ("promoted", "active")
    [decision] = decisions_of(stack.engine, state.record_id)
    assert (decision.outcome, decision.action) == ("INCONCLUSIVE", "advance")
    assert decision.evidence["candidate_requests"] >= 50


async def test_no_data_never_promotes_even_when_inconclusive_steps_would_be(stack) -> None:
    publish_baseline(stack, "ro-unclear-no-data")
    spec = spec_for(
        "ro-unclear-no-data",
        candidate_errors=0.0,
        steps=[{"weight": 50, "min_requests": 100, "time_limit": "2s"}],
        on_inconclusive="promote",
    )
    started = await start_rollout(
        stack.client, stack.engine, spec, stack.settings.control_task_queue
    )
    shown = await shown_when(stack, started, status="paused")
    assert shown["status"] == "paused" and "too few requests to promote" in shown["decisions"][-1]
    await control_rollout(stack.client, started, "abort")
    state = await finished(stack, started)
    _version, targets = live_targets(stack.engine, "ro-unclear-no-data")
    assert state.status == "aborted" and [(t.variant, t.weight) for t in targets] == [("base", 1.0)]


async def test_pause_is_the_default_for_an_inconclusive_step(stack) -> None:
    publish_baseline(stack, "ro-unclear-pause")
    spec = spec_for(
        "ro-unclear-pause",
        candidate_errors=0.0,
        steps=[{"weight": 50, "min_requests": 100, "time_limit": "2s"}],
    )
    started = await start_rollout(
        stack.client, stack.engine, spec, stack.settings.control_task_queue
    )
    shown = await shown_when(stack, started, status="paused")
    assert shown["status"] == "paused" and shown["weights"] == {"base": 0.5, "next": 0.5}
    await control_rollout(stack.client, started, "abort")
    state = await finished(stack, started)
    assert state.status == "aborted"
    assert [d.action for d in decisions_of(stack.engine, state.record_id)] == ["pause", "abort"]


async def test_an_operator_promotes_a_step_then_all_the_way(stack) -> None:
    publish_baseline(stack, "ro-promoted-by-hand")
    spec = spec_for(
        "ro-promoted-by-hand",
        candidate_errors=0.0,
        steps=[{"weight": 10, "min_requests": 100}, {"weight": 50, "min_requests": 100}],
    )
    queue = stack.settings.control_task_queue
    started = await start_rollout(stack.client, stack.engine, spec, queue)
    skipped = await control_rollout(stack.client, started, "promote")
    assert "promoted past this step" in skipped.message
    shown = await shown_when(stack, started, stage="canary 50%")
    assert shown["weights"] == {"base": 0.5, "next": 0.5}
    await control_rollout(stack.client, started, "promote_full")
    state = await finished(stack, started)
    assert (state.status, state.stage) == ("promoted", "active")
    _version, targets = live_targets(stack.engine, "ro-promoted-by-hand")
    assert [(t.variant, t.weight) for t in targets] == [("next", 1.0)]


async def test_a_shadow_rollout_compares_and_never_exposes_the_candidate(stack) -> None:
    publish_baseline(stack, "ro-compared")
    spec = spec_for(
        "ro-compared",
        candidate_errors=HEALTHY_CANDIDATE_ERRORS,
        strategy="shadow",
        steps=None,
        shadow={"sample": 1.0, "min_requests": 100, "time_limit": "60s"},
    )
    queue = stack.settings.control_task_queue
    async with traffic(stack, "ro-compared"):
        started = await start_rollout(stack.client, stack.engine, spec, queue)
        with pytest.raises(RolloutCommandError, match="never exposes its candidate"):
            await control_rollout(stack.client, started, "promote_full")
        state = await finished(stack, started)
    assert (state.status, state.stage) == ("passed", "baseline")
    decisions = decisions_of(stack.engine, state.record_id)
    assert [(d.stage, d.outcome, d.action) for d in decisions] == [
        ("shadow 100%", "PASS", "advance")
    ]
    # The route serves what it served, without the shadow; no client ever got the candidate.
    config = live_config(stack.engine, "ro-compared")
    assert config is not None
    assert [(t.variant, t.weight) for t in config[1].targets] == [("base", 1.0)]
    assert config[1].shadow is None
    assert _rows_by_arm(stack, "ro-compared", "next").keys() == {"shadow"}


async def test_blue_green_bakes_all_traffic_against_the_baseline_before_the_switch(stack) -> None:
    publish_baseline(stack, "ro-blue-green")
    spec = spec_for(
        "ro-blue-green",
        candidate_errors=HEALTHY_CANDIDATE_ERRORS,
        strategy="blue-green",
        steps=[{"weight": 100, "min_requests": 100, "time_limit": "60s"}],
        bake="4s",
        baseline_window="60s",
    )
    queue = stack.settings.control_task_queue
    async with traffic(stack, "ro-blue-green") as sent:
        # The baseline's figures from before the switch are what the candidate answers to.
        while sent[0] < 300:
            await asyncio.sleep(0.1)
        started = await start_rollout(stack.client, stack.engine, spec, queue)
        shown = await shown_when(stack, started, stage="blue-green 100%")
        assert shown["weights"] == {"base": 0.0, "next": 1.0}
        state = await finished(stack, started)
    assert (state.status, state.stage) == ("promoted", "active")
    [decision] = decisions_of(stack.engine, state.record_id)
    assert (decision.outcome, decision.action) == ("PASS", "advance")
    # Looks come a second apart: the step passed only once its four-second bake was over.
    assert decision.look >= 4
    evidence = decision.evidence
    assert evidence["candidate_share"] is None and evidence["srm_p_value"] is None
    assert evidence["baseline_requests"] >= 100 and evidence["candidate_requests"] >= 100


async def test_blue_green_rolls_back_at_once_during_its_bake(stack) -> None:
    publish_baseline(stack, "ro-blue-green-worse")
    spec = spec_for(
        "ro-blue-green-worse",
        candidate_errors=0.85,
        strategy="blue-green",
        steps=[{"weight": 100, "min_requests": 100, "time_limit": "90s"}],
        bake="60s",
    )
    queue = stack.settings.control_task_queue
    async with traffic(stack, "ro-blue-green-worse") as sent:
        while sent[0] < 300:
            await asyncio.sleep(0.1)
        started = await start_rollout(stack.client, stack.engine, spec, queue)
        state = await finished(stack, started, seconds=50)
    assert (state.status, state.stage) == ("rolled_back", "baseline")
    [decision] = decisions_of(stack.engine, state.record_id)
    assert (decision.outcome, decision.action) == ("FAIL", "rollback")
    _version, targets = live_targets(stack.engine, "ro-blue-green-worse")
    assert [(t.variant, t.weight) for t in targets] == [("base", 1.0)]


async def test_blue_green_without_baseline_figures_never_promotes(stack) -> None:
    publish_baseline(stack, "ro-blue-green-blind")
    spec = spec_for(
        "ro-blue-green-blind",
        candidate_errors=0.0,
        strategy="blue-green",
        # Eight seconds of traffic give the candidate its 30 requests even on a busy machine.
        steps=[{"weight": 100, "min_requests": 30, "time_limit": "8s"}],
        bake="1s",
        on_inconclusive="rollback",
    )
    queue = stack.settings.control_task_queue
    # Traffic only after the switch: the candidate has requests, the baseline none before it.
    started = await start_rollout(stack.client, stack.engine, spec, queue)
    await shown_when(stack, started, stage="blue-green 100%")
    async with traffic(stack, "ro-blue-green-blind"):
        state = await finished(stack, started, seconds=40)
    assert state.status == "rolled_back"
    [decision] = decisions_of(stack.engine, state.record_id)
    assert decision.outcome == "INCONCLUSIVE" and decision.evidence["baseline_requests"] == 0
    # The candidate had its requests: it is the baseline's missing figures that stopped it.
    assert decision.evidence["candidate_requests"] >= 30


def _rows_by_arm(stack, route: str, variant: str) -> dict[str, int]:
    with stack.engine.connect() as connection:
        return dict(
            connection.execute(
                text(
                    "SELECT arm, count(*) FROM outcomes WHERE route = :route "
                    "AND variant = :variant GROUP BY arm"
                ),
                {"route": route, "variant": variant},
            ).all()
        )
