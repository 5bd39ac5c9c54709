"""A rollout's look: both arms' outcomes since the step began, aggregated in SQL, then judged.

The judge's sequential tests are path-dependent (each look multiplies in the evidence since the
previous one), so every look's totals are stored (store/rollout_records.py) and a look rebuilds
the judge by replaying the step's earlier looks before its own. The workflow's history then only
carries look numbers, and a retried look overwrites its own totals before judging.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Engine
from temporalio import activity

from contracts.rollout import DecisionRecord, LookDecision, LookInput, MetricLook, RolloutSpec
from experiments.decision import Decision, DecisionSettings, MetricSpec, MultiMetricJudge
from experiments.statistics import LatencyHistogram, Mean, Proportion
from store.breaker_states import BreakerStates, DatabaseBreakerStates
from store.rollout_records import looks_of_step, record_decision, save_look
from store.rollout_stats import ArmTotals, arm_totals
from store.routes import live_config

METRIC_KINDS = {
    "error_rate": "proportion",
    "guardrail_block_rate": "proportion",
    "p95_latency": "quantile",
    "cost_per_request": "mean",
    "quality": "mean",
    "feedback": "mean",
    "json_valid_rate": "proportion",
    "tool_call_valid_rate": "proportion",
    "refusal_rate": "proportion",
    "answer_length": "mean",
}
# Each metric's statistic in a stored look, and its kind (Proportion: [n, events]; Mean: [n,
# sum, sum of squares]). Looks stored before a metric existed read it as empty.
_STORED = {
    "error_rate": ("errors", Proportion),
    "guardrail_block_rate": ("blocked", Proportion),
    "cost_per_request": ("cost", Mean),
    "quality": ("quality", Mean),
    "feedback": ("feedback", Mean),
    "json_valid_rate": ("json_valid", Proportion),
    "tool_call_valid_rate": ("tool_calls_valid", Proportion),
    "refusal_rate": ("refused", Proportion),
    "answer_length": ("answer_chars", Mean),
}


def metric_specs(spec: RolloutSpec) -> list[MetricSpec]:
    """The spec's first metric is the primary one (the candidate must not be worse on it by
    more than its margin); the others are guardrails held to their margins."""
    return [
        MetricSpec(
            name=metric.name,
            kind=METRIC_KINDS[metric.name],  # type: ignore[arg-type]
            direction=metric.direction or "lower_is_better",
            role="primary" if position == 0 else "guardrail",
            goal="non_inferiority",
            margin=metric.margin,
        )
        for position, metric in enumerate(spec.metrics)
    ]


def totals_to_json(totals: ArmTotals) -> dict[str, Any]:
    stored: dict[str, Any] = {"requests": totals.requests}
    for key, _ in _STORED.values():
        statistic = getattr(totals, key)
        stored[key] = (
            [statistic.n, statistic.events]
            if isinstance(statistic, Proportion)
            else [statistic.n, statistic.sum, statistic.sum_sq]
        )
    stored["latency"] = {str(i): c for i, c in enumerate(totals.latency.counts) if c}
    return stored


def statistic_of(arm: dict[str, Any], metric: str) -> Proportion | Mean | LatencyHistogram:
    """One arm's statistic of `metric` from a stored look's totals (totals_to_json's shape)."""
    if metric == "p95_latency":
        return LatencyHistogram.from_buckets({int(i): c for i, c in arm["latency"].items()})
    key, kind = _STORED[metric]
    return kind(*arm[key]) if key in arm else kind()


def judge_step(
    spec: RolloutSpec,
    min_requests: int,
    share: float | None,
    looks: list[dict[str, Any]],
    fixed_baseline: bool = False,
) -> Decision:
    """The decision at the last of `looks` (each {"baseline": ..., "candidate": ...} totals)."""
    return judge_looks(
        metric_specs(spec),
        DecisionSettings(
            alpha=spec.alpha,
            min_samples=min_requests,
            candidate_share=share,
            fixed_baseline=fixed_baseline,
            # A canary splits request by request: a candidate cut off from its share (its
            # breaker open) fails the step at once instead of waiting for its time limit.
            split_before_minimum=True,
        ),
        looks,
    )


def judge_looks(
    metrics: list[MetricSpec], settings: DecisionSettings, looks: list[dict[str, Any]]
) -> Decision:
    """A fresh judge fed every look in turn (the tests are path-dependent); its last decision.

    The split is checked on units where every look counted them (experiments split by user or
    header: one unit's requests all go one way, so requests are not independent draws), on
    requests otherwise."""
    judge = MultiMetricJudge(metrics, settings)
    decision = None
    by_units = all("units" in look["baseline"] and "units" in look["candidate"] for look in looks)
    for look in looks:
        baseline, candidate = look["baseline"], look["candidate"]
        decision = judge.look(
            baseline["requests"],
            candidate["requests"],
            {
                m.name: (statistic_of(baseline, m.name), statistic_of(candidate, m.name))
                for m in metrics
            },
            # Looks stored before bakes existed could always pass.
            may_pass=look.get("may_pass", True),
            split=(baseline["units"], candidate["units"]) if by_units else None,
        )
        if "candidate_breaker_open" in look and decision.outcome != "FAIL":
            # The candidate's provider is failing it now, and admission has stopped sending it
            # traffic: a step would only starve until its time limit (a blue-green one has no
            # split to show it). The metrics are as far as they got.
            decision = replace(
                decision,
                outcome="FAIL",
                reason=f"the candidate's circuit breaker is open: {look['candidate_breaker_open']}",
            )
    assert decision is not None, "a comparison is judged after at least one look"
    return decision


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _bound(value: float) -> float | None:
    """An interval's end as JSON carries it: None for unbounded (or not yet known), never a
    stand-in number that would read as a bound."""
    return value if math.isfinite(value) else None


def readable(arm: dict[str, Any], metric: str) -> float:
    """The metric as a person reads it: a rate, p95 in ms, mean cost in USD, mean quality."""
    statistic = statistic_of(arm, metric)
    if isinstance(statistic, Proportion):
        return _finite(statistic.rate)
    if isinstance(statistic, Mean):
        return _finite(statistic.mean)
    return _finite(statistic.quantile(0.95))


def summarized(decision: Decision, look: dict[str, Any]) -> LookDecision:
    """The decision with each metric's numbers, read at `look` (the last one judged)."""
    return LookDecision(
        outcome=decision.outcome,
        reason=decision.reason,
        baseline_requests=decision.baseline_n,
        candidate_requests=decision.candidate_n,
        metrics=[
            MetricLook(
                name=evidence.spec.name,
                baseline=readable(look["baseline"], evidence.spec.name),
                candidate=readable(look["candidate"], evidence.spec.name),
                estimate=_finite(evidence.result.estimate),
                ci_low=_bound(evidence.result.ci[0]),
                ci_high=_bound(evidence.result.ci[1]),
                p_value=_finite(evidence.result.p_value),
                verdict=evidence.result.decision,
                role=evidence.spec.role,
                margin=evidence.spec.margin,
                p_worse=_finite(evidence.result.p_worse),
                p_noninferior=_finite(evidence.result.p_noninferior),
                holm_threshold=evidence.holm_threshold,
            )
            for evidence in decision.metrics
        ],
        srm_p_value=None if decision.srm is None else _finite(decision.srm.p_value),
        alpha=decision.settings.alpha,
        min_requests=decision.settings.min_samples,
        candidate_share=decision.settings.candidate_share,
    )


class RolloutAnalysisActivities:
    def __init__(self, engine: Engine, breaker_states: BreakerStates | None = None) -> None:
        self._engine = engine
        self._breakers = breaker_states or DatabaseBreakerStates(engine)

    @activity.defn(name="rollout_look")
    async def look(self, look: LookInput) -> LookDecision:
        return await asyncio.to_thread(self.judge_look, look)

    def judge_look(self, look: LookInput) -> LookDecision:
        """Read both arms' totals for this look, store them, and judge the step so far."""
        spec = look.spec
        candidate = spec.candidate.variant
        # The baseline's answering rows against the candidate's: answering too in a traffic
        # step, copies of a sample (the shadow arm) in a shadow stage.
        arms = ("primary",) if look.candidate_arm == "primary" else ("primary", look.candidate_arm)
        if look.baseline_window is None:
            totals = arm_totals(
                self._engine, spec.route, [look.baseline, candidate], look.since, arms=arms
            )
            baseline, candidate_totals = totals[look.baseline], totals[candidate]
        else:
            # Blue-green: the baseline's rows from before the switch, the candidate's since.
            since, until = look.baseline_window
            baseline = arm_totals(self._engine, spec.route, [look.baseline], since, until)[
                look.baseline
            ]
            candidate_totals = arm_totals(
                self._engine, spec.route, [candidate], look.since, arms=arms
            )[candidate]
        statistics: dict[str, Any] = {
            "baseline": totals_to_json(baseline),
            "candidate": totals_to_json(candidate_totals),
            "may_pass": look.may_pass,
        }
        open_against_candidate = self._candidate_breaker_open(spec, look.baseline)
        if open_against_candidate is not None:
            # Kept with the look, so that judging the stored looks again decides the same.
            statistics["candidate_breaker_open"] = open_against_candidate
        save_look(self._engine, look.rollout_id, look.step, look.look, statistics)
        looks = looks_of_step(self._engine, look.rollout_id, look.step)[: look.look]
        decision = judge_step(
            spec, look.min_requests, look.share, looks, look.baseline_window is not None
        )
        return summarized(decision, looks[-1])

    def _candidate_breaker_open(self, spec: RolloutSpec, baseline: str) -> str | None:
        """Why the candidate's breaker is open, if it is and the baseline's is not: an outage
        of the model both use (a prompt change) or of both their providers is no evidence
        against the candidate."""
        states = self._breakers.read()
        candidate_key = (spec.candidate.provider, spec.candidate.model)
        breaker = states.get(candidate_key)
        if breaker is None or breaker.state != "open":
            return None
        found = live_config(self._engine, spec.route)
        targets = [] if found is None else found[1].targets
        for target in targets:
            if target.variant == baseline:
                key = (target.provider, target.model)
                beside = states.get(key)
                if key == candidate_key or (beside is not None and beside.state == "open"):
                    return None
        return breaker.reason

    @activity.defn(name="record_rollout_decision")
    async def record(self, decision: DecisionRecord) -> bool:
        return await asyncio.to_thread(
            record_decision,
            self._engine,
            decision.rollout_id,
            decision.route,
            decision.step,
            decision.look,
            decision.stage,
            decision.outcome,
            decision.action,
            decision.reason,
            decision.evidence,
        )
