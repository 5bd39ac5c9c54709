"""A candidate judged look after look against a baseline sample that no longer grows.

A blue-green switch moves all traffic to the candidate at once, so the baseline's only figures are
the ones it made before the switch. The sequential tests in `experiments.sequential` need both
arms to accrue between looks (the proportion test conditions on how the new events split between
the arms); with a fixed baseline every new event falls on the candidate and carries no evidence.

Here each look is a classical one-sided z test instead, and the looks share alpha by a spending
sequence that needs no plan of how many there will be: look k may spend
alpha * 6 / (pi^2 k^2), and those shares sum to alpha (Basel series), so by the union bound the
chance of ever wrongly failing (or wrongly passing) over any number of looks stays within alpha.
The harm test counts every look, since a bake fails at once; the non-inferiority test counts only
the looks at which a pass may be taken (after the bake), so the first of those spends 61% of
alpha rather than what is left after the bake's looks. The price is power at late looks, so a
bake is best looked at every minute or so, not every second. Reported p-values are adjusted by
the same shares (the raw p-value over the look's fraction of alpha, the smallest so far), so the
judge compares them with alpha as it does the sequential ones. A decision, once reached, is
final.

Rates use the Agresti-Caffo adjustment (one event and one non-event added to each arm), which keeps
the interval honest at the small counts of a 1% error rate; means use Welch's unpooled variance.
Both are normal approximations: nothing is decided before `min_samples` per arm.

A historical control is weaker evidence than a concurrent one: a change in the traffic's mix
between the baseline's window and the bake reads as a difference between the arms.
"""

from __future__ import annotations

import math

from scipy.special import ndtr, ndtri

from experiments.sequential import Kind, LookResult, TestSettings
from experiments.statistics import Mean, Proportion

_BASEL = 6 / math.pi**2
METHOD = (
    "one-sided z test against the baseline's fixed sample, alpha spent over looks as "
    "6/(pi^2 k^2) (Agresti-Caffo for rates, Welch for means)"
)


def spent_share(look: int) -> float:
    """The fraction of alpha look number `look` (from 1) may spend; all of them sum to 1."""
    return _BASEL / look**2


class FixedBaselineTest:
    """One comparison with a fixed baseline, looked at again and again as the candidate grows."""

    def __init__(self, kind: Kind, settings: TestSettings | None = None) -> None:
        if kind not in ("proportion", "mean"):
            raise ValueError(f"kind must be 'proportion' or 'mean', got {kind!r}")
        self.kind = kind
        self.settings = settings or TestSettings()
        self._looks = 0
        self._passable_looks = 0
        self._p_worse = 1.0
        self._p_noninferior = 1.0
        self._decision: str = "continue"

    def look(
        self, baseline: Proportion | Mean, candidate: Proportion | Mean, may_pass: bool = True
    ) -> LookResult:
        """`may_pass` False: only harm is tested at this look (a bake still running)."""
        self._looks += 1
        share = spent_share(self._looks)
        settings = self.settings
        estimate, spread = self._difference(baseline, candidate)
        # Differences are candidate minus baseline; `worse` turns them so larger is worse.
        worse = settings.worse_sign * estimate
        enough = min(baseline.n, candidate.n) >= max(settings.min_samples, 1)
        if enough and spread > 0 and math.isfinite(worse):
            p_worse = float(ndtr(-(worse - settings.harm_tolerance) / spread))
            self._p_worse = min(self._p_worse, min(1.0, p_worse / share))
            if may_pass:
                self._passable_looks += 1
                p_noninferior = float(ndtr((worse - settings.margin) / spread))
                pass_share = spent_share(self._passable_looks)
                self._p_noninferior = min(self._p_noninferior, min(1.0, p_noninferior / pass_share))
        if self._decision == "continue" and enough:
            if self._p_worse <= settings.alpha:
                self._decision = "fail"
            elif self._p_noninferior <= settings.alpha:
                self._decision = "pass"
        # Each bound at this look's one-sided level: the interval its two tests were read from.
        half_width = float(ndtri(1 - settings.alpha * share)) * spread if spread > 0 else math.inf
        p_value = {"fail": self._p_worse, "pass": self._p_noninferior}.get(
            self._decision, min(self._p_worse, self._p_noninferior)
        )
        return LookResult(
            decision=self._decision,  # type: ignore[arg-type]
            p_value=p_value,
            p_worse=self._p_worse,
            p_noninferior=self._p_noninferior,
            estimate=estimate,
            ci=(estimate - half_width, estimate + half_width),
            baseline_n=baseline.n,
            candidate_n=candidate.n,
            method=METHOD,
            settings=settings,
        )

    def _difference(
        self, baseline: Proportion | Mean, candidate: Proportion | Mean
    ) -> tuple[float, float]:
        """Candidate minus baseline, and its standard error."""
        if self.kind == "proportion":
            if not (isinstance(baseline, Proportion) and isinstance(candidate, Proportion)):
                raise TypeError("a proportion test takes Proportion statistics")
            base_rate, candidate_rate = ((p.events + 1) / (p.n + 2) for p in (baseline, candidate))
            variance = base_rate * (1 - base_rate) / (baseline.n + 2) + candidate_rate * (
                1 - candidate_rate
            ) / (candidate.n + 2)
            return candidate_rate - base_rate, math.sqrt(variance)
        if not (isinstance(baseline, Mean) and isinstance(candidate, Mean)):
            raise TypeError("a mean test takes Mean statistics")
        if baseline.n < 2 or candidate.n < 2:
            return math.nan, 0.0
        variance = baseline.variance / baseline.n + candidate.variance / candidate.n
        return candidate.mean - baseline.mean, math.sqrt(max(variance, 0.0))
