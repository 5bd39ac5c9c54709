"""Recording outcomes: the one write every request makes, idempotent under retries."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from temporalio import activity

from contracts.outcome import OutcomeRecord
from store.outcomes import record_outcome


class OutcomeActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_outcome")
    async def record_outcome(self, record: OutcomeRecord) -> bool:
        return await asyncio.to_thread(record_outcome, self._engine, record)
