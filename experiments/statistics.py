"""Sufficient statistics: small values that add with `+`, so the store can aggregate in SQL and
everything downstream works on totals, never on raw rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Proportion:
    """`events` out of `n` trials (errors, blocks, conversions)."""

    n: int = 0
    events: int = 0

    def __post_init__(self) -> None:
        if self.n < 0 or self.events < 0:
            raise ValueError(f"counts must be non-negative, got n={self.n}, events={self.events}")
        if self.events > self.n:
            raise ValueError(f"events ({self.events}) cannot exceed n ({self.n})")

    def __add__(self, other: Proportion) -> Proportion:
        return Proportion(self.n + other.n, self.events + other.events)

    @property
    def rate(self) -> float:
        return self.events / self.n if self.n else math.nan


@dataclass(frozen=True)
class Mean:
    """Count, sum and sum of squares of a numeric metric (latency, cost, a quality score)."""

    n: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be non-negative, got {self.n}")
        if self.n and self.sum_sq < 0:
            raise ValueError("sum_sq cannot be negative")

    def __add__(self, other: Mean) -> Mean:
        return Mean(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)

    @classmethod
    def of(cls, values: np.ndarray | list[float]) -> Mean:
        array = np.asarray(values, dtype=float)
        return cls(int(array.size), float(array.sum()), float(np.square(array).sum()))

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 in the denominator); NaN below two observations."""
        if self.n < 2:
            return math.nan
        # Clamp: rounding can make sum_sq - sum^2/n slightly negative for constant data.
        return max(0.0, (self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1))


# Latency buckets: log-spaced from 1 ms to about 17 minutes, 2% wide, so any quantile read from the
# histogram is within about 1% of the true value. Fixed edges make histograms mergeable by adding.
_LOW_MS = 1.0
_GROWTH = 1.02
BUCKETS = 700
BUCKET_UPPER_MS = _LOW_MS * _GROWTH ** np.arange(1, BUCKETS + 1)


# The edges themselves decide which bucket a value is in, not a logarithm: numpy's and libm's
# logarithms differ in the last bit for some values (on CPUs where numpy has its own SIMD log), and
# the two routes below must agree to the bit, because one fills the stored `latency_bucket` column
# and the other builds histograms in Python. Bucket i's lower edge is the upper edge of i - 1.
_UPPER_EDGES = tuple(float(edge) for edge in BUCKET_UPPER_MS)
_LOWER_EDGES = (_LOW_MS, *_UPPER_EDGES[:-1])
_LOG_GROWTH = math.log(_GROWTH)


def _bucket_of(values_ms: np.ndarray) -> np.ndarray:
    # fmax rather than maximum: NaN goes to the first bucket with everything below 1 ms.
    above_low = np.fmax(np.asarray(values_ms, dtype=float), _LOW_MS)
    return np.minimum(np.searchsorted(BUCKET_UPPER_MS, above_low, side="right"), BUCKETS - 1)


@dataclass(frozen=True)
class LatencyHistogram:
    """Counts of latencies in fixed log-spaced buckets: mergeable, and readable as quantiles.

    Bucket i holds values in [1.02**i, 1.02**(i+1)) ms; the first also takes anything below 1 ms
    and the last anything above its lower edge.
    """

    counts: tuple[int, ...] = field(default=(0,) * BUCKETS)

    def __post_init__(self) -> None:
        if len(self.counts) != BUCKETS:
            raise ValueError(f"a latency histogram has {BUCKETS} buckets, got {len(self.counts)}")
        if any(c < 0 for c in self.counts):
            raise ValueError("bucket counts must be non-negative")

    @classmethod
    def of(cls, values_ms: np.ndarray | list[float]) -> LatencyHistogram:
        array = np.asarray(values_ms, dtype=float)
        counts = np.bincount(_bucket_of(array), minlength=BUCKETS)
        return cls(tuple(int(c) for c in counts))

    @classmethod
    def from_buckets(cls, sparse: dict[int, int]) -> LatencyHistogram:
        """From {bucket index: count}, the shape a SQL GROUP BY over `bucket_index()` returns."""
        counts = [0] * BUCKETS
        for index, count in sparse.items():
            counts[index] += count
        return cls(tuple(counts))

    def __add__(self, other: LatencyHistogram) -> LatencyHistogram:
        return LatencyHistogram(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        )

    @property
    def n(self) -> int:
        return sum(self.counts)

    def array(self) -> np.ndarray:
        return np.asarray(self.counts, dtype=np.int64)

    def quantile(self, q: float) -> float:
        """The q-quantile in ms (bucket midpoint on the log scale); NaN when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be in [0, 1], got {q}")
        counts = self.array()
        total = counts.sum()
        if total == 0:
            return math.nan
        # At least one observation deep, so q = 0 lands on the first non-empty bucket.
        index = int(np.searchsorted(np.cumsum(counts), max(q * total, 1), side="left"))
        index = min(index, BUCKETS - 1)
        return float(_LOW_MS * _GROWTH ** (index + 0.5))

    def count_above(self, threshold_ms: float) -> int:
        """How many observations lie in buckets entirely above `threshold_ms`."""
        first = int(_bucket_of(np.asarray([threshold_ms]))[0]) + 1
        return int(self.array()[first:].sum())

    def exceedance(self, threshold_ms: float) -> Proportion:
        """The share above a threshold, as a proportion: how tail latency is compared.

        Comparing p95 latency becomes comparing, between arms, the share of requests slower than
        the baseline's p95; the proportion machinery (exact sequential tests) then applies.
        """
        return Proportion(self.n, self.count_above(threshold_ms))


def bucket_index(latency_ms: float) -> int:
    """The bucket a single latency falls in, as `_bucket_of` puts it; stored on every outcome row
    so SQL can group by it. Plain floats and `math`, no arrays: it runs once per request arm."""
    if not latency_ms >= _UPPER_EDGES[0]:  # below the second bucket, or NaN
        return 0
    if latency_ms >= _LOWER_EDGES[-1]:  # the last bucket takes everything above its lower edge
        return BUCKETS - 1
    index = int(math.log(latency_ms / _LOW_MS) / _LOG_GROWTH)
    # The logarithm is exact to a few ulps, so at worst it lands one bucket off, at an edge.
    if latency_ms < _LOWER_EDGES[index]:
        return index - 1
    if latency_ms >= _UPPER_EDGES[index]:
        return index + 1
    return index


def bucket_midpoints_ms() -> np.ndarray:
    return _LOW_MS * _GROWTH ** (np.arange(BUCKETS) + 0.5)
