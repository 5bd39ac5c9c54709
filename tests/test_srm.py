"""SRM checks: the chi-square gate against hand computations, and the anytime-valid test of
Lindon & Malek (2022) against its closed form and, by simulation, its error guarantee and power
at canary-like allocations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.srm import (
    DEFAULT_ALPHA,
    SequentialSRM,
    dirichlet_multinomial_log_bayes_factor,
    srm_chi_square,
    update,
)

CANARY_WEIGHTS = [0.95, 0.05]
REQUESTS_PER_LOOK = 100
LOOKS = 200  # every 100 requests up to 20,000


def simulate_cumulative_counts(
    rng: np.random.Generator, true_weights: list[float], runs: int
) -> np.ndarray:
    """Cumulative per-arm counts at every look, shape (runs, looks, arms)."""
    per_look = rng.multinomial(REQUESTS_PER_LOOK, true_weights, size=(runs, LOOKS))
    return np.cumsum(per_look, axis=1)


def share_ever_flagged(
    cumulative_counts: np.ndarray, intended_weights: list[float], alpha: float
) -> tuple[float, np.ndarray]:
    """Share of runs whose always-valid p-value reached alpha at some look, and the first such
    look per run (-1 when never): p <= alpha is the running max Bayes factor >= 1 / alpha."""
    log_bayes_factors = dirichlet_multinomial_log_bayes_factor(cumulative_counts, intended_weights)
    flagged = np.asarray(log_bayes_factors) >= math.log(1 / alpha)
    ever = flagged.any(axis=1)
    first_look = np.where(ever, flagged.argmax(axis=1), -1)
    return float(ever.mean()), first_look


# --- chi-square -----------------------------------------------------------------------------------


def test_chi_square_matches_hand_computation() -> None:
    # Expected 25/50/25; statistic (30-25)^2/25 + 0 + (20-25)^2/25 = 2 on 2 degrees of freedom,
    # whose survival function is exp(-x/2), so p = exp(-1).
    result = srm_chi_square([30, 50, 20], [0.25, 0.5, 0.25])
    assert result.expected_counts == (25.0, 50.0, 25.0)
    assert result.statistic == pytest.approx(2.0)
    assert result.degrees_of_freedom == 2
    assert result.p_value == pytest.approx(math.exp(-1))
    assert result.alpha == DEFAULT_ALPHA
    assert not result.mismatch


def test_even_split_with_small_imbalance_passes() -> None:
    result = srm_chi_square(
        {"control": 5_100, "treatment": 4_900}, {"control": 0.5, "treatment": 0.5}
    )
    # (100^2 + 100^2) / 5000 = 4 on one degree of freedom: p about 0.0455, far above 0.001.
    assert result.statistic == pytest.approx(4.0)
    assert result.p_value == pytest.approx(0.0455, abs=1e-4)
    assert not result.mismatch


def test_even_split_with_large_imbalance_is_flagged() -> None:
    result = srm_chi_square([5_500, 4_500], [0.5, 0.5])
    assert result.statistic == pytest.approx(100.0)
    assert result.p_value < 1e-20
    assert result.mismatch


def test_named_counts_are_matched_to_weights_by_arm_not_by_order() -> None:
    result = srm_chi_square({"canary": 60, "stable": 940}, {"stable": 0.95, "canary": 0.05})
    assert result.arms == ("stable", "canary")
    assert result.observed_counts == (940, 60)
    assert result.expected_counts == pytest.approx((950.0, 50.0))


# --- sequential: the Bayes factor -----------------------------------------------------------------


def test_bayes_factor_equals_closed_form_for_a_uniform_prior() -> None:
    # Weights 1/2 and concentration 2 give a Dirichlet(1, 1) (uniform) prior, for which the
    # mixture likelihood of a particular sequence with 7 and 3 is 7! 3! / 11!, against 2^-10 under
    # the null.
    expected_bayes_factor = 2**10 * math.factorial(7) * math.factorial(3) / math.factorial(11)
    state = SequentialSRM.start([0.5, 0.5], prior_concentration=2.0)
    _, result = update(state, [7, 3])
    assert result.log_bayes_factor == pytest.approx(math.log(expected_bayes_factor), rel=1e-12)


def test_bayes_factor_equals_closed_form_for_a_canary() -> None:
    control, canary = 18_900, 1_100
    weights, concentration = CANARY_WEIGHTS, 100.0
    prior = [concentration * weight for weight in weights]
    closed_form = (
        math.lgamma(sum(prior))
        - math.lgamma(sum(prior) + control + canary)
        + math.lgamma(prior[0] + control)
        - math.lgamma(prior[0])
        + math.lgamma(prior[1] + canary)
        - math.lgamma(prior[1])
        - control * math.log(weights[0])
        - canary * math.log(weights[1])
    )
    state = SequentialSRM.start(weights, prior_concentration=concentration)
    _, result = update(state, [control, canary])
    assert result.log_bayes_factor == pytest.approx(closed_form, rel=1e-10)


def test_bayes_factor_depends_only_on_cumulative_counts() -> None:
    in_one_look, _ = update(SequentialSRM.start(CANARY_WEIGHTS), [1_880, 120])
    many_looks = SequentialSRM.start(CANARY_WEIGHTS)
    for counts in ([95, 5], [300, 40], [1_000, 60], [1_880, 120]):
        many_looks, last = update(many_looks, counts)
    _, again = update(in_one_look, [1_880, 120])
    assert last.log_bayes_factor == pytest.approx(again.log_bayes_factor, rel=1e-12)


def test_p_value_keeps_the_smallest_value_seen() -> None:
    state = SequentialSRM.start({"a": 0.5, "b": 0.5}, alpha=0.01)
    state, lopsided = update(state, {"a": 100, "b": 200})
    assert lopsided.mismatch
    # Balanced traffic afterwards pulls the current Bayes factor back down, but the evidence of a
    # mismatch already seen stands: the always-valid p-value is the minimum over looks.
    state, balanced = update(state, {"a": 3_000, "b": 3_100})
    assert balanced.log_bayes_factor < 0
    assert balanced.p_value == lopsided.p_value == state.p_value
    assert balanced.mismatch


def test_before_any_data_the_p_value_is_one() -> None:
    state = SequentialSRM.start(CANARY_WEIGHTS)
    assert state.counts == (0, 0)
    assert state.p_value == 1.0
    _, result = update(state, [0, 0])
    assert result.log_bayes_factor == 0.0
    assert not result.mismatch


def test_batch_evaluation_agrees_with_look_by_look_updates() -> None:
    cumulative = simulate_cumulative_counts(np.random.default_rng(7), [0.94, 0.06], runs=1)[0]
    batch = np.asarray(dirichlet_multinomial_log_bayes_factor(cumulative, CANARY_WEIGHTS))
    state = SequentialSRM.start(CANARY_WEIGHTS)
    for look, counts in enumerate(cumulative):
        state, result = update(state, [int(count) for count in counts])
        assert result.log_bayes_factor == pytest.approx(batch[look], rel=1e-12, abs=1e-12)
    assert state.max_log_bayes_factor == pytest.approx(max(0.0, batch.max()))


# --- sequential: error rate and power by simulation -----------------------------------------------


def test_false_alarm_rate_under_continuous_monitoring_is_at_most_alpha() -> None:
    alpha = 0.05
    cumulative = simulate_cumulative_counts(
        np.random.default_rng(20220), CANARY_WEIGHTS, runs=4_000
    )
    share, _ = share_ever_flagged(cumulative, CANARY_WEIGHTS, alpha)
    print(f"\nnull 0.95/0.05, 200 looks to 20,000: ever flagged at alpha={alpha} in {share:.4f}")
    assert share <= alpha


def test_false_alarm_rate_with_three_arms_is_at_most_alpha() -> None:
    alpha = 0.05
    weights = [0.5, 0.3, 0.2]
    cumulative = simulate_cumulative_counts(np.random.default_rng(31), weights, runs=1_000)
    share, _ = share_ever_flagged(cumulative, weights, alpha)
    print(f"\nnull 0.5/0.3/0.2, 200 looks to 20,000: ever flagged at alpha={alpha} in {share:.4f}")
    assert share <= alpha


def test_a_canary_getting_seven_percent_instead_of_five_is_caught() -> None:
    cumulative = simulate_cumulative_counts(np.random.default_rng(93), [0.93, 0.07], runs=1_000)
    for alpha in (0.05, DEFAULT_ALPHA):
        share, first_look = share_ever_flagged(cumulative, CANARY_WEIGHTS, alpha)
        median_requests = float(np.median(first_look[first_look >= 0] + 1)) * REQUESTS_PER_LOOK
        print(
            f"\ntrue 0.93/0.07 vs intended 0.95/0.05: flagged at alpha={alpha} by 20,000 in "
            f"{share:.4f} of runs, median detection after {median_requests:,.0f} requests"
        )
        assert share >= 0.95


# --- invalid inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([0.5, 0.4], "sum to 1"),
        ([0.5, 0.5 + 1e-8], "sum to 1"),
        ([1.0, 0.0], "positive"),
        ([1.2, -0.2], "positive"),
        ([float("nan"), 0.5], "positive"),
        ([1.0], "at least two arms"),
        (["0.5", "0.5"], "numbers"),
    ],
)
def test_invalid_weights_are_rejected(weights: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        srm_chi_square([10] * len(weights), weights)
    with pytest.raises(ValueError, match=message):
        SequentialSRM.start(weights)


def test_weights_within_tolerance_of_one_are_accepted() -> None:
    assert not srm_chi_square([50, 50], [0.5, 0.5 + 1e-10]).mismatch


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([10, -1], "non-negative"),
        ([10.5, 3], "integers"),
        ([True, 3], "integers"),
        ([10, 20, 30], "3 counts for 2 weights"),
        ({"a": 1, "b": 2}, "both be mappings"),
    ],
)
def test_invalid_counts_are_rejected(counts: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        srm_chi_square(counts, [0.5, 0.5])


def test_counts_naming_other_arms_are_rejected() -> None:
    with pytest.raises(ValueError, match="same arms"):
        srm_chi_square({"a": 1, "c": 2}, {"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError, match="same arms"):
        update(SequentialSRM.start({"a": 0.5, "b": 0.5}), {"a": 1, "c": 2})


def test_chi_square_needs_observations() -> None:
    with pytest.raises(ValueError, match="at least one observation"):
        srm_chi_square([0, 0], [0.5, 0.5])


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, float("nan")])
def test_alpha_outside_the_unit_interval_is_rejected(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        srm_chi_square([10, 10], [0.5, 0.5], alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        SequentialSRM.start([0.5, 0.5], alpha=alpha)


def test_non_positive_prior_concentration_is_rejected() -> None:
    with pytest.raises(ValueError, match="prior_concentration"):
        SequentialSRM.start([0.5, 0.5], prior_concentration=0.0)
    with pytest.raises(ValueError, match="prior_concentration"):
        dirichlet_multinomial_log_bayes_factor([1, 2], [0.5, 0.5], prior_concentration=-1.0)


def test_decreasing_counts_between_looks_are_rejected() -> None:
    state, _ = update(SequentialSRM.start({"stable": 0.95, "canary": 0.05}), [950, 50])
    with pytest.raises(ValueError, match=r"non-decreasing.*\['canary'\]"):
        update(state, {"stable": 1_900, "canary": 49})


def test_wrong_number_of_counts_in_a_look_is_rejected() -> None:
    with pytest.raises(ValueError, match="3 counts for 2 weights"):
        update(SequentialSRM.start(CANARY_WEIGHTS), [1, 2, 3])


def test_batch_counts_must_match_the_arms() -> None:
    with pytest.raises(ValueError, match="one entry per arm"):
        dirichlet_multinomial_log_bayes_factor(np.zeros((4, 3)), CANARY_WEIGHTS)
    with pytest.raises(ValueError, match="non-negative"):
        dirichlet_multinomial_log_bayes_factor([[5, -1]], CANARY_WEIGHTS)
