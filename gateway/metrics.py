"""Prometheus metrics for the gateway, on its own registry (several apps may share a process).

One scrape of /metrics serves everything the process knows: Interlock's own metrics (counted on
the request path, or read from the store at scrape time) and the Temporal SDK's, which the
process's Temporal runtime buffers (configuration/temporal_metrics.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from contracts.steps import AdmitResult
from gateway.scraped_state import RunningRollout, StoreState
from store.budgets import NANO
from store.tables import SloAlert

# Label values are operator-defined names (routes, providers) or closed sets, never user input:
# an unknown model name is recorded as "unresolved", not as itself.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """`registry`: where the metrics go, with whatever it holds already (the gateway's
        holds the Temporal SDK's and the process's: configuration.temporal.metrics_registry)."""
        self.registry = registry or CollectorRegistry()
        self.slo_alert_firing = Gauge(
            "interlock_slo_alert_firing",
            "1 while a burn-rate alert on a route's SLO fires.",
            ["route", "slo", "severity"],
            registry=self.registry,
        )
        self.slo_burn_rate = Gauge(
            "interlock_slo_burn_rate",
            "Error-budget burn rate of a route's SLO at the last check, per alert window.",
            ["route", "slo", "severity", "window"],
            registry=self.registry,
        )
        self.requests = Counter(
            "interlock_requests",
            "Chat requests answered, by route and outcome.",
            ["route", "status", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "interlock_request_seconds",
            "Time from request to answer, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "interlock_tokens",
            "Tokens used, by route, provider and direction.",
            ["route", "provider", "direction"],
            registry=self.registry,
        )
        self.guardrail_actions = Counter(
            "interlock_guardrail_actions",
            "Requests on which guardrails acted, by action.",
            ["route", "action"],
            registry=self.registry,
        )

        self.answers = Counter(
            "interlock_answers",
            "Plain (unstreamed) answers by where the gateway got them: handed_over by its own "
            "worker, which ran the request, or from the server (another worker ran it, or the "
            "run failed).",
            ["source"],
            registry=self.registry,
        )

        self.shadow_calls = Counter(
            "interlock_shadow_calls",
            "Shadow calls of a rollout's candidate, by route and result: answered, failed (its "
            "outcome recorded either way), unrecorded, or dropped (too many in flight).",
            ["route", "result"],
            registry=self.registry,
        )

        self.breaker_transitions = Counter(
            "interlock_breaker_transitions",
            "Circuit breaker changes this gateway made, by provider, model and new state "
            "(open, half_open, closed).",
            ["provider", "model", "state"],
            registry=self.registry,
        )

        self.cost = Counter(
            "interlock_cost_usd",
            "What answered requests cost in US dollars, by route and the provider that answered "
            "(cache hits cost nothing).",
            ["route", "provider"],
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "interlock_cache_lookups",
            "Response cache look-ups of routes that cache, by result (hit, miss).",
            ["route", "result"],
            registry=self.registry,
        )

        # Read from the store (and a rollout's stage from Temporal's visibility) at each scrape.
        self.breaker_state = Gauge(
            "interlock_breaker_state",
            "Circuit breaker of a provider/model: 0 closed, 1 half-open, 2 open. Only "
            "provider/models that ever tripped have one; the rest are closed.",
            ["provider", "model"],
            registry=self.registry,
        )
        self.budget_remaining = Gauge(
            "interlock_budget_remaining_usd",
            "What a tenant's budget has left in its current window (limit - spent - held for "
            "requests in flight), by tenant, route ('*' for all its routes) and period.",
            ["tenant", "route", "period"],
            registry=self.registry,
        )
        self.budget_limit = Gauge(
            "interlock_budget_limit_usd",
            "A tenant's budget per window, by tenant, route ('*' for all its routes) and period.",
            ["tenant", "route", "period"],
            registry=self.registry,
        )
        self.variant_share = Gauge(
            "interlock_route_variant_share",
            "Each live variant's share of its route's traffic, 0 to 1: a rollout's candidate "
            "grows through its steps here.",
            ["route", "variant"],
            registry=self.registry,
        )
        self.shadow_sample = Gauge(
            "interlock_route_shadow_sample",
            "Share of a route's requests also sent to a rollout's shadow candidate.",
            ["route", "variant"],
            registry=self.registry,
        )
        self.rollout_stage = Gauge(
            "interlock_rollout_stage",
            "1 for each running rollout, labelled with the stage and status its workflow last "
            "set (shadow 10%, canary 5%, blue-green 100%; running, paused).",
            ["route", "stage", "status"],
            registry=self.registry,
        )

    def count_cache_lookup(self, route: str, admitted: AdmitResult) -> None:
        """A hit or a miss of a route that caches; nothing for one that does not."""
        if admitted.cached is not None:
            self.cache_lookups.labels(route, "hit").inc()
        elif admitted.cache_key is not None:
            self.cache_lookups.labels(route, "miss").inc()

    def show_store_state(self, state: StoreState) -> None:
        """Set at each scrape from what the store holds now; a budget, breaker or variant that
        is gone leaves the exposition with it."""
        self.show_slo_alerts(state.alerts)
        self.breaker_state.clear()
        for breaker in state.breakers:
            self.breaker_state.labels(breaker.provider, breaker.model).set(
                BREAKER_STATES.get(breaker.state, 0)
            )
        self.budget_remaining.clear()
        self.budget_limit.clear()
        for budget in state.budgets:
            labels = (budget.rule.tenant_id, budget.rule.route, budget.rule.period)
            self.budget_remaining.labels(*labels).set(budget.remaining_nusd / NANO)
            self.budget_limit.labels(*labels).set(budget.rule.limit_nusd / NANO)
        self.variant_share.clear()
        for share in state.variant_shares:
            self.variant_share.labels(share.route, share.variant).set(share.share)
        self.shadow_sample.clear()
        for shadow in state.shadows:
            self.shadow_sample.labels(shadow.route, shadow.variant).set(shadow.sample)

    def show_rollouts(self, rollouts: list[RunningRollout]) -> None:
        self.rollout_stage.clear()
        for rollout in rollouts:
            self.rollout_stage.labels(rollout.route, rollout.stage, rollout.status).set(1)

    def show_slo_alerts(self, alerts: list[SloAlert]) -> None:
        """The SLO alerts as the store has them (the monitoring Schedule keeps them): set at
        each scrape, so every gateway exports the same state."""
        for alert in alerts:
            labels = (alert.route, alert.slo, alert.severity)
            self.slo_alert_firing.labels(*labels).set(1 if alert.firing else 0)
            self.slo_burn_rate.labels(*labels, "long").set(alert.long_burn)
            self.slo_burn_rate.labels(*labels, "short").set(alert.short_burn)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
