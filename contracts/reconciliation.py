"""What one pass of settling abandoned requests did (activities/request_reconciliation.py)."""

from __future__ import annotations

from pydantic import BaseModel


class ReconciliationResult(BaseModel):
    examined: int = 0
    """Request workflows that closed without completing in the window."""
    settled: list[str] = []
    """The request ids this run settled (they had no outcome row)."""
    unsettleable: list[str] = []
    """Closed without an admitted route (never resolved: nothing to record an arm against), or
    whose input could not be read (logged)."""
