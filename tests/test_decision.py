"""The multi-metric decision: gates, Holm, three outcomes, and its error rate under A/A."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.decision import (
    DecisionSettings,
    MetricSpec,
    MultiMetricJudge,
    describe,
    holm_step_down,
)
from experiments.statistics import LatencyHistogram, Mean, Proportion

METRICS = [
    MetricSpec("quality", "mean", "higher_is_better", "primary", "non_inferiority", margin=0.02),
    MetricSpec("error_rate", "proportion", "lower_is_better", margin=0.01),
    MetricSpec("p95_latency", "quantile", "lower_is_better", margin=0.02),
    MetricSpec("cost", "mean", "lower_is_better", margin=0.0005),
]


class Traffic:
    """Cumulative statistics of a canary: 900 baseline and 100 candidate requests per look."""

    def __init__(
        self, seed: int, error=0.01, latency=1.0, quality=0.75, cost=1.0, candidate_per_look=100
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.error, self.latency, self.quality, self.cost = error, latency, quality, cost
        self.candidate_per_look = candidate_per_look
        self.looks = 0
        self.stats = {
            "quality": (Mean(), Mean()),
            "error_rate": (Proportion(), Proportion()),
            "p95_latency": (LatencyHistogram(), LatencyHistogram()),
            "cost": (Mean(), Mean()),
        }

    def step(self) -> tuple[int, int, dict]:
        rng, nb, nc = self.rng, 900, self.candidate_per_look
        self.looks += 1

        def arms(make_b, make_c, key):
            b, c = self.stats[key]
            self.stats[key] = (b + make_b, c + make_c)

        arms(
            Mean.of(np.clip(rng.normal(0.75, 0.1, nb), 0, 1)),
            Mean.of(np.clip(rng.normal(self.quality, 0.1, nc), 0, 1)),
            "quality",
        )
        arms(
            Proportion(nb, int(rng.binomial(nb, 0.01))),
            Proportion(nc, int(rng.binomial(nc, self.error))),
            "error_rate",
        )
        arms(
            LatencyHistogram.of(rng.lognormal(np.log(300), 0.4, nb)),
            LatencyHistogram.of(rng.lognormal(np.log(300), 0.4, nc) * self.latency),
            "p95_latency",
        )
        arms(
            Mean.of(rng.gamma(2, 0.0005, nb)), Mean.of(rng.gamma(2, 0.0005 * self.cost, nc)), "cost"
        )
        return 900 * self.looks, self.candidate_per_look * self.looks, self.stats


def run(traffic: Traffic, looks: int = 40, candidate_share: float | None = 0.1):
    judge = MultiMetricJudge(METRICS, DecisionSettings(candidate_share=candidate_share))
    for _ in range(looks):
        decision = judge.look(*traffic.step())
        if decision.outcome != "INCONCLUSIVE":
            return decision
    return decision


def _empty_stats() -> dict:
    return {
        m.name: (
            (LatencyHistogram(), LatencyHistogram())
            if m.kind == "quantile"
            else (Mean(), Mean())
            if m.kind == "mean"
            else (Proportion(), Proportion())
        )
        for m in METRICS
    }


def test_no_data_is_never_pass() -> None:
    judge = MultiMetricJudge(METRICS)
    decision = judge.look(0, 0, _empty_stats())
    assert decision.outcome == "INCONCLUSIVE"
    assert "collecting" in decision.reason


def test_minimum_sample_holds_back_even_a_clear_harm() -> None:
    traffic = Traffic(1, error=0.5)  # catastrophic, but only 100 candidate requests a look
    judge = MultiMetricJudge(METRICS, DecisionSettings(min_samples=300))
    first = judge.look(*traffic.step())
    assert first.outcome == "INCONCLUSIVE" and "100 of 300" in first.reason
    judge.look(*traffic.step())
    third = judge.look(*traffic.step())
    assert third.outcome == "FAIL" and "error_rate" in third.reason


def test_healthy_candidate_passes_with_its_evidence() -> None:
    decision = run(Traffic(2))
    assert decision.outcome == "PASS", decision.reason
    assert all(e.acceptable and not e.harmful for e in decision.metrics)
    latency = next(e for e in decision.metrics if e.spec.name == "p95_latency")
    # Fixed from the first 900 baseline requests, so within sampling error of the true p95.
    assert latency.threshold_ms == pytest.approx(300 * np.exp(1.645 * 0.4), rel=0.1)
    record = describe(decision)
    json.dumps(record, allow_nan=False)  # storable as is
    assert record["outcome"] == "PASS" and len(record["metrics"]) == 4
    for metric in record["metrics"]:
        assert metric["p_noninferior"] <= 0.05
        low, high = metric["ci"]
        assert low is not None and (high is None or low <= high)


@pytest.mark.parametrize(
    ("change", "culprit"),
    [
        ({"error": 0.04}, "error_rate"),
        ({"latency": 1.3}, "p95_latency"),
        ({"quality": 0.65}, "quality"),
        ({"cost": 2.0}, "cost"),
    ],
)
def test_each_kind_of_harm_fails_the_step(change, culprit) -> None:
    decision = run(Traffic(3, **change))
    assert decision.outcome == "FAIL"
    assert culprit in decision.reason
    assert [e.spec.name for e in decision.metrics if e.harmful] == [culprit]


def test_harm_within_a_guardrail_margin_is_tolerated() -> None:
    # Cost up 10% (0.0001 a request) with a margin of 0.0005: not a failure.
    decision = run(Traffic(4, cost=1.1))
    assert decision.outcome == "PASS", decision.reason


def test_sample_ratio_mismatch_fails_before_metrics_are_judged() -> None:
    traffic = Traffic(5, candidate_per_look=70)  # configured 10%, delivered about 7%
    decision = run(traffic, candidate_share=0.1)
    assert decision.outcome == "FAIL"
    assert "sample ratio mismatch" in decision.reason
    assert decision.srm is not None and decision.srm.mismatch


def test_an_arm_that_traffic_stopped_reaching_fails_before_its_minimum() -> None:
    # The candidate's variant cut off after 13 requests (its breaker open, say) while the
    # baseline goes on: it can never reach the minimum, so the split must decide.
    looks = [(8, 3), (62, 13), (108, 13), (144, 13), (189, 13), (243, 13), (307, 13)]

    def decisions(split_before_minimum: bool) -> list:
        settings = DecisionSettings(
            min_samples=100, candidate_share=0.5, split_before_minimum=split_before_minimum
        )
        judge = MultiMetricJudge(METRICS, settings)
        return [judge.look(baseline, candidate, _empty_stats()) for baseline, candidate in looks]

    judged = decisions(split_before_minimum=True)
    first_failure = next(i for i, d in enumerate(judged) if d.outcome == "FAIL")
    assert all(d.outcome == "INCONCLUSIVE" for d in judged[:first_failure])
    failed = judged[first_failure]
    assert "sample ratio mismatch" in failed.reason and "13 of" in failed.reason
    assert first_failure <= 4
    # Without it (splits by user, where heavy users skew early counts) the minimum comes first.
    assert all("collecting" in d.reason for d in decisions(split_before_minimum=False))


def test_holm_step_down() -> None:
    result = holm_step_down({"a": 0.01, "b": 0.02, "c": 0.04}, 0.05)
    assert result == {"a": (True, pytest.approx(0.05 / 3)), "b": (True, 0.025), "c": (True, 0.05)}
    # The smallest misses alpha/3, so nothing is rejected, though 0.02 < 0.025 and 0.04 < 0.05.
    blocked = holm_step_down({"a": 0.02, "b": 0.021, "c": 0.04}, 0.05)
    assert [rejected for rejected, _ in blocked.values()] == [False, False, False]
    partial = holm_step_down({"a": 0.001, "b": 0.03, "c": 0.04}, 0.05)
    assert partial["a"][0] and not partial["b"][0] and not partial["c"][0]


def test_a_a_false_failures_stay_under_alpha() -> None:
    """Identical arms, four metrics, 40 looks: the share of runs that ever FAIL is <= alpha."""
    runs = 150
    failures = sum(run(Traffic(1000 + seed)).outcome == "FAIL" for seed in range(runs))
    # Expected well under 0.05 (Holm over four metrics); allow binomial noise above 0.05.
    assert failures / runs <= 0.05 + 2 * (0.05 * 0.95 / runs) ** 0.5


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly one primary"):
        MultiMetricJudge([MetricSpec("a", "mean")])
    with pytest.raises(ValueError, match="unique"):
        MultiMetricJudge([MetricSpec("a", "mean", role="primary"), MetricSpec("a", "mean")])
    with pytest.raises(ValueError, match="superiority takes no margin"):
        MetricSpec("a", "mean", role="primary", goal="superiority", margin=1.0)
    with pytest.raises(ValueError, match="guardrail"):
        MetricSpec("a", "mean", goal="superiority")
    judge = MultiMetricJudge(METRICS)
    with pytest.raises(ValueError, match="no statistics"):
        judge.look(10, 10, {})
