"""Record RolloutWorkflow histories for the replay tests (tests/test_replay.py).

Not collected by the suite; run it on purpose when the rollout workflow's shape changes, against
the code whose histories you want to keep:

    INTERLOCK_CODEC_KEYRING="$(cat tests/histories/keyring.json)" \\
    INTERLOCK_HISTORY_SET=rollout-v1 .venv/bin/python -m pytest tests/record_rollout_histories.py

Scenarios: a candidate promoted through its shadow stage and its step, one rolled back, one an
operator pauses, resumes and aborts (sets rollout-v1 and later); a blue-green rollout and a
shadow-only one (rollout-v3 and later).
"""

from __future__ import annotations

import os

import pytest

from operations.rollouts import control_rollout, start_rollout
from tests.history_files import save_history
from tests.rollout_helpers import BASELINE_ERRORS, finished, publish_baseline, spec_for, traffic

SET = os.environ.get("INTERLOCK_HISTORY_SET", "")
# Every scenario begins with a shadow stage on all requests, then one traffic step.
SHADOW = {"sample": 1.0, "min_requests": 100, "time_limit": "60s"}
pytestmark = pytest.mark.skipif(
    not SET.startswith("rollout-"), reason="set INTERLOCK_HISTORY_SET=rollout-vN to record"
)


async def save(stack, workflow_id: str, scenario: str) -> None:
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    save_history(SET, scenario, history)


@pytest.mark.parametrize(
    ("scenario", "candidate_errors"), [("promoted", BASELINE_ERRORS), ("rolled-back", 0.85)]
)
async def test_record_a_judged_rollout(stack, scenario: str, candidate_errors: float) -> None:
    route = f"rec-{scenario}"
    publish_baseline(stack, route)
    async with traffic(stack, route):
        started = await start_rollout(
            stack.client,
            stack.engine,
            spec_for(route, candidate_errors, shadow=SHADOW),
            stack.settings.control_task_queue,
        )
        await finished(stack, started)
    await save(stack, started, scenario)


async def test_record_a_steered_rollout(stack) -> None:
    publish_baseline(stack, "rec-steered")
    queue = stack.settings.control_task_queue
    spec = spec_for("rec-steered", 0.0, shadow=SHADOW)
    started = await start_rollout(stack.client, stack.engine, spec, queue)
    for verb in ("pause", "resume", "abort"):
        await control_rollout(stack.client, started, verb)
    await finished(stack, started)
    await save(stack, started, "steered")


async def test_record_a_blue_green_rollout(stack) -> None:
    """Shadow stage, then all traffic on the candidate, baked and judged against the baseline's
    rows from before the switch."""
    route = "rec-blue-green"
    publish_baseline(stack, route)
    spec = spec_for(
        route,
        BASELINE_ERRORS,
        shadow=SHADOW,
        strategy="blue-green",
        steps=[{"weight": 100, "min_requests": 100, "time_limit": "60s"}],
        bake="3s",
    )
    async with traffic(stack, route):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        await finished(stack, started)
    await save(stack, started, "blue-green")


async def test_record_a_shadow_only_rollout(stack) -> None:
    route = "rec-shadow-only"
    publish_baseline(stack, route)
    spec = spec_for(route, BASELINE_ERRORS, shadow=SHADOW, strategy="shadow", steps=None)
    async with traffic(stack, route):
        started = await start_rollout(
            stack.client, stack.engine, spec, stack.settings.control_task_queue
        )
        await finished(stack, started)
    await save(stack, started, "shadow-only")
