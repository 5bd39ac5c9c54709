"""The Interlock worker: everything that is not on the gateway's request path.

Provider calls for workers that keep provider credentials, and on the control queue rollouts
(workflows/rollout.py), experiment evaluations (workflows/experiment_evaluation.py) and SLO
checks (workflows/slo_monitoring.py). Several workers can run side by side against the same task
queues. Each serves its metrics (the Temporal SDK's and the process's) on
INTERLOCK_WORKER_METRICS_HOST:INTERLOCK_WORKER_METRICS_PORT (127.0.0.1:9464; port 0 turns it off).

    python worker.py            (or: interlock worker)
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.experiment_evaluation import ExperimentActivities
from activities.provider_calls import ProviderActivities
from activities.providers.catalog import build_registry
from activities.request_reconciliation import RequestReconciliationActivities
from activities.rollout_analysis import RolloutAnalysisActivities
from activities.rollout_traffic import RolloutTrafficActivities
from activities.slo_monitoring import SloActivities
from configuration import Settings, load_settings
from configuration.process import configure_logging, exit_process, stop_event_on_signals
from configuration.temporal import connect, ensure_search_attributes, metrics_registry
from operations.schedules import ensure_schedules
from store import create_store_engine
from store.breaker_states import BreakerStates, open_breaker_states
from workflows.experiment_evaluation import ExperimentEvaluationWorkflow
from workflows.request_reconciliation import RequestReconciliationWorkflow
from workflows.rollout import RolloutWorkflow
from workflows.slo_monitoring import SloMonitoringWorkflow

log = logging.getLogger("interlock.worker")


def control_worker(
    client: Client,
    engine: Engine,
    task_queue: str,
    alert_webhook_url: str | None = None,
    breaker_states: BreakerStates | None = None,
) -> Worker:
    """Rollouts, experiment evaluations, SLO checks and the settling of abandoned requests: few,
    and never on the request path. `breaker_states`: where the gateways keep their breakers
    (default: the store), which a rollout's look reads for its candidate."""
    traffic = RolloutTrafficActivities(engine)
    analysis = RolloutAnalysisActivities(engine, breaker_states)
    experiments = ExperimentActivities(engine)
    slos = SloActivities(engine, client, alert_webhook_url)
    abandoned = RequestReconciliationActivities(client, engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[
            RolloutWorkflow,
            ExperimentEvaluationWorkflow,
            SloMonitoringWorkflow,
            RequestReconciliationWorkflow,
        ],
        activities=[
            traffic.set_traffic,
            analysis.look,
            analysis.record,
            experiments.running,
            experiments.evaluate,
            experiments.apply,
            slos.check,
            slos.notify,
            slos.pause,
            abandoned.settle_abandoned,
        ],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def build_workers(client: Client, settings: Settings) -> list[Worker]:
    """Every worker this process runs, one per task queue."""
    providers = ProviderActivities(build_registry(settings))
    engine = create_store_engine(settings.resolved_database_url)
    return [
        Worker(
            client,
            task_queue=settings.provider_task_queue,
            activities=[providers.call_provider],
            max_concurrent_activities=200,
            graceful_shutdown_timeout=timedelta(seconds=10),
        ),
        control_worker(
            client,
            engine,
            settings.control_task_queue,
            settings.alert_webhook_url,
            open_breaker_states(settings.redis_url, engine),
        ),
    ]


def serve_metrics(settings: Settings) -> WSGIServer | None:
    """The worker's /metrics on a thread of its own (prometheus_client's server), or None when
    it is turned off or its port is taken: metrics are not worth refusing to work over."""
    if settings.worker_metrics_port == 0:
        return None
    try:
        server, _thread = start_http_server(
            settings.worker_metrics_port, settings.worker_metrics_host, metrics_registry()
        )
    except OSError as exc:
        log.warning(
            "worker metrics not served on %s:%s: %s (set INTERLOCK_WORKER_METRICS_PORT to a free "
            "port, or 0)",
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            exc,
        )
        return None
    log.info(
        "worker metrics on http://%s:%s/metrics",
        settings.worker_metrics_host,
        server.server_port,
    )
    return server


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    metrics_server = serve_metrics(settings)
    try:
        await _work(settings, stop)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()


async def _work(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings)
    await ensure_search_attributes(client)
    await ensure_schedules(client, settings)
    workers = build_workers(client, settings)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    log.info("worker polling %s", ", ".join(w.task_queue for w in workers))
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    # Shut down on a signal, or as soon as any worker stops by itself (a fatal poll error).
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    stopped.cancel()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors and stopped not in done:
        raise errors[0]
    log.info("worker stopped")


def main() -> None:
    configure_logging()
    settings = load_settings()

    async def _run() -> None:
        await serve(settings, stop_event_on_signals())

    try:
        asyncio.run(_run())
    except Exception:
        log.exception("worker failed")
        exit_process(1)
    exit_process(0)


if __name__ == "__main__":
    main()
