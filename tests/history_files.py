"""Where recorded workflow histories are kept (tests/histories/<set>/<scenario>.json), written
by the recorders and read by tests/test_replay.py."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory

HISTORIES = Path(__file__).parent / "histories"


def save_history(history_set: str, scenario: str, history: WorkflowHistory) -> Path:
    target = HISTORIES / history_set / f"{scenario}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
    target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return target
