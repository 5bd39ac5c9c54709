"""ExperimentEvaluationWorkflow: one evaluation of the running experiments, started by a Temporal
Schedule every few minutes (or by `interlock experiment evaluate`).

For each experiment it takes a look (every arm's totals, aggregated in SQL and stored), judges
it, and carries out the verdict: continue, re-weight, stop a harmful arm, promote the winner,
stop on a broken split, or end at the time limit. Each is its own activity, so the Web UI shows
every experiment's verdict and what was done about it; the look and the decision are keyed by
this run's id, so a retried step rewrites its own look and records its decision once.

One experiment failing its evaluation does not keep the others from theirs: its failure is in
the report, and the next scheduled run tries again.

Workflow code: deterministic; activities are called by name so the sandbox never imports the
store or the statistics.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.experiment import (
        EvaluateExperiment,
        EvaluationReport,
        EvaluationRequest,
        ExperimentVerdict,
    )

STEP = {
    # A look is one indexed GROUP BY over the experiment's rows; a minute leaves room for many.
    "start_to_close_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(
        maximum_attempts=5,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=["ValueError", "TypeError", "KeyError"],
    ),
}


@workflow.defn(name="ExperimentEvaluation")
class ExperimentEvaluationWorkflow:
    @workflow.run
    async def run(self, request: EvaluationRequest) -> EvaluationReport:
        names = request.experiments
        if names is None:
            names = await workflow.execute_activity(
                "running_experiments", request, result_type=list[str], **STEP
            )
        evaluation = workflow.info().run_id
        report = EvaluationReport()
        for name in names:
            try:
                verdict = await workflow.execute_activity(
                    "evaluate_experiment",
                    EvaluateExperiment(experiment=name, evaluation=evaluation),
                    result_type=ExperimentVerdict,
                    **STEP,
                )
                verdict = await workflow.execute_activity(
                    "apply_experiment_verdict", verdict, result_type=ExperimentVerdict, **STEP
                )
            except ActivityError as failed:
                cause = failed.cause or failed
                workflow.logger.warning("experiment %s not evaluated: %s", name, cause)
                verdict = ExperimentVerdict(
                    experiment=name,
                    evaluation=evaluation,
                    action="none",
                    reason=f"not evaluated: {cause}",
                )
            report.verdicts.append(verdict)
        return report
