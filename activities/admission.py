"""Admitting a request: resolve its route, then check its input against the route's policy.

Done by the gateway before it starts the request's workflow, so the admitted request (the
resolved route, the checked input, the redaction vault) is the workflow's recorded input rather
than one more step inside it. Requests started before that run it as their first local step.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from activities.budget_holds import BudgetHolds
from activities.circuit_breakers import BreakerBoard
from activities.experiment_assignment import ExperimentAssigner
from activities.flags import Flags
from activities.providers import ProviderRegistry
from activities.response_cache import ResponseCache
from activities.routing import RouteResolver
from activities.routing_policies import PolicyChooser
from activities.variant_stats import VariantStats
from contracts.guardrails import InputCheckResult
from contracts.steps import AdmitInput, AdmitResult
from guardrails import enforcement
from guardrails.findings import Registry
from guardrails.redaction import Vault
from store.response_cache import DatabaseResponses, ResponseStore


class Admission:
    def __init__(
        self,
        engine: Engine,
        providers: ProviderRegistry,
        scanner: Registry,
        request_timeout: timedelta = timedelta(seconds=120),
        breakers: BreakerBoard | None = None,
        responses: ResponseStore | None = None,
    ) -> None:
        self._resolver = RouteResolver(engine, providers)
        self._scanner = scanner
        self.budgets = BudgetHolds(engine, providers, request_timeout)
        self.breakers = breakers or BreakerBoard(engine)
        self.cache = ResponseCache(responses or DatabaseResponses(engine))
        self.flags = Flags(engine)
        self.variant_stats = VariantStats(engine)
        self._chooser = PolicyChooser(providers, self.variant_stats.recent)
        self.experiments = ExperimentAssigner(engine, providers)

    def admit(self, request: AdmitInput) -> AdmitResult:
        resolved = self._resolver.resolve(request.model)
        if resolved.error is not None:
            return AdmitResult(route=resolved)
        # A running experiment puts the request on its unit's arm...
        route, assignment = self.experiments.assign(
            resolved,
            request.tenant_id,
            request.request_id,
            request.user_hash,
            request.unit_header_value,
        )
        # ...then kill switches and open breakers leave variants out (or refuse the request).
        route = self.breakers.admit(self.flags.without_killed(route))
        if assignment is not None and route.targets[0].variant != assignment.arm:
            # Its arm is switched off or its breaker open: served outside the experiment.
            assignment = None
            route = route.model_copy(update={"routing": resolved.routing, "reason": None})
        vault = Vault()
        verdict, chat = enforcement.check_input(
            request.chat, route.guardrails.input, self._scanner, vault
        )
        if assignment is None:
            # The route's policy chooses among what is left (NoVariantEligible when nothing fits).
            route = self._chooser.choose(route, chat)
        return AdmitResult(
            route=route,
            checked=InputCheckResult(verdict=verdict, chat=chat, vault=vault.by_placeholder),
            experiment=assignment,
        )
