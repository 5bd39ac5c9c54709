"""Proof by simulation: the sequential judge's error rates, its power, and what peeking costs.

    .venv/bin/python -m experiments.simulation [--runs 2000] [--seed 7]

Every study is seeded and vectorised over runs (one batch row per run), so the whole proof takes
well under a minute on two cores. Tests run the same functions with the same seeds.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from experiments.sequential import (
    _FAIL,
    _PASS,
    MeanBatch,
    ProportionBatch,
    SequentialTest,
    TestSettings,
)
from experiments.statistics import Mean, Proportion

CANDIDATE_SHARE = 0.05
LOOK_EVERY = 100  # candidate requests between looks
BASELINE_PER_LOOK = round(LOOK_EVERY * (1 - CANDIDATE_SHARE) / CANDIDATE_SHARE)


@dataclass(frozen=True)
class StudyResult:
    runs: int
    looks: int
    share_fail: float
    share_pass: float
    median_requests_to_fail: float
    naive_share_fail: float = math.nan
    naive_share_pass: float = math.nan


def proportion_study(
    runs: int,
    looks: int,
    baseline_rate: float,
    candidate_rate: float,
    seed: int,
    alpha: float = 0.05,
    margin: float = 0.0,
) -> StudyResult:
    """Error rates looked at every LOOK_EVERY candidate requests, candidate on 5% of traffic.

    Alongside, a naive one-sided two-proportion z-test at every look on the same data.
    """
    rng = np.random.default_rng(seed)
    batch = ProportionBatch([TestSettings(alpha=alpha, margin=margin)] * runs)
    rows = np.arange(runs)
    baseline_events = np.zeros(runs, dtype=np.int64)
    candidate_events = np.zeros(runs, dtype=np.int64)
    fail_at = np.full(runs, -1)
    naive_fail = np.zeros(runs, dtype=bool)
    naive_pass = np.zeros(runs, dtype=bool)
    critical = norm.ppf(1 - alpha)
    for look in range(1, looks + 1):
        baseline_events += rng.binomial(BASELINE_PER_LOOK, baseline_rate, runs)
        candidate_events += rng.binomial(LOOK_EVERY, candidate_rate, runs)
        baseline_n, candidate_n = BASELINE_PER_LOOK * look, LOOK_EVERY * look
        counts = np.stack(
            [
                np.full(runs, baseline_n),
                baseline_events,
                np.full(runs, candidate_n),
                candidate_events,
            ],
            axis=1,
        )
        batch.look(rows, counts)
        fail_at[(fail_at < 0) & (batch.decision == _FAIL)] = candidate_n
        z = _two_proportion_z(baseline_events, baseline_n, candidate_events, candidate_n)
        naive_fail |= z > critical
        naive_pass |= z < -critical
    return _summary(runs, looks, fail_at, batch.decision, naive_fail, naive_pass)


def _summary(
    runs: int,
    looks: int,
    fail_at: np.ndarray,
    decision: np.ndarray,
    naive_fail: np.ndarray | None = None,
    naive_pass: np.ndarray | None = None,
) -> StudyResult:
    failed = fail_at > 0
    return StudyResult(
        runs,
        looks,
        float(failed.mean()),
        float((decision == _PASS).mean()),
        float(np.median(fail_at[failed])) if failed.any() else math.nan,
        math.nan if naive_fail is None else float(naive_fail.mean()),
        math.nan if naive_pass is None else float(naive_pass.mean()),
    )


def _two_proportion_z(
    baseline_events: np.ndarray, baseline_n: int, candidate_events: np.ndarray, candidate_n: int
) -> np.ndarray:
    pooled = (baseline_events + candidate_events) / (baseline_n + candidate_n)
    se = np.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / candidate_n))
    difference = candidate_events / candidate_n - baseline_events / baseline_n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, difference / se, 0.0)


def latency_study(
    runs: int,
    looks: int,
    candidate_factor: float,
    seed: int,
    alpha: float = 0.05,
    min_samples: int = 100,
    median_ms: float = 300.0,
    sigma: float = 0.5,
) -> StudyResult:
    """Mean latency (log-normal, skewed like real latencies), candidate scaled by a factor."""
    rng = np.random.default_rng(seed)
    batch = MeanBatch([TestSettings(alpha=alpha, min_samples=min_samples)] * runs)
    rows = np.arange(runs)
    sums = np.zeros((runs, 4))  # baseline sum, sum_sq; candidate sum, sum_sq
    fail_at = np.full(runs, -1)
    log_median = math.log(median_ms)
    for look in range(1, looks + 1):
        baseline = rng.lognormal(log_median, sigma, (runs, BASELINE_PER_LOOK))
        candidate = rng.lognormal(log_median, sigma, (runs, LOOK_EVERY)) * candidate_factor
        sums += np.stack(
            [
                baseline.sum(1),
                np.square(baseline).sum(1),
                candidate.sum(1),
                np.square(candidate).sum(1),
            ],
            axis=1,
        )
        baseline_n, candidate_n = BASELINE_PER_LOOK * look, LOOK_EVERY * look
        stats = np.column_stack(
            [
                np.full(runs, baseline_n),
                sums[:, 0],
                sums[:, 1],
                np.full(runs, candidate_n),
                sums[:, 2],
                sums[:, 3],
            ]
        )
        batch.look(rows, stats)
        fail_at[(fail_at < 0) & (batch.decision == _FAIL)] = candidate_n
    return _summary(runs, looks, fail_at, batch.decision)


def look_cost_microseconds(repeats: int = 2000) -> dict[str, float]:
    """Wall time of one look at one comparison, at small and at very large traffic."""
    costs = {}
    for label, scale in (("100 requests", 1), ("10 million requests", 100_000)):
        test = SequentialTest("proportion")
        started = time.perf_counter()
        for look in range(1, repeats + 1):
            test.look(
                Proportion(1900 * scale * look, 19 * scale * look),
                Proportion(100 * scale * look, scale * look),
            )
        costs[f"proportion, {label} per look"] = (time.perf_counter() - started) / repeats * 1e6
    test = SequentialTest("mean")
    started = time.perf_counter()
    for look in range(1, repeats + 1):
        test.look(
            Mean(1900 * look, 3e5 * 1.9 * look, 1e8 * 1.9 * look),
            Mean(100 * look, 3e4 * look, 1e7 * look),
        )
    costs["mean, per look"] = (time.perf_counter() - started) / repeats * 1e6
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    runs, seed = args.runs, args.seed
    looks_full = 20_000 // LOOK_EVERY

    started = time.perf_counter()
    aa = proportion_study(runs, looks_full, 0.01, 0.01, seed)
    print(
        f"A/A, error rate 1%, candidate on 5% of traffic, a look every {LOOK_EVERY} candidate "
        f"requests up to 20,000 ({runs} runs, alpha 0.05):"
    )
    print(f"  {'':28} {'ever fail':>10} {'ever pass':>10}")
    print(f"  {'sequential judge':28} {aa.share_fail:>10.4f} {aa.share_pass:>10.4f}")
    print(
        f"  {'naive z-test at every look':28} {aa.naive_share_fail:>10.4f} "
        f"{aa.naive_share_pass:>10.4f}"
    )

    power = proportion_study(runs, 5_000 // LOOK_EVERY, 0.01, 0.02, seed + 1)
    print(
        f"\nPower, error rate 1% -> 2%: fail within 5,000 candidate requests in "
        f"{power.share_fail:.4f} of runs; median requests to detection "
        f"{power.median_requests_to_fail:.0f}"
    )

    latency_runs = max(runs // 4, 100)
    latency_aa = latency_study(latency_runs, looks_full, 1.0, seed + 2)
    latency_power = latency_study(latency_runs, 5_000 // LOOK_EVERY, 1.2, seed + 3)
    print(
        f"\nMean latency (log-normal, median 300 ms, sigma 0.5; min 100 per arm; "
        f"{latency_runs} runs):"
    )
    print(
        f"  A/A up to 20,000: ever fail {latency_aa.share_fail:.4f}, "
        f"ever pass {latency_aa.share_pass:.4f}"
    )
    print(
        f"  +20%: fail within 5,000 in {latency_power.share_fail:.4f} of runs; median "
        f"requests to detection {latency_power.median_requests_to_fail:.0f}"
    )

    print("\nCost of one look:")
    for label, micros in look_cost_microseconds().items():
        print(f"  {label:40} {micros:8.1f} µs")
    print(f"\n(took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
