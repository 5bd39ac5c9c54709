"""The gateway's HTTP stack in front of the floor workflow, for `interlock bench request`.

The gateway app as `interlock gateway` builds it (middleware, API-key check, the typed body,
uvicorn), plus one route, POST /v1/floor: it reads and checks the same chat-completions body,
then runs FloorWorkflow (one local activity doing nothing) with eager start on a worker of its own.
Set-up as for `interlock gateway` (INTERLOCK_* and TEMPORAL_* variables).

    python -m benchmarks.floor_gateway
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI, Request
from temporalio.worker import Worker

from benchmarks.floor_workflow import FLOOR_TASK_QUEUE, FloorWorkflow, floor_noop
from configuration import load_settings
from configuration.process import configure_logging, exit_process
from gateway.app import Tenant, create_app, serve
from gateway.openai_wire import ChatCompletionRequest, to_chat_request
from gateway.request_worker import REQUEST_WORKFLOW_RUNNER


def floor_app() -> FastAPI:
    app = create_app(load_settings())
    gateway_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        async with gateway_lifespan(running):
            worker = Worker(
                running.state.gateway.client,
                task_queue=FLOOR_TASK_QUEUE,
                workflows=[FloorWorkflow],
                activities=[floor_noop],
                # The same workflow runner as the request path's, so the floor is its floor.
                workflow_runner=REQUEST_WORKFLOW_RUNNER,
                max_concurrent_workflow_tasks=100,
                max_concurrent_local_activities=100,
            )
            task = asyncio.create_task(worker.run())
            try:
                yield
            finally:
                await worker.shutdown()
                await task

    app.router.lifespan_context = lifespan

    @app.post("/v1/floor", include_in_schema=False)
    async def floor(request: Request, wire: ChatCompletionRequest, _tenant: Tenant) -> dict:
        to_chat_request(wire)
        request_id = f"floor-{uuid.uuid4().hex}"
        result = await request.app.state.gateway.client.execute_workflow(
            FloorWorkflow.run,
            request_id,
            id=request_id,
            task_queue=FLOOR_TASK_QUEUE,
            execution_timeout=timedelta(seconds=30),
            request_eager_start=True,
        )
        return {"id": result}

    return app


def main() -> None:
    configure_logging()
    exit_process(0 if serve(floor_app(), load_settings()) else 1)


if __name__ == "__main__":
    main()
