"""Starting, stopping and evaluating experiments: what the CLI (and any other front end) calls."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.providers import ProviderRegistry
from contracts.experiment import EvaluationReport, EvaluationRequest, ExperimentSpec
from operations.rollouts import running_rollout_on
from store.experiments import ExperimentState, create_experiment, end_experiment, experiment
from store.routes import live_config


class ExperimentCommandError(ValueError):
    """An operator's request that cannot be carried out, with why."""


def problems_with(engine: Engine, registry: ProviderRegistry, spec: ExperimentSpec) -> list[str]:
    """What keeps `spec` from running on its route as it stands, if anything."""
    found = live_config(engine, spec.route)
    if found is None:
        return [f"no route named {spec.route!r}"]
    variants = {t.variant for t in found[1].targets}
    problems = []
    for arm in spec.arms:
        target = arm.target()
        if target is None:
            if arm.variant not in variants:
                problems.append(
                    f"arm {arm.variant!r} names no variant of route {spec.route!r} "
                    f"(it has {sorted(variants)}); describe it with provider and model"
                )
            continue
        provider = registry.get(target.provider)
        if provider is None:
            problems.append(f"arm {arm.variant!r}: no provider named {target.provider!r}")
        elif problem := provider.target_problem(target.model, target.options):
            problems.append(f"arm {arm.variant!r}: {problem}")
    if spec.control_arm not in variants:
        problems.append(
            f"the control {spec.control_arm!r} must be a variant of route {spec.route!r}: it is "
            "what the others are compared with and what a winner replaces"
        )
    return problems


async def start_experiment(
    client: Client, engine: Engine, registry: ProviderRegistry, spec: ExperimentSpec, who: str
) -> ExperimentState:
    problems = problems_with(engine, registry, spec)
    rollout = await running_rollout_on(client, spec.route)
    if rollout is not None:
        # Assignment would take the traffic the rollout's steps move and judge.
        problems.append(
            f"route {spec.route!r} has a rollout running ({rollout}): let it finish or abort it "
            "first"
        )
    if problems:
        raise ExperimentCommandError("; ".join(problems))
    return create_experiment(engine, spec, who)


def stop_experiment(engine: Engine, name: str, who: str, reason: str) -> ExperimentState:
    state = experiment(engine, name)
    if state is None:
        raise ExperimentCommandError(f"no experiment named {name!r}")
    if not end_experiment(engine, name, "stopped", f"stopped by {who}: {reason}"):
        raise ExperimentCommandError(f"experiment {name!r} is {state.status}, not running")
    stopped = experiment(engine, name)
    assert stopped is not None
    return stopped


async def evaluate_now(
    client: Client, engine: Engine, name: str, task_queue: str
) -> EvaluationReport:
    """One evaluation of `name` now, as the Schedule would run it; its report."""
    if experiment(engine, name) is None:
        raise ExperimentCommandError(f"no experiment named {name!r}")
    return await client.execute_workflow(
        "ExperimentEvaluation",
        EvaluationRequest(experiments=[name]),
        id=f"interlock-experiment-evaluate-{name}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=EvaluationReport,
        execution_timeout=timedelta(minutes=10),
    )
