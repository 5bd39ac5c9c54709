"""The anytime-valid sequential tests: the error guarantee and power by seeded simulation (the
issue's proof), the proportion statistic against scipy, confidence-sequence coverage, the
behaviour of decisions across looks, and the cost of a look."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from experiments.sequential import (
    _FAIL,
    _PASS,
    GRID,
    MeanBatch,
    ProportionBatch,
    SequentialTest,
)
from experiments.sequential import TestSettings as Settings  # not "Test*": pytest collects those
from experiments.simulation import (
    BASELINE_PER_LOOK,
    LOOK_EVERY,
    latency_study,
    look_cost_microseconds,
    proportion_study,
)
from experiments.statistics import Mean, Proportion

ALPHA = 0.05


def upper_tolerance(runs: int, rate: float = ALPHA, level: float = 0.99) -> float:
    """How far above `rate` a share of `runs` may land by chance alone when the true rate is
    exactly `rate`: the binomial's `level` quantile, as a share, minus `rate`. A seeded study
    is one draw, so asserting `share <= alpha + this` checks the guarantee and not the seed."""
    return float(binom.ppf(level, runs, rate)) / runs - rate


def mean_of(values_mean: float, sd: float, n: int) -> Mean:
    """Sufficient statistics of n values with this mean and sample sd."""
    return Mean(n, values_mean * n, (n - 1) * sd * sd + n * values_mean * values_mean)


# --- calibration and power: the proof --------------------------------------------------


def test_proportion_aa_is_calibrated_while_peeking_at_a_z_test_is_not() -> None:
    # 1% vs 1% on 5% of traffic, a look every 100 candidate requests up to 20,000: 200 looks.
    study = proportion_study(2000, 200, 0.01, 0.01, seed=7)
    # Observed: share_fail 0.0275, share_pass 0.033; naive 0.3735 and 0.3075.
    assert study.share_fail <= ALPHA
    assert study.share_pass <= ALPHA
    assert study.naive_share_fail > 0.15
    assert study.naive_share_pass > 0.15


def test_proportion_power_detects_a_doubled_error_rate_quickly() -> None:
    study = proportion_study(2000, 50, 0.01, 0.02, seed=8)
    # Observed: share_fail 0.999, median 1000 candidate requests.
    assert study.share_fail >= 0.90
    assert study.median_requests_to_fail <= 5000
    assert study.share_pass == 0.0


def test_latency_aa_is_calibrated() -> None:
    study = latency_study(300, 200, 1.0, seed=9)
    # Observed: share_fail 0.01. Tolerance 0.03: 99th percentile of Binomial(300, 0.05) is 24.
    assert study.share_fail <= ALPHA + upper_tolerance(300)
    assert study.share_pass <= ALPHA + upper_tolerance(300)


def test_latency_power_detects_a_twenty_percent_slowdown() -> None:
    study = latency_study(300, 50, 1.2, seed=10)
    # Observed: share_fail 1.0 (at the first look allowed by min_samples=100).
    assert study.share_fail >= 0.90
    assert study.share_pass == 0.0


def margin_boundary_study(
    runs: int, looks: int, baseline_rate: float, candidate_rate: float, margin: float, seed: int
) -> tuple[float, float]:
    """Share of runs whose non-inferiority evidence ever crossed 1/alpha, and share that ended
    with decision `pass`. The first is not masked by `fail` decisions taken earlier."""
    rng = np.random.default_rng(seed)
    batch = ProportionBatch([Settings(alpha=ALPHA, margin=margin)] * runs)
    rows = np.arange(runs)
    baseline_events = np.zeros(runs, dtype=np.int64)
    candidate_events = np.zeros(runs, dtype=np.int64)
    for look in range(1, looks + 1):
        baseline_events += rng.binomial(BASELINE_PER_LOOK, baseline_rate, runs)
        candidate_events += rng.binomial(LOOK_EVERY, candidate_rate, runs)
        counts = np.stack(
            [
                np.full(runs, BASELINE_PER_LOOK * look),
                baseline_events,
                np.full(runs, LOOK_EVERY * look),
                candidate_events,
            ],
            axis=1,
        )
        batch.look(rows, counts)
    crossed = batch.max_log_m_noninferior >= batch.log_threshold
    return float(crossed.mean()), float((batch.decision == _PASS).mean())


def test_pass_with_margin_is_calibrated_at_the_boundary() -> None:
    # The candidate is worse by exactly the margin: 'pass' (non-inferior) would be a false claim.
    ever_crossed, passed = margin_boundary_study(1000, 200, 0.01, 0.015, 0.005, seed=11)
    # Observed: 0.031 crossed, 0.030 passed. Tolerance 0.016 (Binomial(1000, 0.05) 99th pct).
    assert ever_crossed <= ALPHA + upper_tolerance(1000)
    assert passed <= ever_crossed


def test_pass_with_margin_has_power_when_the_candidate_is_as_good() -> None:
    study = proportion_study(1000, 200, 0.01, 0.01, seed=12, margin=0.005)
    # Observed: share_pass 0.974.
    assert study.share_pass >= 0.90
    assert study.share_fail <= ALPHA + upper_tolerance(1000)


def test_pass_with_margin_is_calibrated_when_the_baseline_never_errs() -> None:
    # The rare-event route to 'pass': a baseline with no errors, a candidate at exactly the
    # margin (worse by it), so any pass is false; its evidence is the candidate's rate alone.
    ever_crossed, passed = margin_boundary_study(1000, 200, 0.0, 0.005, 0.005, seed=13)
    # Observed: 0.017 crossed, 0.010 passed.
    assert ever_crossed <= ALPHA + upper_tolerance(1000)
    assert passed <= ever_crossed


def test_pass_with_margin_comes_with_no_errors_at_all() -> None:
    # Both arms at 0 errors: no split of events to learn from, yet a clean candidate passes.
    _crossed, passed = margin_boundary_study(200, 200, 0.0, 0.0, 0.005, seed=14)
    assert passed == 1.0


# --- the proportion statistic, exactly ------------------------------------------------------------


def split_log_likelihood_ratio(u: float, bn: int, be: int, cn: int, ce: int) -> float:
    """log P(ce of be + ce events on the candidate | ratio e**u) - the same at u = 0, by scipy."""
    share = cn / (bn + cn)
    events = be + ce
    p_u = math.exp(u) * share / (math.exp(u) * share + 1 - share)
    return float(binom.logpmf(ce, events, p_u) - binom.logpmf(ce, events, share))


@pytest.mark.parametrize("u", [-2.0, -0.5, -0.05, 0.0, 0.25, 0.7, 1.5, 3.0])
def test_log_likelihood_on_the_grid_is_the_binomial_split(u: float) -> None:
    (j,) = np.flatnonzero(np.isclose(GRID, u))
    batch = ProportionBatch([Settings()])
    batch.look(np.array([0]), np.array([[1900, 19, 100, 4]]))
    assert batch.log_likelihood[0, j] == pytest.approx(
        split_log_likelihood_ratio(u, 1900, 19, 100, 4), rel=1e-10, abs=1e-12
    )
    # A second look adds the split of the increment only: (+3800, +41) and (+250, +9).
    batch.look(np.array([0]), np.array([[5700, 60, 350, 13]]))
    expected = split_log_likelihood_ratio(u, 1900, 19, 100, 4) + split_log_likelihood_ratio(
        u, 3800, 41, 250, 9
    )
    assert batch.log_likelihood[0, j] == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_p_worse_is_the_inverse_of_the_one_sided_mixture() -> None:
    # Mixture over log ratios 0.05, 0.10, ..., 3.0 with half-normal weights (sd 0.6).
    offsets = np.arange(1, 61) * 0.05
    weights = np.exp(-0.5 * (offsets / 0.6) ** 2)
    weights /= weights.sum()
    counts = (1900, 19, 100, 5)
    likelihood_ratios = np.exp([split_log_likelihood_ratio(u, *counts) for u in offsets])
    mixture = float(weights @ likelihood_ratios)
    result = SequentialTest("proportion").look(Proportion(1900, 19), Proportion(100, 5))
    assert result.p_worse == pytest.approx(min(1.0, 1.0 / mixture), rel=1e-9)
    # higher_is_better reads the other side of the same likelihood.
    mirrored_ratios = np.exp([split_log_likelihood_ratio(-u, *counts) for u in offsets])
    mirrored = SequentialTest("proportion", Settings(direction="higher_is_better")).look(
        Proportion(1900, 19), Proportion(100, 5)
    )
    assert mirrored.p_worse == pytest.approx(min(1.0, 1.0 / float(weights @ mirrored_ratios)))


# --- anytime confidence sequences ---------------------------------------------------------------


def proportion_coverage(
    runs: int, looks: int, baseline_rate: float, candidate_rate: float, seed: int
) -> float:
    """Share of runs whose confidence sequence held the true difference at every look (a missing
    interval, NaN, counts as a miss: it claims that no difference is compatible)."""
    rng = np.random.default_rng(seed)
    batch = ProportionBatch([Settings(alpha=ALPHA)] * runs)
    rows = np.arange(runs)
    truth = candidate_rate - baseline_rate
    baseline_events = np.zeros(runs, dtype=np.int64)
    candidate_events = np.zeros(runs, dtype=np.int64)
    covered = np.ones(runs, dtype=bool)
    for look in range(1, looks + 1):
        baseline_events += rng.binomial(BASELINE_PER_LOOK, baseline_rate, runs)
        candidate_events += rng.binomial(LOOK_EVERY, candidate_rate, runs)
        counts = np.stack(
            [
                np.full(runs, BASELINE_PER_LOOK * look),
                baseline_events,
                np.full(runs, LOOK_EVERY * look),
                candidate_events,
            ],
            axis=1,
        )
        looked = batch.look(rows, counts)
        covered &= (looked.ci_low <= truth) & (truth <= looked.ci_high)
    return float(covered.mean())


def test_proportion_confidence_sequence_covers_the_true_difference() -> None:
    coverage = proportion_coverage(500, 100, 0.02, 0.03, seed=1)
    assert coverage >= 1 - ALPHA


def test_proportion_interval_contains_every_difference_the_test_does_not_reject() -> None:
    baseline, candidate = Proportion(1900, 38), Proportion(100, 9)
    result = SequentialTest("proportion").look(baseline, candidate)
    assert result.decision == "fail"
    # The two-sided mixture against log ratio u, with alternatives u +- 0.05k (half each side).
    offsets = np.arange(1, 61) * 0.05
    weights = np.exp(-0.5 * (offsets / 0.6) ** 2)
    weights /= weights.sum()

    def mixture_against(u: float) -> float:
        counts = (1900, 38, 100, 9)
        at_u = split_log_likelihood_ratio(u, *counts)
        up = [split_log_likelihood_ratio(u + o, *counts) - at_u for o in offsets]
        down = [split_log_likelihood_ratio(u - o, *counts) - at_u for o in offsets]
        return float(weights @ (0.5 * (np.exp(up) + np.exp(down))))

    u = 0.075  # a ratio of 1.078 lies between grid points 0.05 and 0.10
    assert mixture_against(u) < 1 / ALPHA  # (about 19.3): not rejected
    difference = (math.exp(u) - 1) * baseline.rate  # 0.00156
    low, high = result.ci
    assert low <= difference <= high  # reported low end: 0.0021 (the grid ratio 1.105)


def test_mean_confidence_sequence_covers_the_true_difference() -> None:
    rng = np.random.default_rng(3)
    runs, looks, shift = 500, 60, 30.0
    batch = MeanBatch([Settings(alpha=ALPHA)] * runs)
    rows = np.arange(runs)
    sums = np.zeros((runs, 4))
    covered = np.ones(runs, dtype=bool)
    for look in range(1, looks + 1):
        baseline = rng.lognormal(math.log(300), 0.5, (runs, BASELINE_PER_LOOK))
        candidate = rng.lognormal(math.log(300), 0.5, (runs, LOOK_EVERY)) + shift
        sums += np.stack(
            [
                baseline.sum(1),
                np.square(baseline).sum(1),
                candidate.sum(1),
                np.square(candidate).sum(1),
            ],
            axis=1,
        )
        stats = np.column_stack(
            [
                np.full(runs, BASELINE_PER_LOOK * look),
                sums[:, 0],
                sums[:, 1],
                np.full(runs, LOOK_EVERY * look),
                sums[:, 2],
                sums[:, 3],
            ]
        )
        looked = batch.look(rows, stats)
        covered &= (looked.ci_low <= shift) & (shift <= looked.ci_high)
    # Observed: 0.972; the median final width is 14.7, so the intervals are not trivially wide.
    assert covered.mean() >= 1 - ALPHA
    assert np.median(looked.ci_high - looked.ci_low) < shift


# --- decisions across looks ---------------------------------------------------------------------


def test_a_fail_is_final_even_after_reassuring_data() -> None:
    test = SequentialTest("proportion")
    first = test.look(Proportion(1900, 19), Proportion(100, 12))
    assert first.decision == "fail"
    assert first.p_value <= ALPHA
    # A thousand times more traffic, and the candidate makes no further error at all ...
    later = test.look(Proportion(1_900_000, 19_000), Proportion(100_100, 12))
    assert later.decision == "fail"
    assert later.p_value == first.p_value
    # ... which on its own would be a clear pass.
    fresh = SequentialTest("proportion").look(
        Proportion(1_900_000, 19_000), Proportion(100_100, 12)
    )
    assert fresh.decision == "pass"


def test_a_mean_pass_is_final_even_after_alarming_data() -> None:
    test = SequentialTest("mean")
    first = test.look(mean_of(300.0, 50.0, 19_000), mean_of(250.0, 50.0, 1_000))
    assert first.decision == "pass"
    later = test.look(mean_of(300.0, 50.0, 38_000), mean_of(400.0, 50.0, 100_000))
    assert later.decision == "pass"
    assert later.p_value == first.p_value
    fresh = SequentialTest("mean").look(mean_of(300.0, 50.0, 38_000), mean_of(400.0, 50.0, 100_000))
    assert fresh.decision == "fail"


def test_min_samples_holds_the_decision_back_but_keeps_the_evidence() -> None:
    held = SequentialTest("proportion", Settings(min_samples=1000))
    early = held.look(Proportion(1900, 19), Proportion(100, 12))
    assert early.decision == "continue"
    assert early.p_worse <= ALPHA  # the evidence is there, the decision waits
    assert SequentialTest("proportion").look(
        Proportion(1900, 19), Proportion(100, 12)
    ).decision == ("fail")
    # At 1000 per arm the cumulative counts alone look harmless (1.2% vs 1%) ...
    late = held.look(Proportion(19_000, 190), Proportion(1000, 12))
    fresh = SequentialTest("proportion").look(Proportion(19_000, 190), Proportion(1000, 12))
    assert fresh.decision == "continue"
    # ... but the evidence gathered before min_samples was kept, and now decides.
    assert late.decision == "fail"
    assert late.p_value == early.p_worse


def test_min_samples_holds_back_mean_evidence_too() -> None:
    """The mean test's variance is a plug-in, so below min_samples it takes no evidence at all
    (unlike the exact proportion test) and its interval stays unbounded."""
    held = SequentialTest("mean", Settings(min_samples=500))
    early = held.look(mean_of(300.0, 50.0, 1900), mean_of(400.0, 50.0, 100))
    assert early.decision == "continue"
    assert early.p_worse == 1.0 and early.ci == (-math.inf, math.inf)
    late = held.look(mean_of(300.0, 50.0, 9500), mean_of(400.0, 50.0, 500))
    assert late.decision == "fail"
    assert late.ci[0] > 0


def test_mean_test_waits_for_thirty_observations_per_arm() -> None:
    test = SequentialTest("mean")  # min_samples 0: the floor of 30 still applies
    few = test.look(mean_of(300.0, 50.0, 29), mean_of(600.0, 50.0, 29))
    assert few.decision == "continue" and few.p_worse == 1.0
    enough = test.look(mean_of(300.0, 50.0, 30), mean_of(600.0, 50.0, 30))
    assert enough.decision == "fail"


@pytest.mark.parametrize(
    ("candidate_events", "lower_decision"),
    [(144, "fail"), (4, "pass"), (50, "continue")],
)
def test_higher_is_better_mirrors_lower_is_better_for_proportions(
    candidate_events: int, lower_decision: str
) -> None:
    baseline, candidate = Proportion(19_000, 950), Proportion(1000, candidate_events)
    lower = SequentialTest("proportion").look(baseline, candidate)
    higher = SequentialTest("proportion", Settings(direction="higher_is_better")).look(
        baseline, candidate
    )
    assert lower.decision == lower_decision
    # With margin 0 the two one-sided tests swap roles, and fail and pass swap with them.
    assert higher.p_worse == pytest.approx(lower.p_noninferior, rel=1e-12)
    assert higher.p_noninferior == pytest.approx(lower.p_worse, rel=1e-12)
    swap = {"fail": "pass", "pass": "fail", "continue": "continue"}
    assert higher.decision == swap[lower.decision]
    assert higher.ci == lower.ci
    assert higher.estimate == lower.estimate


def test_clear_directions_for_proportions() -> None:
    baseline = Proportion(19_000, 950)  # 5%
    high, low = Proportion(1000, 144), Proportion(1000, 4)
    lower_settings = Settings(direction="lower_is_better")
    higher_settings = Settings(direction="higher_is_better")
    assert SequentialTest("proportion", lower_settings).look(baseline, high).decision == "fail"
    assert SequentialTest("proportion", lower_settings).look(baseline, low).decision == "pass"
    assert SequentialTest("proportion", higher_settings).look(baseline, high).decision == "pass"
    assert SequentialTest("proportion", higher_settings).look(baseline, low).decision == "fail"


@pytest.mark.parametrize(
    ("candidate_mean", "margin", "lower_decision"),
    [(330.0, 0.0, "fail"), (290.0, 0.0, "pass"), (305.0, 20.0, "pass"), (301.0, 0.0, "continue")],
)
def test_higher_is_better_mirrors_lower_is_better_for_means(
    candidate_mean: float, margin: float, lower_decision: str
) -> None:
    """Negating every value turns one direction into the other exactly."""
    lower = SequentialTest("mean", Settings(margin=margin))
    higher = SequentialTest("mean", Settings(direction="higher_is_better", margin=margin))
    for bn, cn in [(1900, 100), (3800, 200), (5700, 300)]:
        baseline, candidate = mean_of(300.0, 60.0, bn), mean_of(candidate_mean, 60.0, cn)
        a = lower.look(baseline, candidate)
        b = higher.look(
            Mean(baseline.n, -baseline.sum, baseline.sum_sq),
            Mean(candidate.n, -candidate.sum, candidate.sum_sq),
        )
        assert b.decision == a.decision
        assert b.p_worse == pytest.approx(a.p_worse, rel=1e-9)
        assert b.p_noninferior == pytest.approx(a.p_noninferior, rel=1e-9)
        assert b.estimate == pytest.approx(-a.estimate)
        assert b.ci[0] == pytest.approx(-a.ci[1])
        assert b.ci[1] == pytest.approx(-a.ci[0])
    assert a.decision == lower_decision


def proportion_state(batch: ProportionBatch) -> list[np.ndarray]:
    return [
        batch.counts.copy(),
        batch.log_likelihood.copy(),
        batch.max_log_m_grid.copy(),
        batch.max_log_m_worse.copy(),
        batch.max_log_m_noninferior.copy(),
        batch.decision.copy(),
    ]


@pytest.mark.parametrize(
    "backwards",
    [
        (Proportion(1900, 20), Proportion(100, 4)),  # baseline n
        (Proportion(3800, 19), Proportion(200, 4)),  # baseline events
        (Proportion(3800, 40), Proportion(150, 4)),  # candidate n
        (Proportion(3800, 40), Proportion(200, 3)),  # candidate events
    ],
)
def test_counts_going_backwards_raise_and_leave_the_state_unchanged(
    backwards: tuple[Proportion, Proportion],
) -> None:
    test = SequentialTest("proportion")
    test.look(Proportion(1900, 19), Proportion(100, 2))
    test.look(Proportion(3800, 30), Proportion(200, 4))
    batch = test._batch
    assert isinstance(batch, ProportionBatch)
    before = proportion_state(batch)
    with pytest.raises(ValueError, match="backwards"):
        test.look(*backwards)
    for was, now in zip(before, proportion_state(batch), strict=True):
        np.testing.assert_array_equal(was, now)
    # The comparison carries on as if the bad look had never been made.
    reference = SequentialTest("proportion")
    reference.look(Proportion(1900, 19), Proportion(100, 2))
    reference.look(Proportion(3800, 30), Proportion(200, 4))
    assert test.look(Proportion(5700, 50), Proportion(300, 9)) == reference.look(
        Proportion(5700, 50), Proportion(300, 9)
    )


def test_a_batch_look_with_one_bad_row_changes_no_row() -> None:
    batch = ProportionBatch([Settings()] * 3)
    rows = np.arange(3)
    batch.look(rows, np.array([[1900, 19, 100, 2]] * 3))
    before = proportion_state(batch)
    with pytest.raises(ValueError, match="backwards"):
        batch.look(rows, np.array([[3800, 40, 200, 5], [3800, 40, 200, 5], [3800, 40, 50, 1]]))
    with pytest.raises(ValueError, match="events <= n"):
        batch.look(rows, np.array([[3800, 40, 200, 5], [3800, 40, 200, 201], [3800, 40, 200, 5]]))
    for was, now in zip(before, proportion_state(batch), strict=True):
        np.testing.assert_array_equal(was, now)


def test_mean_counts_going_backwards_raise() -> None:
    test = SequentialTest("mean")
    test.look(mean_of(300.0, 50.0, 3800), mean_of(300.0, 50.0, 200))
    with pytest.raises(ValueError):
        test.look(mean_of(300.0, 50.0, 1900), mean_of(300.0, 50.0, 100))


@pytest.mark.parametrize("margin", [0.0, 0.005])
@pytest.mark.parametrize("direction", ["lower_is_better", "higher_is_better"])
def test_no_data_is_never_a_pass(margin: float, direction: str) -> None:
    settings = Settings(margin=margin, direction=direction)  # type: ignore[arg-type]
    proportion = SequentialTest("proportion", settings)
    mean = SequentialTest("mean", settings)
    for _ in range(50):
        p = proportion.look(Proportion(0, 0), Proportion(0, 0))
        m = mean.look(Mean(), Mean())
        assert p.decision == m.decision == "continue"
        assert p.p_value == m.p_value == 1.0
    # Traffic on one arm only says nothing about the comparison either.
    only_baseline = SequentialTest("proportion", settings)
    for look in range(1, 51):
        result = only_baseline.look(Proportion(10_000 * look, 100 * look), Proportion(0, 0))
        assert result.decision == "continue"


def test_sequential_test_rejects_mismatched_statistics() -> None:
    with pytest.raises(TypeError, match="Proportion"):
        SequentialTest("proportion").look(Mean(10, 1.0, 1.0), Mean(10, 1.0, 1.0))
    with pytest.raises(TypeError, match="Proportion"):
        SequentialTest("proportion").look(Proportion(10, 1), Mean(10, 1.0, 1.0))
    with pytest.raises(TypeError, match="Mean"):
        SequentialTest("mean").look(Proportion(10, 1), Proportion(10, 1))
    with pytest.raises(TypeError, match="Mean"):
        SequentialTest("mean").look(Mean(10, 1.0, 1.0), Proportion(10, 1))
    with pytest.raises(ValueError, match="kind"):
        SequentialTest("median")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"direction": "sideways"},
        {"margin": -0.01},
        {"margin": math.inf},
        {"min_samples": -1},
    ],
)
def test_settings_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Settings(**bad)  # type: ignore[arg-type]


def test_batch_decisions_are_the_single_test_decisions() -> None:
    """Rows of one batch do not interact: each equals its own SequentialTest."""
    rng = np.random.default_rng(5)
    runs = 20
    batch = ProportionBatch([Settings()] * runs)
    singles = [SequentialTest("proportion") for _ in range(runs)]
    events = np.zeros((runs, 2), dtype=np.int64)
    rates = np.where(np.arange(runs) % 2 == 0, 0.01, 0.03)
    for look in range(1, 21):
        events[:, 0] += rng.binomial(1900, 0.01, runs)
        events[:, 1] += rng.binomial(100, rates)
        # Only some rows look each time.
        rows = np.flatnonzero(rng.random(runs) < 0.7)
        counts = np.column_stack(
            [np.full(runs, 1900 * look), events[:, 0], np.full(runs, 100 * look), events[:, 1]]
        )[rows]
        results = batch.look(rows, counts).results()
        for row, row_counts, result in zip(rows.tolist(), counts.tolist(), results, strict=True):
            single = singles[row].look(Proportion(*row_counts[:2]), Proportion(*row_counts[2:]))
            assert result.decision == single.decision
            assert result.p_value == pytest.approx(single.p_value, rel=1e-12)
    assert (batch.decision == _FAIL).any()


# --- speed ---------------------------------------------------------------------------------------


def test_a_look_costs_well_under_a_millisecond_whatever_the_traffic() -> None:
    costs = look_cost_microseconds(repeats=500)
    # Observed: about 150 µs per proportion look and 80 µs per mean look.
    assert costs
    assert all(micros < 1000 for micros in costs.values()), costs
    small = costs["proportion, 100 requests per look"]
    large = costs["proportion, 10 million requests per look"]
    assert max(small, large) / min(small, large) < 3, costs
