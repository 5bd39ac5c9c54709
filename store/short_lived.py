"""A read-through cache whose entries live a second or so, for configuration read on every request.

API keys and routes change rarely and are read by every request. Keeping what was read for a
moment saves a database round trip (and a thread hop) per request, at the price of a change
taking up to that moment to reach every process: a revoked key keeps working, and a published
route version keeps its predecessor serving, for at most `ttl` seconds in each process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# A second: long enough to absorb a burst of requests, short enough that nobody waits on a change.
DEFAULT_TTL_SECONDS = 1.0


class ShortLived(Generic[K, V]):
    """Values loaded on demand and kept `ttl` seconds; at most `limit` of them at a time."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        limit: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def peek(self, key: K) -> V | None:
        """The value kept for `key` if it is still fresh; never loads."""
        with self._lock:
            found = self._entries.get(key)
        return found[1] if found is not None and found[0] > self._clock() else None

    def get(self, key: K, load: Callable[[K], V | None]) -> V | None:
        """The value kept for `key`, or `load(key)`, kept unless it is None (a miss is never
        kept: a key or route created a moment ago must work at once)."""
        now = self._clock()
        with self._lock:
            found = self._entries.get(key)
        if found is not None and found[0] > now:
            return found[1]
        value = load(key)
        if value is not None:
            with self._lock:
                if len(self._entries) >= self._limit:
                    self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                    if len(self._entries) >= self._limit:
                        self._entries.clear()
                self._entries[key] = (now + self._ttl, value)
        return value
