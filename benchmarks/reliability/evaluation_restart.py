"""The Temporal server killed and restarted in the middle of an experiment's evaluation.

The experiment's data is frozen first (its traffic has ended), so the evaluation has one right
answer. The evaluation workflow is started, the server is killed while it runs, and the
supervisor restarts it. The evaluation must finish, promote the better arm, record its decision
once, and decide as a fresh `decide` does over the same stored looks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
import uuid
from datetime import timedelta

from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.experiment_evaluation import decide
from activities.providers.catalog import build_registry
from benchmarks.reliability.report import ScenarioReport
from benchmarks.reliability.stack import API_KEY, REQUEST_TIMEOUT_SECONDS, ScenarioStack
from benchmarks.reliability.traffic import send_requests
from configuration import Settings
from contracts.experiment import EvaluationReport, EvaluationRequest, ExperimentSpec
from contracts.routing import RouteTarget
from devstack.launch import pids_by_role
from operations.experiments import start_experiment
from store.experiments import decisions_of, experiment, looks_of
from store.routes import RouteConfig, publish_routes

NAME = "restart-evaluation"
CONTROL_QUEUE = "interlock-control"
REQUESTS = 600
STEADY = {"error_rate": 0.0}


async def create(stack: ScenarioStack) -> None:
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=NAME,
                targets=[
                    RouteTarget(
                        variant="control", provider="simulated", model="sim-fast", options=STEADY
                    )
                ],
            )
        ],
    )
    spec = ExperimentSpec.model_validate(
        {
            "name": NAME,
            "route": NAME,
            "arms": [
                {"variant": "control"},
                # The simulator's sim-smart answers with more quality than sim-fast; here it is
                # as fast too, so that only quality tells the arms apart.
                {
                    "variant": "smart",
                    "provider": "simulated",
                    "model": "sim-smart",
                    "options": {**STEADY, "latency_median_ms": 120},
                },
            ],
            "unit": "request",
            "min_samples": 100,
            "on_win": "promote",
        }
    )
    registry = build_registry(Settings(home=stack.run.home))
    await start_experiment(stack.client, stack.engine, registry, spec, "reliability suite")


async def result_through_outage(handle, seconds: float) -> EvaluationReport:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await handle.result()
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def evaluation_through_restart(stack: ScenarioStack, report: ScenarioReport) -> None:
    await create(stack)
    traffic = await send_requests(
        stack.base_url, API_KEY, NAME, REQUESTS, 10, REQUEST_TIMEOUT_SECONDS + 10
    )
    handle = await stack.client.start_workflow(
        "ExperimentEvaluation",
        EvaluationRequest(experiments=[NAME]),
        id=f"interlock-experiment-evaluate-{NAME}-{uuid.uuid4().hex[:8]}",
        task_queue=CONTROL_QUEUE,
        result_type=EvaluationReport,
        execution_timeout=timedelta(minutes=10),
    )
    running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    os.kill(pids_by_role(stack.run.home)["temporal"], signal.SIGKILL)
    killed_at = time.monotonic()
    evaluation = await result_through_outage(handle, 120)
    seconds = time.monotonic() - killed_at
    [verdict] = evaluation.verdicts
    state = experiment(stack.engine, NAME)
    decisions = decisions_of(stack.engine, NAME)
    # The same looks, judged afresh against the experiment as it was when it ran.
    assert state is not None
    as_it_was = dataclasses.replace(
        state, status="running", winner=None, ended_reason=None, ended_at=None
    )
    again = decide(as_it_was, looks_of(stack.engine, NAME), decisions[-1].decided_at)
    with stack.engine.connect() as connection:
        per_arm = dict(
            connection.execute(
                text(
                    "SELECT experiment_arm, COUNT(*) FROM outcomes WHERE experiment = :name "
                    "GROUP BY experiment_arm"
                ),
                {"name": NAME},
            ).all()
        )
    report.figures["evaluation"] = {
        "answered_before": traffic.answered,
        "requests_per_arm": per_arm,
        "running_when_killed": running,
        "seconds_from_kill_to_result": round(seconds, 1),
        "action": verdict.action,
        "winner": verdict.winner,
        "decisions_recorded": len(decisions),
        "decided_again": (again.action, again.winner),
    }
    report.check(
        "the evaluation was running when the server died, and finished after",
        running and verdict.applied,
        report.figures["evaluation"],
    )
    report.check(
        "the evaluation promoted the better arm and recorded its decision once",
        (verdict.action, verdict.winner) == ("promote", "smart") and len(decisions) == 1,
        [(d.action, d.reason) for d in decisions],
    )
    report.check(
        "a fresh decision over the same stored looks is the same",
        (again.action, again.winner) == (verdict.action, verdict.winner),
        (again.action, again.winner),
    )
