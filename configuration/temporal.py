"""Connecting to Temporal: env-config profiles, the encrypting data converter, search attributes,
and the process's one Temporal runtime."""

from __future__ import annotations

import dataclasses
import logging
import threading

from prometheus_client import CollectorRegistry, ProcessCollector
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfig
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from codec import EncryptionCodec, load_keyring
from configuration.settings import Settings
from configuration.temporal_metrics import TemporalSdkMetrics
from workflows import search_attributes

log = logging.getLogger(__name__)

_sdk_metrics = TemporalSdkMetrics()
_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def sdk_metrics() -> TemporalSdkMetrics:
    """The collector of this process's Temporal SDK metrics, for its Prometheus registries."""
    return _sdk_metrics


def metrics_registry() -> CollectorRegistry:
    """A registry holding this process's Temporal SDK metrics and its CPU, memory and open files
    (process_*): where each process's one scrape starts, the gateway's and the worker's."""
    registry = CollectorRegistry()
    registry.register(_sdk_metrics)
    ProcessCollector(registry=registry)
    return registry


def process_runtime() -> Runtime:
    """This process's Temporal runtime, made on first use and made the SDK's default, so every
    client and worker of the process shares it (each runtime is a thread pool of its own).

    Its metrics go into the buffer `sdk_metrics()` drains, for the process's one scrape. The
    SDK core's own log lines are forwarded into Python logging (logger `temporalio.core`) at
    WARN and above, so they come out in the process's log format rather than as plain text on
    stderr beside JSON lines.
    """
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(
                telemetry=TelemetryConfig(
                    logging=LoggingConfig(
                        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                    ),
                    metrics=_sdk_metrics.buffer,
                )
            )
            Runtime.set_default(_runtime, error_if_already_set=False)
            _sdk_metrics.start_draining()
        return _runtime


def build_codec(settings: Settings) -> EncryptionCodec:
    return EncryptionCodec(load_keyring(settings.codec_keyring, settings.codec_key_file))


def build_data_converter(settings: Settings) -> DataConverter:
    # Failure messages and stack traces can quote a prompt: encode them too, not just payloads.
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=build_codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    """A client for the profile Temporal's env-config selects (TEMPORAL_* variables, TOML file)."""
    connect_config = ClientConfig.load_client_connect_config()
    connect_config.setdefault("target_host", "localhost:7233")
    return await Client.connect(
        **connect_config, data_converter=build_data_converter(settings), runtime=process_runtime()
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register any of Interlock's search attributes the namespace lacks.

    Idempotent. A workflow that upserts an unregistered attribute fails its workflow task over and
    over, so a process refuses to start rather than run into that.
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in search_attributes.ALL
        if key.name not in listed.custom_attributes
    }
    if not missing:
        return
    log.info("registering search attributes %s", sorted(missing))
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
    )
