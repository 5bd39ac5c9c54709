"""A rollout's shadow stage in the request path: the candidate answers a sample of the route's
requests in the background, and only its outcome row is kept.

The gateway starts a shadow call once the client's answer is on its way (a stream's once it has
ended), as a task of its own: it
never delays the client (not even the next request on the same connection), and its failure costs
the client nothing. It is sent what the answering provider was sent (the checked, redacted
input), retried like an answering call (workflows/step_options.py's policy, so both arms' error
rates mean the same thing), and settled like one: output checks, then an outcome row on the
`shadow` arm under the candidate's variant (activities/request_steps.py's settle_outcome).

What it is not: part of the request's workflow. A shadow call lost with its gateway is a sample
lost, and not worth a round trip through Temporal on every sampled request.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio.exceptions import ApplicationError

from activities.providers import ProviderError, ProviderRegistry
from activities.request_steps import settle_outcome
from contracts.chat import ChatRequest, ChatResponse
from contracts.request import RequestError, RequestInput
from contracts.routing import RouteTarget, ShadowTarget, prompted
from gateway.metrics import GatewayMetrics
from guardrails.findings import Registry
from workflows.provider_chain import request_error_of
from workflows.selection import unit_interval
from workflows.settling import settle_input
from workflows.step_options import PROVIDER_CALL_TIMEOUT, PROVIDER_RETRY

log = logging.getLogger(__name__)

# Shadow calls in flight per gateway; past it a sampled request is not shadowed (and counted):
# a slow candidate must not pile up work in the process that serves the clients.
MOST_IN_FLIGHT = 64


def sampled(request_id: str, shadow: ShadowTarget) -> bool:
    """Whether this request is copied: a function of its id, so a replay agrees."""
    return unit_interval(f"shadow:{request_id}") < shadow.sample


class ShadowCalls:
    def __init__(
        self,
        engine: Engine,
        registry: ProviderRegistry,
        scanner: Registry,
        metrics: GatewayMetrics,
        most_in_flight: int = MOST_IN_FLIGHT,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._scanner = scanner
        self._metrics = metrics
        self._most = most_in_flight
        self._running: set[asyncio.Task[None]] = set()

    def start_if_sampled(self, request: RequestInput) -> None:
        admitted = request.admitted
        if admitted is None or admitted.route.shadow is None or admitted.checked is None:
            return
        shadow = admitted.route.shadow
        # A request its input checks refused never reached a provider: nor does its shadow.
        if admitted.checked.verdict.action == "block" or not sampled(request.request_id, shadow):
            return
        route = admitted.route.route
        if len(self._running) >= self._most:
            self._metrics.shadow_calls.labels(route, "dropped").inc()
            return
        task = asyncio.create_task(self._call(request, shadow), name=f"shadow {request.request_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def stop(self) -> None:
        """The gateway is stopping: calls still in flight are samples given up, not waited for."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _call(self, request: RequestInput, shadow: ShadowTarget) -> None:
        admitted = request.admitted
        assert admitted is not None and admitted.checked is not None
        route = admitted.route
        started = datetime.now(UTC)
        response, error = await self._answer(request, shadow)
        settle = settle_input(
            request,
            route.route,
            shadow.target,
            "shadow",
            admitted.checked,
            route.guardrails,
            started,
            datetime.now(UTC),
            response,
            error,
        )
        try:
            await asyncio.to_thread(settle_outcome, self._engine, self._scanner, settle)
        except Exception as exc:  # a lost sample, never the client's problem
            log.warning("shadow outcome of %s not recorded: %s", request.request_id, exc)
            self._metrics.shadow_calls.labels(route.route, "unrecorded").inc()
            return
        outcome = "answered" if error is None else "failed"
        self._metrics.shadow_calls.labels(route.route, outcome).inc()

    async def _answer(
        self, request: RequestInput, shadow: ShadowTarget
    ) -> tuple[ChatResponse | None, RequestError | None]:
        """The candidate's answer, retried by the answering calls' policy; or its error."""
        assert request.admitted is not None and request.admitted.checked is not None
        chat = prompted(request.admitted.checked.chat, shadow.target)
        return await background_answer(self._registry, request.request_id, shadow.target, chat)


async def background_answer(
    registry: ProviderRegistry, request_id: str, target: RouteTarget, chat: ChatRequest
) -> tuple[ChatResponse | None, RequestError | None]:
    """`target`'s answer to `chat` outside any workflow, retried by the answering calls' policy
    (so its error rate means what an answering arm's does); or its error."""
    provider = registry.get(target.provider)
    policy = PROVIDER_RETRY
    delay = policy.initial_interval.total_seconds()
    ceiling = (policy.maximum_interval or policy.initial_interval).total_seconds()
    attempts = policy.maximum_attempts
    for attempt in range(1, attempts + 1):
        try:
            if provider is None:
                raise ApplicationError(
                    f"provider {target.provider!r} is not configured",
                    type="ProviderNotConfigured",
                    non_retryable=True,
                )
            call = provider.complete(request_id, target, chat, attempt)
            timeout = PROVIDER_CALL_TIMEOUT.total_seconds()
            return await asyncio.wait_for(call, timeout), None
        except ProviderError as exc:
            failure: BaseException = exc.to_application_error()
            retryable = exc.retryable
        except ApplicationError as exc:
            failure, retryable = exc, not exc.non_retryable
        except TimeoutError:
            return None, RequestError(
                type="timeout",
                message="the background call did not answer in time",
                http_status=504,
                code="ProviderTimeout",
            )
        except Exception as exc:  # a bug in an adapter: the call failed, not the client
            failure, retryable = ApplicationError(str(exc), type=type(exc).__name__), False
        if not retryable or attempt == attempts:
            return None, request_error_of(failure)
        await asyncio.sleep(delay)
        delay = min(delay * policy.backoff_coefficient, ceiling)
    raise AssertionError("unreachable: the last attempt returns")
