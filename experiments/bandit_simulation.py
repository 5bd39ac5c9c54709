"""How much the Thompson allocator costs while it learns, against simpler policies.

Regret is what a policy gives up against always serving the best arm: for every request, the best
arm's rate minus the served arm's rate. It is computed from the true rates rather than from the
rewards actually drawn, so a lucky streak does not pass for a good policy.

Traffic is reallocated between batches, not per request, because that is how the platform works:
a workflow recomputes the shares once per evaluation period from the statistics accumulated so
far, and the gateway serves the period's requests with those fixed shares.

Policies are compared with common random numbers: each run draws one tape of outcomes per arm up
front, and the j-th request any policy sends to an arm gets that arm's j-th outcome. Differences
between policies then come from the policies and not from different luck, which lets under a
hundred seeds separate them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from experiments.bandit import allocate
from experiments.statistics import Proportion

POLICIES = ("thompson", "epsilon_greedy", "uniform")

# A policy turns the statistics so far and this batch's seed into traffic shares.
Policy = Callable[[list[Proportion], int], np.ndarray]


@dataclass(frozen=True)
class RegretProblem:
    """True success rates and how traffic is served. The default arms are close (the best is
    3 points ahead of the runner-up) so that learning which is best takes thousands of requests."""

    rates: tuple[float, ...] = (0.10, 0.12, 0.15)
    batches: int = 100
    batch_size: int = 100
    floor: float = 0.05
    epsilon: float = 0.1
    # Far fewer draws than the allocator's default, because the simulation allocates tens of
    # thousands of times. Monte Carlo error in the shares only randomises allocation slightly,
    # and regret is insensitive to it: 200 and 1,000 draws give the same mean regret.
    draws: int = 200


@dataclass(frozen=True)
class RegretSummary:
    """Cumulative expected regret at the end of each run, per policy."""

    final_regret: dict[str, np.ndarray]

    @property
    def seeds(self) -> int:
        return len(next(iter(self.final_regret.values())))

    def mean(self, policy: str) -> float:
        return float(self.final_regret[policy].mean())

    def standard_error(self, policy: str) -> float:
        regret = self.final_regret[policy]
        return float(regret.std(ddof=1) / np.sqrt(regret.size)) if regret.size > 1 else np.nan


def simulate_regret(
    seed: int, problem: RegretProblem | None = None, policies: Sequence[str] = POLICIES
) -> dict[str, np.ndarray]:
    """Cumulative expected regret after each batch, per policy, for one seeded run."""
    problem = problem or RegretProblem()
    rates = np.asarray(problem.rates, dtype=float)
    total_requests = problem.batches * problem.batch_size
    tape_sequence, allocation_sequence = np.random.SeedSequence(seed).spawn(2)
    tape = np.random.default_rng(tape_sequence).random((rates.size, total_requests))
    # successes_before[arm, j]: successes among that arm's first j requests, from its tape.
    successes_before = np.zeros((rates.size, total_requests + 1), dtype=np.int64)
    np.cumsum(tape < rates[:, None], axis=1, out=successes_before[:, 1:])
    batch_seeds = allocation_sequence.generate_state(problem.batches).tolist()

    uniform_shares = np.full(rates.size, 1 / rates.size)
    known: dict[str, Policy] = {
        "thompson": lambda stats, batch_seed: _thompson(stats, batch_seed, problem),
        "epsilon_greedy": lambda stats, _: _epsilon_greedy(stats, problem.epsilon),
        "uniform": lambda stats, _: uniform_shares,
    }
    unknown = sorted(set(policies) - set(known))
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {sorted(known)}")
    gaps = rates.max() - rates
    arm_index = np.arange(rates.size)
    curves: dict[str, np.ndarray] = {}
    for name in policies:
        policy = known[name]
        pulls = np.zeros(rates.size, dtype=np.int64)
        successes = np.zeros(rates.size, dtype=np.int64)
        regret_per_batch = np.empty(problem.batches)
        for batch, batch_seed in enumerate(batch_seeds):
            stats = [
                Proportion(n, k) for n, k in zip(pulls.tolist(), successes.tolist(), strict=True)
            ]
            batch_pulls = _requests_per_arm(policy(stats, batch_seed), problem.batch_size)
            regret_per_batch[batch] = batch_pulls @ gaps
            pulls = pulls + batch_pulls
            successes = successes_before[arm_index, pulls]
        curves[name] = np.cumsum(regret_per_batch)
    return curves


def summarize_regret(
    seeds: Iterable[int], problem: RegretProblem | None = None, policies: Sequence[str] = POLICIES
) -> RegretSummary:
    final: dict[str, list[float]] = {name: [] for name in policies}
    for seed in seeds:
        for name, curve in simulate_regret(seed, problem, policies).items():
            final[name].append(float(curve[-1]))
    return RegretSummary({name: np.asarray(values) for name, values in final.items()})


def _thompson(stats: list[Proportion], seed: int, problem: RegretProblem) -> np.ndarray:
    allocation = allocate(
        dict(enumerate(stats)), floor=problem.floor, draws=problem.draws, seed=seed
    )
    return np.asarray(list(allocation.weights.values()))


def _epsilon_greedy(stats: list[Proportion], epsilon: float) -> np.ndarray:
    arm_count = len(stats)
    shares = np.full(arm_count, epsilon / arm_count)
    # An arm never served has no rate to compare; until every arm has one, explore them all.
    if any(stat.n == 0 for stat in stats):
        return np.full(arm_count, 1 / arm_count)
    rates = np.array([stat.rate for stat in stats])
    leaders = np.flatnonzero(rates == rates.max())
    shares[leaders] += (1 - epsilon) / leaders.size
    return shares


def _requests_per_arm(shares: np.ndarray, batch_size: int) -> np.ndarray:
    """Whole requests per arm summing to `batch_size`, as close to `shares` as rounding allows.

    Largest remainders rather than a multinomial draw: rounding adds no randomness of its own,
    so policies with equal shares send equal traffic and common random numbers stay common.
    """
    exact = shares * batch_size
    requests = np.floor(exact).astype(np.int64)
    shortfall = batch_size - int(requests.sum())
    by_remainder = np.argsort(-(exact - requests), kind="stable")
    requests[by_remainder[:shortfall]] += 1
    return requests


def main() -> None:
    seeds = range(200)
    problem = RegretProblem()
    low_floor = RegretProblem(floor=0.01)
    summary = summarize_regret(seeds, problem)
    low_floor_summary = summarize_regret(seeds, low_floor, policies=("thompson",))
    rows = [
        (f"Thompson sampling, floor {problem.floor}", summary, "thompson"),
        (f"Thompson sampling, floor {low_floor.floor}", low_floor_summary, "thompson"),
        (f"epsilon-greedy, epsilon {problem.epsilon}", summary, "epsilon_greedy"),
        ("uniform", summary, "uniform"),
    ]
    requests = problem.batches * problem.batch_size
    print(
        f"Bernoulli arms {problem.rates}: {problem.batches} batches of {problem.batch_size} "
        f"requests ({requests:,} in all), {summary.seeds} seeds, common random numbers"
    )
    print(f"{'policy':<34} {'mean cumulative regret':>22} {'std error':>10}")
    for label, source, name in rows:
        print(f"{label:<34} {source.mean(name):>22.1f} {source.standard_error(name):>10.1f}")


if __name__ == "__main__":
    main()
