"""Anytime-valid comparison of a candidate with its baseline, look after look.

A canary is checked at every interval, and a fixed-horizon test repeated at every look rejects far
more often than its alpha. Both tests here are test martingales: the probability that they *ever*
cross 1/alpha under the null is at most alpha (Ville's inequality), however often one looks.

Proportions (error rates, block rates): a conditional test on the rate ratio. Between two looks,
given how many events happened in total, the number that fell on the candidate is binomial with a
share set by the two arms' traffic and the rate ratio. The likelihood ratio of those splits, mixed
over rate ratios, is an exact martingale under equal rates for rare events (Poisson sampling) and a
supermartingale for any rates under binomial sampling (the hypergeometric split is less dispersed
than the binomial one, and the likelihood ratio is convex in the split). So it stays calibrated at
the small counts of a 1% error rate on 5% of traffic, where normal approximations do not.

Means (latency, cost, quality): the mixture SPRT of Johari et al. (2017, "Peeking at A/B tests")
with a normal mixing distribution, on the difference of means with Welch's variance plugged in;
asymptotic, so callers should ask for a minimum sample per arm.

Comparisons are judged in batches (one row per comparison) so that many of them cost about as much
as one; `SequentialTest` wraps a single comparison. Every result carries the numbers it used, and
decisions are final: once a test crosses its boundary, later looks report the same decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import log_ndtr

from experiments.statistics import Mean, Proportion

Direction = Literal["lower_is_better", "higher_is_better"]
Decision = Literal["pass", "fail", "continue"]
Kind = Literal["proportion", "mean"]
DECISIONS: tuple[Decision, Decision, Decision] = ("continue", "fail", "pass")
_CONTINUE, _FAIL, _PASS = 0, 1, 2


@dataclass(frozen=True)
class TestSettings:
    alpha: float = 0.05
    direction: Direction = "lower_is_better"
    margin: float = 0.0
    """Non-inferiority margin, absolute, in the metric's units: `pass` means the candidate is not
    worse by `margin` or more (with 0: the candidate is better)."""
    min_samples: int = 0
    """Per arm, before any decision (the evidence still accumulates before then)."""
    harm_tolerance: float = 0.0
    """`fail` means the candidate is worse by more than this, absolute, in the metric's units
    (with 0: worse at all). A guardrail that accepts a small cost increase sets it."""

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.direction not in ("lower_is_better", "higher_is_better"):
            raise ValueError(
                f"direction must be lower_is_better or higher_is_better, got {self.direction!r}"
            )
        if not (self.margin >= 0 and math.isfinite(self.margin)):
            raise ValueError(f"margin must be a finite number >= 0, got {self.margin}")
        if not (self.harm_tolerance >= 0 and math.isfinite(self.harm_tolerance)):
            raise ValueError(
                f"harm_tolerance must be a finite number >= 0, got {self.harm_tolerance}"
            )
        if self.min_samples < 0:
            raise ValueError(f"min_samples must be >= 0, got {self.min_samples}")

    @property
    def worse_sign(self) -> int:
        """+1 when a larger candidate value is worse."""
        return 1 if self.direction == "lower_is_better" else -1


@dataclass(frozen=True)
class LookResult:
    decision: Decision
    p_value: float
    """Always-valid p-value of the reported decision's test; for `continue`, the smaller one."""
    p_worse: float
    """Always-valid p-value against 'the candidate is not worse (by more than the tolerance)'."""
    p_noninferior: float
    """Always-valid p-value against 'the candidate is worse by the margin or more'."""
    estimate: float
    """Candidate minus baseline, in the metric's units."""
    ci: tuple[float, float]
    """Anytime-valid (1 - alpha) confidence sequence for candidate minus baseline."""
    baseline_n: int
    candidate_n: int
    method: str
    settings: TestSettings


# --- proportions: the conditional rate-ratio test --------------------------------------------

# Log rate ratios the likelihood is tracked at: ratios from 1/20 to 20 in steps of 5%.
_STEP = 0.05
_HALF = 60
GRID = np.arange(-_HALF, _HALF + 1) * _STEP
_ZERO = _HALF
_EXP_GRID = np.exp(GRID)
_OFFSETS = np.arange(1, _HALF + 1) * _STEP
# Mixing weights over log rate ratios: normal with sd 0.6 (a ratio of 1.8 is one sd away), which
# spends the power on the effects a rollout cares about, such as an error rate doubling.
_PRIOR_SD = 0.6
_W_ONE_SIDED = np.exp(-0.5 * (_OFFSETS / _PRIOR_SD) ** 2)
_W_ONE_SIDED /= _W_ONE_SIDED.sum()
_LOG_W_ONE_SIDED = np.log(_W_ONE_SIDED)
# Two-sided weights for every (alternative j, null i) pair of grid points: half on each side.
_DISTANCE = np.abs(np.arange(GRID.size)[:, None] - np.arange(GRID.size)[None, :])
_W_BY_DISTANCE = 0.5 * np.concatenate([[0.0], _W_ONE_SIDED, np.zeros(_HALF)])
_W_PAIRS = _W_BY_DISTANCE[_DISTANCE]

PROPORTION_METHOD = "conditional binomial mixture SPRT on the rate ratio (anytime-valid)"
MEAN_METHOD = "normal mixture SPRT on the difference of means (Johari et al. 2017)"


class _Batch:
    """Settings and decisions shared by both kinds of comparison."""

    def __init__(self, settings: list[TestSettings]) -> None:
        if not settings:
            raise ValueError("a batch needs at least one comparison")
        self.settings = settings
        self.log_threshold = np.array([math.log(1 / s.alpha) for s in settings])
        self.worse_sign = np.array([s.worse_sign for s in settings], dtype=float)
        self.margin = np.array([s.margin for s in settings])
        self.harm_tolerance = np.array([s.harm_tolerance for s in settings])
        self.min_samples = np.array([max(s.min_samples, 1) for s in settings])
        size = len(settings)
        self.max_log_m_worse = np.zeros(size)
        self.max_log_m_noninferior = np.zeros(size)
        self.decision = np.zeros(size, dtype=np.int8)

    def _decide(self, rows: np.ndarray, baseline_n: np.ndarray, candidate_n: np.ndarray) -> None:
        undecided = self.decision[rows] == _CONTINUE
        enough = np.minimum(baseline_n, candidate_n) >= self.min_samples[rows]
        fail = undecided & enough & (self.max_log_m_worse[rows] >= self.log_threshold[rows])
        passed = (
            undecided
            & enough
            & ~fail
            & (self.max_log_m_noninferior[rows] >= self.log_threshold[rows])
        )
        self.decision[rows[fail]] = _FAIL
        self.decision[rows[passed]] = _PASS

    def _results(
        self,
        rows: np.ndarray,
        estimate: np.ndarray,
        ci_low: np.ndarray,
        ci_high: np.ndarray,
        baseline_n: np.ndarray,
        candidate_n: np.ndarray,
        method: str,
    ) -> LookBatch:
        decision = self.decision[rows].copy()
        p_worse = np.minimum(1.0, np.exp(-self.max_log_m_worse[rows]))
        p_noninferior = np.minimum(1.0, np.exp(-self.max_log_m_noninferior[rows]))
        p_value = np.where(
            decision == _FAIL,
            p_worse,
            np.where(decision == _PASS, p_noninferior, np.minimum(p_worse, p_noninferior)),
        )
        return LookBatch(
            rows,
            decision,
            p_value,
            p_worse,
            p_noninferior,
            estimate,
            ci_low,
            ci_high,
            baseline_n,
            candidate_n,
            method,
            [self.settings[row] for row in rows.tolist()],
        )


@dataclass(frozen=True, eq=False)
class LookBatch:
    """One look at several rows, as arrays (cheap for simulations); `results()` for objects."""

    rows: np.ndarray
    decision: np.ndarray
    p_value: np.ndarray
    p_worse: np.ndarray
    p_noninferior: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    baseline_n: np.ndarray
    candidate_n: np.ndarray
    method: str
    settings: list[TestSettings]

    def results(self) -> list[LookResult]:
        columns = zip(
            self.decision.tolist(),
            self.p_value.tolist(),
            self.p_worse.tolist(),
            self.p_noninferior.tolist(),
            self.estimate.tolist(),
            self.ci_low.tolist(),
            self.ci_high.tolist(),
            self.baseline_n.tolist(),
            self.candidate_n.tolist(),
            self.settings,
            strict=True,
        )
        return [
            LookResult(DECISIONS[d], p, pw, pn, e, (lo, hi), int(bn), int(cn), self.method, st)
            for d, p, pw, pn, e, lo, hi, bn, cn, st in columns
        ]


class ProportionBatch(_Batch):
    """Many proportion comparisons; each look passes cumulative counts for some of the rows."""

    def __init__(self, settings: list[TestSettings]) -> None:
        super().__init__(settings)
        size = len(settings)
        self.counts = np.zeros((size, 4), dtype=np.int64)  # baseline n, events; candidate n, events
        self.log_likelihood = np.zeros((size, GRID.size))
        self.max_log_m_grid = np.zeros((size, GRID.size))

    def look(self, rows: np.ndarray, counts: np.ndarray) -> LookBatch:
        """`counts[k]` = (baseline n, baseline events, candidate n, candidate events) of rows[k]."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = np.asarray(counts, dtype=np.int64).reshape(-1, 4)
        if (
            (counts < 0).any()
            or (counts[:, 1] > counts[:, 0]).any()
            or (counts[:, 3] > counts[:, 2]).any()
        ):
            raise ValueError("counts must be non-negative, with events <= n")
        increment = counts - self.counts[rows]
        if (increment < 0).any():
            raise ValueError("cumulative counts went backwards since the previous look")
        self.counts[rows] = counts
        self._add_splits(rows, increment)

        log_likelihood = self.log_likelihood[rows]
        sign = self.worse_sign[rows]
        baseline_rate = np.divide(
            counts[:, 1], counts[:, 0], out=np.full(len(rows), np.nan), where=counts[:, 0] > 0
        )
        harm_null = _margin_log_ratio(baseline_rate, self.harm_tolerance[rows], sign)
        log_m_worse = _one_sided_log_m(log_likelihood, harm_null, sign)
        null = _margin_log_ratio(baseline_rate, self.margin[rows], sign)
        log_m_noninferior = _with_rare_event_bound(
            _one_sided_log_m(log_likelihood, null, -sign),
            counts[:, 2],
            counts[:, 3],
            self.margin[rows],
            sign,
        )
        self.max_log_m_worse[rows] = np.maximum(self.max_log_m_worse[rows], log_m_worse)
        self.max_log_m_noninferior[rows] = np.maximum(
            self.max_log_m_noninferior[rows], log_m_noninferior
        )
        grid = np.maximum(self.max_log_m_grid[rows], _two_sided_log_m_grid(log_likelihood))
        self.max_log_m_grid[rows] = grid
        self._decide(rows, counts[:, 0], counts[:, 2])

        ci_low, ci_high = _ratio_interval_as_difference(
            grid, baseline_rate, self.log_threshold[rows]
        )
        candidate_rate = np.divide(
            counts[:, 3], counts[:, 2], out=np.full(len(rows), np.nan), where=counts[:, 2] > 0
        )
        return self._results(
            rows,
            candidate_rate - baseline_rate,
            ci_low,
            ci_high,
            counts[:, 0],
            counts[:, 2],
            PROPORTION_METHOD,
        )

    def _add_splits(self, rows: np.ndarray, increment: np.ndarray) -> None:
        new_baseline_n, baseline_events, new_candidate_n, candidate_events = increment.T
        # With new traffic on one arm only, the split carries no information about the ratio.
        informative = (
            (new_baseline_n > 0) & (new_candidate_n > 0) & (baseline_events + candidate_events > 0)
        )
        if not informative.any():
            return
        share = (new_candidate_n / (new_baseline_n + new_candidate_n))[informative][:, None]
        events = (baseline_events + candidate_events)[informative][:, None]
        # With odds ratio e**u, the candidate's share of events is e**u s / (e**u s + 1 - s), and
        # the split's log-likelihood ratio against u = 0 reduces to one logarithm per grid point.
        self.log_likelihood[rows[informative]] += candidate_events[informative][:, None] * GRID[
            None, :
        ] - events * np.log(_EXP_GRID[None, :] * share + (1.0 - share))


# Candidate rates the rare-event test mixes over, as fractions of the margin (grid midpoints).
_RARE_FRACTIONS = (np.arange(20) + 0.5) / 20


def _with_rare_event_bound(
    conditional: np.ndarray,
    candidate_n: np.ndarray,
    candidate_events: np.ndarray,
    margin: np.ndarray,
    sign: np.ndarray,
) -> np.ndarray:
    """Non-inferiority evidence that still grows when errors are rare or absent.

    The conditional test learns only from how events split between the arms: with no events at
    all (a healthy candidate and baseline, both at 0 errors) it can never show non-inferiority.
    For a lower-is-better rate with an absolute margin m, the candidate's rate alone being below
    m implies it is not worse than the baseline by m (the baseline's rate is at least 0). Its
    evidence is a mixture of likelihood ratios of rates p' < m against m, a supermartingale under
    every rate of at least m; it depends on the cumulative counts only. Where it applies, the two
    are averaged, which keeps a test supermartingale (at the price of half of each one's e-value).
    """
    applies = (sign > 0) & (margin > 0) & (margin < 1)
    if not applies.any():
        return conditional
    m = np.where(applies, margin, 0.5)[:, None]
    alternative = m * _RARE_FRACTIONS[None, :]
    events = candidate_events[:, None].astype(float)
    misses = (candidate_n - candidate_events)[:, None].astype(float)
    log_ratios = events * np.log(alternative / m) + misses * np.log((1 - alternative) / (1 - m))
    rare = _log_sum_exp(log_ratios) - math.log(_RARE_FRACTIONS.size)
    averaged = np.logaddexp(conditional, rare) - math.log(2)
    return np.where(applies, averaged, conditional)


def _log_sum_exp(values: np.ndarray) -> np.ndarray:
    peak = values.max(axis=1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return (peak + np.log(np.exp(values - peak).sum(axis=1, keepdims=True)))[:, 0]


def _interpolate_rows(log_likelihood: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each row's log-likelihood at log ratios u[row, :] (linear between grid points)."""
    position = np.clip((u - GRID[0]) / _STEP, 0.0, GRID.size - 1.0)
    lower = np.minimum(position.astype(np.int64), GRID.size - 2)
    fraction = position - lower
    left = np.take_along_axis(log_likelihood, lower, axis=1)
    right = np.take_along_axis(log_likelihood, lower + 1, axis=1)
    return left * (1.0 - fraction) + right * fraction


def _one_sided_log_m(log_likelihood: np.ndarray, null: np.ndarray, side: np.ndarray) -> np.ndarray:
    """log of the mixture likelihood ratio against ratio e**null, over ratios on `side` of it.

    Rows whose null is undefined (NaN) get 0: no evidence.
    """
    result = np.zeros(len(null))
    on_grid = null == 0.0  # the usual case: read the grid directly
    for sign in (1.0, -1.0):
        chosen = on_grid & (side == sign)
        if chosen.any():
            values = (
                log_likelihood[chosen, _ZERO + 1 :]
                if sign > 0
                else log_likelihood[chosen, _ZERO - 1 :: -1]
            )
            result[chosen] = (
                _log_sum_exp(_LOG_W_ONE_SIDED[None, :] + values) - log_likelihood[chosen, _ZERO]
            )
    between = ~on_grid & ~np.isnan(null)
    if between.any():
        result[between] = _off_grid_log_m(log_likelihood[between], null[between], side[between])
    return result


def _off_grid_log_m(log_likelihood: np.ndarray, null: np.ndarray, side: np.ndarray) -> np.ndarray:
    alternatives = null[:, None] + side[:, None] * _OFFSETS[None, :]
    inside = (alternatives >= GRID[0] - 1e-12) & (alternatives <= GRID[-1] + 1e-12)
    values = _interpolate_rows(log_likelihood, alternatives)
    weighted = np.where(inside, _LOG_W_ONE_SIDED[None, :] + values, -np.inf)
    null_value = _interpolate_rows(log_likelihood, null[:, None])[:, 0]
    return np.where(inside.any(axis=1), _log_sum_exp(weighted) - null_value, 0.0)


def _two_sided_log_m_grid(log_likelihood: np.ndarray) -> np.ndarray:
    """For every row and grid ratio, log of the two-sided mixture likelihood ratio against it.

    Ratios whose likelihood underflows next to the best one are rejected outright (infinity).
    """
    relative = log_likelihood - log_likelihood.max(axis=1, keepdims=True)
    # Flush what would be subnormal to zero: subnormals make the product below many times
    # slower, and a ratio 600 log-units below the best is rejected anyway (the likelihood is
    # concave in the log ratio, so some alternative within reach is e**300 times likelier).
    scaled = np.where(relative > -600.0, np.exp(np.maximum(relative, -600.0)), 0.0)
    mixed = scaled @ _W_PAIRS
    with np.errstate(divide="ignore"):
        log_m = np.log(mixed) - relative
    return np.where(scaled > 0, log_m, np.inf)


def _margin_log_ratio(
    baseline_rate: np.ndarray, margin: np.ndarray, sign: np.ndarray
) -> np.ndarray:
    """The log rate ratio at which the candidate is worse by exactly `margin`.

    With a margin the boundary depends on the baseline rate, which is plugged in from the
    baseline's (usually much larger) sample; NaN while the baseline has no events.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 1.0 + sign * margin / baseline_rate
    ratio = np.clip(ratio, math.exp(GRID[0]), math.exp(GRID[-1]))
    log_ratio = np.log(ratio)
    unknown = np.isnan(baseline_rate) | (baseline_rate <= 0)
    return np.where(margin == 0, 0.0, np.where(unknown, np.nan, log_ratio))


def _ratio_interval_as_difference(
    max_log_m_grid: np.ndarray, baseline_rate: np.ndarray, log_threshold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    kept = max_log_m_grid < log_threshold[:, None]
    any_kept = kept.any(axis=1)
    first = np.argmax(kept, axis=1)
    last = GRID.size - 1 - np.argmax(kept[:, ::-1], axis=1)
    # Between a kept grid point and its rejected neighbour lie ratios the test may not reject:
    # end the interval at the rejected neighbour, so it holds everything not rejected.
    outer_low = np.maximum(first - 1, 0)
    outer_high = np.minimum(last + 1, GRID.size - 1)
    low = (np.exp(GRID[outer_low]) - 1.0) * baseline_rate
    high = (np.exp(GRID[outer_high]) - 1.0) * baseline_rate
    # The grid's ends stand for "beyond": a candidate rate of 0, or no upper bound.
    low = np.where(first == 0, -baseline_rate, low)
    high = np.where(last == GRID.size - 1, np.inf, high)
    nothing = ~any_kept | np.isnan(baseline_rate)
    return np.where(nothing, np.nan, low), np.where(nothing, np.nan, high)


# --- means: the mixture SPRT -----------------------------------------------------------------

# Observations per arm before the mean test uses its plug-in variance at all.
MIN_MEAN_SAMPLES = 30
# Mixing sd as a share of the metric's standard deviation: tuned to effects of a fifth of an sd.
_TAU_PER_SD = 0.2


class MeanBatch(_Batch):
    def __init__(self, settings: list[TestSettings]) -> None:
        super().__init__(settings)
        size = len(settings)
        self.ci_low = np.full(size, -np.inf)
        self.ci_high = np.full(size, np.inf)
        self.counts = np.zeros((size, 2))  # baseline n, candidate n

    def look(self, rows: np.ndarray, stats: np.ndarray) -> LookBatch:
        """`stats[k]` = (baseline n, sum, sum_sq, candidate n, sum, sum_sq) of rows[k]."""
        rows = np.asarray(rows, dtype=np.int64)
        stats = np.asarray(stats, dtype=float).reshape(-1, 6)
        baseline_n, baseline_sum, baseline_sq, candidate_n, candidate_sum, candidate_sq = stats.T
        if (baseline_n < 0).any() or (candidate_n < 0).any():
            raise ValueError("n must be non-negative")
        counts = np.column_stack([baseline_n, candidate_n])
        if (counts < self.counts[rows]).any():
            raise ValueError("cumulative counts went backwards since the previous look")
        self.counts[rows] = counts
        with np.errstate(divide="ignore", invalid="ignore"):
            baseline_mean = baseline_sum / baseline_n
            candidate_mean = candidate_sum / candidate_n
            baseline_var = np.maximum(
                0.0, (baseline_sq - baseline_sum * baseline_mean) / (baseline_n - 1)
            )
            candidate_var = np.maximum(
                0.0, (candidate_sq - candidate_sum * candidate_mean) / (candidate_n - 1)
            )
        difference = candidate_mean - baseline_mean
        # The variance is estimated, so neither evidence nor interval is taken from tiny samples:
        # an interval cut from them would stay cut (the sequence is a running intersection).
        floor = np.maximum(self.min_samples[rows], MIN_MEAN_SAMPLES)
        ready = (baseline_n >= floor) & (candidate_n >= floor)
        pooled_sd = np.sqrt((baseline_var + candidate_var) / 2.0)
        scale = np.maximum.reduce([pooled_sd, np.abs(baseline_mean), np.full(len(rows), 1e-12)])
        with np.errstate(divide="ignore", invalid="ignore"):
            variance = np.maximum(
                baseline_var / baseline_n + candidate_var / candidate_n, (1e-9 * scale) ** 2
            )
        tau_sq = (_TAU_PER_SD * np.maximum(pooled_sd, 1e-9 * scale)) ** 2
        oriented = self.worse_sign[rows] * difference
        log_m_worse = _one_sided_mixture_log_m(
            oriented - self.harm_tolerance[rows], variance, tau_sq
        )
        log_m_noninferior = _one_sided_mixture_log_m(self.margin[rows] - oriented, variance, tau_sq)
        half_width = np.sqrt(
            variance
            * (variance + tau_sq)
            / tau_sq
            * (np.log((variance + tau_sq) / variance) + 2.0 * self.log_threshold[rows])
        )
        ready_rows = rows[ready]
        self.max_log_m_worse[ready_rows] = np.maximum(
            self.max_log_m_worse[ready_rows], log_m_worse[ready]
        )
        self.max_log_m_noninferior[ready_rows] = np.maximum(
            self.max_log_m_noninferior[ready_rows], log_m_noninferior[ready]
        )
        self.ci_low[ready_rows] = np.maximum(
            self.ci_low[ready_rows], (difference - half_width)[ready]
        )
        self.ci_high[ready_rows] = np.minimum(
            self.ci_high[ready_rows], (difference + half_width)[ready]
        )
        self._decide(rows, baseline_n, candidate_n)
        return self._results(
            rows,
            difference,
            self.ci_low[rows],
            self.ci_high[rows],
            baseline_n,
            candidate_n,
            MEAN_METHOD,
        )


def _one_sided_mixture_log_m(
    excess: np.ndarray, variance: np.ndarray, tau_sq: np.ndarray
) -> np.ndarray:
    """log of the half-normal mixture likelihood ratio for an observed excess over the null."""
    with np.errstate(invalid="ignore"):
        z = excess / np.sqrt(variance)
        log_m = (
            math.log(2.0)
            + 0.5 * np.log(variance / (variance + tau_sq))
            + z * z * tau_sq / (2.0 * (variance + tau_sq))
            + log_ndtr(z * np.sqrt(tau_sq / (variance + tau_sq)))
        )
    return np.where(np.isfinite(log_m) | (log_m == np.inf), log_m, 0.0)


# --- one comparison ----------------------------------------------------------------------------


class SequentialTest:
    """One candidate-vs-baseline comparison, looked at again and again with cumulative stats."""

    def __init__(self, kind: Kind, settings: TestSettings | None = None) -> None:
        self.kind = kind
        self.settings = settings or TestSettings()
        if kind == "proportion":
            self._batch: ProportionBatch | MeanBatch = ProportionBatch([self.settings])
        elif kind == "mean":
            self._batch = MeanBatch([self.settings])
        else:
            raise ValueError(f"kind must be 'proportion' or 'mean', got {kind!r}")

    def look(self, baseline: Proportion | Mean, candidate: Proportion | Mean) -> LookResult:
        rows = np.zeros(1, dtype=np.int64)
        if isinstance(self._batch, ProportionBatch):
            if not (isinstance(baseline, Proportion) and isinstance(candidate, Proportion)):
                raise TypeError("a proportion test takes Proportion statistics")
            counts = [[baseline.n, baseline.events, candidate.n, candidate.events]]
            return self._batch.look(rows, np.asarray(counts)).results()[0]
        if not (isinstance(baseline, Mean) and isinstance(candidate, Mean)):
            raise TypeError("a mean test takes Mean statistics")
        stats = [
            [
                baseline.n,
                baseline.sum,
                baseline.sum_sq,
                candidate.n,
                candidate.sum,
                candidate.sum_sq,
            ]
        ]
        return self._batch.look(rows, np.asarray(stats)).results()[0]
