"""Admission in the gateway, before a request's workflow starts: a store it cannot read is a
clear 503 the client can retry, never a 500."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from activities.admission import Admission
from activities.providers import ProviderRegistry
from contracts.chat import ChatMessage, ChatRequest
from contracts.steps import AdmitInput
from gateway.errors import ApiError
from gateway.request_flow import admit_request
from guardrails.registry import default_registry


async def test_an_unreadable_route_store_is_a_503(tmp_path) -> None:
    # A database file in a directory that does not exist: every read fails.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'interlock.db'}")
    state = SimpleNamespace(admission=Admission(engine, ProviderRegistry([]), default_registry()))
    request = AdmitInput(
        request_id="chatcmpl-test",
        tenant_id="demo",
        model="chat",
        chat=ChatRequest(messages=[ChatMessage(role="user", content="hi")]),
    )
    with pytest.raises(ApiError) as refused:
        await admit_request(state, request)  # type: ignore[arg-type]
    assert refused.value.status == 503
    assert refused.value.code == "store_unavailable"
    assert "retry" in refused.value.message
