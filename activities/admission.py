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

    def admit(self, request: AdmitInput) -> AdmitResult:
        route = self._resolver.resolve(request.model)
        if route.error is not None:
            return AdmitResult(route=route)
        # Kill switches, then open breakers, leave variants out (or refuse the request).
        route = self.breakers.admit(self.flags.without_killed(route))
        vault = Vault()
        verdict, chat = enforcement.check_input(
            request.chat, route.guardrails.input, self._scanner, vault
        )
        # The route's policy chooses among what is left (NoVariantEligible when nothing fits).
        route = self._chooser.choose(route, chat)
        return AdmitResult(
            route=route,
            checked=InputCheckResult(verdict=verdict, chat=chat, vault=vault.by_placeholder),
        )
