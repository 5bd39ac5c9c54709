"""The evaluation Schedule on a real dev server: it fires, its runs evaluate and act, and a
worker's start brings it up to date without undoing a person's pause.

A real server at a one-second interval rather than the time-skipping one: the time-skipping test
server implements no Schedules (temporalio/sdk-java#1954, closed by its maintainers with "run
schedule tests using a real/local server")."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

from temporalio.client import ScheduleIntervalSpec

from contracts.experiment import EvaluationRequest
from operations.schedules import ensure_schedule, experiment_evaluation_schedule
from store.experiments import decisions_of
from tests.experiment_helpers import ask_as, new_experiment


async def test_the_schedule_evaluates_on_its_own(stack, sdk) -> None:
    route = f"exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, route)
    await ask_as(sdk, route, "someone")
    schedule_id = f"test-evaluation-{route}"
    every_second = stack.settings.model_copy(update={"experiment_evaluation_every_seconds": 1.0})
    # This test's own Schedule, for this test's experiment only: the shared stack's other
    # experiments are evaluated when their tests say.
    only_this = EvaluationRequest(experiments=[route])
    await ensure_schedule(
        stack.client,
        schedule_id,
        experiment_evaluation_schedule(every_second, schedule_id, only_this),
    )
    handle = stack.client.get_schedule_handle(schedule_id)
    try:
        deadline = time.monotonic() + 30
        while len(decisions_of(stack.engine, route)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        decisions = decisions_of(stack.engine, route)
        assert len(decisions) >= 2, "the Schedule did not run twice within 30 s"
        assert {d.action for d in decisions} == {"continue"}
        assert len({d.evaluation for d in decisions}) == len(decisions)  # one per run

        # A person pauses it; a worker starting with another interval keeps the pause.
        await handle.pause(note="looking into it")
        every_minute = stack.settings.model_copy(
            update={"experiment_evaluation_every_seconds": 60.0}
        )
        await ensure_schedule(
            stack.client,
            schedule_id,
            experiment_evaluation_schedule(every_minute, schedule_id, only_this),
        )
        described = await handle.describe()
        assert described.schedule.state.paused
        assert described.schedule.spec.intervals == [
            ScheduleIntervalSpec(every=timedelta(seconds=60))
        ]
        assert described.schedule.policy.overlap.name == "SKIP"
    finally:
        await handle.delete()
