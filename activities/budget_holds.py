"""Holding a request's worst-case cost against its tenant's budgets, at admission.

The worst case is an upper bound, not an estimate: every variant the request could reach (its
route's variants, fallbacks included) priced at the request's input, counted as its JSON's bytes
(a byte-level tokenizer never makes more tokens than bytes) plus the variant's system prompt, and
at `max_tokens` of output. A budgeted request without `max_tokens` is given the cap below, so its
output is bounded too. An unpriced model costs 0 here, as it does in the outcome rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from activities.providers import ProviderRegistry
from contracts.chat import ChatRequest
from contracts.routing import ResolvedRoute, RouteTarget
from contracts.steps import AdmitInput, AdmitResult
from store import budgets
from store.budgets import BudgetRule, OverBudget
from store.short_lived import ShortLived

# Output tokens a budgeted request without max_tokens may produce.
DEFAULT_OUTPUT_CAP = 4096
# Tokens a provider may add per message for roles and separators, beyond the text's bytes.
PER_MESSAGE_OVERHEAD = 16


def input_token_bound(chat: ChatRequest, target: RouteTarget) -> int:
    prompt = len((target.system_prompt or "").encode("utf-8"))
    messages = len(chat.messages) + (1 if target.system_prompt else 0)
    return len(chat.model_dump_json().encode("utf-8")) + prompt + messages * PER_MESSAGE_OVERHEAD


def worst_case_usd(
    targets: list[RouteTarget], chat: ChatRequest, registry: ProviderRegistry
) -> float:
    """The most the request can cost on any variant it may reach."""
    output = chat.params.max_tokens or 0
    worst = 0.0
    for target in targets:
        provider = registry.get(target.provider)
        prices = None if provider is None else provider.prices(target.model, target.options)
        if prices is None:
            continue
        per_input, per_output = prices
        cost = (input_token_bound(chat, target) * per_input + output * per_output) / 1_000_000
        worst = max(worst, cost)
    return worst


class BudgetHolds:
    def __init__(
        self,
        engine: Engine,
        registry: ProviderRegistry,
        request_timeout: timedelta,
        output_cap: int = DEFAULT_OUTPUT_CAP,
    ) -> None:
        self._engine = engine
        self._registry = registry
        # A reservation older than this belongs to a request that will never settle.
        self._stale_after = request_timeout + timedelta(seconds=60)
        self._output_cap = output_cap
        # Each tenant's budgets, read at most once a second per process: a budget set a moment
        # ago applies within the second, and a tenant without budgets costs no write at all.
        self._rules: ShortLived[str, list[BudgetRule]] = ShortLived()

    def hold(self, request: AdmitInput, admitted: AdmitResult) -> AdmitResult:
        """The admitted request with its worst case held; raises OverBudget if it cannot be."""
        route, checked = admitted.route, admitted.checked
        if route.error is not None or checked is None or checked.verdict.action == "block":
            return admitted
        rules = self._rules.get(
            request.tenant_id, lambda tenant: budgets.budget_rules(self._engine, tenant)
        )
        if not any(rule.applies_to(route.route) for rule in rules or []):
            return admitted
        chat = checked.chat
        if chat.params.max_tokens is None:
            params = chat.params.model_copy(update={"max_tokens": self._output_cap})
            chat = chat.model_copy(update={"params": params})
        worst = worst_case_usd(route.targets, chat, self._registry)
        narrowed = {}
        try:
            self._reserve(request, rules or [], route.route, worst)
        except OverBudget:
            cheaper = self._cheaper_variant(request, rules or [], route, chat)
            if cheaper is None:
                raise
            # Its answer comes from another variant than the cache key was made for.
            narrowed = {"route": cheaper, "cache_key": None}
        return admitted.model_copy(
            update={
                "checked": checked.model_copy(update={"chat": chat}),
                "budgeted": True,
                **narrowed,
            }
        )

    def _reserve(
        self, request: AdmitInput, rules: list[BudgetRule], route: str, worst: float
    ) -> None:
        try:
            budgets.reserve(self._engine, request.request_id, rules, route, worst)
        except OverBudget:
            # Requests lost before they settled still hold their worst case: charge them, and
            # try once more with what that frees.
            stale = datetime.now(UTC) - self._stale_after
            if not budgets.charge_expired(self._engine, request.tenant_id, stale):
                raise
            budgets.reserve(self._engine, request.request_id, rules, route, worst)

    def _cheaper_variant(
        self, request: AdmitInput, rules: list[BudgetRule], route: ResolvedRoute, chat: ChatRequest
    ) -> ResolvedRoute | None:
        """Where the route allows it, the route narrowed to the cheapest variant whose own
        worst case fits the budget (held), with no fallback that could cost more."""
        if route.routing is None or route.routing.over_budget != "cheapest":
            return None
        target = min(route.targets, key=lambda t: worst_case_usd([t], chat, self._registry))
        try:
            budgets.reserve(
                self._engine,
                request.request_id,
                rules,
                route.route,
                worst_case_usd([target], chat, self._registry),
            )
        except OverBudget:
            return None  # not even the cheapest fits
        reason = f"over budget for its usual variants: {target.variant}, the cheapest that fits"
        return route.model_copy(
            update={"targets": [target.model_copy(update={"weight": 1.0})], "reason": reason}
        )
