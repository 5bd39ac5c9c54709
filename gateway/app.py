"""The gateway application: FastAPI in front, RequestWorkflow behind, one embedded worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from temporalio.client import Client

from activities.providers.catalog import build_registry
from activities.streaming import StreamChannels
from configuration import Settings
from configuration.temporal import build_codec, connect, ensure_search_attributes
from contracts.request import RequestInput
from gateway.auth import tenant_for
from gateway.codec_routes import codec_router
from gateway.errors import ApiError, install_error_handlers
from gateway.metrics import GatewayMetrics
from gateway.openai_wire import parse_chat_request, to_chat_completion, to_chat_request
from gateway.request_flow import (
    GatewayState,
    provider_task_queue,
    raise_request_error,
    record_metrics,
    result_headers,
    run_request,
)
from gateway.request_worker import build_request_worker, build_stream_worker
from gateway.streaming import stream_request
from store import create_store_engine, init_schema
from store.routes import list_routes

log = logging.getLogger(__name__)


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
        workers = [
            build_request_worker(temporal, settings, engine, registry),
            build_stream_worker(temporal, stream_queue, registry, channels),
        ]
        tasks = [asyncio.create_task(w.run(), name=w.task_queue) for w in workers]
        app.state.gateway = GatewayState(settings, engine, temporal, channels, stream_queue)
        try:
            yield
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            engine.dispose()

    app = FastAPI(title="Interlock gateway", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    metrics = GatewayMetrics()
    app.state.metrics = metrics
    if settings.codec_endpoint:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.codec_cors_origins,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["*"],
            allow_credentials=True,
        )
        app.include_router(codec_router(build_codec(settings)))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(request: Request) -> dict:
        state: GatewayState = request.app.state.gateway
        await tenant_for(request, state.engine)
        routes = await asyncio.to_thread(list_routes, state.engine)
        return {
            "object": "list",
            "data": [
                {
                    "id": r.name,
                    "object": "model",
                    "created": int(r.created_at.timestamp()),
                    "owned_by": "interlock",
                }
                for r in routes
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        state: GatewayState = request.app.state.gateway
        tenant = await tenant_for(request, state.engine)
        wire = parse_chat_request(await read_json(request, state.settings.max_body_bytes))
        request_id = f"chatcmpl-{uuid.uuid4().hex}"
        began = time.perf_counter()
        request_input = RequestInput(
            request_id=request_id,
            tenant_id=tenant,
            model=wire.model,
            chat=to_chat_request(wire),
            provider_task_queue=provider_task_queue(state.settings),
            stream_task_queue=state.stream_queue if wire.stream else None,
            stream_start_timeout_seconds=state.settings.stream_start_timeout_seconds,
            stream_heartbeat_timeout_seconds=state.settings.stream_heartbeat_timeout_seconds,
        )
        if wire.stream:
            return await stream_request(state, request, request_input, wire, metrics, began)
        result = await run_request(state, request_input)
        record_metrics(metrics, result, time.perf_counter() - began)
        headers = result_headers(result)
        if result.error is not None:
            raise_request_error(result, headers)
        return JSONResponse(to_chat_completion(result), headers=headers)

    return app


async def read_json(request: Request, limit: int) -> object:
    declared = request.headers.get("content-length", "")
    too_large = ApiError(413, f"request body exceeds {limit} bytes", code="request_too_large")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    if not body:
        raise ApiError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, f"the request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
