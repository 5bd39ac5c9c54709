"""The Temporal SDK's own metrics, on the process's Prometheus scrape beside Interlock's.

The SDK can serve its metrics itself (`PrometheusConfig` binds a port of its own), but that is a
second endpoint to scrape per process, on a port of its own. Instead the process's Temporal
runtime records them into a `MetricBuffer`, and this collector drains the buffer (every second, and
at every scrape) into cumulative series that any prometheus_client registry can serve: one scrape
per process, the SDK's metric names unchanged.

The exposition is what the SDK's own exporter would serve with `counters_total_suffix=True` and
`durations_as_seconds=True`: counters end in `_total`, histograms are in seconds and keep their
names (`temporal_workflow_task_execution_latency_bucket`), gauges are as the SDK names them. The
histograms' buckets are ours (`SDK_LATENCY_BUCKETS`): the buffer hands over single observations.

Draining costs the request path nothing: the SDK records its updates in Rust as it would for its
own exporter, and the drain handles them in batches on a thread of its own.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetricUpdate,
    MetricBuffer,
    MetricBufferDurationFormat,
)

log = logging.getLogger(__name__)

# Seconds, from a local activity's millisecond to a long poll's minute and a long workflow's hour.
SDK_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    900.0,
    3600.0,
)
# Updates the SDK may hold between drains before it drops some (and logs that it did). A busy
# gateway makes a few thousand a second; the drain runs every second.
BUFFER_SIZE = 200_000
DRAIN_EVERY_SECONDS = 1.0

Labels = frozenset[tuple[str, object]]
"""A series' attributes as the SDK gave them: hashable, and cheap to make per update."""


def _as_labels(labels: Labels) -> dict[str, str]:
    return {key: str(value) for key, value in labels}


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(SDK_LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.buckets[bisect.bisect_left(SDK_LATENCY_BUCKETS, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class _Family:
    name: str
    documentation: str
    kind: int
    series: dict[Labels, float | _Histogram] = field(default_factory=dict)


class TemporalSdkMetrics(Collector):
    """A prometheus_client collector over a Temporal runtime's metric buffer."""

    def __init__(self, buffer_size: int = BUFFER_SIZE) -> None:
        self.buffer = MetricBuffer(buffer_size, MetricBufferDurationFormat.SECONDS)
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}
        self._drainer: threading.Thread | None = None

    def start_draining(self) -> None:
        """Drain the buffer every second from now on, scraped or not (a full buffer drops)."""
        if self._drainer is not None:
            return
        self._drainer = threading.Thread(
            target=self._drain_forever, name="temporal-sdk-metrics", daemon=True
        )
        self._drainer.start()

    def _drain_forever(self) -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(DRAIN_EVERY_SECONDS)
            try:
                self.drain()
            except Exception:  # a metrics hiccup must not end the drain
                log.exception("Temporal SDK metrics not drained")

    def drain(self) -> None:
        # Fetched under the lock too: a scrape and the drain thread apply their batches in the
        # order the SDK recorded them, so a gauge ends at its latest value.
        with self._lock:
            try:
                updates = self.buffer.retrieve_updates()
            except RuntimeError:
                return  # no runtime records into the buffer yet
            for update in updates:
                self._apply(update)

    def _apply(self, update: BufferedMetricUpdate) -> None:
        metric = update.metric
        family = self._families.get(metric.name)
        if family is None:
            family = _Family(metric.name, metric.description or metric.name, metric.kind)
            self._families[metric.name] = family
        labels: Labels = frozenset(update.attributes.items())
        if family.kind == BUFFERED_METRIC_KIND_COUNTER:
            family.series[labels] = family.series.get(labels, 0) + update.value  # type: ignore[operator]
        elif family.kind == BUFFERED_METRIC_KIND_GAUGE:
            family.series[labels] = update.value
        else:
            histogram = family.series.get(labels)
            if histogram is None:
                histogram = family.series[labels] = _Histogram()
            histogram.observe(update.value)  # type: ignore[union-attr]

    def describe(self) -> list[Metric]:
        # The SDK's metrics appear as it records them: nothing to declare up front, and no
        # name clash to check with a registry's other collectors (theirs start `interlock_`).
        return []

    def collect(self) -> Iterator[Metric]:
        self.drain()
        with self._lock:
            families = [self._exposed(family) for family in self._families.values()]
        yield from families

    def _exposed(self, family: _Family) -> Metric:
        if family.kind == BUFFERED_METRIC_KIND_COUNTER:
            # A counter's samples end in one `_total`, also where the SDK's name has it already
            # (local_activity_total), as its own exporter does.
            name = family.name.removesuffix("_total")
            exposed = Metric(name, family.documentation, "counter")
            for labels, value in family.series.items():
                exposed.samples.append(Sample(f"{name}_total", _as_labels(labels), value))
            return exposed
        if family.kind == BUFFERED_METRIC_KIND_GAUGE:
            exposed = Metric(family.name, family.documentation, "gauge")
            for labels, value in family.series.items():
                exposed.samples.append(Sample(family.name, _as_labels(labels), value))
            return exposed
        exposed = Metric(family.name, family.documentation, "histogram")
        for labels, histogram in family.series.items():
            assert isinstance(histogram, _Histogram)
            named = _as_labels(labels)
            cumulative = 0
            for bound, count in zip(
                (*SDK_LATENCY_BUCKETS, float("inf")), histogram.buckets, strict=True
            ):
                cumulative += count
                bucket = {**named, "le": floatToGoString(bound)}
                exposed.samples.append(Sample(f"{family.name}_bucket", bucket, cumulative))
            exposed.samples.append(Sample(f"{family.name}_count", named, histogram.count))
            exposed.samples.append(Sample(f"{family.name}_sum", named, histogram.total))
        return exposed
