"""Each provider and model's recent latency and quality, for the routing policies that weigh
them: read once a second from the outcome rows of the last five minutes (every gateway reads the
same rows, so gateways agree) and smoothed from one reading to the next.

The reading costs the gateway about 14 ms a second at 100 requests a second (a five-minute
window of 30,000 rows, measured on SQLite), growing with traffic, so a gateway reads only while
some route asks for the figures, and stops a minute after the last one did."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from activities.routing_policies import Recent
from store.breakers import Key
from store.variant_figures import recent_figures

WINDOW = timedelta(minutes=5)
# Weight of the newest reading: a provider that slows down shows within a few seconds, one slow
# second does not swing the choice.
SMOOTHING = 0.3
# Keep reading this long after a route last asked.
WANTED_FOR_SECONDS = 60.0


class VariantStats:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._figures: dict[Key, Recent] = {}
        self._wanted_at: float | None = None

    def refresh(self, now: datetime | None = None) -> None:
        wanted_at = self._wanted_at
        if wanted_at is None or self._clock() - wanted_at > WANTED_FOR_SECONDS:
            return
        read = recent_figures(self._engine, (now or datetime.now(UTC)) - WINDOW)
        with self._lock:
            previous = self._figures
            self._figures = {
                key: Recent(
                    _smoothed(previous.get(key, Recent()).latency_ms, latency),
                    _smoothed(previous.get(key, Recent()).quality, quality),
                )
                for key, (latency, quality) in read.items()
            }

    def recent(self, provider: str, model: str) -> Recent:
        """The figures last read; asking keeps them being read (the first ask finds none)."""
        self._wanted_at = self._clock()
        with self._lock:
            return self._figures.get((provider, model), Recent())


def _smoothed(before: float | None, now: float | None) -> float | None:
    if now is None:
        return before
    if before is None:
        return now
    return SMOOTHING * now + (1 - SMOOTHING) * before
