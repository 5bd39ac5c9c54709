"""The fixed-baseline test a blue-green bake is judged by: calibrated over many looks, powerful
against a real regression, and final once decided."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.decision import DecisionSettings, MetricSpec, MultiMetricJudge
from experiments.historical import FixedBaselineTest, spent_share
from experiments.sequential import TestSettings as Settings
from experiments.statistics import Mean, Proportion

ALPHA = 0.05
BASELINE_N = 3000
PER_LOOK = 150
LOOKS = 30


BAKE_LOOKS = 20


def run_bakes(candidate_rate: float, runs: int, seed: int, margin: float = 0.01) -> dict:
    """Share of bakes ending in each decision: a baseline of 3,000 requests at 2% errors from
    before the switch, the candidate adding 150 requests a look for 30 looks, the first 20 of
    them a bake (harm only)."""
    rng = np.random.default_rng(seed)
    baseline_events = rng.binomial(BASELINE_N, 0.02, size=runs)
    candidate_events = rng.binomial(PER_LOOK, candidate_rate, size=(runs, LOOKS)).cumsum(axis=1)
    settings = Settings(alpha=ALPHA, margin=margin, min_samples=100)
    ends = {"fail": 0, "pass": 0, "continue": 0}
    for run in range(runs):
        test = FixedBaselineTest("proportion", settings)
        baseline = Proportion(BASELINE_N, int(baseline_events[run]))
        for look in range(LOOKS):
            result = test.look(
                baseline,
                Proportion(PER_LOOK * (look + 1), int(candidate_events[run, look])),
                may_pass=look >= BAKE_LOOKS,
            )
        ends[result.decision] += 1
    return {decision: count / runs for decision, count in ends.items()}


def test_the_spent_shares_add_up_to_alpha_whatever_the_number_of_looks() -> None:
    assert math.fsum(spent_share(k) for k in range(1, 200_000)) == pytest.approx(1.0, abs=1e-5)
    assert spent_share(1) > spent_share(2) > spent_share(30) > 0


def test_an_equal_candidate_is_almost_never_failed_over_thirty_looks() -> None:
    ends = run_bakes(candidate_rate=0.02, runs=2000, seed=1)
    # At most alpha, with room for the simulation's own error (sd about 0.5% at 2,000 runs).
    assert ends["fail"] <= ALPHA
    # And an equal candidate does pass: the margin of one point is within reach.
    assert ends["pass"] >= 0.5


def test_a_candidate_exactly_at_the_margin_is_rarely_passed() -> None:
    ends = run_bakes(candidate_rate=0.03, runs=2000, seed=2)
    assert ends["pass"] <= ALPHA


def test_twice_the_error_rate_is_failed() -> None:
    ends = run_bakes(candidate_rate=0.04, runs=500, seed=3)
    # Late looks hold each test to a small share of alpha: the price of looking without a plan.
    assert ends["fail"] >= 0.85


def test_nothing_is_decided_before_min_samples_and_a_decision_is_final() -> None:
    test = FixedBaselineTest("proportion", Settings(alpha=ALPHA, min_samples=200))
    baseline = Proportion(2000, 20)
    early = test.look(baseline, Proportion(150, 60))
    assert early.decision == "continue"
    failed = test.look(baseline, Proportion(300, 120))
    assert failed.decision == "fail" and failed.p_value <= ALPHA
    assert failed.ci[0] > 0
    # Later, better figures do not undo it.
    assert test.look(baseline, Proportion(20_000, 200)).decision == "fail"


def test_means_are_compared_with_welch_variance() -> None:
    rng = np.random.default_rng(4)
    baseline = Mean.of(rng.normal(1.0, 0.3, 1000))
    test = FixedBaselineTest("mean", Settings(alpha=ALPHA, margin=0.1, min_samples=100))
    result = test.look(baseline, Mean.of(rng.normal(1.0, 0.3, 1000)))
    assert result.decision == "pass"
    assert result.ci[0] < result.estimate < result.ci[1]
    worse = FixedBaselineTest("mean", Settings(alpha=ALPHA, min_samples=100))
    assert worse.look(baseline, Mean.of(rng.normal(1.5, 0.3, 1000))).decision == "fail"


def test_a_judge_with_a_fixed_baseline_uses_it_and_skips_the_split_check() -> None:
    judge = MultiMetricJudge(
        [MetricSpec("error_rate", "proportion", role="primary", margin=0.01)],
        DecisionSettings(alpha=ALPHA, min_samples=100, fixed_baseline=True),
    )
    decision = judge.look(
        3000,
        2000,
        {"error_rate": (Proportion(3000, 60), Proportion(2000, 40))},
    )
    assert decision.srm is None
    assert decision.metrics[0].result.method.startswith("one-sided z test")
    assert decision.outcome == "PASS"
