"""Thompson sampling: per-arm sufficient statistics in, traffic shares out.

An arm's share is the posterior probability that it is the best arm, so traffic moves towards
arms that are probably better while every arm that might still win keeps being measured. The
probability is estimated from posterior draws rather than integrated exactly because draws work
the same for any number of arms and any posterior family, and a fixed seed makes them
reproducible: the workflow that reallocates must get the same answer when it replays.

A traffic floor keeps every arm measured even after the posterior has all but written it off.
Without one, a losing arm's statistics stop changing, so the allocator can never notice that it
has recovered, and guardrail metrics on that arm stop updating.

Rewards that drift (a provider's latency after a deploy, a model revision behind a stable name)
are handled by the caller discounting the accumulated statistics once per evaluation period:

    accumulated = decayed(accumulated, factor) + this_period

which keeps an effective memory of about 1 / (1 - factor) periods. Decay is left to the caller
because only it knows what a period is; the allocator itself is stateless.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import numpy as np

from experiments.statistics import Mean, Proportion

Arm = TypeVar("Arm", bound=Hashable)
Segment = TypeVar("Segment", bound=Hashable)
Statistic = TypeVar("Statistic", Proportion, Mean)
Direction = Literal["higher_is_better", "lower_is_better"]

DEFAULT_DRAWS = 10_000
DEFAULT_FLOOR = 0.05


@dataclass(frozen=True)
class BetaPrior:
    """Beta prior on a success rate; Beta(1, 1) is uniform, i.e. assumes nothing."""

    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise ValueError(f"Beta prior needs alpha, beta > 0, got {self.alpha}, {self.beta}")


@dataclass(frozen=True)
class NormalPrior:
    """Prior on each arm's mean: normal, centred on the mean of all arms' observations pooled.

    Its variance is the pooled variance of a single observation divided by `weight`, i.e. it is
    worth `weight` observations. Deriving it from the data keeps it weak whatever the metric's
    units (milliseconds, dollars, a 1-5 score) without the caller having to pick a scale.
    """

    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"normal prior weight must be > 0, got {self.weight}")


@dataclass(frozen=True)
class ThompsonSettings:
    """Everything besides the statistics that an allocation depends on, kept with the result so
    that any allocation can be reproduced exactly."""

    direction: Direction = "higher_is_better"
    floor: float = DEFAULT_FLOOR
    draws: int = DEFAULT_DRAWS
    seed: int = 0
    beta_prior: BetaPrior = field(default_factory=BetaPrior)
    normal_prior: NormalPrior = field(default_factory=NormalPrior)

    def __post_init__(self) -> None:
        if self.direction not in ("higher_is_better", "lower_is_better"):
            raise ValueError(
                f"direction must be 'higher_is_better' or 'lower_is_better', got {self.direction!r}"
            )
        if not (0 <= self.floor <= 1):
            raise ValueError(f"floor must be in [0, 1], got {self.floor}")
        if self.draws < 1:
            raise ValueError(f"draws must be at least 1, got {self.draws}")


@dataclass(frozen=True)
class Allocation(Generic[Arm]):
    """Traffic shares for the next period, and the posterior summaries they came from."""

    weights: dict[Arm, float]
    probability_best: dict[Arm, float]
    posterior_means: dict[Arm, float]
    settings: ThompsonSettings


def decayed(stat: Statistic, factor: float) -> Statistic:
    """`stat` worth `factor` times as much evidence, with its mean or rate unchanged.

    Counts become fractional; the posteriors treat them as pseudo-counts, which is what they are.
    Once a Gaussian arm's effective n falls below 2 it is treated as unobserved again.
    """
    if not (0 < factor <= 1):
        raise ValueError(f"decay factor must be in (0, 1], got {factor}")
    if isinstance(stat, Proportion):
        return Proportion(stat.n * factor, stat.events * factor)  # type: ignore[arg-type]
    return Mean(stat.n * factor, stat.sum * factor, stat.sum_sq * factor)  # type: ignore[arg-type]


def allocate(
    stats: Mapping[Arm, Proportion] | Mapping[Arm, Mean],
    *,
    direction: Direction = "higher_is_better",
    floor: float = DEFAULT_FLOOR,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    beta_prior: BetaPrior | None = None,
    normal_prior: NormalPrior | None = None,
) -> Allocation[Arm]:
    """Thompson-sampling traffic shares for arms given as all Proportion or all Mean statistics.

    Proportion arms get a Beta-Bernoulli posterior; Mean arms a normal posterior on the mean
    using the arm's sample variance (see `NormalPrior`). A Mean arm with fewer than two
    observations has no variance of its own, so it keeps the prior: the widest posterior any arm
    can have, which makes sure it gets explored.

    Each arm's share is `floor` plus its probability of being best times what the floors leave
    over, so shares sum to 1 and none is below `floor`.
    """
    settings = ThompsonSettings(
        direction=direction,
        floor=floor,
        draws=draws,
        seed=seed,
        beta_prior=beta_prior or BetaPrior(),
        normal_prior=normal_prior or NormalPrior(),
    )
    return _allocate(stats, settings)


def allocate_by_segment(
    stats: Mapping[Segment, Mapping[Arm, Proportion] | Mapping[Arm, Mean]],
    *,
    arms: Sequence[Arm] | None = None,
    direction: Direction = "higher_is_better",
    floor: float = DEFAULT_FLOOR,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    beta_prior: BetaPrior | None = None,
    normal_prior: NormalPrior | None = None,
) -> dict[Segment, dict[Arm, float]]:
    """Traffic shares per segment (a tenant, a route, a prompt class), each segment on its own.

    Every segment allocates over the same arms: `arms` if given, otherwise every arm seen in any
    segment. An arm a segment has no statistics for counts as unobserved there, so a segment with
    no data at all gets uniform shares.

    Each segment is computed from its own statistics and the same seed, so given the arms, a
    segment's shares do not depend on which other segments exist or in what order they are
    listed. They equal what `allocate` returns for the segment's statistics with its missing arms
    added as unobserved; call that for a segment's posterior summaries.
    """
    settings = ThompsonSettings(
        direction=direction,
        floor=floor,
        draws=draws,
        seed=seed,
        beta_prior=beta_prior or BetaPrior(),
        normal_prior=normal_prior or NormalPrior(),
    )
    all_arms = list(arms) if arms is not None else _arms_in_order_seen(stats.values())
    if not all_arms:
        raise ValueError("allocation needs at least one arm")
    kind = _statistic_kind(stat for segment in stats.values() for stat in segment.values())
    weights: dict[Segment, dict[Arm, float]] = {}
    for segment, arm_stats in stats.items():
        unknown = [arm for arm in arm_stats if arm not in all_arms]
        if unknown:
            raise ValueError(f"segment {segment!r} has statistics for unknown arms {unknown}")
        complete = {arm: arm_stats.get(arm, kind()) for arm in all_arms}
        weights[segment] = _allocate(complete, settings).weights
    return weights


def _allocate(
    stats: Mapping[Arm, Proportion] | Mapping[Arm, Mean], settings: ThompsonSettings
) -> Allocation[Arm]:
    arms = list(stats)
    if not arms:
        raise ValueError("allocation needs at least one arm")
    _check_floor(settings.floor, len(arms))
    values = list(stats.values())
    rng = np.random.default_rng(settings.seed)
    if _statistic_kind(values) is Proportion:
        proportions = [stat for stat in values if isinstance(stat, Proportion)]
        probability_best, posterior_means = _beta_probability_best(proportions, settings, rng)
    else:
        means = [stat for stat in values if isinstance(stat, Mean)]
        probability_best, posterior_means = _normal_probability_best(means, settings, rng)
    weights = _with_floor(probability_best, settings.floor)
    return Allocation(
        weights=dict(zip(arms, weights.tolist(), strict=True)),
        probability_best=dict(zip(arms, probability_best.tolist(), strict=True)),
        posterior_means=dict(zip(arms, posterior_means.tolist(), strict=True)),
        settings=settings,
    )


def _check_floor(floor: float, arm_count: int) -> None:
    # Tolerance so that floor = 1 / arm_count, which means "uniform", is not rejected for rounding.
    if floor * arm_count > 1 + 1e-9:
        raise ValueError(
            f"floor {floor} for {arm_count} arms reserves {floor * arm_count:.0%} of traffic; "
            f"floor * arms must be at most 1 (floor <= {1 / arm_count:.4f})"
        )


def _with_floor(probability_best: np.ndarray, floor: float) -> np.ndarray:
    remainder = max(0.0, 1.0 - floor * probability_best.size)
    return floor + remainder * probability_best


def _beta_probability_best(
    stats: list[Proportion], settings: ThompsonSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    prior = settings.beta_prior
    alpha = np.array([prior.alpha + s.events for s in stats], dtype=float)
    beta = np.array([prior.beta + s.n - s.events for s in stats], dtype=float)
    means = alpha / (alpha + beta)
    if _all_equal(alpha) and _all_equal(beta):
        return _uniform(len(stats)), means
    samples = rng.beta(alpha, beta, size=(settings.draws, len(stats)))
    return _share_of_wins(samples, settings.direction), means


def _normal_probability_best(
    stats: list[Mean], settings: ThompsonSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    pooled = sum(stats, Mean())
    prior_mean = pooled.mean
    prior_variance = pooled.variance / settings.normal_prior.weight
    means = np.full(len(stats), prior_mean)
    variances = np.full(len(stats), prior_variance)
    # Without a positive prior variance every observation so far is identical (or there are
    # fewer than two), so every arm's posterior is the same and they tie.
    if prior_variance > 0:
        for index, stat in enumerate(stats):
            if stat.n < 2:
                continue  # no spread of its own yet: it keeps the prior, the widest posterior
            # A metric on a coarse scale (a 1-5 score) can give an arm identical observations;
            # its own variance of 0 would make its posterior a certainty, so use the pooled one.
            likelihood_variance = stat.variance if stat.variance > 0 else pooled.variance
            precision = 1 / prior_variance + stat.n / likelihood_variance
            means[index] = (
                prior_mean / prior_variance + stat.n * stat.mean / likelihood_variance
            ) / precision
            variances[index] = 1 / precision
    if _all_equal(means) and _all_equal(variances):
        return _uniform(len(stats)), means
    samples = rng.normal(means, np.sqrt(variances), size=(settings.draws, len(stats)))
    return _share_of_wins(samples, settings.direction), means


def _share_of_wins(samples: np.ndarray, direction: Direction) -> np.ndarray:
    # Draws from the continuous posteriors reaching here tie with probability zero (identical
    # posteriors, the one way to tie on every draw, were answered as uniform before drawing).
    oriented = samples if direction == "higher_is_better" else -samples
    wins = np.bincount(oriented.argmax(axis=1), minlength=samples.shape[1])
    return wins / samples.shape[0]


def _all_equal(values: np.ndarray) -> bool:
    # All NaN counts as equal: it is how a family says "no data on any arm".
    return bool((values == values[0]).all() or np.isnan(values).all())


def _uniform(arm_count: int) -> np.ndarray:
    return np.full(arm_count, 1 / arm_count)


def _statistic_kind(stats: Iterable[object]) -> type[Proportion] | type[Mean]:
    kinds = {type(stat) for stat in stats}
    if not kinds:
        return Proportion  # nothing observed anywhere: every arm is uniform whatever the kind
    if len(kinds) > 1 or not kinds <= {Proportion, Mean}:
        names = sorted(kind.__name__ for kind in kinds)
        raise ValueError(f"arms must all be Proportion or all be Mean, got {names}")
    return kinds.pop()


def _arms_in_order_seen(segments: Iterable[Iterable[Arm]]) -> list[Arm]:
    arms: dict[Arm, None] = {}
    for segment in segments:
        arms.update(dict.fromkeys(segment))
    return list(arms)


__all__ = [
    "DEFAULT_DRAWS",
    "DEFAULT_FLOOR",
    "Allocation",
    "BetaPrior",
    "Direction",
    "NormalPrior",
    "ThompsonSettings",
    "allocate",
    "allocate_by_segment",
    "decayed",
]
