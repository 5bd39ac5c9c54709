"""Moving a route's traffic between its baseline and a rollout's candidate: a new route version.

A rollout splits the baseline's own traffic: at a step of 5% the candidate gets 5% of what the
baseline had, and the route's other variants keep theirs. Taken back, the candidate leaves the
route (left at weight 0 it would become a fallback); promoted, it takes the baseline's place and
weight, and the old baseline leaves. In a shadow stage the candidate serves nothing and is the
route's shadow target instead; any other change clears the shadow.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.rollout import TrafficChange, TrafficSet
from contracts.routing import RouteTarget, ShadowTarget
from store.routes import RouteConfig, change_route


class TrafficError(ValueError):
    """The route cannot take the change as asked (no such route, no clear baseline)."""


def baseline_of(config: RouteConfig, named: str | None, candidate: str) -> RouteTarget:
    """The named variant, or the route's one variant with traffic besides the candidate."""
    if named is not None:
        found = [t for t in config.targets if t.variant == named]
        if not found:
            raise TrafficError(f"route {config.name!r} has no variant named {named!r}")
        return found[0]
    serving = [t for t in config.targets if t.weight > 0 and t.variant != candidate]
    if len(serving) != 1:
        names = [t.variant for t in serving]
        raise TrafficError(
            f"route {config.name!r} has {len(serving)} variants with traffic ({names}): "
            "name the baseline in the rollout file"
        )
    return serving[0]


def with_candidate_share(config: RouteConfig, change: TrafficChange) -> tuple[RouteConfig, str]:
    """The route's next configuration, and the baseline's name."""
    candidate_name = change.candidate.variant
    baseline = baseline_of(config, change.baseline, candidate_name)
    present = {t.variant: t for t in config.targets}
    pool = baseline.weight + (present[candidate_name].weight if candidate_name in present else 0)
    if pool <= 0:
        raise TrafficError(f"the baseline {baseline.variant!r} has no traffic to share")
    candidate = RouteTarget(
        variant=candidate_name,
        provider=change.candidate.provider,
        model=change.candidate.model,
        options=change.candidate.options,
        system_prompt=change.candidate.system_prompt,
        weight=pool * change.share,
    )
    targets: list[RouteTarget] = []
    for target in config.targets:
        if target.variant == candidate_name:
            continue  # placed beside the baseline below
        if target.variant != baseline.variant:
            targets.append(target)
        elif change.promote:
            targets.append(candidate.model_copy(update={"weight": pool}))
        elif change.share == 0:
            targets.append(target.model_copy(update={"weight": pool}))
        else:
            targets.append(target.model_copy(update={"weight": pool - candidate.weight}))
            targets.append(candidate)
    shadow = None
    if change.shadow_sample is not None:
        shadow = ShadowTarget(
            target=candidate.model_copy(update={"weight": 0.0}), sample=change.shadow_sample
        )
    return config.model_copy(update={"targets": targets, "shadow": shadow}), baseline.variant


class RolloutTrafficActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="set_rollout_traffic")
    async def set_traffic(self, change: TrafficChange) -> TrafficSet:
        return await asyncio.to_thread(self._set, change)

    def _set(self, change: TrafficChange) -> TrafficSet:
        resolved: list[str] = []

        def next_config(live: RouteConfig | None) -> RouteConfig:
            if live is None:
                raise TrafficError(f"no route named {change.route!r}")
            config, baseline = with_candidate_share(live, change)
            resolved.append(baseline)
            return config

        try:
            result, config = change_route(self._engine, change.route, next_config)
        except TrafficError as exc:
            # Retrying cannot make the route fit: the rollout ends and says why.
            raise ApplicationError(str(exc), type="TrafficError", non_retryable=True) from None
        return TrafficSet(
            version=result.version,
            baseline=resolved[-1],
            live_since=datetime.now(UTC),
            weights={t.variant: t.weight for t in config.targets},
        )
