"""Feature flags, tiered: an environment override, then the store, then the code's default.

`INTERLOCK_FLAG_<NAME>` (the name upper-cased, every other character an underscore) set to
on/off, true/false, yes/no or 1/0 wins, so one process can be pinned whatever the store says.
Otherwise the store's value, read once a second per process (all flags in one query) and
re-read at once after this process changes one; otherwise the default the caller gives.

Kill switches are flags of their own names: `kill.global`, `kill.route.<route>`,
`kill.provider.<provider>`. A new route or feature can ship dark the same way, behind a flag
that starts off.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy.engine import Engine

from activities.refusals import AdmissionRefused
from contracts.routing import ResolvedRoute, left_serving
from store import flags as store

REFRESH_SECONDS = 1.0
_TRUE = {"1", "on", "true", "yes"}
_FALSE = {"0", "off", "false", "no"}

GLOBAL_KILL = "kill.global"


def route_kill(route: str) -> str:
    return f"kill.route.{route}"


def provider_kill(provider: str) -> str:
    return f"kill.provider.{provider}"


def environment_name(flag: str) -> str:
    return "INTERLOCK_FLAG_" + re.sub(r"[^A-Za-z0-9]", "_", flag).upper()


class KillSwitchOn(AdmissionRefused):
    """A kill switch covers the request: it is refused, not sent anywhere."""

    status, error_type, code = 503, "server_error", "kill_switch"


class Flags:
    def __init__(
        self,
        engine: Engine,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._environ = environ
        self._clock = clock
        self._lock = threading.Lock()
        self._stored: dict[str, bool] = {}
        self._read_at: float | None = None

    def enabled(self, name: str, default: bool = False) -> bool:
        override = self._environ.get(environment_name(name))
        if override is not None:
            value = override.strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
        return self._snapshot().get(name, default)

    def set(self, name: str, enabled: bool, changed_by: str, reason: str = "") -> None:
        store.set_flag(self._engine, name, enabled, changed_by, reason)
        with self._lock:
            self._read_at = None  # this process sees its own change at once

    def _snapshot(self) -> dict[str, bool]:
        now = self._clock()
        with self._lock:
            fresh = self._read_at is not None and now - self._read_at < REFRESH_SECONDS
            if fresh:
                return self._stored
        stored = store.stored_flags(self._engine)
        with self._lock:
            self._stored, self._read_at = stored, now
        return stored

    # --- kill switches -------------------------------------------------------------------------

    def without_killed(self, route: ResolvedRoute) -> ResolvedRoute:
        """The route with the variants of killed providers left out; KillSwitchOn if the whole
        gateway or the route is switched off, or no variant is left."""
        if self.enabled(GLOBAL_KILL):
            raise KillSwitchOn("requests are switched off on this gateway (kill switch: global)")
        if self.enabled(route_kill(route.route)):
            raise KillSwitchOn(f"route {route.route!r} is switched off (kill switch)")
        killed = {t.provider for t in route.targets if self.enabled(provider_kill(t.provider))}
        if not killed:
            return route
        kept = [t for t in route.targets if t.provider not in killed]
        if not kept:
            names = ", ".join(sorted(killed))
            raise KillSwitchOn(
                f"every variant of route {route.route!r} uses a provider that is switched off "
                f"(kill switch: {names})"
            )
        return route.model_copy(update={"targets": left_serving(kept)})
