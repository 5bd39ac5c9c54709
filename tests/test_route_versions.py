"""Route versions on real SQLite and PostgreSQL: concurrent publishers, policies versioned too."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from contracts.guardrails import DirectionPolicy, GuardrailPolicy
from contracts.routing import RouteTarget
from store import create_store_engine
from store.guardrails import route_policy, set_route_policy
from store.routes import (
    RouteConfig,
    config_at,
    live_config,
    live_targets,
    publish_route,
    publish_routes,
)

PUBLISHERS = 6
ROUNDS = 4


def run_together(workers: list[Callable[[], None]], timeout: float = 60) -> None:
    """Start every worker at once (a barrier) and fail on any error or hang."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def start(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=10)
            work()
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a publisher hung"
    assert errors == []


def variant_set(publisher: int, round_: int) -> list[RouteTarget]:
    """A set no other publisher or round uses: its variant names say who published it."""
    return [
        RouteTarget(variant=f"p{publisher}-r{round_}-{i}", provider="simulated", model="sim-fast")
        for i in range(2)
    ]


def versions(engine: Engine, route: str) -> dict[int, set[str]]:
    """version -> the variant names it holds, straight from the table."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT version, variant FROM route_variants WHERE route_name = :r"), {"r": route}
        ).all()
    held: dict[int, set[str]] = {}
    for version, variant in rows:
        held.setdefault(version, set()).add(variant)
    return held


def test_concurrent_publishers_each_get_a_version_of_their_own(store_url: str, engine) -> None:
    """Regression: publishers that read the same latest version wrote into one version together.

    Every publisher has its own engine (its own connections), as separate processes would.
    """
    first = [RouteTarget(variant="first", provider="simulated", model="sim-fast")]
    publish_route(engine, "contended", first)
    engines = [create_store_engine(store_url) for _ in range(PUBLISHERS)]
    published: list[set[str]] = [{"first"}]
    try:
        for round_ in range(ROUNDS):

            def publish(publisher: int, round_: int = round_) -> None:
                targets = variant_set(publisher, round_)
                publish_route(engines[publisher], "contended", targets)
                published.append({t.variant for t in targets})

            run_together([lambda p=p: publish(p) for p in range(PUBLISHERS)])
    finally:
        for other in engines:
            other.dispose()

    held = versions(engine, "contended")
    last = 1 + PUBLISHERS * ROUNDS
    assert sorted(held) == list(range(1, last + 1)), "versions are consecutive"
    # Each version holds exactly one publisher's set, and each set is in exactly one version.
    assert sorted(map(sorted, held.values())) == sorted(map(sorted, published))
    found = live_config(engine, "contended")
    assert found is not None and found[0] == last
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT version FROM route_versions WHERE route_name = 'contended'")
        ).scalars()
        assert sorted(rows) == sorted(held)


def test_concurrent_creation_of_a_new_route(store_url: str, engine) -> None:
    """Publishers racing to create the same route: one creates it, the others add versions."""
    engines = [create_store_engine(store_url) for _ in range(PUBLISHERS)]
    try:
        run_together(
            [
                lambda p=p: publish_route(engines[p], "fresh", variant_set(p, 0))
                for p in range(PUBLISHERS)
            ]
        )
    finally:
        for other in engines:
            other.dispose()
    held = versions(engine, "fresh")
    assert sorted(held) == list(range(1, PUBLISHERS + 1))
    assert sorted(map(sorted, held.values())) == sorted(
        sorted(t.variant for t in variant_set(p, 0)) for p in range(PUBLISHERS)
    )


def test_concurrent_policy_and_variant_changes_lose_nothing(store_url: str, engine) -> None:
    """A policy change and a variant change at once: the live version has both."""
    publish_route(engine, "mixed", variant_set(0, 0))
    policy = GuardrailPolicy(input=DirectionPolicy(actions={"EMAIL_ADDRESS": "block"}))
    first, second = create_store_engine(store_url), create_store_engine(store_url)
    try:
        run_together(
            [
                lambda: set_route_policy(first, "mixed", policy),
                lambda: publish_route(second, "mixed", variant_set(1, 0)),
            ]
        )
    finally:
        first.dispose()
        second.dispose()
    found = live_config(engine, "mixed")
    assert found is not None
    version, config = found
    assert version == 3
    assert config.guardrails == policy
    assert config.targets == variant_set(1, 0)


# --- the guardrail policy is part of the version ---


def targets() -> list[RouteTarget]:
    return [RouteTarget(variant="baseline", provider="simulated", model="sim-fast")]


BLOCK_EMAIL = GuardrailPolicy(input=DirectionPolicy(actions={"EMAIL_ADDRESS": "block"}))


def test_a_policy_change_alone_is_a_new_version_and_the_old_one_is_kept(engine) -> None:
    assert publish_route(engine, "chat", targets()) == 1
    assert route_policy(engine, "chat") == GuardrailPolicy()
    assert set_route_policy(engine, "chat", BLOCK_EMAIL) == 2
    assert route_policy(engine, "chat") == BLOCK_EMAIL
    assert live_targets(engine, "chat") == (2, targets())
    # The same policy again changes nothing.
    assert set_route_policy(engine, "chat", BLOCK_EMAIL) == 2
    old = config_at(engine, "chat", 1)
    assert old is not None and old.guardrails == GuardrailPolicy()
    assert config_at(engine, "chat", 3) is None


def test_publishing_variants_keeps_the_live_policy(engine) -> None:
    publish_route(engine, "chat", targets(), description="main")
    set_route_policy(engine, "chat", BLOCK_EMAIL)
    changed = [targets()[0].model_copy(update={"weight": 2.0})]
    assert publish_route(engine, "chat", changed) == 3
    found = live_config(engine, "chat")
    assert found is not None
    assert found[1] == RouteConfig(
        name="chat", description="main", targets=changed, guardrails=BLOCK_EMAIL
    )


def test_policy_of_an_unknown_route(engine) -> None:
    assert route_policy(engine, "nowhere") is None
    with pytest.raises(ValueError, match="no route named 'nowhere'"):
        set_route_policy(engine, "nowhere", BLOCK_EMAIL)


def test_publish_routes_is_all_or_nothing(engine) -> None:
    publish_route(engine, "kept", targets())
    good = RouteConfig(name="kept", targets=[targets()[0].model_copy(update={"weight": 3.0})])
    # The second config breaks a rule only the store checks here (two arms with one name).
    bad = RouteConfig(name="other", targets=targets() + targets())
    with pytest.raises(ValueError, match="unique"):
        publish_routes(engine, [good, bad])
    assert live_targets(engine, "kept") == (1, targets())
    assert live_config(engine, "other") is None


def test_publish_routes_reports_each_route_in_order(engine) -> None:
    publish_route(engine, "b", targets())
    publish_route(engine, "c", targets())
    results = publish_routes(
        engine,
        [
            RouteConfig(name="c", targets=targets()),
            RouteConfig(name="a", targets=targets()),
            RouteConfig(name="b", targets=targets(), guardrails=BLOCK_EMAIL),
        ],
    )
    assert [(r.name, r.change, r.version) for r in results] == [
        ("c", "unchanged", 1),
        ("a", "created", 1),
        ("b", "new version", 2),
    ]
    assert [r.describe() for r in results] == [
        "unchanged (version 1)",
        "created (version 1)",
        "new version 2",
    ]
