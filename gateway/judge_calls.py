"""An experiment's pairwise judge in the request path: for a sample of the experiment's answered
requests, another arm answers the same checked input in the background and the spec's judge
model compares the two answers, asked in both orders (activities/pairwise_judge.py).

Like a shadow call (gateway/shadow_calls.py), it starts once the client has its answer, never
delays it, and a judgement lost with its gateway is a sample lost. The opponent of a request
served by a challenger is the control; the control's requests are set against the running
challengers in turn (by the request's hash). Streamed answers are not judged.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine

from activities.experiment_assignment import ExperimentAssigner
from activities.pairwise_judge import combined, judge_request, parse_pick, question_of
from activities.providers import ProviderRegistry
from contracts.experiment import ExperimentSpec, JudgeSpec
from contracts.request import RequestInput, RequestResult
from contracts.routing import RouteTarget, prompted
from gateway.shadow_calls import background_answer
from store.judgements import record_judgement
from workflows.selection import unit_interval

log = logging.getLogger(__name__)

MOST_IN_FLIGHT = 32


class JudgeCalls:
    def __init__(
        self,
        engine: Engine,
        registry: ProviderRegistry,
        experiments: ExperimentAssigner,
        most_in_flight: int = MOST_IN_FLIGHT,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._experiments = experiments
        self._most = most_in_flight
        self._running: set[asyncio.Task[None]] = set()

    def start_if_sampled(self, request: RequestInput, result: RequestResult) -> None:
        admitted = request.admitted
        if admitted is None or admitted.experiment is None or admitted.checked is None:
            return
        if result.error is not None or result.response is None or not result.response.text:
            return
        if len(self._running) >= self._most:
            return
        # Admission read the experiment a moment ago; a long request may outlive that reading,
        # and then the task reads it again (off the event loop).
        known = self._experiments.known_running(admitted.route.route)
        if known is not None and not self._sampled(known.spec, request.request_id):
            return
        task = asyncio.create_task(self._judge_if_sampled(request, result), name="judge")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    @staticmethod
    def _sampled(spec: ExperimentSpec, request_id: str) -> bool:
        judge = spec.judge
        return judge is not None and unit_interval(f"judge:{request_id}") < judge.sample

    async def _judge_if_sampled(self, request: RequestInput, result: RequestResult) -> None:
        admitted = request.admitted
        assert admitted is not None and admitted.experiment is not None
        running = await asyncio.to_thread(self._experiments.running, admitted.route.route)
        if running is None or running.spec.name != admitted.experiment.experiment:
            return
        spec = running.spec
        if spec.judge is None or not self._sampled(spec, request.request_id):
            return
        arm = admitted.experiment.arm
        opponent = self._opponent(spec, running.weights, arm, request.request_id)
        target = None if opponent is None else self._target(spec, opponent, request)
        if target is not None:
            await self._judge(request, result, spec.name, arm, target, spec.judge)

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    @staticmethod
    def _opponent(
        spec: ExperimentSpec, weights: dict[str, float], arm: str, request_id: str
    ) -> str | None:
        control = spec.control_arm
        if arm != control:
            return control
        challengers = [
            a.variant for a in spec.arms if a.variant != control and weights.get(a.variant)
        ]
        if not challengers:
            return None
        return challengers[int(unit_interval(f"opponent:{request_id}") * len(challengers))]

    @staticmethod
    def _target(spec: ExperimentSpec, arm: str, request: RequestInput) -> RouteTarget | None:
        assert request.admitted is not None
        return spec.arm_target(arm, request.admitted.route.targets)

    async def _judge(
        self,
        request: RequestInput,
        result: RequestResult,
        experiment: str,
        arm: str,
        opponent: RouteTarget,
        judge: JudgeSpec,
    ) -> None:
        assert request.admitted is not None and request.admitted.checked is not None
        assert result.response is not None
        checked = request.admitted.checked.chat
        request_id = request.request_id
        other, error = await background_answer(
            self._registry, f"{request_id}:opponent", opponent, prompted(checked, opponent)
        )
        if other is None or not other.text:
            log.info("no opponent answer to judge %s against: %s", request_id, error)
            return
        question, served = question_of(checked), result.response.text
        judge_target = RouteTarget(
            variant="judge", provider=judge.provider, model=judge.model, options=judge.options
        )
        picks = []
        for asking, (first, second) in enumerate(((served, other.text), (other.text, served))):
            answer, failed = await background_answer(
                self._registry,
                f"{request_id}:judge-{asking + 1}",
                judge_target,
                judge_request(question, first, second),
            )
            if answer is None:
                log.info("judge of %s did not answer: %s", request_id, failed)
                return
            picks.append(parse_pick(answer.text))
        try:
            await asyncio.to_thread(
                record_judgement,
                self._engine,
                request_id,
                experiment,
                arm,
                opponent.variant,
                combined(picks[0], picks[1]),
                picks[0],
                picks[1],
                f"{judge.provider}/{judge.model}",
            )
        except Exception as exc:  # a lost sample, never the client's problem
            log.warning("judgement of %s not recorded: %s", request_id, exc)
