"""One evaluation of an experiment: every arm's totals since it began, aggregated in SQL, kept as
a look, judged, and acted on.

Each arm other than the control is compared with the control by the same multi-metric judge the
rollouts use (experiments/decision.py): always-valid tests, so the experiment may be looked at
every few minutes without inflating its error rates, with alpha split evenly over the
comparisons (Bonferroni: with k arms besides the control, each is held to alpha / k). The tests
are path-dependent, so every look is stored and each evaluation replays them all.

- A sample ratio mismatch between the control and an arm stops the whole experiment: the split
  is broken and no comparison can be trusted (fixed allocation only; a bandit moves its shares
  on purpose).
- An arm worse beyond doubt on any metric is harmful: with `on_harm: stop_arm` it takes no more
  traffic (its units move to the other arms).
- An arm better on the primary metric beyond doubt, and worse on no guardrail beyond its margin,
  wins: with `on_win: promote` it replaces the control in the route; with `report` the
  experiment ends naming it and the route stays. Of several, the best primary estimate wins.
- A `thompson` allocation re-weights the running arms by their posterior probability of being
  best on the primary metric, with the floor, at every evaluation.
- At the time limit the experiment ends as it stands.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.rollout_analysis import (
    METRIC_KINDS,
    judge_looks,
    readable,
    statistic_of,
    totals_to_json,
)
from activities.rollout_traffic import TrafficError, with_candidate_share
from configuration.log_fields import log_fields
from contracts.experiment import (
    EvaluateExperiment,
    EvaluationRequest,
    ExperimentSpec,
    ExperimentVerdict,
)
from contracts.rollout import Candidate, TrafficChange
from experiments.bandit import allocate
from experiments.decision import Decision, DecisionSettings, MetricSpec, describe
from experiments.fixed_horizon import exact_binomial_test, wilson_interval
from experiments.statistics import Mean, Proportion
from store.experiments import (
    ExperimentState,
    Look,
    end_experiment,
    experiment,
    list_experiments,
    looks_of,
    record_decision,
    save_look,
    set_weights,
)
from store.judgements import tallies
from store.rollout_stats import experiment_totals, experiment_units
from store.routes import RouteConfig, change_route, live_config


def experiment_metrics(spec: ExperimentSpec) -> list[MetricSpec]:
    """The primary metric, where an arm must be better; the guardrails, where it may be worse
    by no more than their margins."""
    primary = spec.primary
    return [
        MetricSpec(
            name=primary.name,
            kind=METRIC_KINDS[primary.name],  # type: ignore[arg-type]
            direction=primary.direction or "higher_is_better",
            role="primary",
            goal="superiority",
        ),
        *(
            MetricSpec(
                name=metric.name,
                kind=METRIC_KINDS[metric.name],  # type: ignore[arg-type]
                direction=metric.direction or "lower_is_better",
                role="guardrail",
                goal="non_inferiority",
                margin=metric.margin,
            )
            for metric in spec.guardrails
        ),
    ]


def decide(state: ExperimentState, looks: list[Look], now: datetime) -> ExperimentVerdict:
    """What to do now, from every look so far (the last is this evaluation's)."""
    spec, weights = state.spec, state.weights
    control = spec.control_arm
    evaluation = looks[-1].evaluation
    latest = looks[-1].statistics
    arms = [arm.variant for arm in spec.arms]
    running = [a for a in arms if a != control and weights.get(a, 0) > 0]
    bandit = spec.allocation.kind == "thompson"
    metrics = experiment_metrics(spec)
    settings = DecisionSettings(alpha=spec.alpha / (len(arms) - 1), min_samples=spec.min_samples)
    compared: dict[str, Decision] = {}
    for arm in running:
        share = None if bandit else weights[arm] / (weights[arm] + weights[control])
        pairs = [
            {"baseline": look.statistics[control], "candidate": look.statistics[arm]}
            for look in looks
        ]
        compared[arm] = judge_looks(metrics, replace(settings, candidate_share=share), pairs)
    evidence: dict[str, Any] = {
        "arms": {
            arm: {"requests": latest[arm]["requests"]}
            | {m.name: readable(latest[arm], m.name) for m in metrics}
            for arm in arms
        },
        "weights": weights,
        "control": control,
        "alpha_per_comparison": settings.alpha,
        "comparisons": {arm: describe(decision) for arm, decision in compared.items()},
    }
    judged = {arm: judge_summary(latest[arm]["judge"]) for arm in arms if "judge" in latest[arm]}
    if judged:
        evidence["judge"] = judged

    def verdict(action: str, reason: str, **fields: Any) -> ExperimentVerdict:
        return ExperimentVerdict(
            experiment=spec.name,
            evaluation=evaluation,
            action=action,  # type: ignore[arg-type]
            reason=reason,
            evidence=evidence,
            **fields,
        )

    if not running:
        return verdict("complete", f"no arm besides {control} takes traffic any more")
    broken = [a for a, d in compared.items() if d.srm is not None and d.srm.mismatch]
    if broken and any(compared[a].outcome == "FAIL" for a in broken):
        arm = broken[0]
        return verdict("stop", f"{control} vs {arm}: {compared[arm].reason}")
    winners = [a for a, d in compared.items() if _wins(d)]
    if winners:
        best = max(winners, key=lambda a: _primary_gain(compared[a]))
        action = "promote" if spec.on_win == "promote" else "report_winner"
        return verdict(action, f"{best} over {control}: {_win_reason(compared[best])}", winner=best)
    harmful = [a for a, d in compared.items() if d.outcome == "FAIL"]
    notes = [f"{a}: {compared[a].reason}" for a in running]
    if harmful and spec.on_harm == "stop_arm":
        kept = {a: (0.0 if a in harmful else w) for a, w in weights.items()}
        if not any(kept.get(a, 0) > 0 for a in arms if a != control):
            return verdict(
                "complete", f"every other arm is harmful, {control} stays: {'; '.join(notes)}"
            )
        return verdict(
            "stop_arm", f"stopped {', '.join(harmful)}: {'; '.join(notes)}", weights=kept
        )
    if now - state.started_at >= spec.max_duration:
        return verdict("expire", f"time limit reached, no arm shown better than {control}")
    if bandit:
        shares = _thompson_shares(spec, latest, [control, *running], len(looks))
        new = {a: shares.get(a, 0.0) for a in arms}
        return verdict("reweight", "; ".join(notes) or "re-weighted", weights=new)
    return verdict("continue", "; ".join(notes))


def _wins(decision: Decision) -> bool:
    """Better on the primary metric beyond doubt, and worse on no guardrail beyond its margin.

    A rollout must also show each guardrail within its margin; an experiment compares arms that
    are all fit to serve, so only harm shown on a guardrail holds a winner back."""
    if decision.outcome == "PASS":
        return True
    if decision.outcome == "FAIL" or min(decision.baseline_n, decision.candidate_n) < (
        decision.settings.min_samples
    ):
        return False
    primary = next(e for e in decision.metrics if e.spec.role == "primary")
    return primary.acceptable and not any(e.harmful for e in decision.metrics)


def _win_reason(decision: Decision) -> str:
    primary = next(e for e in decision.metrics if e.spec.role == "primary")
    unproven = [e.spec.name for e in decision.metrics if not e.acceptable]
    within = (
        "every guardrail within its margin"
        if not unproven
        else f"no guardrail worse beyond its margin ({', '.join(unproven)} not yet shown within)"
    )
    return (
        f"{primary.spec.name} better by {primary.result.estimate:+.4g} "
        f"(p = {primary.result.p_noninferior:.2g}), {within}"
    )


def judge_summary(record: list[int]) -> dict[str, Any]:
    """An arm's judged record against the control: its win rate over the decided comparisons
    (ties left out) with a 95% Wilson interval, and the exact binomial test against 0.5."""
    wins, losses, ties, first_picked = record
    summary: dict[str, Any] = {
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "first_position_share": first_picked / (2 * (wins + losses + ties))
        if wins + losses + ties
        else None,
    }
    decided = Proportion(wins + losses, wins)
    if decided.n:
        low, high = wilson_interval(decided)
        summary |= {
            "win_rate": decided.rate,
            "ci": [low, high],
            "p_value": exact_binomial_test(decided).p_value,
        }
    return summary


def _primary_gain(decision: Decision) -> float:
    primary = next(e for e in decision.metrics if e.spec.role == "primary")
    estimate = primary.result.estimate if math.isfinite(primary.result.estimate) else 0.0
    return estimate if primary.spec.direction == "higher_is_better" else -estimate


def _thompson_shares(
    spec: ExperimentSpec, latest: dict[str, Any], arms: list[str], look: int
) -> dict[str, float]:
    metric = spec.primary.name
    stats: dict[str, Proportion | Mean] = {
        arm: statistic_of(latest[arm], metric)  # type: ignore[misc]
        for arm in arms
    }
    allocation = allocate(
        stats,  # type: ignore[arg-type]
        direction=spec.primary.direction or "higher_is_better",
        floor=spec.allocation.floor,
        seed=look,  # reproducible: the same look re-weights the same way
    )
    return {arm: float(share) for arm, share in allocation.weights.items()}


def promoted_config(live: RouteConfig | None, spec: ExperimentSpec, winner: str) -> RouteConfig:
    """The route with the winner in the control's place and weight."""
    if live is None:
        raise TrafficError(f"no route named {spec.route!r}")
    target = spec.arm_target(winner, live.targets)
    if target is None:
        raise TrafficError(f"route {spec.route!r} has no variant named {winner!r} any more")
    candidate = Candidate(
        variant=target.variant,
        provider=target.provider,
        model=target.model,
        options=target.options,
        system_prompt=target.system_prompt,
    )
    change = TrafficChange(
        route=spec.route, baseline=spec.control_arm, candidate=candidate, share=1.0, promote=True
    )
    return with_candidate_share(live, change)[0]


class ExperimentActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="running_experiments")
    async def running(self, request: EvaluationRequest) -> list[str]:
        states = await asyncio.to_thread(list_experiments, self._engine, "running")
        return [state.name for state in states]

    @activity.defn(name="evaluate_experiment")
    async def evaluate(self, request: EvaluateExperiment) -> ExperimentVerdict:
        with log_fields(experiment_id=request.experiment):
            return await asyncio.to_thread(self.evaluate_now, request, datetime.now(UTC))

    def evaluate_now(self, request: EvaluateExperiment, now: datetime) -> ExperimentVerdict:
        state = experiment(self._engine, request.experiment)
        if state is None:
            raise ApplicationError(
                f"no experiment named {request.experiment!r}",
                type="UnknownExperiment",
                non_retryable=True,
            )
        if state.status != "running":
            return ExperimentVerdict(
                experiment=state.name,
                evaluation=request.evaluation,
                action="none",
                reason=f"the experiment is {state.status}",
            )
        arms = [arm.variant for arm in state.spec.arms]
        totals = experiment_totals(self._engine, state.name, arms)
        statistics = {arm: totals_to_json(totals[arm]) for arm in arms}
        if state.spec.unit != "request":
            # Units, not requests, are what was split: the split is checked on them.
            units = experiment_units(self._engine, state.name, arms)
            for arm, count in (units or {}).items():
                statistics[arm]["units"] = count
        if state.spec.judge is not None:
            # Each arm's judged record against the control, kept with the look.
            control = state.spec.control_arm
            for arm, tally in tallies(self._engine, state.name, control).items():
                if arm in statistics:
                    statistics[arm]["judge"] = [
                        tally.wins,
                        tally.losses,
                        tally.ties,
                        tally.first_picked,
                    ]
        save_look(self._engine, state.name, request.evaluation, statistics, state.weights)
        return decide(state, looks_of(self._engine, state.name), now)

    @activity.defn(name="apply_experiment_verdict")
    async def apply(self, verdict: ExperimentVerdict) -> ExperimentVerdict:
        with log_fields(experiment_id=verdict.experiment):
            return await asyncio.to_thread(self.apply_now, verdict)

    def apply_now(self, verdict: ExperimentVerdict) -> ExperimentVerdict:
        """Carry the verdict out (each change applies once, to a running experiment) and record
        it with its evidence."""
        if verdict.action == "none":
            return verdict
        engine, name = self._engine, verdict.experiment
        if verdict.action == "promote":
            self._promote(name, verdict.winner)
        if verdict.action in ("promote", "report_winner", "complete", "expire"):
            end_experiment(engine, name, "completed", verdict.reason, verdict.winner)
        elif verdict.action == "stop":
            end_experiment(engine, name, "stopped", verdict.reason)
        elif verdict.weights is not None:
            set_weights(engine, name, verdict.weights)
        record_decision(
            engine, name, verdict.evaluation, verdict.action, verdict.reason, verdict.evidence
        )
        return verdict.model_copy(update={"applied": True})

    def _promote(self, name: str, winner: str | None) -> None:
        state = experiment(self._engine, name)
        if state is None or winner is None or state.status != "running":
            return  # ended already: promoted by an earlier attempt, or stopped by a person
        spec = state.spec
        found = live_config(self._engine, spec.route)
        present = set() if found is None else {t.variant for t in found[1].targets}
        if spec.control_arm not in present and winner in present:
            return  # an earlier attempt published it
        try:
            change_route(self._engine, spec.route, lambda live: promoted_config(live, spec, winner))
        except TrafficError as exc:
            raise ApplicationError(str(exc), type="TrafficError", non_retryable=True) from None
