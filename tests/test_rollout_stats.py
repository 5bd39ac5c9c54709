"""Arm totals aggregated in SQL, on real SQLite and PostgreSQL: rows written the way the request
path writes them (record_outcomes), totals checked field by field against the same values
reduced in Python."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from contracts.outcome import OutcomeRecord
from experiments.statistics import LatencyHistogram, Mean, Proportion
from store.outcomes import record_outcomes
from store.rollout_stats import ArmTotals, arm_totals, experiment_units

SINCE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=1)
# Rows end here unless a test says otherwise: started and finished within the window.
INSIDE = SINCE + timedelta(minutes=1)


def outcome(
    request_id: str,
    variant: str,
    status: str = "ok",
    latency_ms: float = 100.0,
    cost_usd: float = 0.0,
    quality_score: float | None = None,
    arm: str = "primary",
    route: str = "chat",
    finished_at: datetime = INSIDE,
    started_at: datetime | None = None,
) -> OutcomeRecord:
    return OutcomeRecord(
        request_id=request_id,
        arm=arm,  # type: ignore[arg-type]
        tenant_id="acme",
        route=route,
        variant=variant,
        provider="simulated",
        model="sim-fast",
        status=status,  # type: ignore[arg-type]
        latency_ms=latency_ms,
        cost_usd=cost_usd,
        quality_score=quality_score,
        started_at=started_at or finished_at - timedelta(milliseconds=latency_ms),
        finished_at=finished_at,
    )


def random_arm(variant: str, n: int, seed: int) -> list[OutcomeRecord]:
    """Rows with known values. Costs and scores are multiples of 1/8 and 1/4, so their sums
    and sums of squares are exact in floating point whatever order a database adds them in."""
    rng = np.random.default_rng(seed)
    statuses = rng.choice(["ok", "error", "blocked", "cancelled"], size=n, p=[0.7, 0.1, 0.1, 0.1])
    return [
        outcome(
            f"{variant}-{i}",
            variant,
            status=str(statuses[i]),
            latency_ms=float(np.exp(rng.uniform(2.0, 8.0))),
            cost_usd=int(rng.integers(0, 16)) / 8,
            quality_score=None if rng.random() < 0.3 else int(rng.integers(0, 5)) / 4,
            finished_at=SINCE + timedelta(seconds=int(rng.integers(0, 3600))),
        )
        for i in range(n)
    ]


def expected_totals(rows: list[OutcomeRecord]) -> ArmTotals:
    costs = [r.cost_usd for r in rows]
    scores = [r.quality_score for r in rows if r.quality_score is not None]
    return ArmTotals(
        requests=len(rows),
        errors=Proportion(len(rows), sum(r.status == "error" for r in rows)),
        blocked=Proportion(len(rows), sum(r.status == "blocked" for r in rows)),
        cost=Mean(len(rows), sum(costs), sum(c * c for c in costs)),
        quality=Mean(len(scores), sum(scores), sum(s * s for s in scores)),
        latency=LatencyHistogram.of([r.latency_ms for r in rows]),
    )


def test_every_field_matches_the_rows(engine: Engine) -> None:
    baseline = random_arm("baseline", 300, seed=1)
    candidate = random_arm("candidate", 120, seed=2)
    record_outcomes(engine, baseline + candidate)

    totals = arm_totals(engine, "chat", ["baseline", "candidate"], SINCE)

    assert totals == {
        "baseline": expected_totals(baseline),
        "candidate": expected_totals(candidate),
    }
    found = totals["baseline"]
    assert 0 < found.errors.events < found.requests and found.blocked.events > 0
    costs = np.array([r.cost_usd for r in baseline])
    assert found.cost.mean == pytest.approx(costs.mean(), rel=1e-12)
    assert found.cost.variance == pytest.approx(costs.var(ddof=1), rel=1e-12)
    scores = np.array([r.quality_score for r in baseline if r.quality_score is not None])
    assert found.quality.n == scores.size < found.requests  # NULL scores are left out
    assert found.quality.mean == pytest.approx(scores.mean(), rel=1e-12)
    assert found.quality.variance == pytest.approx(scores.var(ddof=1), rel=1e-12)
    # p95 read from the histogram is within one bucket (2%) of the true p95.
    true_p95 = float(np.percentile([r.latency_ms for r in baseline], 95))
    assert abs(math.log(found.latency.quantile(0.95) / true_p95)) <= math.log(1.02)
    assert found.latency.n == found.requests


def test_the_window_is_since_inclusive_until_exclusive(engine: Engine) -> None:
    second = timedelta(seconds=1)
    record_outcomes(
        engine,
        [
            outcome("before", "baseline", finished_at=SINCE - second),
            outcome("at-since", "baseline", started_at=SINCE, finished_at=SINCE + second),
            outcome("inside", "baseline", finished_at=UNTIL - second),
            outcome("at-until", "baseline", started_at=UNTIL, finished_at=UNTIL),
        ],
    )
    assert arm_totals(engine, "chat", ["baseline"], SINCE, UNTIL)["baseline"].requests == 2
    assert arm_totals(engine, "chat", ["baseline"], SINCE)["baseline"].requests == 3
    assert arm_totals(engine, "chat", ["baseline"], UNTIL)["baseline"].requests == 1


def test_a_request_in_flight_at_since_is_left_out(engine: Engine) -> None:
    # Split by the weights before `since`, answered after it: not the step's evidence.
    slow = timedelta(seconds=8)
    record_outcomes(
        engine,
        [
            outcome("in-flight", "baseline", started_at=SINCE - slow),
            outcome("after", "baseline", started_at=SINCE, finished_at=SINCE + slow),
        ],
    )
    assert arm_totals(engine, "chat", ["baseline"], SINCE)["baseline"].requests == 1


def test_arms_are_primary_by_default_and_selectable(engine: Engine) -> None:
    record_outcomes(
        engine,
        [
            outcome("r1", "baseline", status="error"),
            outcome("r1", "candidate", arm="fallback-1", cost_usd=1.0),
            outcome("r2", "candidate"),
            outcome("r2", "baseline", arm="shadow", status="error"),
            outcome("r3", "candidate", arm="shadow", latency_ms=500.0),
        ],
    )
    primary = arm_totals(engine, "chat", ["baseline", "candidate"], SINCE)
    assert (primary["baseline"].requests, primary["baseline"].errors.events) == (1, 1)
    assert (primary["candidate"].requests, primary["candidate"].cost.sum) == (1, 0.0)

    shadow = arm_totals(engine, "chat", ["baseline", "candidate"], SINCE, arms=["shadow"])
    assert (shadow["baseline"].requests, shadow["baseline"].errors.events) == (1, 1)
    assert shadow["candidate"].latency == LatencyHistogram.of([500.0])

    every = arm_totals(
        engine, "chat", ["candidate"], SINCE, arms=["primary", "shadow", "fallback-1"]
    )
    assert (every["candidate"].requests, every["candidate"].cost.sum) == (3, 1.0)


def test_other_routes_and_variants_are_left_out_and_a_variant_without_rows_is_zero(
    engine: Engine,
) -> None:
    record_outcomes(
        engine,
        [
            outcome("a", "baseline"),
            outcome("b", "baseline", route="search", status="error"),
            outcome("c", "other", status="blocked"),
        ],
    )
    totals = arm_totals(engine, "chat", ["baseline", "ghost"], SINCE)
    assert set(totals) == {"baseline", "ghost"}
    assert totals["baseline"] == expected_totals([outcome("a", "baseline")])
    assert totals["ghost"] == ArmTotals(
        0, Proportion(), Proportion(), Mean(), Mean(), LatencyHistogram()
    )
    assert math.isnan(totals["ghost"].errors.rate)


def test_rows_without_a_latency_bucket_count_but_stay_out_of_the_histogram(
    engine: Engine,
) -> None:
    """Rows written before revision 0003 have no bucket."""
    record_outcomes(
        engine, [outcome("old", "baseline", latency_ms=9.0), outcome("new", "baseline")]
    )
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE outcomes SET latency_bucket = NULL WHERE request_id = 'old'")
        )
    [totals] = arm_totals(engine, "chat", ["baseline"], SINCE).values()
    assert totals.requests == 2
    assert totals.latency == LatencyHistogram.of([100.0])


def test_units_are_counted_per_arm_only_when_every_row_has_one(engine: Engine) -> None:
    def row(request_id: str, arm: str, unit: str | None) -> OutcomeRecord:
        return outcome(request_id, arm).model_copy(
            update={"experiment": "tone", "experiment_arm": arm, "experiment_unit": unit}
        )

    record_outcomes(
        engine,
        [
            row("a1", "control", "u1"),
            row("a2", "control", "u1"),
            row("a3", "control", "u2"),
            row("b1", "concise", "u3"),
        ],
    )
    arms = ["control", "concise", "careful"]
    assert experiment_units(engine, "tone", arms) == {"control": 2, "concise": 1, "careful": 0}
    # One row from before units were kept: no count at all, rather than a count of some.
    record_outcomes(engine, [row("b2", "concise", None)])
    assert experiment_units(engine, "tone", arms) is None
