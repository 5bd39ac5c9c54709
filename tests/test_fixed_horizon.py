"""Fixed-horizon tests against scipy, hand-computed answers, brute force, and simulated coverage.

Coverage checks run 400 seeded replications. For a procedure with exact 95% coverage the observed
rate has standard error sqrt(0.95 * 0.05 / 400) ~= 0.011, so we accept 0.95 +/- 3 standard errors
(a correct procedure falls outside with probability 0.3%). That band still catches the mistakes
that matter: a wrong critical value (z = 1 gives 68%) or a standard error off by sqrt(2) (84% or
99.4%). Seeds are fixed, so the outcome is deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from experiments.fixed_horizon import (
    exact_binomial_test,
    mann_whitney,
    two_proportion_z,
    welch_t,
    wilson_interval,
)
from experiments.statistics import BUCKETS, LatencyHistogram, Mean, Proportion, bucket_midpoints_ms

REPLICATIONS = 400
NOMINAL = 0.95
COVERAGE_TOLERANCE = 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / REPLICATIONS)
MIDPOINTS_MS = bucket_midpoints_ms()


def assert_near_nominal(coverage: float) -> None:
    assert abs(coverage - NOMINAL) <= COVERAGE_TOLERANCE, coverage


def coverage_of(interval_contains_truth: Callable[[np.random.Generator], bool]) -> float:
    hits = sum(interval_contains_truth(np.random.default_rng(seed)) for seed in range(REPLICATIONS))
    return hits / REPLICATIONS


def latencies_at_midpoints(
    rng: np.random.Generator, size: int, low_bucket: int, high_bucket: int
) -> np.ndarray:
    """Raw latencies that sit exactly on bucket midpoints, so binning them loses nothing."""
    return MIDPOINTS_MS[rng.integers(low_bucket, high_bucket, size)]


def histogram_of(values_ms: np.ndarray) -> LatencyHistogram:
    histogram = LatencyHistogram.of(values_ms)
    assert histogram.n == values_ms.size
    return histogram


# --- Welch's t ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "baseline_n", "candidate_n", "candidate_shift", "candidate_scale"),
    [(0, 12, 30, 0.4, 2.5), (1, 200, 150, 0.0, 1.0), (2, 2, 3, -1.0, 0.3), (3, 500, 20, 2.0, 8.0)],
)
def test_welch_matches_scipy(
    seed: int, baseline_n: int, candidate_n: int, candidate_shift: float, candidate_scale: float
) -> None:
    rng = np.random.default_rng(seed)
    baseline = rng.normal(100.0, 5.0, baseline_n)
    candidate = rng.normal(100.0 + candidate_shift, 5.0 * candidate_scale, candidate_n)

    result = welch_t(Mean.of(baseline), Mean.of(candidate), alpha=0.1)
    expected = stats.ttest_ind(candidate, baseline, equal_var=False)
    expected_interval = expected.confidence_interval(confidence_level=0.9)

    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-8)
    assert result.degrees_of_freedom == pytest.approx(expected.df, rel=1e-9)
    assert result.ci_low == pytest.approx(expected_interval.low, rel=1e-9)
    assert result.ci_high == pytest.approx(expected_interval.high, rel=1e-9)
    assert result.estimate == pytest.approx(candidate.mean() - baseline.mean(), rel=1e-9)
    assert (result.baseline_n, result.candidate_n, result.alpha) == (baseline_n, candidate_n, 0.1)
    assert result.confidence == pytest.approx(0.9)


def test_welch_from_merged_aggregates_matches_raw() -> None:
    rng = np.random.default_rng(7)
    baseline, candidate = rng.exponential(80.0, 400), rng.exponential(90.0, 300)
    merged_baseline = Mean.of(baseline[:150]) + Mean.of(baseline[150:])
    merged_candidate = Mean.of(candidate[:1]) + Mean.of(candidate[1:])

    result = welch_t(merged_baseline, merged_candidate)

    expected = stats.ttest_ind(candidate, baseline, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-8)


@pytest.mark.parametrize(
    ("baseline", "candidate", "message"),
    [
        (Mean(), Mean.of([1.0, 2.0]), "baseline has 0"),
        (Mean.of([1.0, 2.0]), Mean.of([3.0]), "candidate has 1"),
    ],
)
def test_welch_needs_two_observations_per_arm(
    baseline: Mean, candidate: Mean, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        welch_t(baseline, candidate)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, math.nan, True])
def test_alpha_is_checked(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        welch_t(Mean.of([1.0, 2.0]), Mean.of([1.0, 3.0]), alpha=alpha)


def test_welch_with_constant_arms_is_defined() -> None:
    same = welch_t(Mean.of([5.0] * 4), Mean.of([5.0] * 6))
    assert (same.p_value, same.statistic, same.ci_low, same.ci_high) == (1.0, 0.0, 0.0, 0.0)
    assert same.degrees_of_freedom == 8

    different = welch_t(Mean.of([5.0] * 4), Mean.of([7.0] * 6))
    assert different.p_value == 0.0
    assert different.statistic == math.inf
    assert different.ci_low == different.ci_high == pytest.approx(2.0)


def test_welch_with_one_constant_arm_uses_the_other_arms_df() -> None:
    result = welch_t(Mean.of([5.0] * 4), Mean.of([1.0, 2.0, 4.0, 8.0, 9.0]))
    assert result.degrees_of_freedom == pytest.approx(4.0)
    assert math.isfinite(result.p_value)


def test_welch_interval_coverage() -> None:
    true_difference = 0.5

    def covers(rng: np.random.Generator) -> bool:
        baseline = rng.normal(10.0, 1.0, 15)
        candidate = rng.normal(10.0 + true_difference, 3.0, 40)
        result = welch_t(Mean.of(baseline), Mean.of(candidate))
        return result.ci_low <= true_difference <= result.ci_high

    assert_near_nominal(coverage_of(covers))


# --- Two-proportion z --------------------------------------------------------------------------


def test_two_proportion_known_answer() -> None:
    # Baseline 100/1000, candidate 130/1000, by hand:
    #   pooled rate 230/2000 = 0.115; pooled SE = sqrt(0.115 * 0.885 * (2/1000)) = 0.0142671
    #   z = 0.03 / 0.0142671 = 2.10274; two-sided p = 2 * (1 - Phi(2.10274)) = 0.035488
    #   Wald SE = sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000) = sqrt(0.0002031) = 0.0142513
    #   95% interval 0.03 -/+ 1.959964 * 0.0142513 = [0.0020679, 0.0579321]
    result = two_proportion_z(Proportion(1000, 100), Proportion(1000, 130))

    assert result.estimate == pytest.approx(0.03, abs=1e-12)
    assert result.pooled_rate == pytest.approx(0.115, abs=1e-12)
    assert result.pooled_standard_error == pytest.approx(0.0142671, abs=1e-7)
    assert result.statistic == pytest.approx(2.10274, abs=1e-5)
    assert result.p_value == pytest.approx(0.035488, abs=1e-6)
    assert result.unpooled_standard_error == pytest.approx(0.0142513, abs=1e-7)
    assert result.ci_low == pytest.approx(0.0020679, abs=1e-7)
    assert result.ci_high == pytest.approx(0.0579321, abs=1e-7)
    assert result.critical_value == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(
    ("baseline", "candidate"),
    [
        (Proportion(500, 20), Proportion(480, 35)),
        (Proportion(37, 30), Proportion(52, 31)),
        (Proportion(10_000, 9), Proportion(10_000, 3)),
    ],
)
def test_two_proportion_p_value_matches_chi_square(
    baseline: Proportion, candidate: Proportion
) -> None:
    # Without Yates' correction the 2x2 chi-square statistic is exactly the pooled z squared.
    table = [
        [baseline.events, baseline.n - baseline.events],
        [candidate.events, candidate.n - candidate.events],
    ]
    chi_square, p_value, _, _ = stats.chi2_contingency(table, correction=False)

    result = two_proportion_z(baseline, candidate)

    assert result.statistic**2 == pytest.approx(chi_square, rel=1e-10)
    assert result.p_value == pytest.approx(p_value, rel=1e-10)
    assert math.copysign(1.0, result.statistic) == math.copysign(1.0, result.estimate)


@pytest.mark.parametrize("all_events", [False, True])
def test_two_proportion_with_zero_variance_is_defined(all_events: bool) -> None:
    baseline = Proportion(300, 300 if all_events else 0)
    candidate = Proportion(200, 200 if all_events else 0)

    result = two_proportion_z(baseline, candidate)

    assert (result.statistic, result.p_value) == (0.0, 1.0)
    assert (result.estimate, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)


def test_two_proportion_with_opposite_extremes_is_finite() -> None:
    result = two_proportion_z(Proportion(50, 0), Proportion(50, 50))
    assert result.estimate == 1.0
    assert result.p_value < 1e-20
    assert result.ci_low == result.ci_high == 1.0


def test_two_proportion_needs_trials_in_both_arms() -> None:
    with pytest.raises(ValueError, match="candidate has none"):
        two_proportion_z(Proportion(10, 1), Proportion())


def test_two_proportion_interval_coverage() -> None:
    baseline_rate, candidate_rate = 0.10, 0.12

    def covers(rng: np.random.Generator) -> bool:
        baseline = Proportion(2000, int(rng.binomial(2000, baseline_rate)))
        candidate = Proportion(2000, int(rng.binomial(2000, candidate_rate)))
        result = two_proportion_z(baseline, candidate)
        return result.ci_low <= candidate_rate - baseline_rate <= result.ci_high

    assert_near_nominal(coverage_of(covers))


# --- Mann-Whitney and Hodges-Lehmann ---------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "baseline_n", "candidate_n", "baseline_buckets", "candidate_buckets"),
    [
        (0, 300, 250, (200, 260), (205, 270)),  # shifted, moderate ties
        (1, 1000, 800, (300, 304), (300, 305)),  # almost everything tied
        (2, 40, 60, (0, 700), (0, 700)),  # null, few ties, across the whole range
        (3, 5, 7, (100, 110), (90, 120)),  # small arms
    ],
)
def test_mann_whitney_matches_scipy(
    seed: int,
    baseline_n: int,
    candidate_n: int,
    baseline_buckets: tuple[int, int],
    candidate_buckets: tuple[int, int],
) -> None:
    rng = np.random.default_rng(seed)
    baseline = latencies_at_midpoints(rng, baseline_n, *baseline_buckets)
    candidate = latencies_at_midpoints(rng, candidate_n, *candidate_buckets)

    result = mann_whitney(histogram_of(baseline), histogram_of(candidate))
    expected = stats.mannwhitneyu(
        candidate, baseline, alternative="two-sided", use_continuity=True, method="asymptotic"
    )

    assert result.u_statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert result.probability_candidate_higher == pytest.approx(
        np.mean(np.sign(np.subtract.outer(candidate, baseline)) / 2 + 0.5), rel=1e-12
    )
    assert (result.baseline_n, result.candidate_n) == (baseline_n, candidate_n)


def test_binning_of_midpoints_is_lossless() -> None:
    # The scipy comparisons rely on this: a value at a bucket's midpoint lands in that bucket.
    assert LatencyHistogram.of(MIDPOINTS_MS).counts == (1,) * BUCKETS


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hodges_lehmann_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    baseline = latencies_at_midpoints(rng, 61, 150, 260)
    candidate = latencies_at_midpoints(rng, 48, 170, 290)

    result = mann_whitney(histogram_of(baseline), histogram_of(candidate), alpha=0.1)

    pair_count = baseline.size * candidate.size
    rank = math.floor(
        pair_count / 2
        - stats.norm.isf(0.05) * math.sqrt(pair_count * (baseline.size + candidate.size + 1) / 12)
        + 0.5
    )
    assert result.rank_index == rank
    differences = np.sort(np.subtract.outer(candidate, baseline).ravel())
    assert result.shift_ms == pytest.approx(np.median(differences), rel=1e-12)
    assert result.shift_ci_low_ms == pytest.approx(differences[rank - 1], rel=1e-12)
    assert result.shift_ci_high_ms == pytest.approx(differences[pair_count - rank], rel=1e-12)
    log_ratios = np.sort(np.subtract.outer(np.log(candidate), np.log(baseline)).ravel())
    assert result.ratio == pytest.approx(math.exp(np.median(log_ratios)), rel=1e-9)
    assert result.ratio_ci_low == pytest.approx(math.exp(log_ratios[rank - 1]), rel=1e-9)
    assert result.ratio_ci_high == pytest.approx(math.exp(log_ratios[pair_count - rank]), rel=1e-9)


@pytest.mark.parametrize(("arm_size", "tabled_rank"), [(10, 24), (20, 128)])
def test_rank_index_matches_exact_tables(arm_size: int, tabled_rank: int) -> None:
    # Two-sided 5% critical values of U from exact tables are 23 (n = 10, 10) and 127 (20, 20);
    # the interval starts at the next order statistic.
    rng = np.random.default_rng(0)
    histogram = histogram_of(latencies_at_midpoints(rng, arm_size, 0, 700))
    assert mann_whitney(histogram, histogram).rank_index == tabled_rank


def test_hodges_lehmann_recovers_an_additive_shift() -> None:
    rng = np.random.default_rng(11)
    shift_ms = 40.0
    baseline = rng.lognormal(math.log(200.0), 0.4, 3000)
    candidate = rng.lognormal(math.log(200.0), 0.4, 3000) + shift_ms

    result = mann_whitney(histogram_of(baseline), histogram_of(candidate))

    assert result.shift_ci_low_ms <= shift_ms <= result.shift_ci_high_ms
    assert result.shift_ms == pytest.approx(shift_ms, abs=5.0)
    assert result.p_value < 1e-10
    assert result.statistic > 0


def test_hodges_lehmann_recovers_a_multiplicative_shift() -> None:
    rng = np.random.default_rng(12)
    factor = 0.8
    baseline = rng.lognormal(math.log(300.0), 0.6, 2500)
    candidate = rng.lognormal(math.log(300.0), 0.6, 2000) * factor

    result = mann_whitney(histogram_of(baseline), histogram_of(candidate))

    assert result.ratio_ci_low <= factor <= result.ratio_ci_high
    assert result.ratio == pytest.approx(factor, rel=0.03)
    assert result.shift_ci_high_ms < 0
    assert result.statistic < 0
    assert result.probability_candidate_higher < 0.5


def test_ratio_interval_coverage() -> None:
    # A factor that is a whole number of buckets shifts every observation by exactly that many
    # buckets, so binning leaves a pure location shift on the log scale: the case the interval is
    # exact for. Ties make the order-statistic interval conservative, never liberal.
    factor = 1.02**5

    def covers(rng: np.random.Generator) -> bool:
        baseline = rng.lognormal(math.log(100.0), 0.5, 60)
        candidate = rng.lognormal(math.log(100.0), 0.5, 80) * factor
        result = mann_whitney(histogram_of(baseline), histogram_of(candidate))
        return result.ratio_ci_low <= factor * (1 + 1e-9) and factor * (1 - 1e-9) <= (
            result.ratio_ci_high
        )

    assert_near_nominal(coverage_of(covers))


def test_mann_whitney_false_alarm_rate_under_the_null() -> None:
    def rejects(rng: np.random.Generator) -> bool:
        baseline = rng.lognormal(math.log(100.0), 0.5, 150)
        candidate = rng.lognormal(math.log(100.0), 0.5, 100)
        return mann_whitney(histogram_of(baseline), histogram_of(candidate)).p_value < 0.05

    assert abs(coverage_of(rejects) - (1 - NOMINAL)) <= COVERAGE_TOLERANCE


def test_mann_whitney_needs_observations_in_both_arms() -> None:
    with pytest.raises(ValueError, match="baseline is empty"):
        mann_whitney(LatencyHistogram(), LatencyHistogram.of([10.0]))


def test_mann_whitney_with_everything_in_one_bucket_is_defined() -> None:
    result = mann_whitney(LatencyHistogram.of([50.0] * 30), LatencyHistogram.of([50.3] * 20))
    assert (result.u_standard_error, result.statistic, result.p_value) == (0.0, 0.0, 1.0)
    assert (result.shift_ms, result.shift_ci_low_ms, result.shift_ci_high_ms) == (0.0, 0.0, 0.0)
    assert result.ratio == result.ratio_ci_low == result.ratio_ci_high == 1.0


def test_mann_whitney_too_small_for_the_confidence_gives_an_unbounded_interval() -> None:
    result = mann_whitney(LatencyHistogram.of([10.0]), LatencyHistogram.of([20.0, 30.0]))
    assert result.rank_index == 0
    assert (result.shift_ci_low_ms, result.shift_ci_high_ms) == (-math.inf, math.inf)
    assert (result.ratio_ci_low, result.ratio_ci_high) == (0.0, math.inf)
    assert math.isfinite(result.shift_ms)


def test_mann_whitney_on_full_histograms() -> None:
    # Every bucket occupied: the 700 x 700 worst case for the pairwise differences.
    counts = tuple(range(1, BUCKETS + 1))
    result = mann_whitney(LatencyHistogram(counts), LatencyHistogram(counts))
    assert result.p_value == 1.0
    assert result.shift_ms == 0.0
    assert result.ratio == pytest.approx(1.0)
    assert result.shift_ci_low_ms < 0 < result.shift_ci_high_ms


# --- Win rates ---------------------------------------------------------------------------------


def wilson_by_formula(events: int, n: int, alpha: float) -> tuple[float, float]:
    z = stats.norm.ppf(1 - alpha / 2)
    rate = events / n
    centre = (rate + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("events", "n", "alpha"), [(7, 10, 0.05), (130, 200, 0.01), (1, 1, 0.05), (3, 1000, 0.1)]
)
def test_wilson_matches_formula_and_scipy(events: int, n: int, alpha: float) -> None:
    low, high = wilson_interval(Proportion(n, events), alpha=alpha)

    assert (low, high) == pytest.approx(wilson_by_formula(events, n, alpha), rel=1e-12)
    scipy_interval = stats.binomtest(events, n).proportion_ci(1 - alpha, method="wilson")
    assert (low, high) == pytest.approx((scipy_interval.low, scipy_interval.high), rel=1e-10)


def test_wilson_at_the_extremes_stays_in_the_unit_interval() -> None:
    low, high = wilson_interval(Proportion(25, 0))
    assert low == 0.0
    assert 0 < high < 0.2
    low, high = wilson_interval(Proportion(25, 25))
    assert 0.8 < low < 1
    assert high == 1.0


def test_wilson_needs_trials() -> None:
    with pytest.raises(ValueError, match="n is 0"):
        wilson_interval(Proportion())


def test_wilson_coverage() -> None:
    true_rate = 0.3

    def covers(rng: np.random.Generator) -> bool:
        low, high = wilson_interval(Proportion(150, int(rng.binomial(150, true_rate))))
        return low <= true_rate <= high

    assert_near_nominal(coverage_of(covers))


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(("events", "n", "p0"), [(14, 20, 0.5), (3, 50, 0.2), (0, 8, 0.5)])
def test_exact_binomial_matches_scipy(events: int, n: int, p0: float, alternative: str) -> None:
    result = exact_binomial_test(Proportion(n, events), p0=p0, alternative=alternative, alpha=0.1)

    expected = stats.binomtest(events, n, p=p0, alternative=alternative)
    expected_interval = expected.proportion_ci(confidence_level=0.9, method="exact")
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (expected_interval.low, expected_interval.high), rel=1e-12
    )
    assert (result.n, result.events, result.estimate) == (n, events, events / n)
    assert (result.null_proportion, result.alternative, result.alpha) == (p0, alternative, 0.1)


def test_exact_binomial_known_answer() -> None:
    # 9 wins of 10 against p0 = 1/2: P(X >= 9) = (10 + 1) / 1024, doubled by symmetry.
    result = exact_binomial_test(Proportion(10, 9))
    assert result.p_value == pytest.approx(22 / 1024, rel=1e-12)
    greater = exact_binomial_test(Proportion(10, 9), alternative="greater")
    assert greater.p_value == pytest.approx(11 / 1024, rel=1e-12)
    assert greater.ci_high == 1.0


@pytest.mark.parametrize(
    ("proportion", "p0", "alternative", "message"),
    [
        (Proportion(), 0.5, "two-sided", "n is 0"),
        (Proportion(10, 3), 1.5, "two-sided", "p0"),
        (Proportion(10, 3), 0.5, "bigger", "alternative"),
    ],
)
def test_exact_binomial_rejects_bad_input(
    proportion: Proportion, p0: float, alternative: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        exact_binomial_test(proportion, p0=p0, alternative=alternative)  # type: ignore[arg-type]


def test_results_are_frozen() -> None:
    result = welch_t(Mean.of([1.0, 2.0]), Mean.of([2.0, 4.0]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.p_value = 0.5  # type: ignore[misc]
