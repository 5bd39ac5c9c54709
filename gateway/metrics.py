"""Prometheus metrics for the gateway, on its own registry (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from store.tables import SloAlert

# Label values are operator-defined names (routes, providers) or closed sets, never user input:
# an unknown model name is recorded as "unresolved", not as itself.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
