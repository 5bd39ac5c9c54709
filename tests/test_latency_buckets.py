"""`bucket_index` (one float, on the request path) against `_bucket_of` (arrays, for histograms):
the stored `latency_bucket` column and histograms built in Python must put a value in the same
bucket, to the bit."""

from __future__ import annotations

import math

import numpy as np

from experiments.statistics import (
    BUCKET_UPPER_MS,
    BUCKETS,
    LatencyHistogram,
    _bucket_of,
    bucket_index,
)


def values_to_compare() -> np.ndarray:
    edges = np.concatenate([[1.0], BUCKET_UPPER_MS])
    around_edges = np.concatenate(
        [edges, np.nextafter(edges, 0.0), np.nextafter(edges, math.inf), edges * (1 + 1e-12)]
    )
    rng = np.random.default_rng(10)
    spread = np.exp(rng.uniform(-5.0, 16.0, 200_000))  # well below 1 ms to past the last edge
    special = [0.0, -0.0, -1.0, -1e300, 1.0, 0.5, 1e-300, 5e-324, 1.02, 1e6, 1e12, 1e300, 1.7e308]
    return np.concatenate([around_edges, spread, special, [math.inf, -math.inf, math.nan]])


def test_bucket_index_matches_bucket_of_everywhere() -> None:
    values = values_to_compare()
    expected = _bucket_of(values)
    got = np.array([bucket_index(float(v)) for v in values])
    mismatched = values[got != expected]
    assert mismatched.size == 0, f"first disagreements: {mismatched[:5].tolist()}"


def test_the_edges_decide() -> None:
    """Bucket i holds [1.02**i, 1.02**(i+1)): an edge opens its bucket, the value below closes
    the one before; below 1 ms (negatives, NaN) is the first, beyond the last edge the last."""
    for i in range(1, BUCKETS):
        edge = float(BUCKET_UPPER_MS[i - 1])
        assert bucket_index(edge) == i
        assert bucket_index(math.nextafter(edge, 0.0)) == i - 1
    for below in (0.0, -5.0, 0.999, math.nan, -math.inf):
        assert bucket_index(below) == 0
    for beyond in (float(BUCKET_UPPER_MS[-1]), 1e300, math.inf):
        assert bucket_index(beyond) == BUCKETS - 1


def test_a_histogram_from_stored_buckets_equals_one_from_values() -> None:
    values = np.exp(np.random.default_rng(3).uniform(0.0, 9.0, 5_000))
    sparse: dict[int, int] = {}
    for v in values:
        index = bucket_index(float(v))
        sparse[index] = sparse.get(index, 0) + 1
    assert LatencyHistogram.from_buckets(sparse) == LatencyHistogram.of(values)
