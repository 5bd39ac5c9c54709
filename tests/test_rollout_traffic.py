"""How a rollout moves a route's traffic: the candidate shares the baseline's weight only."""

from __future__ import annotations

import pytest

from activities.rollout_traffic import TrafficError, with_candidate_share
from contracts.rollout import Candidate, TrafficChange
from contracts.routing import RouteTarget
from store.routes import RouteConfig

CANDIDATE = Candidate(variant="smart", provider="simulated", model="sim-smart")


def route(*targets: RouteTarget) -> RouteConfig:
    return RouteConfig(name="support", targets=list(targets))


def variant(name: str, weight: float) -> RouteTarget:
    return RouteTarget(variant=name, provider="simulated", model="sim-fast", weight=weight)


def change(share: float, baseline: str | None = None, promote: bool = False) -> TrafficChange:
    return TrafficChange(
        route="support", baseline=baseline, candidate=CANDIDATE, share=share, promote=promote
    )


def weights(config: RouteConfig) -> dict[str, float]:
    return {t.variant: round(t.weight, 9) for t in config.targets}


def test_a_step_splits_the_baseline_weight_and_leaves_the_others() -> None:
    live = route(variant("base", 3.0), variant("other", 1.0), variant("backup", 0.0))
    stepped, baseline = with_candidate_share(live, change(0.05, baseline="base"))
    assert baseline == "base"
    assert weights(stepped) == {"base": 2.85, "smart": 0.15, "other": 1.0, "backup": 0.0}


def test_the_next_step_reuses_the_pool_and_rollback_removes_the_candidate() -> None:
    live = route(variant("base", 1.0), variant("backup", 0.0))
    first, _ = with_candidate_share(live, change(0.05))
    second, _ = with_candidate_share(first, change(0.5))
    assert weights(second) == {"base": 0.5, "smart": 0.5, "backup": 0.0}
    assert [t.variant for t in second.targets] == ["base", "smart", "backup"]
    back, _ = with_candidate_share(second, change(0.0))
    assert weights(back) == {"base": 1.0, "backup": 0.0}  # not left behind as a fallback
    assert with_candidate_share(back, change(0.0))[0] == back  # taking back again changes nothing


def test_promotion_puts_the_candidate_in_the_baselines_place() -> None:
    live = route(variant("base", 1.0), variant("backup", 0.0))
    stepped, _ = with_candidate_share(live, change(0.5))
    promoted, _ = with_candidate_share(stepped, change(1.0, baseline="base", promote=True))
    assert weights(promoted) == {"smart": 1.0, "backup": 0.0}
    assert promoted.targets[0].model == "sim-smart"


def test_an_unclear_baseline_is_refused() -> None:
    two = route(variant("a", 1.0), variant("b", 1.0))
    with pytest.raises(TrafficError, match="name the baseline"):
        with_candidate_share(two, change(0.05))
    with pytest.raises(TrafficError, match="no variant named 'c'"):
        with_candidate_share(two, change(0.05, baseline="c"))
    assert weights(with_candidate_share(two, change(0.5, baseline="b"))[0]) == {
        "a": 1.0,
        "b": 0.5,
        "smart": 0.5,
    }


def test_a_prompt_change_rolls_out_as_a_variant_of_its_own() -> None:
    """Same provider and model, a new system prompt: the candidate carries it at every step and
    into the baseline's place."""
    prompt = Candidate(
        variant="kinder",
        provider="simulated",
        model="sim-fast",
        system_prompt="Answer kindly.",
    )
    live = route(variant("base", 1.0))
    stepped, _ = with_candidate_share(
        live, TrafficChange(route="support", baseline=None, candidate=prompt, share=0.25)
    )
    assert [(t.variant, t.model, t.system_prompt) for t in stepped.targets] == [
        ("base", "sim-fast", None),
        ("kinder", "sim-fast", "Answer kindly."),
    ]
    promoted, _ = with_candidate_share(
        stepped,
        TrafficChange(route="support", baseline="base", candidate=prompt, share=1, promote=True),
    )
    assert [(t.variant, t.system_prompt, t.weight) for t in promoted.targets] == [
        ("kinder", "Answer kindly.", 1.0)
    ]
