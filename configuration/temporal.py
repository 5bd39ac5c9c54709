"""Connecting to Temporal: env-config profiles, the encrypting data converter, search attributes."""

from __future__ import annotations

import dataclasses
import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfig

from codec import EncryptionCodec, load_keyring
from configuration.settings import Settings
from workflows import search_attributes

log = logging.getLogger(__name__)


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
    return await Client.connect(**connect_config, data_converter=build_data_converter(settings))


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
