"""The Temporal server killed and restarted mid-rollout, with traffic flowing, and then again in
the middle of an experiment's evaluation (benchmarks/reliability/evaluation_restart.py).

The supervisor restarts the dev server on the same database file. The rollout's workflow must
resume where it was and finish with the decision its data calls for (a candidate with twice the
baseline's failures is rolled back); no look may be lost or repeated (the step's stored looks run
1..n without a gap); and every decision, judged again from the looks stored before it by a fresh
judge, must come out the same: the restart changed nothing the statistics saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

from temporalio.service import RPCError

from activities.rollout_analysis import judge_step
from benchmarks.reliability.evaluation_restart import evaluation_through_restart
from benchmarks.reliability.report import ScenarioReport
from benchmarks.reliability.stack import API_KEY, REQUEST_TIMEOUT_SECONDS, scenario_stack
from benchmarks.reliability.traffic import TrafficResult, send_requests
from contracts.rollout import RolloutSpec
from contracts.routing import RouteTarget
from devstack.launch import pids_by_role
from operations.rollouts import RolloutCommandError, rollout_status, start_rollout
from store.rollout_records import decisions_of, looks_of_step, steps_with_looks
from store.routes import publish_route

ROUTE = "restart-rollout"
# The candidate fails often enough that its breaker could open by chance before the kill; the
# rollout would then fail on its starved split before the server is restarted, and the scenario
# would test nothing. Breakers have a scenario of their own (provider_faults.py).
WITHOUT_BREAKERS = {"INTERLOCK_BREAKER_MIN_CALLS": "1000000"}
CONTROL_QUEUE = "interlock-control"
KILL_AT_LOOK = 3
FINISH_SECONDS = 180.0
ENDED = ("promoted", "rolled_back", "aborted", "paused", "passed")


def rollout_spec(route: str, candidate_errors: float) -> RolloutSpec:
    """One canary step at 50% against a baseline whose calls fail half the time, judged on the
    error rate every second; the candidate's calls fail `candidate_errors` of the time."""
    return RolloutSpec.model_validate(
        {
            "route": route,
            "candidate": {
                "variant": "next",
                "provider": "simulated",
                "model": "sim-smart",
                "options": {"error_rate": candidate_errors},
            },
            "steps": [{"weight": 50, "min_requests": 100, "time_limit": "300s"}],
            "analysis": {"interval": "1s"},
            "metrics": [{"name": "error_rate", "margin": 0.2}],
            "shadow": None,
        }
    )


def spec() -> RolloutSpec:
    # Each call fails 75% of the time against the baseline's 50%: after three attempts, about
    # 42% of its requests fail against 12.5%.
    return rollout_spec(ROUTE, 0.75)


async def status_when(stack, rollout_id: str, done, seconds: float) -> dict:
    """The rollout's status once `done(status)` holds; the server may be away meanwhile."""
    status = await last_status_within(stack, rollout_id, done, seconds)
    if not done(status):
        raise TimeoutError(f"the rollout did not get there within {seconds:.0f} s: {status}")
    return status


async def last_status_within(stack, rollout_id: str, done, seconds: float) -> dict:
    """The rollout's status once `done(status)` holds, or the last one read when `seconds` have
    passed first (empty if none could be read)."""
    deadline = time.monotonic() + seconds
    status: dict = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError, RolloutCommandError, RuntimeError):
            status = await rollout_status(stack.client, rollout_id)
            if done(status):
                return status
        await asyncio.sleep(0.3)
    return status


def requests_per_look(engine, record_id: str) -> dict[int, list[tuple[int, int]]]:
    """Per step, the (baseline, candidate) requests counted at each stored look: whether traffic
    reached both arms all along."""
    return {
        step: [
            (look["baseline"]["requests"], look["candidate"]["requests"])
            for look in looks_of_step(engine, record_id, step)
        ]
        for step in steps_with_looks(engine, record_id)
    }


async def run(workdir: Path, database_url: str | None = None) -> ScenarioReport:
    report = ScenarioReport("Temporal server restarted mid-rollout and mid-evaluation")
    async with scenario_stack(workdir, database_url, WITHOUT_BREAKERS) as stack:
        publish_route(
            stack.engine,
            ROUTE,
            [
                RouteTarget(
                    variant="base",
                    provider="simulated",
                    model="sim-fast",
                    options={"error_rate": 0.5},
                )
            ],
        )
        traffic = TrafficResult()
        sending = asyncio.create_task(
            send_requests(
                stack.base_url,
                API_KEY,
                ROUTE,
                20_000,
                8,
                REQUEST_TIMEOUT_SECONDS + 10,
                result=traffic,
            )
        )
        try:
            rollout_id = await start_rollout(stack.client, stack.engine, spec(), CONTROL_QUEUE)
            await status_when(stack, rollout_id, lambda s: s["look"] >= KILL_AT_LOOK, 60)
            os.kill(pids_by_role(stack.run.home)["temporal"], signal.SIGKILL)
            killed_at = time.monotonic()
            final = await last_status_within(
                stack, rollout_id, lambda s: s["status"] in ENDED, FINISH_SECONDS
            )
            seconds_to_finish = time.monotonic() - killed_at
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        if final.get("status") not in ENDED:
            # Undecided: what the looks saw says whether traffic stopped or only evidence did.
            report.figures = {
                "final_status": final,
                "requests_per_look": requests_per_look(
                    stack.engine, final.get("record_id", rollout_id)
                ),
                "requests_sent": traffic.sent,
                "requests_answered": traffic.answered,
                "requests_refused": dict(traffic.refused),
                "unclear": traffic.unclear[:5],
            }
            report.check("the rollout ended within the time allowed", False, final)
            report.diagnostics = stack.run.diagnostics()
            return report
        decisions = decisions_of(stack.engine, final["record_id"])
        rejudged, gaps = [], []
        for decision in decisions:
            looks = looks_of_step(stack.engine, final["record_id"], decision.step)
            if len(looks) < decision.look:
                gaps.append((decision.step, decision.look, len(looks)))
                continue
            evidence = decision.evidence
            # Each look up to the decision, judged again: the ones before it must have been
            # inconclusive (else the rollout would have acted there), the last the same.
            for look in range(1, decision.look + 1):
                again = judge_step(
                    spec(), evidence["min_requests"], evidence["candidate_share"], looks[:look]
                )
                stored = decision.outcome if look == decision.look else "INCONCLUSIVE"
                rejudged.append((look, stored, again.outcome))
        output = stack.run.output()
        report.figures = {
            "database": "postgresql" if database_url else "sqlite",
            "killed_at_look": KILL_AT_LOOK,
            "final_status": final["status"],
            "final_look": final["look"],
            "decisions": [(d.stage, d.look, d.outcome, d.action) for d in decisions],
            "seconds_from_kill_to_end": round(seconds_to_finish, 1),
            "requests_sent": traffic.sent,
            "requests_refused": dict(traffic.refused),
        }
        report.check(
            "the supervisor restarted the server",
            "temporal restarted" in output,
            [line for line in output.splitlines() if "temporal" in line and "restart" in line],
        )
        report.check(
            "the rollout resumed and rolled the worse candidate back",
            final["status"] == "rolled_back",
            final["status"],
        )
        report.check("no look was lost", not gaps and decisions, gaps)
        report.check(
            "every look, judged again from the stored looks, decides as it did",
            rejudged and all(stored == again for _look, stored, again in rejudged),
            [r for r in rejudged if r[1] != r[2]] or f"{len(rejudged)} looks",
        )
        report.check(
            "every request ended with an answer or a clear error",
            traffic.hung == 0 and not traffic.unclear,
            traffic.unclear[:3],
        )
        await evaluation_through_restart(stack, report)
        if not report.held:
            report.diagnostics = stack.run.diagnostics()
    return report
