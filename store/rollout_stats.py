"""A route's outcome rows reduced to sufficient statistics per variant, in SQL: what one look of
a rollout compares. Rows never leave the database; only per-bucket totals do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, func, select
from sqlalchemy.engine import Engine, Row

from experiments.statistics import LatencyHistogram, Mean, Proportion
from store.tables import Feedback, Outcome


@dataclass(frozen=True)
class ArmTotals:
    """One variant's totals over a window; every field adds with `+` across windows."""

    requests: int
    errors: Proportion
    """status == 'error' out of requests."""
    blocked: Proportion
    """status == 'blocked' out of requests."""
    cost: Mean
    """cost_usd over requests."""
    quality: Mean
    """quality_score over the rows that have one."""
    latency: LatencyHistogram
    """From latency_bucket; rows without one (written before revision 0003) are left out."""
    feedback: Mean = field(default_factory=Mean)
    """People's ratings (POST /v1/feedback) of the rows' answers, over the rated ones."""
    json_valid: Proportion = field(default_factory=Proportion)
    """Valid JSON answers out of the answered rows that asked for JSON."""
    tool_calls_valid: Proportion = field(default_factory=Proportion)
    """Answers whose tool calls were all valid, out of those that made any."""
    refused: Proportion = field(default_factory=Proportion)
    """Refusals out of the answered (scored) rows."""
    answer_chars: Mean = field(default_factory=Mean)
    """Answer length in characters, over the answered rows."""


def arm_totals(
    engine: Engine,
    route: str,
    variants: Sequence[str],
    since: datetime,
    until: datetime | None = None,
    arms: Sequence[str] = ("primary",),
) -> dict[str, ArmTotals]:
    """Totals per variant of the route's rows with since <= started_at and finished_at < until,
    on `arms`.

    A row counts from its start, not its end: a request admitted before `since` was split by the
    weights before it, however late it ends (a ten-second answer at a thousand requests a second
    would otherwise put thousands of rows of the old split into a step's first look). Every
    variant asked for gets an entry, all zeros when it has no rows. Only primary arms by default:
    a fallback's traffic is what another variant's failures sent it, not a random share.
    """
    outcomes = Outcome.__table__.c  # type: ignore[attr-defined]
    window = [
        outcomes.route == route,
        outcomes.arm.in_(list(arms)),
        # Implied by the start; kept so the (route, variant, finished_at) index bounds the scan.
        outcomes.finished_at >= since,
        outcomes.started_at >= since,
    ]
    if until is not None:
        window.append(outcomes.finished_at < until)
    return totals_by(engine, outcomes.variant, variants, window)


def experiment_totals(engine: Engine, experiment: str, arms: Sequence[str]) -> dict[str, ArmTotals]:
    """Totals per arm of an experiment's rows: the arm each request was assigned, on its first
    attempt (a fallback's rows are what the assigned arm's failures sent elsewhere). The rows are
    read through their covering index alone, and the ratings from the feedback table alone."""
    outcomes = Outcome.__table__.c  # type: ignore[attr-defined]
    rated = Feedback.__table__.c  # type: ignore[attr-defined]
    window = [outcomes.experiment == experiment, outcomes.arm == "primary"]
    ratings = (
        select(
            rated.experiment_arm.label("key"),
            func.count(rated.value).label("n"),
            func.sum(rated.value).label("sum"),
            func.sum(rated.value * rated.value).label("sum_sq"),
        )
        .where(rated.experiment == experiment, rated.experiment_arm.in_(list(arms)))
        .group_by(rated.experiment_arm)
    )
    return totals_by(engine, outcomes.experiment_arm, arms, window, ratings)


def experiment_units(engine: Engine, experiment: str, arms: Sequence[str]) -> dict[str, int] | None:
    """Each arm's distinct units (experiments split by user or header), read from the units'
    index alone; None if some row of the experiment has no unit (written before units were
    kept), since a count of some units only is no count to check a split on."""
    outcomes = Outcome.__table__.c  # type: ignore[attr-defined]
    # The (arm, unit) pairs in the index's order, then counted per arm: PostgreSQL sorts inside
    # COUNT(DISTINCT ...), which took three times as long over ten million rows. A row without a
    # unit shows as a pair whose unit is NULL: counted by COUNT(*), not by COUNT(unit).
    pairs = (
        select(outcomes.experiment_arm, outcomes.experiment_unit)
        .where(outcomes.experiment == experiment, outcomes.experiment_arm.in_(list(arms)))
        .group_by(outcomes.experiment_arm, outcomes.experiment_unit)
        .subquery()
    )
    per_arm = select(
        pairs.c.experiment_arm,
        func.count().label("pairs"),
        func.count(pairs.c.experiment_unit).label("units"),
    ).group_by(pairs.c.experiment_arm)
    with engine.connect() as connection:
        found = connection.execute(per_arm).all()
    if any(row.pairs > row.units for row in found):
        return None
    counted = {row.experiment_arm: int(row.units) for row in found}
    return {arm: counted.get(arm, 0) for arm in arms}


def totals_by(
    engine: Engine, group: Any, keys: Sequence[str], window: list[Any], ratings: Any = None
) -> dict[str, ArmTotals]:
    """Totals of the rows matching `window`, per value of the column `group` among `keys`;
    every key gets an entry, all zeros when it has no rows. `ratings` reads the ratings per key
    (key, n, sum, sum_sq); by default they are joined to the window's answering rows."""
    outcomes = Outcome.__table__.c  # type: ignore[attr-defined]
    rated = Feedback.__table__.c  # type: ignore[attr-defined]
    # CASE, not SUM(status = 'error'): PostgreSQL has no SUM over booleans.
    errors = case((outcomes.status == "error", 1), else_=0)
    blocked = case((outcomes.status == "blocked", 1), else_=0)

    def true_count(column: Any) -> Any:
        return func.sum(case((column.is_(True), 1), else_=0))

    chars = outcomes.answer_chars.cast(Float)
    # One statement, grouped down to the latency bucket: the counts, sums and histogram then come
    # from one snapshot (two SELECTs on SQLite would each see their own), and the per-key sums
    # are at most a few hundred buckets' worth of additions here.
    query = (
        select(
            group.label("key"),
            outcomes.latency_bucket,
            func.count().label("requests"),
            func.sum(errors).label("errors"),
            func.sum(blocked).label("blocked"),
            func.sum(outcomes.cost_usd).label("cost"),
            func.sum(outcomes.cost_usd * outcomes.cost_usd).label("cost_sq"),
            func.count(outcomes.quality_score).label("scored_quality"),
            func.sum(outcomes.quality_score).label("quality"),
            func.sum(outcomes.quality_score * outcomes.quality_score).label("quality_sq"),
            func.count(outcomes.json_valid).label("json_asked"),
            true_count(outcomes.json_valid).label("json_valid"),
            func.count(outcomes.tool_calls_valid).label("tool_calls"),
            true_count(outcomes.tool_calls_valid).label("tool_calls_valid"),
            func.count(outcomes.refused).label("scored"),
            true_count(outcomes.refused).label("refused"),
            func.sum(chars).label("chars"),
            func.sum(chars * chars).label("chars_sq"),
        )
        .where(*window, group.in_(list(keys)))
        .group_by(group, outcomes.latency_bucket)
    )
    # Ratings apart: in one statement, every row would be probed for one. A rating belongs to
    # the request and counts on its answering row.
    ratings = (
        ratings
        if ratings is not None
        else (
            select(
                group.label("key"),
                func.count(rated.value).label("n"),
                func.sum(rated.value).label("sum"),
                func.sum(rated.value * rated.value).label("sum_sq"),
            )
            .select_from(
                Feedback.__table__.join(  # type: ignore[attr-defined]
                    Outcome.__table__,  # type: ignore[attr-defined]
                    (outcomes.request_id == rated.request_id) & (outcomes.status == "ok"),
                )
            )
            .where(*window, group.in_(list(keys)))
            .group_by(group)
        )
    )
    with engine.connect() as connection:
        groups = connection.execute(query).all()
        rated_by_key = {
            row.key: Mean(int(row.n), float(row.sum or 0.0), float(row.sum_sq or 0.0))
            for row in connection.execute(ratings)
        }
    by_key: dict[str, list[Row]] = {key: [] for key in keys}
    for row in groups:
        by_key[row.key].append(row)
    return {key: _totals(rows, rated_by_key.get(key, Mean())) for key, rows in by_key.items()}


def _totals(groups: list[Row], feedback: Mean) -> ArmTotals:
    """Add up one variant's groups (one per latency bucket); no groups, all zeros."""

    def count(column: str) -> int:
        return sum(int(getattr(g, column) or 0) for g in groups)

    def total(column: str) -> float:
        # fsum: the total does not depend on the order the groups arrived in.
        return math.fsum(float(getattr(g, column) or 0.0) for g in groups)

    requests = count("requests")
    return ArmTotals(
        requests=requests,
        errors=Proportion(requests, count("errors")),
        blocked=Proportion(requests, count("blocked")),
        cost=Mean(requests, total("cost"), total("cost_sq")),
        quality=Mean(count("scored_quality"), total("quality"), total("quality_sq")),
        latency=LatencyHistogram.from_buckets(
            {g.latency_bucket: g.requests for g in groups if g.latency_bucket is not None}
        ),
        feedback=feedback,
        json_valid=Proportion(count("json_asked"), count("json_valid")),
        tool_calls_valid=Proportion(count("tool_calls"), count("tool_calls_valid")),
        refused=Proportion(count("scored"), count("refused")),
        answer_chars=Mean(count("scored"), total("chars"), total("chars_sq")),
    )
