"""Circuit breakers per provider and model: closed -> open -> half-open -> closed (or open again).

Closed: calls go through. When, over the last `window`, at least `min_calls` calls to a provider
and model ended and at least `failure_rate` of them failed on the provider's side, the breaker
opens: admission drops the variant from the request's route at once, so the request goes to the
route's next variant (its fallback) with no call to the failing one and no Temporal retry. After
`open_for` it is half-open: `probes` requests may try it. A probe that fails opens it again; once
`probes` probes have answered, it closes. Calls are counted from the outcome rows the request
path writes anyway, so a breaker costs the request path nothing but a dictionary lookup.

Each gateway evaluates the breakers once a second (`refresh`) and keeps what it read for its own
admissions; transitions are changed only from the version read, so when two gateways see the
same evidence one of them makes the change and says so. The states live in Redis or the store
(store/breaker_states.py); the calls they are judged on are always the store's outcome rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from activities.refusals import AdmissionRefused
from contracts.routing import ResolvedRoute, RouteTarget, left_serving
from store.breaker_states import BreakerStates, DatabaseBreakerStates
from store.breakers import Breaker, Calls, Key, recent_calls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreakerPolicy:
    window: timedelta = timedelta(seconds=30)
    min_calls: int = 10
    failure_rate: float = 0.5
    open_for: timedelta = timedelta(seconds=30)
    probes: int = 3


class AllVariantsOpen(AdmissionRefused):
    """Every variant of the route has an open breaker: nothing can be called now."""

    status, error_type, code = 503, "server_error", "circuit_open"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after.total_seconds())))}

    def __init__(self, route: str, retry_after: timedelta, reasons: list[str]) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"every variant of route {route!r} is failing and paused (circuit open): "
            + "; ".join(reasons)
            + f". Retry in {max(1, round(retry_after.total_seconds()))} s."
        )


# A state store that cannot be reached is said once a minute, not once a request.
UNREACHABLE_LOG_INTERVAL_SECONDS = 60.0

Transition = Callable[[Key, str, str], None]
"""Called with (provider, model), the new state and why, by the gateway that made a change."""


class BreakerBoard:
    def __init__(
        self,
        engine: Engine,
        policy: BreakerPolicy | None = None,
        on_transition: Transition | None = None,
        states: BreakerStates | None = None,
    ) -> None:
        self._engine = engine
        self.policy = policy or BreakerPolicy()
        # Public: the gateway's /metrics reads the states its admissions use.
        self.states = states or DatabaseBreakerStates(engine)
        self._on_transition = on_transition
        self._known: dict[Key, Breaker] = {}
        self._unreachable_said_at = -UNREACHABLE_LOG_INTERVAL_SECONDS

    # --- evaluation, once a second per gateway ---------------------------------------------

    def refresh(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        policy = self.policy
        known = self.states.read()
        # Calls count from the window's start, or from the breaker's last change if later: a
        # breaker just closed is not reopened by the failures that opened it.
        since = now - policy.window
        recent = recent_calls(self._engine, since)
        for breaker in known.values():
            if breaker.changed_at > since:
                counted = recent_calls(self._engine, breaker.changed_at, [breaker.key])
                recent[breaker.key] = counted.get(breaker.key, Calls(0, 0))
        for key in set(recent) | set(known):
            self._step(key, known.get(key), recent.get(key, Calls(0, 0)), now)
        self._known = self.states.read()

    def _step(self, key: Key, breaker: Breaker | None, calls: Calls, now: datetime) -> None:
        policy = self.policy
        state = "closed" if breaker is None else breaker.state
        version = None if breaker is None else breaker.version
        if state == "closed":
            if (
                calls.calls >= policy.min_calls
                and calls.failures >= policy.failure_rate * calls.calls
            ):
                reason = (
                    f"{calls.failures} of {calls.calls} calls failed in the last "
                    f"{policy.window.total_seconds():g} s"
                )
                self._change(key, version, "open", 0, reason, now)
        elif state == "open":
            assert breaker is not None
            if now - breaker.changed_at >= policy.open_for:
                reason = f"open for {policy.open_for.total_seconds():g} s: probing"
                self._change(key, version, "half_open", policy.probes, reason, now)
        elif state == "half_open":
            assert breaker is not None
            if calls.failures:
                self._change(key, version, "open", 0, "a probe failed", now)
            elif calls.successes >= policy.probes:
                self._change(key, version, "closed", 0, f"{calls.successes} probes answered", now)
            elif now - breaker.changed_at >= 2 * policy.open_for:
                # Probes taken by requests that never ended: hand out new ones.
                self._change(key, version, "half_open", policy.probes, "probes renewed", now)

    def _change(
        self, key: Key, version: int | None, state: str, probes: int, reason: str, now: datetime
    ) -> None:
        if self.states.change(key, version, state, probes, reason, now):
            provider, model = key
            log.warning("circuit breaker %s/%s is %s: %s", provider, model, state, reason)
            if self._on_transition is not None:
                self._on_transition(key, state, reason)

    # --- admission, per request ---------------------------------------------------------------

    def admit(self, route: ResolvedRoute, now: datetime | None = None) -> ResolvedRoute:
        """The route without the variants whose breaker is open (or half-open with no probe
        left for this request). Raises AllVariantsOpen when none is left."""
        if not self._known or route.error is not None:
            return route
        kept: list[RouteTarget] = []
        skipped: list[Breaker] = []
        for target in route.targets:
            breaker = self._known.get((target.provider, target.model))
            if (
                breaker is None
                or breaker.state == "closed"
                or (breaker.state == "half_open" and self._probe_claimed(breaker.key))
            ):
                kept.append(target)
            else:
                skipped.append(breaker)
        if not skipped:
            return route
        if not kept:
            now = now or datetime.now(UTC)
            reopen = min(b.changed_at + self.policy.open_for for b in skipped)
            raise AllVariantsOpen(
                route.route,
                max(reopen - now, timedelta(seconds=1)),
                [f"{b.provider}/{b.model}: {b.reason}" for b in skipped],
            )
        # If the variants with traffic are open, the first fallback takes it.
        return route.model_copy(update={"targets": left_serving(kept)})

    def _probe_claimed(self, key: Key) -> bool:
        """A probe for this request; none when the shared state cannot be reached (Redis down):
        a half-open variant was failing, so its request goes to the next variant instead."""
        try:
            return self.states.claim_probe(key)
        except Exception as exc:
            now = time.monotonic()
            if now - self._unreachable_said_at >= UNREACHABLE_LOG_INTERVAL_SECONDS:
                self._unreachable_said_at = now
                log.warning("breaker probes cannot be claimed; half-open variants skipped: %s", exc)
            return False

    def state_of(self, provider: str, model: str) -> str:
        breaker = self._known.get((provider, model))
        return "closed" if breaker is None else breaker.state
