"""Helpers for tests that run experiments through the running stack."""

from __future__ import annotations

from activities.providers.catalog import build_registry
from contracts.experiment import ExperimentSpec
from contracts.routing import RouteTarget
from operations.experiments import start_experiment
from store.experiments import ExperimentState
from store.routes import RouteConfig, publish_routes

STEADY = {"error_rate": 0.0}


async def new_experiment(stack, route: str, **changes: object) -> ExperimentState:
    """Route `route` over sim-fast (control), and an experiment of the same name against
    sim-smart, whose answers the simulator judges better."""
    publish_routes(
        stack.engine,
        [
            RouteConfig(
                name=route,
                targets=[
                    RouteTarget(
                        variant="control", provider="simulated", model="sim-fast", options=STEADY
                    )
                ],
            )
        ],
    )
    spec = ExperimentSpec.model_validate(
        {
            "name": route,
            "route": route,
            "arms": [
                {"variant": "control"},
                # sim-smart's answers are judged better (quality 0.86 against 0.70).
                {
                    "variant": "smart",
                    "provider": "simulated",
                    "model": "sim-smart",
                    "options": STEADY,
                },
            ],
            "min_samples": 60,
            **changes,
        }
    )
    registry = build_registry(stack.settings)
    return await start_experiment(stack.client, stack.engine, registry, spec, "test")


async def ask_as(sdk, route: str, user: str) -> tuple[str, str]:
    raw = await sdk.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": "hello"}], user=user
    )
    return raw.headers["x-interlock-variant"], raw.parse().id
