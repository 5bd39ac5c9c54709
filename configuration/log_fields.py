"""What every log line says about where it came from: the request, rollout or experiment it
belongs to, and the Temporal workflow or activity that wrote it.

Code that knows one of the ids sets it for what runs inside it (`log_fields(...)`, or a
`ContextVar.set` in a task of its own, such as the gateway's request handler); asyncio tasks and
`asyncio.to_thread` carry it along. Inside Temporal the ids come from the SDK's own context at
the moment a line is written: a RequestWorkflow's id is its request id, a RolloutWorkflow's the
rollout's id. A call can also name them itself with `extra={"experiment_id": ...}`.

Only ids go here, never what a client sent: they are names Interlock or an operator chose.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("interlock_request_id", default=None)
ROLLOUT_ID: ContextVar[str | None] = ContextVar("interlock_rollout_id", default=None)
EXPERIMENT_ID: ContextVar[str | None] = ContextVar("interlock_experiment_id", default=None)

_IDS = {"request_id": REQUEST_ID, "rollout_id": ROLLOUT_ID, "experiment_id": EXPERIMENT_ID}
# Which id a Temporal workflow's own id is, by workflow type.
_WORKFLOW_IDS = {"RequestWorkflow": "request_id", "RolloutWorkflow": "rollout_id"}


@contextlib.contextmanager
def log_fields(
    request_id: str | None = None, rollout_id: str | None = None, experiment_id: str | None = None
) -> Iterator[None]:
    """Name the request, rollout or experiment on every line logged inside the block."""
    given = {"request_id": request_id, "rollout_id": rollout_id, "experiment_id": experiment_id}
    tokens = [(_IDS[name], _IDS[name].set(value)) for name, value in given.items() if value]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ids and Temporal context known for a record, without the empty ones."""
    fields: dict[str, Any] = {}
    temporal = _temporal_context(record)
    fields.update(temporal)
    workflow_type, workflow_id = temporal.get("workflow_type"), temporal.get("workflow_id")
    if workflow_type in _WORKFLOW_IDS and workflow_id:
        fields[_WORKFLOW_IDS[workflow_type]] = workflow_id
    for name, var in _IDS.items():
        value = getattr(record, name, None) or var.get()
        if value:
            fields[name] = value
    return fields


def _temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow (and activity) a record was written in, as the SDK knows it then."""
    details = getattr(record, "temporal_workflow", None)  # set by workflow.logger
    if isinstance(details, dict):
        return {
            "workflow_type": details.get("workflow_type"),
            "workflow_id": details.get("workflow_id"),
        }
    # Looked up, not imported: a process that never loaded the SDK (most CLI commands) is in
    # no workflow or activity, and need not pay for importing it.
    activity = sys.modules.get("temporalio.activity")
    if activity is not None and activity.in_activity():
        info = activity.info()
        return {
            "workflow_type": info.workflow_type,
            "workflow_id": info.workflow_id,
            "activity_type": info.activity_type,
        }
    workflow = sys.modules.get("temporalio.workflow")
    if workflow is not None and workflow.in_workflow():
        info = workflow.info()
        return {"workflow_type": info.workflow_type, "workflow_id": info.workflow_id}
    return {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, the ids and
    Temporal context known, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in fields_of(record).items() if v is not None})
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The familiar line for a terminal, with the ids known appended in brackets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = {k: v for k, v in fields_of(record).items() if k in _IDS}
        if not ids:
            return text
        first, newline, rest = text.partition("\n")  # after the message, before a traceback
        tagged = first + " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return tagged + newline + rest
