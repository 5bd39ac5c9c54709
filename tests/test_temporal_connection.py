"""Connecting through Temporal's env-config, and registering search attributes where missing."""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest

from configuration.temporal import connect, ensure_search_attributes
from workflows import search_attributes


@pytest.fixture
def clean_temporal_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_PROFILE",
        "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_connects_with_environment_variables(stack, clean_temporal_env) -> None:
    clean_temporal_env.setenv("TEMPORAL_ADDRESS", stack.temporal_address)
    clean_temporal_env.setenv("TEMPORAL_NAMESPACE", "default")
    client = await connect(stack.settings)
    assert client.service_client.config.target_host == stack.temporal_address
    assert client.namespace == "default"
    assert await client.service_client.check_health()


async def test_connects_with_a_named_profile(stack, clean_temporal_env, tmp_path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.staging]\naddress = "{stack.temporal_address}"\nnamespace = "default"\n'
        '[profile.default]\naddress = "127.0.0.1:1"\n'
    )
    clean_temporal_env.setenv("TEMPORAL_CONFIG_FILE", str(config))
    clean_temporal_env.setenv("TEMPORAL_PROFILE", "staging")
    client = await connect(stack.settings)
    assert client.service_client.config.target_host == stack.temporal_address
    assert await client.service_client.check_health()


async def test_search_attributes_are_registered_once_where_missing(
    stack, clean_temporal_env
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    await stack.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    clean_temporal_env.setenv("TEMPORAL_ADDRESS", stack.temporal_address)
    clean_temporal_env.setenv("TEMPORAL_NAMESPACE", namespace)
    client = await connect(stack.settings)

    async def registered() -> set[str]:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        return set(listed.custom_attributes)

    wanted = {key.name for key in search_attributes.ALL}
    assert not wanted & await registered()
    await ensure_search_attributes(client)
    assert wanted <= await registered()
    await ensure_search_attributes(client)  # idempotent: a second start changes nothing
    assert wanted <= await registered()
