"""Routing policies: which of a route's variants a request goes to, and why.

A route's `routing` block picks a policy and its constraints. The constraints first leave out the
variants that cannot serve the request: a provider not allowed, a context window too small for
the request (the route's minimum, or the request's own input and output), an expected cost or a
recent latency above the route's maximum. Then the policy orders the rest:

- `weighted` (the default): by the variants' weights, as routes always did;
- `cheapest`: by expected cost, from the variant's prices at the request's token estimate (a
  quarter of its bytes) and its max_tokens (256 expected when it sets none);
- `fastest`: by each variant's recent latency (an average over its answers of the last five
  minutes, smoothed from second to second, read from the outcome rows every gateway writes), the
  variants not yet measured after the measured ones;
- `score`: by recent quality - cost_weight * expected cost - latency_weight * recent latency (s).

The chosen variant goes first with all the traffic; the others follow as its fallbacks, in the
policy's order. Why it was chosen ("cheapest of 3 within 32k context") is carried to the outcome
row and the request's summary in the Web UI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from activities.providers import ProviderRegistry
from activities.refusals import AdmissionRefused
from contracts.chat import ChatRequest
from contracts.routing import ResolvedRoute, RouteTarget, RoutingPolicy

EXPECTED_OUTPUT_TOKENS = 256


class NoVariantEligible(AdmissionRefused):
    """The route's constraints leave no variant for this request."""

    code = "no_eligible_variant"


@dataclass(frozen=True)
class Recent:
    """A variant's recent figures, where known."""

    latency_ms: float | None = None
    quality: float | None = None


def input_token_estimate(chat: ChatRequest) -> int:
    return math.ceil(len(chat.model_dump_json().encode("utf-8")) / 4)


class PolicyChooser:
    def __init__(self, registry: ProviderRegistry, recent: Callable[[str, str], Recent]) -> None:
        self._registry = registry
        self._recent = recent

    def choose(self, route: ResolvedRoute, chat: ChatRequest) -> ResolvedRoute:
        policy = route.routing
        if policy is None or route.error is not None or not route.targets:
            return route
        estimate = input_token_estimate(chat)
        output = chat.params.max_tokens or EXPECTED_OUTPUT_TOKENS
        costs = {t.variant: self._expected_cost(t, estimate, output) for t in route.targets}
        recent = {t.variant: self._recent(t.provider, t.model) for t in route.targets}
        eligible, excluded = [], []
        for target in route.targets:
            problem = self._problem(policy, target, estimate + output, costs, recent)
            if problem is None:
                eligible.append(target)
            else:
                excluded.append(f"{target.variant}: {problem}")
        if not eligible:
            raise NoVariantEligible(
                f"no variant of route {route.route!r} meets its constraints for this request: "
                + "; ".join(excluded)
            )
        limits = _limits(policy)
        if policy.kind == "weighted":
            ordered = [*eligible]
            if not any(t.weight > 0 for t in ordered):
                ordered[0] = ordered[0].model_copy(update={"weight": 1.0})
            reason = "weighted" + (f" among {len(eligible)} {limits}" if limits else "")
            return route.model_copy(update={"targets": ordered, "reason": reason})
        rank = {
            "cheapest": lambda t: costs[t.variant],
            "fastest": lambda t: _latency(recent[t.variant]),
            "score": lambda t: -self._score(policy, costs[t.variant], recent[t.variant]),
        }[policy.kind]
        ordered = sorted(eligible, key=rank)  # stable: ties keep the route's order
        chosen = ordered[0]
        reason = f"{policy.kind} of {len(eligible)}" + (f" {limits}" if limits else "")
        reason += f": {self._figure(policy, chosen, costs, recent)}"
        targets = [
            chosen.model_copy(update={"weight": 1.0}),
            *(t.model_copy(update={"weight": 0.0}) for t in ordered[1:]),
        ]
        return route.model_copy(update={"targets": targets, "reason": reason})

    def _expected_cost(self, target: RouteTarget, input_tokens: int, output: int) -> float | None:
        provider = self._registry.get(target.provider)
        prices = None if provider is None else provider.prices(target.model, target.options)
        if prices is None:
            return None
        return (input_tokens * prices[0] + output * prices[1]) / 1_000_000

    def _problem(
        self,
        policy: RoutingPolicy,
        target: RouteTarget,
        tokens_needed: int,
        costs: dict[str, float | None],
        recent: dict[str, Recent],
    ) -> str | None:
        if policy.providers is not None and target.provider not in policy.providers:
            return f"provider {target.provider} is not allowed"
        provider = self._registry.get(target.provider)
        window = None if provider is None else provider.context_window(target.model, target.options)
        wanted = max(policy.min_context_tokens or 0, tokens_needed)
        if window is not None and window < wanted:
            return f"context window {window:,} < {wanted:,} tokens"
        cost = costs[target.variant]
        if policy.max_cost_usd is not None and cost is not None and cost > policy.max_cost_usd:
            return f"expected cost ${cost:.6f} > ${policy.max_cost_usd:g}"
        latency, most = recent[target.variant].latency_ms, policy.max_latency_ms
        if most is not None and latency is not None and latency > most:
            return f"recent latency {latency:.0f} ms > {most:g} ms"
        return None

    def _score(self, policy: RoutingPolicy, cost: float | None, recent: Recent) -> float:
        latency_s = (recent.latency_ms or 0.0) / 1000
        return (
            (recent.quality or 0.0)
            - policy.cost_weight * (cost or 0.0)
            - policy.latency_weight * latency_s
        )

    def _figure(
        self,
        policy: RoutingPolicy,
        chosen: RouteTarget,
        costs: dict[str, float | None],
        recent: dict[str, Recent],
    ) -> str:
        cost, figures = costs[chosen.variant], recent[chosen.variant]
        if policy.kind == "cheapest":
            return f"{chosen.variant} at ${cost or 0:.6f}"
        if policy.kind == "fastest":
            if figures.latency_ms is None:
                return f"{chosen.variant}, none measured yet"
            return f"{chosen.variant} at {figures.latency_ms:.0f} ms"
        return f"{chosen.variant} scoring {self._score(policy, cost, figures):.3f}"


def _latency(recent: Recent) -> float:
    return math.inf if recent.latency_ms is None else recent.latency_ms


def _limits(policy: RoutingPolicy) -> str:
    parts = []
    if policy.min_context_tokens:
        parts.append(f"{policy.min_context_tokens // 1000}k context")
    if policy.max_cost_usd is not None:
        parts.append(f"<= ${policy.max_cost_usd:g}")
    if policy.max_latency_ms is not None:
        parts.append(f"<= {policy.max_latency_ms:g} ms")
    if policy.providers is not None:
        parts.append("on " + "/".join(policy.providers))
    return ("within " + ", ".join(parts)) if parts else ""
