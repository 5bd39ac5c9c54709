"""Putting a request in its route's running experiment, on the arm its unit sticks to.

The unit (the end user, a header's value, or the request) is hashed with the experiment's salt
and the tenant into a point in [0, 1), which falls in one arm's share: the same unit lands on the
same arm as long as the shares stand, different experiments (different salts) split units
independently, and the choice can be recomputed from the unit alone. A request without its unit
(no user given, no such header) is served by the route as if no experiment ran, and is not
counted in it.

The assigned arm goes first with all the traffic and the route's other variants stay behind it
as fallbacks. Kill switches and open breakers still apply after assignment: a request whose arm
they take out is served outside the experiment.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.engine import Engine

from activities.providers import ProviderRegistry
from contracts.experiment import ExperimentAssignment, ExperimentSpec
from contracts.routing import ResolvedRoute, RouteTarget
from store.experiments import ExperimentState, running_on_route
from store.installation import installation_secret
from store.short_lived import ShortLived
from workflows.selection import by_weight, unit_interval

UNIT_DIGEST_SECRET = "experiment-unit-key"


class ExperimentAssigner:
    def __init__(self, engine: Engine, registry: ProviderRegistry) -> None:
        self._engine = engine
        self._registry = registry
        # A started, re-weighted or stopped experiment reaches every gateway within a second.
        # "None running" is kept too (boxed, as the cache keeps no None): most routes run none,
        # and their requests must not each pay a query to learn it.
        self._running: ShortLived[str, tuple[ExperimentState | None]] = ShortLived()
        self._digest_key: bytes | None = None

    def digest_key(self) -> bytes:
        """The installation's key for units' digests (made once in the store, the same in every
        process): read on the first assignment by user or header, then kept."""
        if self._digest_key is None:
            self._digest_key = installation_secret(self._engine, UNIT_DIGEST_SECRET).encode()
        return self._digest_key

    def running(self, route: str) -> ExperimentState | None:
        found = self._running.get(route, lambda name: (running_on_route(self._engine, name),))
        return None if found is None else found[0]

    def known_running(self, route: str) -> ExperimentState | None:
        """As `running`, from what this process read in the last second only (never a query):
        for callers on the event loop."""
        found = self._running.peek(route)
        return None if found is None else found[0]

    def unit_header(self, route: str) -> str | None:
        """The header the route's experiment takes its unit from, if it does."""
        running = self.running(route)
        if running is None or not running.spec.unit.startswith("header:"):
            return None
        return running.spec.unit.removeprefix("header:")

    def assign(
        self,
        route: ResolvedRoute,
        tenant_id: str,
        request_id: str,
        user_hash: str | None,
        header_value: str | None,
    ) -> tuple[ResolvedRoute, ExperimentAssignment | None]:
        if route.error is not None or route.version == 0:
            return route, None  # explicit provider/model requests are in no experiment
        running = self.running(route.route)
        if running is None or not any(share > 0 for share in running.weights.values()):
            return route, None
        spec = running.spec
        unit = {"user": user_hash, "request": request_id}.get(spec.unit, header_value)
        if not unit:
            return route, None
        arm = choose_arm(spec, running.weights, tenant_id, unit)
        target = self._target(spec, arm, route)
        if target is None:
            return route, None
        others = [t.model_copy(update={"weight": 0.0}) for t in route.targets if t.variant != arm]
        assigned = route.model_copy(
            update={
                "targets": [target.model_copy(update={"weight": 1.0}), *others],
                # The experiment chooses here, not the route's policy.
                "routing": None,
                "reason": f"experiment {spec.name}: arm {arm}",
            }
        )
        digest = (
            None
            if spec.unit == "request"
            else unit_digest(self.digest_key(), spec, tenant_id, unit)
        )
        return assigned, ExperimentAssignment(experiment=spec.name, arm=arm, unit=digest)

    def _target(self, spec: ExperimentSpec, arm: str, route: ResolvedRoute) -> RouteTarget | None:
        target = spec.arm_target(arm, route.targets)
        provider = None if target is None else self._registry.get(target.provider)
        if provider is None or provider.target_problem(target.model, target.options):  # type: ignore[union-attr]
            return None  # an arm this process cannot call is skipped, never an error
        return target


def _unit_key(spec: ExperimentSpec, tenant_id: str, unit: str) -> str:
    return f"{spec.hash_salt}\x00{tenant_id}\x00{unit}"


def choose_arm(spec: ExperimentSpec, weights: dict[str, float], tenant_id: str, unit: str) -> str:
    """The arm `unit` falls in, by the current shares (arms without a share take none)."""
    point = unit_interval(_unit_key(spec, tenant_id, unit))
    return by_weight([(a.variant, weights.get(a.variant, 0.0)) for a in spec.arms], point)


def unit_digest(key: bytes, spec: ExperimentSpec, tenant_id: str, unit: str) -> str:
    """What an outcome row keeps of its unit: 128 bits of HMAC-SHA256 under the installation's
    key over the experiment's salt, the tenant and the unit. Enough to count distinct units; and
    a header value that can be guessed (an email address) cannot be confirmed from the rows
    without the key, which the salt, stored with the experiment, would not protect."""
    message = _unit_key(spec, tenant_id, unit).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
