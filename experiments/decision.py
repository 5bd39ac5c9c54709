"""One decision over several metrics: PASS, FAIL or INCONCLUSIVE, with every number it used.

A rollout step or an experiment is judged on a primary metric and on guardrails (error rate, p95
latency, cost per request, guardrail block rate):

1. Nothing is decided before every arm has `min_samples` requests: no data is never PASS.
2. Sample ratio mismatch is a hard gate: if the traffic split is not the configured one, the
   metrics are not comparable and the step FAILs without judging them.
3. FAIL when any metric is worse beyond doubt (a guardrail: worse by more than its margin). This
   is a union of hypotheses, so alpha is split across the metrics with Holm's step-down method.
4. PASS when the primary metric is better (superiority) or not worse than its margin
   (non-inferiority), and every guardrail is within its margin, each beyond doubt. PASS needs
   every one of these rejections, an intersection-union test, which needs no split of alpha.
5. Otherwise INCONCLUSIVE: keep collecting.

All p-values are always-valid (experiments.sequential; experiments.historical when the baseline
is a fixed sample from before), so the decision may be re-taken at every look. Tail latency is
compared through the share of requests slower than the baseline's quantile, fixed at the first
look that has enough baseline data, so that its counts stay cumulative.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from experiments.historical import FixedBaselineTest
from experiments.sequential import Direction, LookResult, SequentialTest, TestSettings
from experiments.srm import SequentialSRM, SequentialSRMResult, update
from experiments.statistics import LatencyHistogram, Mean, Proportion

Outcome = Literal["PASS", "FAIL", "INCONCLUSIVE"]
Statistic = Proportion | Mean | LatencyHistogram


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Literal["proportion", "mean", "quantile"]
    direction: Direction = "lower_is_better"
    role: Literal["primary", "guardrail"] = "guardrail"
    goal: Literal["superiority", "non_inferiority"] = "non_inferiority"
    margin: float = 0.0
    """Absolute, in the metric's units (for a quantile: in share of requests above the
    baseline's quantile). A guardrail passes within it and fails only beyond it."""
    quantile: float = 0.95

    def __post_init__(self) -> None:
        if self.kind not in ("proportion", "mean", "quantile"):
            raise ValueError(f"metric {self.name!r}: unknown kind {self.kind!r}")
        if self.role == "guardrail" and self.goal != "non_inferiority":
            raise ValueError(f"guardrail {self.name!r} must have goal non_inferiority")
        if self.goal == "superiority" and self.margin != 0:
            raise ValueError(f"metric {self.name!r}: superiority takes no margin")
        if not 0 < self.quantile < 1:
            raise ValueError(f"metric {self.name!r}: quantile must be in (0, 1)")


@dataclass(frozen=True)
class DecisionSettings:
    alpha: float = 0.05
    min_samples: int = 200
    srm_alpha: float = 0.001
    candidate_share: float | None = None
    """The configured share of traffic on the candidate; None skips the SRM gate."""
    fixed_baseline: bool = False
    """The baseline is a sample from before the comparison that no longer grows (blue-green):
    each metric is tested by experiments.historical instead of sequentially."""
    split_before_minimum: bool = False
    """Judge the split from the first look rather than once both arms have `min_samples`. For
    comparisons split request by request (a rollout's canary), where an arm that traffic stops
    reaching (its variant cut off by a breaker, a routing bug) would otherwise never reach the
    minimum. Not for splits by user: a few heavy users skew early request counts."""


@dataclass(frozen=True)
class MetricEvidence:
    spec: MetricSpec
    result: LookResult
    harmful: bool
    acceptable: bool
    holm_threshold: float
    """The alpha this metric's harm test was held to at its Holm rank."""
    threshold_ms: float | None = None
    """For a quantile metric: the baseline quantile the shares are counted above."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    baseline_n: int
    candidate_n: int
    metrics: list[MetricEvidence] = field(default_factory=list)
    srm: SequentialSRMResult | None = None
    settings: DecisionSettings = field(default_factory=DecisionSettings)


class MultiMetricJudge:
    """Judges one comparison look after look; holds each metric's sequential test."""

    def __init__(self, metrics: list[MetricSpec], settings: DecisionSettings | None = None) -> None:
        if not metrics:
            raise ValueError("at least one metric is needed")
        primaries = [m for m in metrics if m.role == "primary"]
        if len(primaries) != 1:
            raise ValueError(f"exactly one primary metric is needed, got {len(primaries)}")
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique: {names}")
        self.metrics = metrics
        self.settings = settings or DecisionSettings()
        self._tests = {m.name: self._test_for(m) for m in metrics}
        self._thresholds: dict[str, float] = {}
        self._srm = (
            SequentialSRM.start(
                [1 - self.settings.candidate_share, self.settings.candidate_share],
                alpha=self.settings.srm_alpha,
            )
            if self.settings.candidate_share is not None
            else None
        )

    def _test_for(self, metric: MetricSpec) -> SequentialTest | FixedBaselineTest:
        settings = TestSettings(
            alpha=self.settings.alpha,
            direction=metric.direction,
            margin=metric.margin,
            harm_tolerance=metric.margin if metric.role == "guardrail" else 0.0,
            min_samples=self.settings.min_samples,
        )
        kind = "mean" if metric.kind == "mean" else "proportion"
        if self.settings.fixed_baseline:
            return FixedBaselineTest(kind, settings)
        return SequentialTest(kind, settings)

    def look(
        self,
        baseline_requests: int,
        candidate_requests: int,
        stats: Mapping[str, tuple[Statistic, Statistic]],
        may_pass: bool = True,
        split: tuple[int, int] | None = None,
    ) -> Decision:
        """`stats[name]` = (baseline, candidate) cumulative statistics of each metric.

        `may_pass` False (a blue-green bake still running) tests only for harm at this look, so
        with a fixed baseline no share of alpha is spent on a pass that could not be taken.
        `split` counts what was split between the arms, when that is not requests (users, say):
        the sample-ratio test is run on it."""
        missing = [m.name for m in self.metrics if m.name not in stats]
        if missing:
            raise ValueError(f"no statistics for metrics {missing}")
        srm_result = None
        if self._srm is not None:
            counts = split or (baseline_requests, candidate_requests)
            self._srm, srm_result = update(self._srm, list(counts))
        results = {m.name: self._look_metric(m, *stats[m.name], may_pass) for m in self.metrics}
        common = dict(
            baseline_n=baseline_requests,
            candidate_n=candidate_requests,
            srm=srm_result,
            settings=self.settings,
        )

        smallest = min(baseline_requests, candidate_requests)
        split_judged = self.settings.split_before_minimum or smallest >= self.settings.min_samples
        # The sequential test is valid at any count (see split_before_minimum).
        if srm_result is not None and srm_result.mismatch and split_judged:
            share = self.settings.candidate_share
            baseline_count, candidate_count = split or (baseline_requests, candidate_requests)
            return Decision(
                "FAIL",
                f"sample ratio mismatch (p = {srm_result.p_value:.2g}): the candidate has "
                f"{candidate_count:,} of {baseline_count + candidate_count:,} "
                f"{'units' if split else 'requests'} against a configured {share:.0%}, so the "
                "metrics are not comparable",
                metrics=self._evidence(results),
                **common,
            )
        if smallest < self.settings.min_samples:
            evidence = self._evidence(results)
            return Decision(
                "INCONCLUSIVE",
                f"collecting: {smallest} of "
                f"{self.settings.min_samples} requests in the smaller arm",
                metrics=evidence,
                **common,
            )
        evidence = self._evidence(results)
        harmful = [e.spec.name for e in evidence if e.harmful]
        if harmful:
            return Decision(
                "FAIL", f"worse beyond doubt on {', '.join(harmful)}", metrics=evidence, **common
            )
        if all(e.acceptable for e in evidence):
            primary = next(e for e in evidence if e.spec.role == "primary")
            goal = "better" if primary.spec.goal == "superiority" else "not worse than its margin"
            return Decision(
                "PASS",
                f"{primary.spec.name} {goal}, every guardrail within its margin",
                metrics=evidence,
                **common,
            )
        pending = [e.spec.name for e in evidence if not e.acceptable]
        return Decision(
            "INCONCLUSIVE",
            f"not yet shown acceptable: {', '.join(pending)}",
            metrics=evidence,
            **common,
        )

    def _look_metric(
        self, metric: MetricSpec, baseline: Statistic, candidate: Statistic, may_pass: bool
    ) -> LookResult:
        test = self._tests[metric.name]
        if isinstance(test, FixedBaselineTest):
            look = functools.partial(test.look, may_pass=may_pass)
        else:
            look = test.look
        if metric.kind != "quantile":
            return look(baseline, candidate)  # type: ignore[arg-type]
        if not (isinstance(baseline, LatencyHistogram) and isinstance(candidate, LatencyHistogram)):
            raise TypeError(f"metric {metric.name!r} takes latency histograms")
        threshold = self._thresholds.get(metric.name)
        if threshold is None:
            if baseline.n < self.settings.min_samples:
                # No threshold yet: look at empty shares so the test's state stays at zero.
                return look(Proportion(), Proportion())
            threshold = baseline.quantile(metric.quantile)
            self._thresholds[metric.name] = threshold
        return look(baseline.exceedance(threshold), candidate.exceedance(threshold))

    def _evidence(self, results: Mapping[str, LookResult]) -> list[MetricEvidence]:
        """Holm over the harm tests; each acceptance test at the full alpha (see module doc)."""
        alpha = self.settings.alpha
        holm = holm_step_down({m.name: results[m.name].p_worse for m in self.metrics}, alpha)
        harmful = {name: rejected for name, (rejected, _) in holm.items()}
        holm_threshold = {name: threshold for name, (_, threshold) in holm.items()}
        return [
            MetricEvidence(
                spec=metric,
                result=results[metric.name],
                harmful=harmful[metric.name],
                acceptable=results[metric.name].p_noninferior <= alpha and not harmful[metric.name],
                holm_threshold=holm_threshold[metric.name],
                threshold_ms=self._thresholds.get(metric.name),
            )
            for metric in self.metrics
        ]


def holm_step_down(p_values: Mapping[str, float], alpha: float) -> dict[str, tuple[bool, float]]:
    """Holm's method: {name: (rejected, the alpha its rank was held to)}.

    The smallest p-value is held to alpha/m, the next to alpha/(m-1), and so on; the first that
    misses its threshold stops the rejections, for it and every larger p-value.
    """
    ordered = sorted(p_values, key=lambda name: p_values[name])
    result: dict[str, tuple[bool, float]] = {}
    rejecting = True
    for rank, name in enumerate(ordered):
        threshold = alpha / (len(ordered) - rank)
        rejecting = rejecting and p_values[name] <= threshold
        result[name] = (rejecting, threshold)
    return result


def describe(decision: Decision) -> dict[str, object]:
    """A JSON-ready account of a decision, for storage and for people."""

    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "outcome": decision.outcome,
        "reason": decision.reason,
        "baseline_n": decision.baseline_n,
        "candidate_n": decision.candidate_n,
        "srm_p_value": None if decision.srm is None else decision.srm.p_value,
        "alpha": decision.settings.alpha,
        "metrics": [
            {
                "name": e.spec.name,
                "role": e.spec.role,
                "goal": e.spec.goal,
                "margin": e.spec.margin,
                "estimate": number(e.result.estimate),
                "ci": [number(e.result.ci[0]), number(e.result.ci[1])],
                "p_worse": e.result.p_worse,
                "p_noninferior": e.result.p_noninferior,
                "holm_threshold": e.holm_threshold,
                "harmful": e.harmful,
                "acceptable": e.acceptable,
                "threshold_ms": e.threshold_ms,
                "method": e.result.method,
            }
            for e in decision.metrics
        ],
    }
