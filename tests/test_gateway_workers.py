"""A worker the gateway embeds that stops by itself is reported at once, not found at shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.app import _report_stopped_worker


async def test_a_worker_that_stops_with_an_error_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing_worker() -> None:
        raise RuntimeError("poll failed: namespace not found")

    task = asyncio.create_task(failing_worker(), name="interlock-requests")
    await asyncio.gather(task, return_exceptions=True)
    with caplog.at_level(logging.ERROR, logger="gateway.app"):
        _report_stopped_worker(task)
    [record] = caplog.records
    assert "interlock-requests" in record.getMessage()
    assert "namespace not found" in record.getMessage()


async def test_a_worker_shut_down_on_purpose_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = asyncio.create_task(asyncio.sleep(0), name="interlock-requests")
    await task
    with caplog.at_level(logging.ERROR, logger="gateway.app"):
        _report_stopped_worker(task)
    assert caplog.records == []
