"""Sample ratio mismatch (SRM): did traffic reach the arms in the proportions we intended?

An SRM means the assignment or logging path is broken (a variant that crashes before it is
counted, a sticky-routing bug, bots landing in one arm), and then every metric comparison between
the arms is confounded. So this check is a hard gate: when it fires, no metric of the experiment
or canary is judged.

Two checks, for two ways of looking:

- `srm_chi_square`: Pearson's goodness-of-fit test, valid for a single look at a fixed sample
  size (a finished experiment, a one-off audit).
- `SequentialSRM` / `update`: the Dirichlet-multinomial mixture test of Lindon & Malek (2022),
  "Anytime-valid inference for multinomial count data" (NeurIPS). Its p-value stays valid however
  often we look and whenever we stop, which is what a canary that is checked every few hundred
  requests needs: repeating the chi-square test at every look would inflate the false alarm rate
  far above its nominal alpha.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

WEIGHT_SUM_TOLERANCE = 1e-9
DEFAULT_ALPHA = 0.001
# Lindon & Malek centre the Dirichlet prior on the null (alpha_0 = k * weights) and their reference
# implementation uses k = 100: concentrated enough that the modest imbalances real routing bugs
# cause are detected quickly, yet wide enough to catch gross ones. The error guarantee holds for
# any k; k only moves power between small and large deviations.
DEFAULT_PRIOR_CONCENTRATION = 100.0

CountsInput = Sequence[int] | Mapping[str, int]
WeightsInput = Sequence[float] | Mapping[str, float]


def _checked_alpha(alpha: float) -> float:
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _checked_weights(weights: Sequence[float]) -> tuple[float, ...]:
    if len(weights) < 2:
        raise ValueError(f"an SRM check needs at least two arms, got {len(weights)} weight(s)")
    checked: list[float] = []
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.number):
            raise ValueError(f"weights must be numbers, got {weight!r}")
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"weights must be positive and finite, got {list(weights)}")
        checked.append(float(weight))
    total = math.fsum(checked)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(
            f"weights must sum to 1 (within {WEIGHT_SUM_TOLERANCE:g}), got {total!r} from {checked}"
        )
    # Renormalise so the expected counts add up to the observed total exactly; the tolerance above
    # is for weights written as decimals, not for allocations that are genuinely off.
    return tuple(weight / total for weight in checked)


def _checked_counts(counts: Sequence[int]) -> tuple[int, ...]:
    checked: list[int] = []
    for count in counts:
        try:
            if isinstance(count, bool):
                raise TypeError
            value = operator.index(count)
        except TypeError:
            raise ValueError(f"counts must be integers, got {count!r}") from None
        if value < 0:
            raise ValueError(f"counts must be non-negative, got {list(counts)}")
        checked.append(value)
    return tuple(checked)


def _arms_and_weights(weights: WeightsInput) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Arm names in allocation order; positional weights are named by their index."""
    if isinstance(weights, Mapping):
        arms = tuple(str(arm) for arm in weights)
        return arms, _checked_weights(list(weights.values()))
    if isinstance(weights, str | bytes):
        raise ValueError(f"weights must be a sequence or mapping of numbers, got {weights!r}")
    checked = _checked_weights(list(weights))
    return tuple(str(index) for index in range(len(checked))), checked


def _counts_in_arm_order(counts: CountsInput, arms: tuple[str, ...]) -> tuple[int, ...]:
    """Line counts up with the weights, refusing anything that could silently misalign them."""
    if isinstance(counts, Mapping):
        if set(counts) != set(arms):
            raise ValueError(
                f"counts and weights must name the same arms, got counts for {sorted(counts)} "
                f"and weights for {sorted(arms)}"
            )
        return _checked_counts([counts[arm] for arm in arms])
    if isinstance(counts, str | bytes):
        raise ValueError(f"counts must be a sequence or mapping of integers, got {counts!r}")
    if len(counts) != len(arms):
        raise ValueError(f"got {len(counts)} counts for {len(arms)} weights")
    return _checked_counts(list(counts))


def _named_weights_with_positional_counts(weights: WeightsInput, counts: CountsInput) -> bool:
    return isinstance(weights, Mapping) != isinstance(counts, Mapping)


@dataclass(frozen=True)
class ChiSquareSRMResult:
    arms: tuple[str, ...]
    observed_counts: tuple[int, ...]
    expected_counts: tuple[float, ...]
    statistic: float
    p_value: float
    degrees_of_freedom: int
    alpha: float
    mismatch: bool


def srm_chi_square(
    counts: CountsInput, weights: WeightsInput, alpha: float = DEFAULT_ALPHA
) -> ChiSquareSRMResult:
    """Pearson chi-square goodness-of-fit of observed arm counts against the intended weights.

    Valid for one look only. The small default alpha is deliberate: SRM is checked on every
    experiment, and a false alarm blocks an otherwise sound result.
    """
    alpha = _checked_alpha(alpha)
    if _named_weights_with_positional_counts(weights, counts):
        raise ValueError("counts and weights must both be mappings or both be sequences")
    arms, intended = _arms_and_weights(weights)
    observed = _counts_in_arm_order(counts, arms)
    total = sum(observed)
    if total == 0:
        raise ValueError("the chi-square test needs at least one observation")
    expected = tuple(total * weight for weight in intended)
    statistic, p_value = stats.chisquare(observed, f_exp=expected)
    return ChiSquareSRMResult(
        arms=arms,
        observed_counts=observed,
        expected_counts=expected,
        statistic=float(statistic),
        p_value=float(p_value),
        degrees_of_freedom=len(arms) - 1,
        alpha=alpha,
        mismatch=bool(p_value <= alpha),
    )


def dirichlet_multinomial_log_bayes_factor(
    counts: ArrayLike,
    weights: Sequence[float],
    prior_concentration: float = DEFAULT_PRIOR_CONCENTRATION,
) -> float | NDArray[np.float64]:
    """Log Bayes factor of Lindon & Malek (2022) for cumulative counts (arms on the last axis).

    The mixture is over multinomial probabilities drawn from Dirichlet(prior_concentration *
    weights); the null is the multinomial with the intended weights. Both likelihoods depend on
    the data only through the cumulative counts (the multinomial coefficient cancels), so the
    value is the same however the requests were split into looks.

    Accepts a batch (any leading axes) so simulations can evaluate many runs and looks at once;
    returns a float for a single vector of counts.
    """
    intended = np.asarray(_checked_weights(list(weights)))
    if not (math.isfinite(prior_concentration) and prior_concentration > 0):
        raise ValueError(f"prior_concentration must be positive, got {prior_concentration!r}")
    observed = np.asarray(counts, dtype=np.float64)
    if observed.ndim == 0 or observed.shape[-1] != intended.size:
        raise ValueError(
            f"counts must have one entry per arm ({intended.size}) on the last axis, "
            f"got shape {observed.shape}"
        )
    if not np.all(np.isfinite(observed)) or np.any(observed < 0):
        raise ValueError("counts must be finite and non-negative")

    log_bayes_factor = _log_bayes_factor(observed, intended, prior_concentration)
    if log_bayes_factor.ndim == 0:
        return float(log_bayes_factor)
    return log_bayes_factor


def _log_bayes_factor(
    observed: NDArray[np.float64], intended: NDArray[np.float64], prior_concentration: float
) -> NDArray[np.float64]:
    prior = prior_concentration * intended
    prior_total = prior.sum()
    # Log-gamma throughout: gamma itself overflows once an arm passes about 170 requests.
    log_mixture_likelihood = (
        special.gammaln(prior_total)
        - special.gammaln(prior_total + observed.sum(axis=-1))
        + (special.gammaln(prior + observed) - special.gammaln(prior)).sum(axis=-1)
    )
    log_null_likelihood = (observed * np.log(intended)).sum(axis=-1)
    return np.asarray(log_mixture_likelihood - log_null_likelihood, dtype=np.float64)


@dataclass(frozen=True)
class SequentialSRMResult:
    counts: tuple[int, ...]
    log_bayes_factor: float
    max_log_bayes_factor: float
    p_value: float
    alpha: float
    mismatch: bool

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class SequentialSRM:
    """Everything the anytime-valid SRM test carries from one look to the next.

    The Bayes factor itself is a function of the cumulative counts alone, but the always-valid
    p-value is min over looks of 1 / BF (Lindon & Malek 2022), so the largest Bayes factor seen
    must be carried: a later, smaller Bayes factor does not undo a mismatch already shown. It is
    kept on the log scale because the p-value underflows long before the log Bayes factor does.
    """

    arms: tuple[str, ...]
    weights: tuple[float, ...]
    alpha: float = DEFAULT_ALPHA
    prior_concentration: float = DEFAULT_PRIOR_CONCENTRATION
    counts: tuple[int, ...] = ()
    max_log_bayes_factor: float = 0.0

    def __post_init__(self) -> None:
        if len(self.arms) != len(self.weights) or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"need one distinct arm name per weight, got {self.arms}")
        object.__setattr__(self, "weights", _checked_weights(list(self.weights)))
        _checked_alpha(self.alpha)
        if not (math.isfinite(self.prior_concentration) and self.prior_concentration > 0):
            raise ValueError(
                f"prior_concentration must be positive, got {self.prior_concentration!r}"
            )
        if not self.counts:
            object.__setattr__(self, "counts", (0,) * len(self.weights))
        elif len(self.counts) != len(self.weights):
            raise ValueError(f"got {len(self.counts)} counts for {len(self.weights)} weights")
        object.__setattr__(self, "counts", _checked_counts(self.counts))
        # Before any data the Bayes factor is 1, so its running maximum is at least that.
        if not self.max_log_bayes_factor >= 0.0:
            raise ValueError(
                f"max_log_bayes_factor must be >= 0, got {self.max_log_bayes_factor!r}"
            )

    @classmethod
    def start(
        cls,
        weights: WeightsInput,
        alpha: float = DEFAULT_ALPHA,
        prior_concentration: float = DEFAULT_PRIOR_CONCENTRATION,
    ) -> SequentialSRM:
        """A test with no requests seen yet; weights as a mapping name the arms."""
        arms, intended = _arms_and_weights(weights)
        return cls(
            arms=arms, weights=intended, alpha=alpha, prior_concentration=prior_concentration
        )

    @property
    def p_value(self) -> float:
        return min(1.0, math.exp(-self.max_log_bayes_factor))


def update(state: SequentialSRM, counts: CountsInput) -> tuple[SequentialSRM, SequentialSRMResult]:
    """Take a look at the cumulative per-arm counts; returns the new state and this look's verdict.

    Positional counts are read in `state.arms` order; a mapping must name exactly those arms.

    Counts are cumulative, not increments, so a look that is retried or replayed with the same
    totals is harmless. They must not decrease: a falling count means the caller mixed up
    windows or arms, and the test's guarantee would no longer hold.
    """
    cumulative = _counts_in_arm_order(counts, state.arms)
    decreased = [
        arm
        for arm, before, now in zip(state.arms, state.counts, cumulative, strict=True)
        if now < before
    ]
    if decreased:
        raise ValueError(
            f"counts must be cumulative and non-decreasing between looks; arm(s) {decreased} went "
            f"from {state.counts} to {cumulative}"
        )
    log_bayes_factor = float(
        _log_bayes_factor(
            np.asarray(cumulative, dtype=np.float64),
            np.asarray(state.weights),
            state.prior_concentration,
        )
    )
    max_log_bayes_factor = max(state.max_log_bayes_factor, log_bayes_factor)
    new_state = SequentialSRM(
        arms=state.arms,
        weights=state.weights,
        alpha=state.alpha,
        prior_concentration=state.prior_concentration,
        counts=cumulative,
        max_log_bayes_factor=max_log_bayes_factor,
    )
    p_value = new_state.p_value
    return new_state, SequentialSRMResult(
        counts=cumulative,
        log_bayes_factor=log_bayes_factor,
        max_log_bayes_factor=max_log_bayes_factor,
        p_value=p_value,
        alpha=state.alpha,
        mismatch=p_value <= state.alpha,
    )
