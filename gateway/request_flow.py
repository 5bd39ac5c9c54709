"""Running one request: starting its workflow, waiting for it, and turning the result into
HTTP headers, errors and metrics. Shared by the plain and the streamed responses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError

from activities.admission import Admission
from activities.providers import ProviderRegistry
from activities.refusals import AdmissionRefused
from activities.streaming import StreamChannels
from configuration import Settings
from contracts.request import RequestInput, RequestResult
from contracts.steps import AdmitInput, AdmitResult
from gateway.answer_handoff import AnswerHandOff
from gateway.errors import ApiError
from gateway.judge_calls import JudgeCalls
from gateway.metrics import GatewayMetrics
from gateway.shadow_calls import ShadowCalls
from store.budgets import OverBudget
from workflows import search_attributes
from workflows.request import RequestWorkflow
from workflows.selection import pick_target

log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    settings: Settings
    engine: Engine
    client: Client
    channels: StreamChannels
    stream_queue: str
    """This process's private task queue for streamed provider calls."""
    admission: Admission
    shadows: ShadowCalls
    """Background calls of a rollout's shadow candidate (gateway/shadow_calls.py)."""
    handoff: AnswerHandOff = field(default_factory=AnswerHandOff)
    """Answers of requests this process ran, handed over by its request worker."""
    registry: ProviderRegistry = field(default_factory=lambda: ProviderRegistry([]))
    """The providers this process can call (what /v1/models lists)."""
    user_hash_key: bytes = b""
    """Key of the end-user hash (gateway/end_users.py)."""
    judges: JudgeCalls | None = None
    """Background pairwise judging of experiments' answers (gateway/judge_calls.py)."""


def provider_task_queue(settings: Settings) -> str:
    if settings.provider_calls_in_gateway:
        return settings.request_task_queue
    return settings.provider_task_queue


def result_headers(result: RequestResult) -> dict[str, str]:
    headers = {"x-request-id": result.request_id}
    if result.target is not None:
        headers["x-interlock-route"] = result.route
        headers["x-interlock-variant"] = result.target.variant
    if (action := result.guardrails.strongest_action()) is not None:
        headers["x-interlock-guardrails"] = action
    return headers


def raise_request_error(result: RequestResult, headers: dict[str, str]) -> None:
    error = result.error
    assert error is not None
    raise ApiError(
        error.http_status, error.message, type=error.type, code=error.code, headers=headers
    )


def record_metrics(metrics: GatewayMetrics, result: RequestResult, seconds: float) -> None:
    route = result.route if result.target is not None else "unresolved"
    if result.error is not None:
        status, code = "error", result.error.code or result.error.type
    else:
        status, code = "ok", "ok"
    metrics.requests.labels(route, status, code).inc()
    metrics.latency.labels(route).observe(seconds)
    if result.response is not None and result.target is not None:
        usage = result.response.usage
        metrics.tokens.labels(route, result.target.provider, "input").inc(usage.input_tokens)
        metrics.tokens.labels(route, result.target.provider, "output").inc(usage.output_tokens)
        metrics.cost.labels(route, result.target.provider).inc(result.response.cost_usd)
    if (action := result.guardrails.strongest_action()) is not None:
        metrics.guardrail_actions.labels(route, action).inc()


async def admit_request(
    state: GatewayState,
    request: AdmitInput,
    streamed: bool = False,
    no_cache: bool = False,
    headers: Mapping[str, str] | None = None,
) -> AdmitResult:
    """Resolve the request's route, put it in the route's running experiment, check its input,
    look it up in the route's response cache and hold its worst-case cost against the tenant's
    budgets, before its workflow starts. `headers` are the client's, for experiments whose unit
    is a header."""

    def admit_and_hold() -> AdmitResult:
        admission = state.admission
        wanted = admission.experiments.unit_header(request.model)
        asked = request
        if wanted is not None and headers is not None:
            asked = request.model_copy(update={"unit_header_value": headers.get(wanted)})
        admitted = admission.cache.look_up(
            request.tenant_id, request.request_id, admission.admit(asked), streamed, no_cache
        )
        if admitted.cached is not None:
            return admitted  # costs nothing: no budget to hold it against
        return admission.budgets.hold(request, admitted)

    try:
        return await asyncio.to_thread(admit_and_hold)
    except OverBudget as exc:
        raise ApiError(
            429, str(exc), type="insufficient_quota", code="insufficient_quota"
        ) from None
    except AdmissionRefused as exc:
        raise ApiError(
            exc.status, str(exc), type=exc.error_type, code=exc.code, headers=exc.headers()
        ) from None
    except SQLAlchemyError as exc:
        log.error("route store unavailable for %s: %s", request.request_id, exc)
        raise ApiError(
            503,
            "the route store is unavailable; retry shortly",
            type="server_error",
            code="store_unavailable",
        ) from None


# The workflow settles by its deadline, counted from its start; the gateway counts from a moment
# earlier and allows this much for the answer to travel back before it gives up on it.
CLIENT_WAIT_GRACE = 2.0


async def run_request(
    state: GatewayState, request: RequestInput, metrics: GatewayMetrics
) -> RequestResult:
    """Start the request and wait for its answer: handed over in-process when this gateway ran
    it (gateway/answer_handoff.py), else the workflow's result from the server."""
    handed = state.handoff.expect(request.request_id)
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds + CLIENT_WAIT_GRACE):
            return await _answer(state, request, metrics, handed)
    except TimeoutError:
        # The workflow goes on to settle by itself; the client is told now, at its deadline.
        raise ApiError(
            504, "the request did not finish in time", type="timeout", code="request_timeout"
        ) from None
    finally:
        state.handoff.forget(request.request_id)


async def _answer(
    state: GatewayState,
    request: RequestInput,
    metrics: GatewayMetrics,
    handed: asyncio.Future[RequestResult | None],
) -> RequestResult:
    handle = await start_request(state, request)
    # The SDK marks a handle whose first workflow task it gave to this process's worker.
    if getattr(handle, "__temporal_eagerly_started", False):
        answer = await _handed_or_polled(state, request, handle, handed)
    else:
        answer = None
    if answer is not None:
        metrics.answers.labels("handed_over").inc()
        return answer
    result = await finish_request(state, request, handle)
    metrics.answers.labels("server").inc()
    return result


async def _handed_or_polled(
    state: GatewayState,
    request: RequestInput,
    handle: WorkflowHandle,
    handed: asyncio.Future[RequestResult | None],
) -> RequestResult | None:
    """The handed-over answer; None if the run ended here without one. A run still going after
    a workflow task timeout may have moved to another worker (its task timed out), so from then
    on the server is asked too, and whichever answers first wins."""
    timeout = state.settings.request_task_timeout_seconds
    await asyncio.wait({handed}, timeout=timeout)
    if handed.done():
        return handed.result()
    polled = asyncio.ensure_future(finish_request(state, request, handle))
    await asyncio.wait({handed, polled}, return_when=asyncio.FIRST_COMPLETED)
    if handed.done() and handed.result() is not None:
        polled.cancel()
        return handed.result()
    return await polled


def backstop_timeout_seconds(settings: Settings) -> float:
    """The workflow's execution timeout: its deadline plus three workflow task timeouts.

    A request whose gateway dies mid-task is run again by another gateway only once the task has
    timed out (and the dead gateway's sticky queue has given it up), so it may resume after its own
    deadline. It then calls no provider but still settles, recording the arm's timeout. An
    execution timeout at the deadline itself would cut it off before that, leaving no outcome.
    """
    return settings.request_timeout_seconds + 3 * settings.request_task_timeout_seconds


async def start_request(state: GatewayState, request: RequestInput) -> WorkflowHandle:
    try:
        return await state.client.start_workflow(
            RequestWorkflow.run,
            request,
            id=request.request_id,
            task_queue=state.settings.request_task_queue,
            execution_timeout=timedelta(seconds=backstop_timeout_seconds(state.settings)),
            task_timeout=timedelta(seconds=state.settings.request_task_timeout_seconds),
            search_attributes=TypedSearchAttributes(start_attributes(request)),
            request_eager_start=True,
        )
    except RPCError as exc:
        raise _temporal_unavailable(request, exc) from None


async def finish_request(
    state: GatewayState, request: RequestInput, handle: WorkflowHandle
) -> RequestResult:
    try:
        return await handle.result()
    except WorkflowFailureError as exc:
        if isinstance(exc.cause, TemporalTimeoutError):
            raise ApiError(
                504, "the request did not finish in time", type="timeout", code="request_timeout"
            ) from None
        log.error("request workflow %s failed: %s", request.request_id, exc.cause)
        raise ApiError(
            500,
            f"request {request.request_id} failed inside the gateway",
            type="server_error",
            code="workflow_failed",
        ) from None
    except RPCError as exc:
        raise _temporal_unavailable(request, exc) from None


def start_attributes(request: RequestInput) -> list[SearchAttributePair]:
    """The tenant, and for an admitted request its route and the variant it tries first (the
    workflow picks the same one: the choice is a function of the request id)."""
    route = request.admitted.route if request.admitted is not None else None
    if route is None or route.error is not None or not request.attributes_at_start:
        return search_attributes.at_start(request.tenant_id, None, None)
    try:
        first = pick_target(route.targets, request.request_id)
    except ValueError:
        # No variant with traffic (a store edited by hand): the workflow fails and says why.
        return search_attributes.at_start(request.tenant_id, None, None)
    return search_attributes.at_start(request.tenant_id, route.route, first)


def _temporal_unavailable(request: RequestInput, exc: RPCError) -> ApiError:
    log.error("Temporal unavailable for %s: %s", request.request_id, exc.status)
    return ApiError(
        503,
        "the orchestration service is unavailable; retry shortly",
        type="server_error",
        code="temporal_unavailable",
    )
