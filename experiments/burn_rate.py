"""Multi-window, multi-burn-rate alerts on an SLO, as in Google's SRE workbook ("Alerting on
SLOs", its recommended setup): an alert fires when the error budget burns at least `factor`
times faster than sustainable over both a long window (so the problem is significant) and a
short one (so it is still happening, which also makes the alert clear soon after it ends).

    page:   1 h and 5 min at 14.4x (2% of a 30-day budget spent in an hour)
    ticket: 6 h and 30 min at 6x   (5% of a 30-day budget spent in six hours)

Pure: counts in, decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class BurnRule:
    severity: Severity
    long: timedelta
    short: timedelta
    factor: float


RULES = (
    BurnRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
    BurnRule("ticket", timedelta(hours=6), timedelta(minutes=30), 6.0),
)
WINDOWS = sorted({w for rule in RULES for w in (rule.long, rule.short)})


def window_name(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def burn_rate(bad: int, total: int, objective: float) -> float:
    """How many times faster than sustainable the budget burns: the bad share over the
    allowed one. No traffic burns nothing."""
    if total == 0:
        return 0.0
    return (bad / total) / (1 - objective)


@dataclass(frozen=True)
class AlertState:
    severity: Severity
    firing: bool
    long_burn: float
    short_burn: float
    rule: BurnRule


def alert_states(counts: dict[timedelta, tuple[int, int]], objective: float) -> list[AlertState]:
    """Each rule's state from (bad, total) per window."""
    states = []
    for rule in RULES:
        long_burn = burn_rate(*counts[rule.long], objective)
        short_burn = burn_rate(*counts[rule.short], objective)
        firing = long_burn >= rule.factor and short_burn >= rule.factor
        states.append(AlertState(rule.severity, firing, long_burn, short_burn, rule))
    return states
