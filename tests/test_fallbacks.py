"""Fallback chains: when a variant still fails after its retries, the route's next one answers."""

from __future__ import annotations

import pytest

from contracts.routing import RouteTarget
from store.outcomes import outcomes_for_request
from store.routes import publish_route
from tests.gateway_calls import ask
from tests.request_history import finished_workflow, listed, provider_calls
from workflows.search_attributes import MODEL, PROVIDER, STATUS
from workflows.selection import arm_name, fallback_chain, next_fallback


def variant(name: str, provider: str = "simulated", weight: float = 1.0) -> RouteTarget:
    return RouteTarget(variant=name, provider=provider, model="sim-fast", weight=weight)


def test_chain_starts_with_the_chosen_variant_and_keeps_the_route_order() -> None:
    a, b, c = variant("a"), variant("b"), variant("c", weight=0)
    assert [t.variant for t in fallback_chain([a, b, c], b)] == ["b", "a", "c"]
    many = [variant(str(i)) for i in range(8)]
    assert len(fallback_chain(many, many[0])) == 4  # the chosen one and at most three more


def test_which_errors_fall_back_and_where() -> None:
    chain = [variant("a", "bedrock"), variant("b", "bedrock"), variant("c", "gemini")]
    assert next_fallback(chain, 0, "ProviderUnavailable") == 1
    assert next_fallback(chain, 0, "ContextWindowExceeded") == 1
    # A content-policy refusal skips the variants of the provider that refused.
    assert next_fallback(chain, 0, "ContentPolicyRefusal") == 2
    # The request itself was invalid: no other variant can help.
    assert next_fallback(chain, 0, "ProviderBadRequest") is None
    assert next_fallback(chain, 2, "ProviderUnavailable") is None
    assert [arm_name(i) for i in range(3)] == ["primary", "fallback-1", "fallback-2"]


async def test_a_failing_variant_falls_back_and_still_counts_as_failed(stack) -> None:
    publish_route(
        stack.engine,
        "resilient",
        [
            RouteTarget(
                variant="flaky",
                provider="simulated",
                model="sim-flaky",
                options={"error_rate": 1.0},
            ),
            # Weight 0: never chosen for traffic, only tried when another variant fails.
            RouteTarget(
                variant="backup",
                provider="simulated",
                model="sim-fast",
                weight=0,
                options={"error_rate": 0.0},
            ),
        ],
    )
    response = await ask(stack, "resilient")
    assert response.status_code == 200, response.text
    assert response.headers["x-interlock-variant"] == "backup"
    rows = {row.arm: row for row in outcomes_for_request(stack.engine, response.json()["id"])}
    assert set(rows) == {"primary", "fallback-1"}
    assert (rows["primary"].variant, rows["primary"].status, rows["primary"].error_class) == (
        "flaky",
        "error",
        "ProviderUnavailable",
    )
    assert (rows["fallback-1"].variant, rows["fallback-1"].status) == ("backup", "ok")
    assert rows["fallback-1"].tokens_out > 0
    # Started labelled with the variant it tried first, the run ends labelled with the one that
    # answered; an ok request carries no status.
    described = await (await finished_workflow(stack.client, response.json()["id"])).describe()
    labels = described.typed_search_attributes
    assert (labels.get(PROVIDER), labels.get(MODEL), labels.get(STATUS)) == (
        "simulated",
        "sim-fast",
        None,
    )


async def test_context_window_overflow_moves_to_a_larger_model(stack) -> None:
    publish_route(
        stack.engine,
        "long-input",
        [
            RouteTarget(
                variant="small",
                provider="simulated",
                model="sim-fast",
                options={"context_window": 16, "error_rate": 0.0},
            ),
            RouteTarget(
                variant="large",
                provider="simulated",
                model="sim-smart",
                weight=0,
                options={"error_rate": 0.0},
            ),
        ],
    )
    response = await ask(stack, "long-input", "a fairly long question " * 20)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "simulated/sim-smart"
    rows = {row.arm: row for row in outcomes_for_request(stack.engine, response.json()["id"])}
    assert rows["primary"].error_class == "ContextWindowExceeded"
    # Not retryable: the small model was tried once, then the chain moved on.
    calls = await provider_calls(stack.client, response.json()["id"])
    assert [(c.sent["target"]["variant"], c.failed, c.attempts) for c in calls] == [
        ("small", True, 1),
        ("large", False, 1),
    ]


async def test_when_every_variant_fails_the_last_error_is_reported(stack) -> None:
    publish_route(
        stack.engine,
        "all-down",
        [
            RouteTarget(
                variant="one", provider="simulated", model="sim-flaky", options={"error_rate": 1.0}
            ),
            RouteTarget(
                variant="two",
                provider="simulated",
                model="sim-fast",
                weight=0,
                options={"error_rate": 1.0},
            ),
        ],
    )
    response = await ask(stack, "all-down")
    assert response.status_code == 502
    rows = {
        row.arm: row for row in outcomes_for_request(stack.engine, response.headers["x-request-id"])
    }
    assert {arm: row.status for arm, row in rows.items()} == {
        "primary": "error",
        "fallback-1": "error",
    }
    failed = await finished_workflow(stack.client, response.headers["x-request-id"])
    labels = (await failed.describe()).typed_search_attributes
    assert (labels.get(MODEL), labels.get(STATUS)) == ("sim-fast", "error")
    # The status is what a person searches the Web UI by.
    assert await listed(
        stack.client,
        'InterlockRoute = "all-down" AND InterlockStatus = "error"',
        response.headers["x-request-id"],
    )


@pytest.mark.parametrize("weight", [0.0])
def test_weight_zero_variants_take_no_traffic(weight: float) -> None:
    from workflows.selection import pick_target

    targets = [variant("main"), variant("spare", weight=weight)]
    assert {pick_target(targets, f"req-{i}").variant for i in range(500)} == {"main"}
