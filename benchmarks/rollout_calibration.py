"""`interlock bench rollouts`: how often a rollout's judgement is wrong, through the real loop.

Simulated rollouts go through the same code a RolloutWorkflow's looks run: outcome rows written
by `store.outcomes.record_outcomes` into a SQLite store, summed by the SQL in
`store/rollout_stats.py`, stored and replayed into the judge by the look activity
(`activities/rollout_analysis.py`). Only the traffic is simulated: each look adds
`--per-look` requests to each arm (a step at 50%), with errors and latencies drawn from the
arm's rates. Two kinds of rollout, each judged on the spec's default metrics at alpha 0.05:

- A/A: the candidate is the baseline (2% errors, the same latencies). Rolling it back is a false
  alarm, which must happen in at most alpha of them.
- degraded: the candidate fails twice as often (4%). It must be rolled back in at least 95%.

Prints one JSON object: for each kind the shares rolled back, promoted and still inconclusive
after the last look, and the looks a decision took. Everything stays in a temporary directory.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from activities.rollout_analysis import RolloutAnalysisActivities
from contracts.outcome import OutcomeRecord
from contracts.rollout import LookInput, RolloutSpec
from store import create_store_engine, init_schema
from store.outcomes import record_outcomes

BASELINE_ERRORS = 0.02
KINDS = {"aa": BASELINE_ERRORS, "degraded": 2 * BASELINE_ERRORS}
LATENCY_MEDIAN_MS = 300.0
LATENCY_SIGMA = 0.35


def spec_for(route: str, looks: int) -> RolloutSpec:
    """The defaults, with one step at 50% lasting the simulation's looks."""
    return RolloutSpec.model_validate(
        {
            "route": route,
            "candidate": {"variant": "candidate", "provider": "simulated", "model": "sim"},
            "steps": [{"weight": 50, "min_requests": 200, "time_limit": f"{looks + 1}m"}],
            "analysis": {"interval": "1m"},
            "shadow": None,
        }
    )


def arm_rows(
    rng: random.Random,
    route: str,
    variant: str,
    errors: float,
    at: datetime,
    count: int,
    serial: int,
) -> list[OutcomeRecord]:
    rows = []
    for n in range(count):
        latency = LATENCY_MEDIAN_MS * math.exp(rng.gauss(0.0, LATENCY_SIGMA))
        rows.append(
            OutcomeRecord(
                request_id=f"{route}-{variant}-{serial}-{n}",
                tenant_id="calibration",
                route=route,
                variant=variant,
                provider="simulated",
                model="sim",
                status="error" if rng.random() < errors else "ok",
                latency_ms=latency,
                cost_usd=0.001,
                started_at=at,
                finished_at=at,
            )
        )
    return rows


def simulate(
    analysis: RolloutAnalysisActivities,
    engine: Any,
    kind: str,
    index: int,
    looks: int,
    per_look: int,
    seed: int,
) -> tuple[str, int]:
    """One rollout: the outcome of its decision (or INCONCLUSIVE) and the look it came at."""
    rng = random.Random(f"{seed}:{kind}:{index}")
    route = f"cal-{kind}-{index}"
    spec = spec_for(route, looks)
    began = datetime(2026, 1, 1, tzinfo=UTC)
    for look in range(1, looks + 1):
        at = began + timedelta(minutes=look)
        record_outcomes(
            engine,
            arm_rows(rng, route, "baseline", BASELINE_ERRORS, at, per_look, look)
            + arm_rows(rng, route, "candidate", KINDS[kind], at, per_look, look),
        )
        decision = analysis.judge_look(
            LookInput(
                rollout_id=f"rollout-{route}",
                spec=spec,
                baseline="baseline",
                step=0,
                look=look,
                share=0.5,
                min_requests=200,
                since=began,
            )
        )
        if decision.outcome != "INCONCLUSIVE":
            return decision.outcome, look
    return "INCONCLUSIVE", looks


def main(rollouts: int = 500, looks: int = 20, per_look: int = 300, seed: int = 0) -> dict:
    began = time.perf_counter()
    result: dict[str, Any] = {"rollouts_per_kind": rollouts, "looks": looks, "per_look": per_look}
    with tempfile.TemporaryDirectory(prefix="interlock-calibration-") as home:
        engine = create_store_engine(f"sqlite:///{Path(home) / 'store.db'}")
        try:
            init_schema(engine)
            analysis = RolloutAnalysisActivities(engine)
            for kind in KINDS:
                outcomes = [
                    simulate(analysis, engine, kind, i, looks, per_look, seed)
                    for i in range(rollouts)
                ]
                decided = [look for outcome, look in outcomes if outcome != "INCONCLUSIVE"]
                result[kind] = {
                    "candidate_error_rate": KINDS[kind],
                    "rolled_back": _share(outcomes, "FAIL"),
                    "promoted": _share(outcomes, "PASS"),
                    "inconclusive": _share(outcomes, "INCONCLUSIVE"),
                    "mean_looks_to_decide": round(sum(decided) / len(decided), 2)
                    if decided
                    else None,
                }
        finally:
            engine.dispose()
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result))
    return result


def _share(outcomes: list[tuple[str, int]], outcome: str) -> float:
    return round(sum(1 for o, _ in outcomes if o == outcome) / len(outcomes), 4)
