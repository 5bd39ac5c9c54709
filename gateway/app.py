"""The gateway application: FastAPI in front, RequestWorkflow behind, one embedded worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from activities.admission import Admission
from activities.circuit_breakers import BreakerBoard, BreakerPolicy
from activities.providers.catalog import build_registry
from activities.streaming import StreamChannels
from configuration import Settings
from configuration.log_fields import REQUEST_ID
from configuration.temporal import (
    build_codec,
    connect,
    ensure_search_attributes,
    metrics_registry,
)
from contracts.request import RequestInput, unresolved_route
from contracts.steps import AdmitInput
from gateway.answer_handoff import AnswerHandOff
from gateway.auth import authenticated_tenant, open_api_keys
from gateway.body_limit import RequestGuard, head_limited_http
from gateway.codec_routes import CODEC_PREFIX, codec_endpoint_token, codec_router
from gateway.end_users import SECRET_NAME, USER_HEADER, user_hash
from gateway.errors import ERROR_STATUSES, error_responses, install_error_handlers
from gateway.feedback_route import feedback_router
from gateway.judge_calls import JudgeCalls
from gateway.metrics import GatewayMetrics
from gateway.model_cards import model_cards
from gateway.openai_answers import (
    CHAT_COMPLETION_200,
    ModelList,
    add_stream_chunk_schemas,
    to_chat_completion,
)
from gateway.openai_wire import (
    ChatCompletionRequest,
    document_limits,
    refuse_beyond_limits,
    refuse_too_large_to_run,
    refuse_unsupported,
    to_chat_request,
)
from gateway.path_scoped import UnderPrefix
from gateway.request_flow import (
    GatewayState,
    admit_request,
    provider_task_queue,
    raise_request_error,
    record_metrics,
    result_headers,
    run_request,
)
from gateway.request_worker import build_request_worker, build_stream_worker
from gateway.scraped_state import StoreState, read_store_state, running_rollouts
from gateway.shadow_calls import ShadowCalls
from gateway.streaming import stream_request
from guardrails.registry import default_registry
from store import create_store_engine, init_schema
from store.breaker_states import open_breaker_states
from store.engine import store_answers
from store.installation import installation_secret
from store.response_cache import open_response_store

log = logging.getLogger(__name__)

Tenant = Annotated[str, Depends(authenticated_tenant)]


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    """The gateway app. Pass `client` to reuse an existing connection (tests do)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_store_engine(settings.resolved_database_url)
        await asyncio.to_thread(init_schema, engine)
        temporal = client or await connect(settings)
        await ensure_search_attributes(temporal)
        registry = build_registry(settings)
        channels = StreamChannels()
        stream_queue = f"{settings.request_task_queue}-stream-{uuid.uuid4().hex[:12]}"
        scanner = default_registry()
        # One admission for the gateway and its worker's steps: one cache of live routes.
        metrics: GatewayMetrics = app.state.metrics

        def count_transition(key: tuple[str, str], state: str, _reason: str) -> None:
            metrics.breaker_transitions.labels(*key, state).inc()

        breakers = BreakerBoard(
            engine,
            breaker_policy(settings),
            count_transition,
            open_breaker_states(settings.redis_url, engine),
        )
        admission = Admission(
            engine,
            registry,
            scanner,
            timedelta(seconds=settings.request_timeout_seconds),
            breakers,
            open_response_store(settings.redis_url, engine),
        )
        handoff = AnswerHandOff()
        app.state.api_keys = open_api_keys(settings.redis_url, engine)
        workers = [
            build_request_worker(temporal, settings, engine, registry, admission, scanner, handoff),
            build_stream_worker(temporal, stream_queue, registry, channels, scanner),
        ]
        tasks = [asyncio.create_task(w.run(), name=w.task_queue) for w in workers]
        for task in tasks:
            task.add_done_callback(_report_stopped_worker)
        refreshing = asyncio.create_task(
            _refresh_each_second([breakers.refresh, admission.variant_stats.refresh]),
            name="breakers and variant figures",
        )
        shadows = ShadowCalls(engine, registry, scanner, app.state.metrics)
        judges = JudgeCalls(engine, registry, admission.experiments)
        app.state.gateway = GatewayState(
            settings,
            engine,
            temporal,
            channels,
            stream_queue,
            admission,
            shadows,
            handoff,
            registry=registry,
            user_hash_key=await asyncio.to_thread(end_user_key, settings, engine),
            judges=judges,
        )
        try:
            yield
        finally:
            refreshing.cancel()
            await asyncio.gather(refreshing, return_exceptions=True)
            await shadows.stop()
            await judges.stop()
            await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            engine.dispose()

    codec_token = codec_endpoint_token(settings)  # refuses an open codec on a public bind
    # Strict Content-Type checking guards cookie-authenticated apps against cross-site posts that
    # skip the CORS preflight; every call here carries an API key a browser would not add
    # unasked, and many OpenAI clients and scripts send JSON without the header.
    app = FastAPI(
        title="Interlock gateway",
        version="0.1.0",
        lifespan=lifespan,
        strict_content_type=False,
    )
    install_error_handlers(app)
    generated_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        first_time = app.openapi_schema is None
        document = generated_openapi()  # FastAPI builds it once, then returns its cached copy
        if first_time:
            add_stream_chunk_schemas(document)
            document_limits(document, settings)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        RequestGuard,
        header_limit=settings.max_header_bytes,
        body_limits={
            "/v1/": settings.max_body_bytes,
            f"{CODEC_PREFIX}/": settings.codec_max_body_bytes,
        },
        max_json_depth=settings.max_json_depth,
    )
    metrics = GatewayMetrics(metrics_registry())
    app.state.metrics = metrics
    if settings.codec_endpoint:
        app.add_middleware(
            UnderPrefix,
            prefix=CODEC_PREFIX,
            middleware=CORSMiddleware,
            allow_origins=settings.codec_cors_origins,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["*"],
            allow_credentials=True,
        )
        # The codec's own routes document only their answer; its errors are the gateway's.
        app.include_router(
            codec_router(build_codec(settings), codec_token),
            responses=error_responses(400, 401, 413),
        )

    app.include_router(feedback_router())

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        state: GatewayState | None = getattr(request.app.state, "gateway", None)
        if state is not None:
            stored, rollouts = await asyncio.gather(
                asyncio.to_thread(read_store_state, state.engine, state.admission.breakers.states),
                running_rollouts(state.client),
                return_exceptions=True,
            )
            # A source that cannot answer keeps its last values; the rest of the scrape answers.
            # /readyz is where an unreachable store or Temporal shows.
            if isinstance(stored, StoreState):
                metrics.show_store_state(stored)
            elif not isinstance(stored, SQLAlchemyError):
                log.warning("store figures not read for /metrics: %r", stored)
            if isinstance(rollouts, list):
                metrics.show_rollouts(rollouts)
            elif not isinstance(rollouts, RPCError):
                log.warning("running rollouts not read for /metrics: %r", rollouts)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up (liveness)."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "Temporal or the store is unreachable"}})
    async def readyz(request: Request) -> JSONResponse:
        """Temporal and the store both answer (readiness): route traffic here only then."""
        state: GatewayState | None = getattr(request.app.state, "gateway", None)
        if state is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = dict(
            zip(
                ("temporal", "store"),
                await asyncio.gather(
                    _answers(state.client.service_client.check_health(timeout=READY_TIMEOUT)),
                    _answers(asyncio.to_thread(store_answers, state.engine)),
                ),
                strict=True,
            )
        )
        ready = all(result == "ok" for result in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **checks},
            status_code=200 if ready else 503,
        )

    @app.get("/v1/models", responses=error_responses(401, 500, 503))
    async def models(request: Request, _tenant: Tenant) -> ModelList:
        """Every route, and every model a configured provider is known to serve."""
        state: GatewayState = request.app.state.gateway
        cards = await asyncio.to_thread(model_cards, state.engine, state.registry)
        return ModelList(data=cards)

    @app.post(
        "/v1/chat/completions",
        responses={200: CHAT_COMPLETION_200, **error_responses(*ERROR_STATUSES)},
    )
    async def chat_completions(
        request: Request, wire: ChatCompletionRequest, tenant: Tenant
    ) -> Response:
        state: GatewayState = request.app.state.gateway
        refuse_unsupported(wire)
        refuse_beyond_limits(wire, state.settings)
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        REQUEST_ID.set(request_id)  # this request's own task: every line it logs names it
        began = time.perf_counter()
        chat = to_chat_request(wire)
        refuse_too_large_to_run(chat, state.settings)
        end_user = user_hash(
            state.user_hash_key, tenant, wire.user or request.headers.get(USER_HEADER)
        )
        admitted = await admit_request(
            state,
            AdmitInput(
                request_id=request_id,
                tenant_id=tenant,
                model=wire.model,
                chat=chat,
                user_hash=end_user,
            ),
            streamed=bool(wire.stream),
            headers=request.headers,
            no_cache="no-cache" in request.headers.get("cache-control", "").lower(),
        )
        metrics.count_cache_lookup(admitted.route.route, admitted)
        if admitted.route.error is not None:
            unknown = unresolved_route(request_id, wire.model, admitted.route.error)
            record_metrics(metrics, unknown, time.perf_counter() - began)
            raise_request_error(unknown, result_headers(unknown))
        request_input = RequestInput(
            request_id=request_id,
            tenant_id=tenant,
            model=wire.model,
            chat=chat,
            admitted=admitted,
            user_hash=end_user,
            attributes_at_start=True,
            provider_task_queue=provider_task_queue(state.settings),
            provider_call_in_task=state.settings.provider_calls_in_gateway,
            settle_with_call=state.settings.provider_calls_in_gateway,
            stream_task_queue=state.stream_queue if wire.stream else None,
            deadline_seconds=state.settings.request_timeout_seconds,
            stream_start_timeout_seconds=state.settings.stream_start_timeout_seconds,
            stream_heartbeat_timeout_seconds=state.settings.stream_heartbeat_timeout_seconds,
        )
        if wire.stream:
            return await stream_request(state, request, request_input, wire, metrics, began)
        result = await run_request(state, request_input, metrics)
        state.shadows.start_if_sampled(request_input)
        if state.judges is not None:
            state.judges.start_if_sampled(request_input, result)
        record_metrics(metrics, result, time.perf_counter() - began)
        headers = result_headers(result)
        if admitted.route.cache is not None:
            headers["x-interlock-cache"] = "hit" if admitted.cached is not None else "miss"
        if result.error is not None:
            raise_request_error(result, headers)
        completion = to_chat_completion(result)
        return JSONResponse(completion.model_dump(mode="json"), headers=headers)

    return app


def end_user_key(settings: Settings, engine: Engine) -> bytes:
    if settings.user_hash_key is not None:
        return settings.user_hash_key.get_secret_value().encode()
    return installation_secret(engine, SECRET_NAME).encode()


READY_TIMEOUT = timedelta(seconds=2)


async def _answers(check: Awaitable[object]) -> str:
    """'ok', or what went wrong, within the readiness timeout."""
    try:
        answer = await asyncio.wait_for(check, READY_TIMEOUT.total_seconds())
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"[:300]
    return "not serving" if answer is False else "ok"


async def _refresh_each_second(refreshes: list[Callable[[], None]]) -> None:
    """Judge the circuit breakers and read the variants' recent figures once a second, for as
    long as the gateway runs."""
    while True:
        for refresh in refreshes:
            try:
                await asyncio.to_thread(refresh)
            except Exception as exc:  # a store hiccup: keep the last figures, try again
                log.warning(
                    "%s did not refresh: %s", getattr(refresh, "__qualname__", refresh), exc
                )
        await asyncio.sleep(1.0)


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(
        window=timedelta(seconds=settings.breaker_window_seconds),
        min_calls=settings.breaker_min_calls,
        failure_rate=settings.breaker_failure_rate,
        open_for=timedelta(seconds=settings.breaker_open_seconds),
        probes=settings.breaker_probes,
    )


def _report_stopped_worker(task: asyncio.Task) -> None:
    """A worker of the gateway that stops by itself leaves its queue unserved: say so at once."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("the gateway's worker on %s stopped: %r", task.get_name(), error)


def tune_garbage_collection() -> None:
    """Fewer, cheaper collections for a process that makes many short-lived objects per request
    (payloads, models, ASGI scopes). By default a young collection runs every 700 allocations and
    every hundredth is a full one over every object the process holds, its imports included: on the
    bench that was 3% of the gateway's CPU. Objects alive at start-up are frozen out of the full
    collections, and the young generation may grow larger first."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def serve(app: FastAPI, settings: Settings) -> bool:
    """Serve `app` on the configured address until a signal stops it; False if it never started
    (a port taken, Temporal unreachable: uvicorn reports those by not starting)."""
    tune_garbage_collection()
    server = uvicorn.Server(server_config(app, settings))
    server.run()
    return server.started


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through configure_logging's format, too
        access_log=False,
        lifespan="on",
        # loop stays "auto" (uvloop); http is httptools, both of which pyproject.toml installs,
        # with the bound on the request head that httptools lacks
        http=head_limited_http(settings.max_header_bytes),
    )
