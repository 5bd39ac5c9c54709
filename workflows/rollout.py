"""RolloutWorkflow: one route's candidate reaching its traffic step by step, on evidence.

Each traffic step sets the candidate's share (a new route version), then looks at both arms'
outcomes every `analysis.interval` (a durable timer) and asks the judge: PASS moves to the next
step, FAIL takes the candidate out of the route at once, INCONCLUSIVE keeps collecting until the
step's time limit and then applies `on_inconclusive`. After the last step the candidate becomes
the route's baseline. Pause, resume, promote (skip the current step), promote-full and abort
arrive as updates, applied between looks; the query `status` answers with the whole state.

The strategies differ only in their stages: a canary has the shadow stage and its traffic
steps; blue-green the shadow stage and one step at all traffic, which cannot pass before its bake
has ended and compares the candidate with the baseline's rows from before the switch (no
baseline traffic is left to compare with); a shadow rollout only the shadow stage, after which it
ends `passed` or `rolled_back` with the route as it was.

Workflow code: deterministic; activities are called by name so the sandbox never imports the
store or the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.rollout import (
        ControlResult,
        DecisionRecord,
        LookDecision,
        LookInput,
        RolloutInput,
        RolloutSpec,
        RolloutState,
        TrafficChange,
        TrafficSet,
    )
    from workflows.search_attributes import STAGE, STATUS

STEP = {
    # Looks and traffic changes are quick: a worker killed during one hands it on within this.
    "start_to_close_timeout": timedelta(seconds=15),
    # A look or change that fails on its input fails the same way every time: the rollout ends
    # (aborted, the candidate taken out) rather than retrying it until its time limit.
    "retry_policy": RetryPolicy(
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=["ValueError", "TypeError", "KeyError"],
    ),
}
# Outcomes count from requests started a little after a new route version goes live: gateways
# keep live routes for a second (requests in flight are left out by their start time).
SETTLING = timedelta(seconds=2)


@dataclass(frozen=True)
class Stage:
    """One stage of a rollout: the shadow stage, or a traffic step."""

    name: str
    share: float
    """The candidate's share of the baseline's traffic (0 in the shadow stage)."""
    shadow_sample: float | None
    min_requests: int
    time_limit: timedelta
    bake: timedelta = timedelta(0)
    """A PASS before the stage has run this long waits for it (a FAIL does not)."""
    compares_before_switch: bool = False
    """The baseline's arm is its rows from before the stage: it serves no traffic during it."""


def stages_of(spec: RolloutSpec, with_shadow: bool) -> list[Stage]:
    stages = []
    if with_shadow and spec.shadow is not None:
        shadow = spec.shadow
        stages.append(
            Stage(
                f"shadow {shadow.sample:.0%}",
                0.0,
                shadow.sample,
                shadow.min_requests,
                shadow.time_limit,
            )
        )
    blue_green = spec.strategy == "blue-green"
    for step in spec.steps or []:
        stages.append(
            Stage(
                name="blue-green 100%" if blue_green else f"canary {step.weight:g}%",
                share=step.weight / 100,
                shadow_sample=None,
                min_requests=step.min_requests,
                time_limit=step.time_limit,
                bake=spec.bake if blue_green else timedelta(0),
                compares_before_switch=blue_green,
            )
        )
    return stages


@workflow.defn(name="RolloutWorkflow")
class RolloutWorkflow:
    @workflow.init
    def __init__(self, rollout: RolloutInput) -> None:
        self._strategy = rollout.spec.strategy
        # The state exists before run() starts, so a control that arrives with the start is
        # validated against a running rollout rather than refused.
        self._state: RolloutState = rollout.state or RolloutState(route=rollout.spec.route)
        self._controls: list[tuple[int, str]] = []
        self._reasons: dict[int, str] = {}
        """Why an operator (or a kill switch) sent a control, where it said."""
        self._answers: dict[int, str] = {}
        self._next_control = 0

    @workflow.run
    async def run(self, rollout: RolloutInput) -> RolloutState:
        spec = rollout.spec
        # Route, stage and status search attributes: set at start (operations/rollouts.py).
        state = self._state
        if state.started_at is None:
            state.started_at = workflow.now()
        if state.record_id is None:
            info = workflow.info()
            state.record_id = f"{info.workflow_id}/{info.first_execution_run_id}"
        try:
            await self._walk(spec, state, carried_over=rollout.state is not None)
        except ActivityError as failure:
            # A step the route cannot take (the traffic change refused): leave it on its baseline.
            await self._end(spec, state, "aborted", f"stopped: {_cause(failure)}")
        self._answer_pending(state)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    async def _walk(self, spec: RolloutSpec, state: RolloutState, carried_over: bool) -> None:
        if state.with_shadow is None:
            # Rollouts recorded before shadow stages existed replay without one.
            state.with_shadow = not carried_over and workflow.patched("shadow-stage")
        stages = stages_of(spec, state.with_shadow)
        assert state.started_at is not None
        deadline = state.started_at + spec.time_limit
        index = state.step
        while index < len(stages):
            state.step = index
            stage = stages[index]
            # A run continued from an earlier one resumes the stage that run had set traffic for.
            if not (carried_over and state.stage_started is not None):
                await self._set_traffic(
                    spec, state, stage.share, stage.name, shadow_sample=stage.shadow_sample
                )
                state.step_ends = None
            carried_over = False
            verdict = await self._judge_step(spec, state, index, stage, deadline)
            if verdict in ("rolled_back", "aborted"):
                await self._end(spec, state, verdict, state.decisions[-1])
                return
            index = len(stages) if verdict == "promote_full" else index + 1
        if spec.strategy == "shadow":
            reason = "the candidate is not worse; the route serves what it served"
            await self._end(spec, state, "passed", reason)
            return
        await self._set_traffic(spec, state, 1.0, "active", promote=True)
        await self._end(spec, state, "promoted", "the candidate is the route's baseline")

    async def _judge_step(
        self,
        spec: RolloutSpec,
        state: RolloutState,
        index: int,
        step: Stage,
        deadline: datetime,
    ) -> str:
        """Look until the stage is decided: 'advance', 'promote_full', 'rolled_back' or
        'aborted'."""
        assert state.stage_started is not None
        since = state.stage_started + SETTLING
        baseline_window = None
        if step.compares_before_switch:
            baseline_window = (state.stage_started - spec.baseline_window, state.stage_started)
        baked_at = state.stage_started + step.bake
        if state.step_ends is None:
            state.step_ends = workflow.now() + step.time_limit
            state.look = 0
        while True:
            self._continue_as_new_if_suggested(spec, state)
            if await self._control_within(spec.analysis.interval, f"next look at {state.stage}"):
                verdict = await self._apply_control(spec, state)
                if verdict == "resumed":
                    state.step_ends = workflow.now() + step.time_limit
                    continue
                if verdict is not None:
                    return verdict
                continue
            if workflow.now() >= deadline:
                reason = "the rollout's time limit passed"
                await self._decide(spec, state, "INCONCLUSIVE", "rollback", reason)
                return "rolled_back"
            state.look += 1
            decision: LookDecision = await workflow.execute_activity(
                "rollout_look",
                LookInput(
                    rollout_id=state.record_id or "",
                    spec=spec,
                    baseline=state.baseline or "",
                    step=index,
                    look=state.look,
                    # Shadow calls copy a sample of the requests, and a blue-green step compares
                    # with the past: no split to check in either.
                    share=None
                    if step.shadow_sample is not None or step.compares_before_switch
                    else step.share,
                    since=since,
                    baseline_window=baseline_window,
                    may_pass=workflow.now() >= baked_at,
                    candidate_arm="shadow" if step.shadow_sample is not None else "primary",
                    min_requests=step.min_requests,
                ),
                result_type=LookDecision,
                summary=f"look {state.look} at {state.stage}",
                **STEP,
            )
            state.last_decision = decision
            if decision.outcome == "PASS" and workflow.now() < baked_at:
                workflow.set_current_details(
                    f"{state.stage}: {_explained(decision)}, baking until {baked_at:%H:%M:%S} UTC"
                )
                continue
            if decision.outcome == "PASS":
                await self._decide(spec, state, "PASS", "advance", _explained(decision))
                return "advance"
            if decision.outcome == "FAIL":
                await self._decide(spec, state, "FAIL", "rollback", _explained(decision))
                return "rolled_back"
            if workflow.now() < state.step_ends:
                workflow.set_current_details(f"{state.stage}: {_explained(decision)}, collecting")
                continue
            reason = f"step time limit passed, {_explained(decision)}"
            if spec.on_inconclusive == "rollback":
                await self._decide(spec, state, "INCONCLUSIVE", "rollback", reason)
                return "rolled_back"
            if spec.on_inconclusive == "promote":
                # No data never promotes: a step short of its requests waits for an operator.
                # (Rollouts recorded before this rule promoted it; they replay as they ran.)
                if not _short_of_data(decision, step) or not workflow.patched(
                    "no-data-never-promotes"
                ):
                    await self._decide(spec, state, "INCONCLUSIVE", "advance", reason)
                    return "advance"
                reason = f"{reason}; too few requests to promote, waiting for an operator"
            await self._decide(spec, state, "INCONCLUSIVE", "pause", reason)
            self._set_status(state, "paused")
            verdict = await self._paused(spec, state)
            if verdict != "resumed":
                return verdict
            state.step_ends = workflow.now() + step.time_limit

    def _continue_as_new_if_suggested(self, spec: RolloutSpec, state: RolloutState) -> None:
        """A long step makes a long history: past the server's suggestion the rollout goes on in
        a fresh run with its whole state, between looks and with no control half-applied."""
        if (
            workflow.info().is_continue_as_new_suggested()
            and not self._controls
            and workflow.all_handlers_finished()
        ):
            workflow.continue_as_new(RolloutInput(spec=spec, state=state))

    async def _control_within(self, interval: timedelta, summary: str) -> bool:
        """Wait one interval (a durable timer) or until a control arrives; whether one did."""
        try:
            await workflow.wait_condition(
                lambda: bool(self._controls), timeout=interval, timeout_summary=summary
            )
        except TimeoutError:
            return False
        return True

    async def _apply_control(self, spec: RolloutSpec, state: RolloutState) -> str | None:
        """The oldest pending control: what it makes of the step, None to keep looking."""
        control, verb = self._controls.pop(0)
        if verb == "pause":
            self._set_status(state, "paused")
            await self._decide(spec, state, "operator", "pause", "paused by an operator")
            self._answers[control] = "paused"
            return await self._paused(spec, state)
        return await self._step_verdict(spec, state, control, verb)

    async def _paused(self, spec: RolloutSpec, state: RolloutState) -> str:
        """Hold the current traffic until a control arrives; 'resumed' or the step's verdict."""
        workflow.set_current_details(f"{state.stage}: paused, waiting for an operator")
        assert state.started_at is not None
        deadline = state.started_at + spec.time_limit
        while True:
            # A pause does not outlast the rollout's time limit: nothing stays half-deployed for
            # ever. (Rollouts recorded before this wait had no timer; they replay without one.)
            if workflow.patched("paused-rollouts-keep-their-time-limit"):
                left = deadline - workflow.now()
                if left <= timedelta(0) or not await self._control_within(
                    left, "paused until an operator acts or the time limit passes"
                ):
                    reason = "the rollout's time limit passed while it was paused"
                    await self._decide(spec, state, "INCONCLUSIVE", "rollback", reason)
                    return "rolled_back"
            else:
                await workflow.wait_condition(lambda: bool(self._controls))
            control, verb = self._controls.pop(0)
            if verb == "resume":
                self._set_status(state, "running")
                await self._decide(spec, state, "operator", "resume", "resumed by an operator")
                self._answers[control] = "resumed"
                return "resumed"
            verdict = await self._step_verdict(spec, state, control, verb)
            if verdict is not None:
                if state.status == "paused":
                    self._set_status(state, "running")
                return verdict

    async def _step_verdict(
        self, spec: RolloutSpec, state: RolloutState, control: int, verb: str
    ) -> str | None:
        actions = {
            "promote": ("advance", "promoted past this step by an operator", "advance"),
            "promote_full": ("promote", "promoted to all traffic by an operator", "promote_full"),
            "abort": ("abort", "aborted by an operator", "aborted"),
        }
        if verb not in actions:
            self._answers[control] = f"{verb} does not apply now"
            return None
        action, reason, verdict = actions[verb]
        if (given := self._reasons.pop(control, None)) is not None:
            reason = f"{reason}: {given}"
        await self._decide(spec, state, "operator", action, reason)
        self._answers[control] = reason
        return verdict

    async def _set_traffic(
        self,
        spec: RolloutSpec,
        state: RolloutState,
        share: float,
        stage: str,
        promote: bool = False,
        shadow_sample: float | None = None,
    ) -> None:
        traffic: TrafficSet = await workflow.execute_activity(
            "set_rollout_traffic",
            TrafficChange(
                route=spec.route,
                baseline=state.baseline or spec.baseline,
                candidate=spec.candidate,
                share=share,
                promote=promote,
                shadow_sample=shadow_sample,
            ),
            result_type=TrafficSet,
            summary=f"route {spec.route}: {spec.candidate.variant} "
            + (f"shadowing {shadow_sample:.0%}" if shadow_sample else f"at {share:.0%}"),
            **STEP,
        )
        state.baseline = traffic.baseline
        state.weights = traffic.weights
        state.stage = stage
        state.stage_started = traffic.live_since
        workflow.upsert_search_attributes([STAGE.value_set(stage)])
        workflow.set_current_details(f"{stage}: route version {traffic.version} is live")

    async def _end(self, spec: RolloutSpec, state: RolloutState, status: str, reason: str) -> None:
        if status != "promoted":
            # Taking the candidate out is idempotent: a route without it is left as it is.
            await self._set_traffic(spec, state, 0.0, "baseline")
        self._set_status(state, status)  # type: ignore[arg-type]
        workflow.set_current_details(f"{status.replace('_', ' ')}: {reason}")

    async def _decide(
        self, spec: RolloutSpec, state: RolloutState, outcome: str, action: str, reason: str
    ) -> None:
        line = f"{state.stage}, look {state.look}: {action} ({reason})"
        state.decisions.append(line)
        await workflow.execute_activity(
            "record_rollout_decision",
            DecisionRecord(
                rollout_id=state.record_id or "",
                route=spec.route,
                step=state.step,
                look=state.look,
                stage=state.stage,
                outcome=outcome,
                action=action,
                reason=reason,
                evidence=state.last_decision.model_dump(mode="json")
                if state.last_decision is not None and outcome != "operator"
                else {},
            ),
            result_type=bool,
            summary=f"record: {action}",
            **STEP,
        )

    def _set_status(self, state: RolloutState, status: str) -> None:
        state.status = status  # type: ignore[assignment]
        workflow.upsert_search_attributes([STATUS.value_set(status)])

    def _answer_pending(self, state: RolloutState) -> None:
        for control, _verb in self._controls:
            self._answers[control] = f"the rollout has ended: {state.status}"
        self._controls.clear()

    # --- controls -----------------------------------------------------------------------------

    async def _control(self, verb: str, reason: str | None = None) -> ControlResult:
        control = self._next_control
        self._next_control += 1
        if reason:
            self._reasons[control] = reason
        self._controls.append((control, verb))
        await workflow.wait_condition(lambda: control in self._answers)
        return ControlResult(
            status=self._state.status, stage=self._state.stage, message=self._answers.pop(control)
        )

    def _require(self, *statuses: str) -> None:
        if self._state.status not in statuses:
            current = self._state.status
            raise ValueError(f"the rollout is {current}; this applies when {' or '.join(statuses)}")

    @workflow.update
    async def pause(self) -> ControlResult:
        return await self._control("pause")

    @pause.validator
    def _validate_pause(self) -> None:
        self._require("running")

    @workflow.update
    async def resume(self) -> ControlResult:
        return await self._control("resume")

    @resume.validator
    def _validate_resume(self) -> None:
        self._require("paused")

    @workflow.update
    async def promote(self) -> ControlResult:
        return await self._control("promote")

    @promote.validator
    def _validate_promote(self) -> None:
        self._require_exposable()
        self._require("running", "paused")

    @workflow.update
    async def promote_full(self) -> ControlResult:
        return await self._control("promote_full")

    @promote_full.validator
    def _validate_promote_full(self) -> None:
        self._require_exposable()
        self._require("running", "paused")

    def _require_exposable(self) -> None:
        if self._strategy == "shadow":
            raise ValueError(
                "a shadow rollout never exposes its candidate: abort ends it, a canary rolls it out"
            )

    @workflow.update
    async def abort(self, reason: str | None = None) -> ControlResult:
        """Take the candidate back; `reason` goes into the decision's record."""
        return await self._control("abort", reason)

    @abort.validator
    def _validate_abort(self, reason: str | None = None) -> None:
        self._require("running", "paused")

    @workflow.query
    def status(self) -> RolloutState:
        return self._state


def _explained(decision: LookDecision) -> str:
    numbers = ", ".join(
        f"{m.name} {m.baseline:.3g} vs {m.candidate:.3g} (p = {m.p_value:.2g})"
        for m in decision.metrics
    )
    return (
        f"{decision.outcome}: {decision.reason}; {decision.baseline_requests} baseline and "
        f"{decision.candidate_requests} candidate requests" + (f"; {numbers}" if numbers else "")
    )


def _short_of_data(decision: LookDecision, step: Stage) -> bool:
    """Whether either arm still lacks the step's minimum of requests."""
    fewest = min(decision.baseline_requests, decision.candidate_requests)
    return fewest < step.min_requests


def _cause(failure: ActivityError) -> str:
    cause = failure.cause
    return str(cause) if cause is not None else str(failure)
