"""Fixed-horizon tests: one look at a finished sample, for reports.

These are the classical tests, valid when the sample size was fixed in advance and the data are
looked at once (an experiment that ran its planned course, a post-hoc audit, the final verdict of
a canary). Repeating them look after look inflates the false alarm rate; `experiments.sequential`
is for that.

Every test takes sufficient statistics, never raw rows, so the store aggregates in SQL and the
same totals feed every test. Every result carries each number it used, so a report can show its
working and a reader can recompute it. Differences are always candidate minus baseline.

- `welch_t`: difference of means without assuming equal variances, because a candidate (a new
  model, a new prompt) routinely changes the spread of latency or cost as well as its centre.
- `two_proportion_z`: difference of rates. The p-value uses the pooled variance, which is the
  variance under the null of equal rates; the interval uses the unpooled (Wald) variance, which is
  the variance at the estimate. That pairing is the textbook one and what most reports expect.
- `mann_whitney`: the Kayenta-style canary judge on latency histograms. Latency is skewed and
  heavy-tailed, so a rank test is far more robust than a t-test; the Hodges-Lehmann shift says by
  how much, in milliseconds, and its log-scale twin says by what factor.
- `wilson_interval`, `exact_binomial_test`: for win rates from pairwise judgments, where samples
  are small and rates can sit near 0 or 1, exactly where the Wald interval fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from experiments.statistics import (
    BUCKETS,
    LatencyHistogram,
    Mean,
    Proportion,
    bucket_midpoints_ms,
)

Alternative = Literal["two-sided", "greater", "less"]

_BUCKET_MIDPOINTS_MS = bucket_midpoints_ms()
# Midpoints are geometric, so the ratio of any two is exactly a power of one growth factor: the
# log-scale pairwise differences live on an integer grid, which is what lets `mann_whitney` find
# them with one convolution instead of sorting.
_LOG_GROWTH = math.log(_BUCKET_MIDPOINTS_MS[-1] / _BUCKET_MIDPOINTS_MS[0]) / (BUCKETS - 1)


@dataclass(frozen=True)
class WelchResult:
    method: str
    alpha: float
    baseline_n: int
    candidate_n: int
    baseline_mean: float
    candidate_mean: float
    baseline_variance: float
    candidate_variance: float
    estimate: float
    """Candidate mean minus baseline mean."""
    standard_error: float
    statistic: float
    """Welch's t."""
    degrees_of_freedom: float
    """Welch-Satterthwaite."""
    critical_value: float
    p_value: float
    """Two-sided."""
    ci_low: float
    ci_high: float

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


@dataclass(frozen=True)
class TwoProportionResult:
    method: str
    alpha: float
    baseline_n: int
    baseline_events: int
    candidate_n: int
    candidate_events: int
    baseline_rate: float
    candidate_rate: float
    pooled_rate: float
    estimate: float
    """Candidate rate minus baseline rate."""
    pooled_standard_error: float
    """Under the null of equal rates: the scale of `statistic`."""
    unpooled_standard_error: float
    """At the estimate: the scale of the interval."""
    statistic: float
    """z."""
    critical_value: float
    p_value: float
    """Two-sided."""
    ci_low: float
    ci_high: float

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


@dataclass(frozen=True)
class MannWhitneyResult:
    method: str
    alpha: float
    baseline_n: int
    candidate_n: int
    u_statistic: float
    """Candidate pairs above baseline, plus half the tied pairs."""
    expected_u: float
    """Under the null: baseline_n * candidate_n / 2."""
    u_standard_error: float
    """Tie-corrected, under the null."""
    tie_term: float
    """Sum over buckets of t**3 - t, t the bucket's count in both arms together."""
    statistic: float
    """z with continuity correction; positive when the candidate tends to be slower."""
    p_value: float
    """Two-sided, normal approximation."""
    probability_candidate_higher: float
    """P(candidate > baseline) + P(tie) / 2 for a random pair: the effect size behind U."""
    critical_value: float
    rank_index: int
    """k: the interval runs from the k-th smallest pairwise difference to the k-th largest; 0 when
    the samples are too small to reach the requested confidence (the interval is then unbounded)."""
    shift_ms: float
    """Hodges-Lehmann: median of candidate-minus-baseline pairwise differences, in ms."""
    shift_ci_low_ms: float
    shift_ci_high_ms: float
    ratio: float
    """Hodges-Lehmann on the log scale: median of candidate-over-baseline pairwise ratios."""
    ratio_ci_low: float
    ratio_ci_high: float

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


@dataclass(frozen=True)
class BinomialTestResult:
    method: str
    alpha: float
    n: int
    events: int
    estimate: float
    """Observed rate."""
    null_proportion: float
    alternative: Alternative
    p_value: float
    ci_low: float
    """Clopper-Pearson, one-sided when the alternative is (so one bound is 0 or 1)."""
    ci_high: float

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


def _checked_alpha(alpha: float) -> float:
    if not (isinstance(alpha, int | float) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _two_sided_normal_critical_value(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


def welch_t(baseline: Mean, candidate: Mean, alpha: float = 0.05) -> WelchResult:
    """Welch's t-test and (1 - alpha) interval for candidate mean minus baseline mean."""
    alpha = _checked_alpha(alpha)
    for arm, mean in (("baseline", baseline), ("candidate", candidate)):
        if mean.n < 2:
            raise ValueError(
                f"Welch's t needs at least 2 observations per arm to estimate a variance; "
                f"the {arm} has {mean.n}"
            )
    baseline_variance, candidate_variance = baseline.variance, candidate.variance
    baseline_term = baseline_variance / baseline.n
    candidate_term = candidate_variance / candidate.n
    estimate = candidate.mean - baseline.mean
    standard_error = math.sqrt(baseline_term + candidate_term)

    if standard_error > 0:
        degrees_of_freedom = (baseline_term + candidate_term) ** 2 / (
            baseline_term**2 / (baseline.n - 1) + candidate_term**2 / (candidate.n - 1)
        )
        statistic = estimate / standard_error
        p_value = float(2 * stats.t.sf(abs(statistic), degrees_of_freedom))
    else:
        # Both arms constant: the Welch-Satterthwaite ratio is 0/0. Its limit for equal variances
        # is the pooled df, and with no noise the difference is either certainly zero or
        # certainly not, which is what the p-value and the point interval below say.
        degrees_of_freedom = float(baseline.n + candidate.n - 2)
        statistic = 0.0 if estimate == 0 else math.copysign(math.inf, estimate)
        p_value = 1.0 if estimate == 0 else 0.0
    critical_value = float(stats.t.isf(alpha / 2, degrees_of_freedom))
    half_width = critical_value * standard_error
    return WelchResult(
        method="Welch's t-test",
        alpha=alpha,
        baseline_n=baseline.n,
        candidate_n=candidate.n,
        baseline_mean=baseline.mean,
        candidate_mean=candidate.mean,
        baseline_variance=baseline_variance,
        candidate_variance=candidate_variance,
        estimate=estimate,
        standard_error=standard_error,
        statistic=statistic,
        degrees_of_freedom=degrees_of_freedom,
        critical_value=critical_value,
        p_value=p_value,
        ci_low=estimate - half_width,
        ci_high=estimate + half_width,
    )


def two_proportion_z(
    baseline: Proportion, candidate: Proportion, alpha: float = 0.05
) -> TwoProportionResult:
    """Two-proportion z-test (pooled) and Wald interval (unpooled) for candidate minus baseline."""
    alpha = _checked_alpha(alpha)
    for arm, proportion in (("baseline", baseline), ("candidate", candidate)):
        if proportion.n == 0:
            raise ValueError(f"a two-proportion test needs trials in both arms; the {arm} has none")
    baseline_rate, candidate_rate = baseline.rate, candidate.rate
    pooled_rate = (baseline.events + candidate.events) / (baseline.n + candidate.n)
    estimate = candidate_rate - baseline_rate
    pooled_standard_error = math.sqrt(
        pooled_rate * (1 - pooled_rate) * (1 / baseline.n + 1 / candidate.n)
    )
    unpooled_standard_error = math.sqrt(
        baseline_rate * (1 - baseline_rate) / baseline.n
        + candidate_rate * (1 - candidate_rate) / candidate.n
    )
    if pooled_standard_error > 0:
        statistic = estimate / pooled_standard_error
        p_value = float(2 * stats.norm.sf(abs(statistic)))
    else:
        # Pooled rate 0 or 1: both arms saw no events (or only events), so the rates are equal and
        # there is no evidence of a difference; the unpooled error is 0 too, so the interval is
        # the point [0, 0].
        statistic = 0.0
        p_value = 1.0
    critical_value = _two_sided_normal_critical_value(alpha)
    half_width = critical_value * unpooled_standard_error
    return TwoProportionResult(
        method="two-proportion z-test (pooled), Wald interval (unpooled)",
        alpha=alpha,
        baseline_n=baseline.n,
        baseline_events=baseline.events,
        candidate_n=candidate.n,
        candidate_events=candidate.events,
        baseline_rate=baseline_rate,
        candidate_rate=candidate_rate,
        pooled_rate=pooled_rate,
        estimate=estimate,
        pooled_standard_error=pooled_standard_error,
        unpooled_standard_error=unpooled_standard_error,
        statistic=statistic,
        critical_value=critical_value,
        p_value=p_value,
        ci_low=estimate - half_width,
        ci_high=estimate + half_width,
    )


def _order_statistic(
    sorted_values: NDArray[np.float64], cumulative_weights: NDArray[np.int64], rank: int
) -> float:
    """The rank-th smallest (1-based) of values repeated by their weights."""
    return float(sorted_values[int(np.searchsorted(cumulative_weights, rank, side="left"))])


def _hodges_lehmann(
    sorted_values: NDArray[np.float64],
    cumulative_weights: NDArray[np.int64],
    pair_count: int,
    rank_index: int,
) -> tuple[float, float, float]:
    """Median and the [k-th smallest, k-th largest] interval of weighted pairwise differences."""
    lower_middle = _order_statistic(sorted_values, cumulative_weights, (pair_count + 1) // 2)
    upper_middle = _order_statistic(sorted_values, cumulative_weights, pair_count // 2 + 1)
    median = (lower_middle + upper_middle) / 2
    if rank_index == 0:
        return median, -math.inf, math.inf
    low = _order_statistic(sorted_values, cumulative_weights, rank_index)
    high = _order_statistic(sorted_values, cumulative_weights, pair_count + 1 - rank_index)
    return median, low, high


def mann_whitney(
    baseline: LatencyHistogram, candidate: LatencyHistogram, alpha: float = 0.05
) -> MannWhitneyResult:
    """Mann-Whitney U test and Hodges-Lehmann shift between two latency histograms.

    Observations in a bucket are treated as tied at the bucket's midpoint: that is all a histogram
    knows, and the tie-corrected variance accounts for it. With about 2% wide buckets the loss
    against raw latencies is negligible.
    """
    alpha = _checked_alpha(alpha)
    baseline_counts, candidate_counts = baseline.array(), candidate.array()
    baseline_n, candidate_n = int(baseline_counts.sum()), int(candidate_counts.sum())
    for arm, n in (("baseline", baseline_n), ("candidate", candidate_n)):
        if n == 0:
            raise ValueError(
                f"a Mann-Whitney test needs observations in both arms; the {arm} is empty"
            )
    total_n = baseline_n + candidate_n
    pair_count = baseline_n * candidate_n

    # Each candidate observation beats every baseline observation in a lower bucket and ties with
    # those in its own; doubling keeps the count in exact integers.
    baseline_below = np.cumsum(baseline_counts) - baseline_counts
    doubled_u = int(np.dot(candidate_counts, 2 * baseline_below + baseline_counts))
    u_statistic = doubled_u / 2
    expected_u = pair_count / 2

    # Float: t**3 overflows int64 once a single bucket holds about two million observations.
    tied_counts = (baseline_counts + candidate_counts).astype(np.float64)
    tie_term = float(np.sum(tied_counts**3 - tied_counts))
    u_variance = pair_count / 12 * ((total_n + 1) - tie_term / (total_n * (total_n - 1)))
    # When every observation shares one bucket the variance is 0 in exact arithmetic; rounding can
    # leave a tiny residue of either sign, which must not turn into a huge z.
    u_standard_error = math.sqrt(u_variance) if u_variance > 1e-9 * pair_count else 0.0
    deviation = u_statistic - expected_u
    if u_standard_error > 0:
        # Continuity correction, as scipy's default: U moves in steps of 1/2, the normal does not.
        statistic = math.copysign(max(0.0, abs(deviation) - 0.5), deviation) / u_standard_error
        p_value = min(1.0, float(2 * stats.norm.sf(abs(statistic))))
    else:
        statistic = 0.0
        p_value = 1.0

    # The order-statistic interval inverts the test: it holds the shifts the test would not reject.
    # Its rank index uses the untied null variance of U, the standard (Hollander & Wolfe)
    # construction; with ties it is conservative. The + 0.5 is the continuity correction.
    critical_value = _two_sided_normal_critical_value(alpha)
    untied_standard_error = math.sqrt(pair_count * (total_n + 1) / 12)
    rank_index = max(0, math.floor(pair_count / 2 - critical_value * untied_standard_error + 0.5))

    baseline_buckets = np.flatnonzero(baseline_counts)
    candidate_buckets = np.flatnonzero(candidate_counts)
    differences_ms = (
        _BUCKET_MIDPOINTS_MS[candidate_buckets][:, None]
        - _BUCKET_MIDPOINTS_MS[baseline_buckets][None, :]
    ).ravel()
    pair_weights = (
        candidate_counts[candidate_buckets][:, None] * baseline_counts[baseline_buckets][None, :]
    ).ravel()
    order = np.argsort(differences_ms, kind="stable")
    shift_ms, shift_low_ms, shift_high_ms = _hodges_lehmann(
        differences_ms[order], np.cumsum(pair_weights[order]), pair_count, rank_index
    )

    # Log-scale differences are whole numbers of buckets, already in order after a convolution.
    weights_by_bucket_offset = np.convolve(candidate_counts, baseline_counts[::-1])
    bucket_offsets = np.arange(-(BUCKETS - 1), BUCKETS, dtype=np.float64)
    log_shift, log_low, log_high = _hodges_lehmann(
        bucket_offsets * _LOG_GROWTH,
        np.cumsum(weights_by_bucket_offset),
        pair_count,
        rank_index,
    )

    return MannWhitneyResult(
        method="Mann-Whitney U (normal approximation, tie-corrected) with Hodges-Lehmann shift",
        alpha=alpha,
        baseline_n=baseline_n,
        candidate_n=candidate_n,
        u_statistic=u_statistic,
        expected_u=expected_u,
        u_standard_error=u_standard_error,
        tie_term=tie_term,
        statistic=statistic,
        p_value=p_value,
        probability_candidate_higher=u_statistic / pair_count,
        critical_value=critical_value,
        rank_index=rank_index,
        shift_ms=shift_ms,
        shift_ci_low_ms=shift_low_ms,
        shift_ci_high_ms=shift_high_ms,
        ratio=math.exp(log_shift),
        ratio_ci_low=math.exp(log_low),
        ratio_ci_high=math.exp(log_high),
    )


def wilson_interval(p: Proportion, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval: stays inside [0, 1] and keeps near-nominal coverage at small n."""
    alpha = _checked_alpha(alpha)
    if p.n == 0:
        raise ValueError("a Wilson interval needs at least one trial; n is 0")
    z = _two_sided_normal_critical_value(alpha)
    rate = p.rate
    z_squared_over_n = z * z / p.n
    denominator = 1 + z_squared_over_n
    centre = (rate + z_squared_over_n / 2) / denominator
    half_width = z * math.sqrt(rate * (1 - rate) / p.n + z_squared_over_n / (4 * p.n)) / denominator
    # At 0 or n events one bound equals the rate in exact arithmetic; clamping removes rounding.
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def exact_binomial_test(
    p: Proportion,
    p0: float = 0.5,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> BinomialTestResult:
    """Exact binomial test of the rate against p0, with the matching Clopper-Pearson interval."""
    alpha = _checked_alpha(alpha)
    if alternative not in get_args(Alternative):
        raise ValueError(
            f"alternative must be one of {', '.join(get_args(Alternative))}, got {alternative!r}"
        )
    if p.n == 0:
        raise ValueError("a binomial test needs at least one trial; n is 0")
    if not (isinstance(p0, int | float) and 0 <= p0 <= 1):
        raise ValueError(f"p0 must be a probability in [0, 1], got {p0!r}")
    result = stats.binomtest(p.events, p.n, p=float(p0), alternative=alternative)
    interval = result.proportion_ci(confidence_level=1 - alpha, method="exact")
    return BinomialTestResult(
        method="exact binomial test, Clopper-Pearson interval",
        alpha=alpha,
        n=p.n,
        events=p.events,
        estimate=p.rate,
        null_proportion=float(p0),
        alternative=alternative,
        p_value=float(result.pvalue),
        ci_low=float(interval.low),
        ci_high=float(interval.high),
    )
