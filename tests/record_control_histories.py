"""Record the histories of the scheduled control workflows for the replay tests
(tests/test_replay.py): ExperimentEvaluation (set experiment-vN), SloMonitoring (slo-vN) and
RequestReconciliation (reconciliation-vN).

Not collected by the suite; run it on purpose when one of their shapes changes:

    INTERLOCK_CODEC_KEYRING="$(cat tests/histories/keyring.json)" INTERLOCK_HISTORY_SET=v1 \\
    .venv/bin/python -m pytest tests/record_control_histories.py

Scenarios: an evaluation that only continues, one that promotes a winner, one that fails to
evaluate an unknown experiment and reports it; an SLO check with nothing firing, and one whose
page and ticket fire (alerts sent, the route's rollout paused); a reconciliation pass that
settles a terminated request, and the next, which finds nothing left.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.experiment import EvaluationReport, EvaluationRequest
from contracts.reconciliation import ReconciliationResult
from contracts.slo import SloCheck
from store.outcomes import record_outcomes
from tests.experiment_helpers import ask_as, new_experiment
from tests.history_files import save_history
from tests.test_request_reconciliation import abandon_a_request
from tests.test_slo_monitoring import AVAILABILITY, rows, slo_route

SET = os.environ.get("INTERLOCK_HISTORY_SET", "")
pytestmark = pytest.mark.skipif(not SET, reason="set INTERLOCK_HISTORY_SET=vN to record")


async def recorded(stack, workflow: str, history_set: str, scenario: str, result_type, *args):
    """Run `workflow` on the control queue to its end, save its history as `scenario` of the
    set, and return its result."""
    handle = await stack.client.start_workflow(
        workflow,
        args=list(args),
        id=f"record-{history_set}-{scenario}-{uuid.uuid4().hex[:6]}",
        task_queue=stack.settings.control_task_queue,
        result_type=result_type,
    )
    result = await handle.result()
    save_history(f"{history_set}-{SET}", scenario, await handle.fetch_history())
    return result


async def evaluate(stack, names: list[str], scenario: str) -> None:
    request = EvaluationRequest(experiments=names)
    await recorded(stack, "ExperimentEvaluation", "experiment", scenario, EvaluationReport, request)


async def test_record_evaluations(stack, sdk) -> None:
    route = f"rec-exp-{uuid.uuid4().hex[:6]}"
    await new_experiment(stack, route)
    await ask_as(sdk, route, "someone")
    await evaluate(stack, [route], "continued")
    gate = asyncio.Semaphore(8)

    async def one(user: str) -> None:
        async with gate:
            await ask_as(sdk, route, user)

    await asyncio.gather(*(one(f"u{i}") for i in range(240)))
    await evaluate(stack, [route], "promoted")
    await evaluate(stack, ["no-such-experiment"], "not-evaluated")


async def test_record_slo_checks(stack) -> None:
    async def check(scenario: str) -> None:
        await recorded(stack, "SloMonitoring", "slo", scenario, SloCheck)

    await check("quiet")
    route = f"rec-slo-{uuid.uuid4().hex[:6]}"
    slo_route(stack.engine, route, AVAILABILITY)
    now = datetime.now(UTC)
    record_outcomes(stack.engine, rows(route, now - timedelta(seconds=30), ok=10, errors=30))
    await check("firing")


async def test_record_reconciliation_passes(stack) -> None:
    async def reconcile(scenario: str) -> ReconciliationResult:
        return await recorded(
            stack, "RequestReconciliation", "reconciliation", scenario, ReconciliationResult
        )

    request_id = await abandon_a_request(stack)
    # Visibility may take a moment to show the close; a pass that missed it records nothing.
    async with asyncio.timeout(30):
        while request_id not in (await reconcile("settled")).settled:
            await asyncio.sleep(0.5)
    assert request_id not in (await reconcile("nothing-left")).settled
