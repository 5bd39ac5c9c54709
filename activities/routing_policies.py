"""Routing policies: which of a route's variants a request goes to, and why.

A route's `routing` block picks a policy and its constraints. The constraints first leave out the
variants that cannot serve the request: a provider or region not allowed, a capability the route
requires and the model is not known to have (models.json), one the request needs (tools,
structured output) and the model is known to lack, a context window too small for the request
(the route's minimum, or the request's own input and output), an expected cost or a recent
latency above the route's maximum. Then the policy orders the rest:

- `weighted` (the default): by the variants' weights, as routes always did;
- `cheapest`: by expected cost, from the variant's prices at the request's token estimate (a
  quarter of its bytes) and its max_tokens (256 expected when it sets none);
- `fastest`: by each variant's recent latency (an average over its answers of the last five
  minutes, smoothed from second to second, read from the outcome rows every gateway writes), the
  variants not yet measured after the measured ones;
- `score`: by recent quality - cost_weight * expected cost - latency_weight * recent latency (s).

The chosen variant goes first with all the traffic; the others follow as its fallbacks, in the
policy's order. Why it was chosen ("cheapest of 3 meeting tools, 32k context") is carried to the
outcome row and the request's summary in the Web UI. A route without a routing block is touched
only for a request that needs tools or structured output, and only when a variant lacks them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from activities.providers import ProviderRegistry
from activities.providers.model_catalog import UNKNOWN
from activities.refusals import AdmissionRefused
from contracts.chat import ChatRequest
from contracts.routing import ResolvedRoute, RouteTarget, RoutingPolicy, left_serving

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
        needs = _needs(chat)
        if route.error is not None or not route.targets or (route.routing is None and not needs):
            return route
        # A route without a routing block still keeps requests that need tools or structured
        # output away from variants known to lack them.
        policy = route.routing or RoutingPolicy()
        estimate = input_token_estimate(chat)
        output = chat.params.max_tokens or EXPECTED_OUTPUT_TOKENS
        costs = {t.variant: self._expected_cost(t, estimate, output) for t in route.targets}
        recent = {t.variant: self._recent(t.provider, t.model) for t in route.targets}
        eligible, excluded = [], []
        for target in route.targets:
            problem = self._problem(policy, target, needs, estimate + output, costs, recent)
            if problem is None:
                eligible.append(target)
            else:
                excluded.append(f"{target.variant}: {problem}")
        if not eligible:
            raise NoVariantEligible(
                f"no variant of route {route.route!r} meets its constraints for this request: "
                + "; ".join(excluded)
            )
        limits = _limits(policy, needs)
        if policy.kind == "weighted":
            if route.routing is None and not excluded:
                return route
            reason = "weighted" + (f" among {len(eligible)} {limits}" if limits else "")
            return route.model_copy(update={"targets": left_serving(eligible), "reason": reason})
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
        needs: tuple[str, ...],
        tokens_needed: int,
        costs: dict[str, float | None],
        recent: dict[str, Recent],
    ) -> str | None:
        if policy.providers is not None and target.provider not in policy.providers:
            return f"provider {target.provider} is not allowed"
        # A provider this process lacks fails at its call with its own error, as without a policy.
        provider = self._registry.get(target.provider)
        known = UNKNOWN if provider is None else provider.capabilities(target.model, target.options)
        # The route's requirements hold only where known; the request's own needs exclude only
        # what is known to be missing, so an uncatalogued model still gets its chance.
        for capability in policy.requires:
            if known.has(capability) is not True:
                state = "unknown" if known.has(capability) is None else "missing"
                return f"{capability} {state}"
        for capability in needs:
            if known.has(capability) is False:
                return f"no {capability}, which the request needs"
        if policy.regions is not None:
            region = None if provider is None else provider.region(target.model, target.options)
            if region is None:
                return "region unknown"
            if not any(_within(region, allowed) for allowed in policy.regions):
                return f"region {region} is not allowed"
        if policy.min_context_tokens and (known.context_window or 0) < policy.min_context_tokens:
            window = "unknown" if known.context_window is None else f"{known.context_window:,}"
            return f"context window {window} < {policy.min_context_tokens:,} tokens"
        window = known.context_window
        if window is not None and window < tokens_needed:
            return f"context window {window:,} < {tokens_needed:,} tokens this request needs"
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


def _needs(chat: ChatRequest) -> tuple[str, ...]:
    """The capabilities a request cannot be answered without."""
    if not chat.tools and chat.response_format is None:
        return ()
    needs = ("tools",) if chat.tools else ()
    return needs + (("structured_output",) if chat.response_format is not None else ())


def _within(region: str, allowed: str) -> bool:
    return region == allowed or region.startswith(allowed + "-")


def _limits(policy: RoutingPolicy, needs: tuple[str, ...]) -> str:
    wanted = sorted({*policy.requires, *needs})
    parts = ["+".join(wanted)] if wanted else []
    if policy.min_context_tokens:
        parts.append(f"{policy.min_context_tokens // 1000}k context")
    if policy.max_cost_usd is not None:
        parts.append(f"<= ${policy.max_cost_usd:g}")
    if policy.max_latency_ms is not None:
        parts.append(f"<= {policy.max_latency_ms:g} ms")
    if policy.providers is not None:
        parts.append("on " + "/".join(policy.providers))
    if policy.regions is not None:
        parts.append("in " + "/".join(policy.regions))
    return ("meeting " + ", ".join(parts)) if parts else ""
