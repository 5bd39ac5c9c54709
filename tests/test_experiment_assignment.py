"""Experiment specs, and assignment in the request path: sticky, balanced, recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from scipy.stats import chisquare

from activities.experiment_assignment import ExperimentAssigner, choose_arm
from activities.providers import ProviderRegistry
from activities.providers.simulated import SimulatedProvider
from contracts.experiment import (
    ExperimentFileError,
    ExperimentSpec,
    load_experiment_file,
)
from contracts.routing import ResolvedRoute, RouteTarget
from store.experiments import ExperimentBusy, ExperimentExists, create_experiment, end_experiment

SPEC = {
    "name": "tone",
    "route": "support",
    "arms": [
        {"variant": "control"},
        {"variant": "concise", "provider": "simulated", "model": "sim-smart"},
    ],
}
ROUTE = ResolvedRoute(
    route="support",
    version=3,
    targets=[
        RouteTarget(variant="control", provider="simulated", model="sim-fast", weight=1),
        RouteTarget(variant="backup", provider="simulated", model="sim-flaky", weight=0),
    ],
)
REGISTRY = ProviderRegistry([SimulatedProvider(seed=0, latency_scale=0.0)])


def spec(**changes: object) -> ExperimentSpec:
    return ExperimentSpec.model_validate({**SPEC, **changes})


def test_a_short_spec_gets_sound_defaults() -> None:
    tone = spec()
    assert tone.control_arm == "control" and tone.unit == "user"
    assert tone.primary.name == "quality" and tone.primary.margin == 0
    assert [m.name for m in tone.guardrails] == ["error_rate", "p95_latency"]
    assert tone.initial_weights() == {"control": 0.5, "concise": 0.5}
    weighted = spec(allocation={"weights": {"control": 3, "concise": 1}})
    assert weighted.initial_weights() == {"control": 0.75, "concise": 0.25}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Tone Test"}, "lower-case"),
        ({"unit": "cookie"}, "'user', 'request' or 'header:NAME'"),
        ({"arms": [{"variant": "a"}, {"variant": "a"}]}, "arm names must be unique"),
        ({"control": "nobody"}, "control 'nobody' is not one of the arms"),
        ({"allocation": {"weights": {"control": 1}}}, "positive weight for each of"),
        ({"primary": {"name": "quality", "margin": 0.1}}, "takes no margin"),
        ({"arms": [{"variant": "a", "provider": "simulated"}, {"variant": "b"}]}, "both provider"),
        ({"arms": [{"variant": "a", "system_prompt": "hi"}, {"variant": "b"}]}, "need a provider"),
        ({"allocation": {"kind": "thompson", "floor": 0.6}}, "cannot hold for 2 arms"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**changes)


def test_a_bad_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: tone\nroute: support\narms: [{variant: a}]\n")
    with pytest.raises(ExperimentFileError, match=r"bad.yaml: arms: .*at least 2"):
        load_experiment_file(path)
    with pytest.raises(ExperimentFileError, match="No such file"):
        load_experiment_file(tmp_path / "missing.yaml")


def test_assignment_is_sticky_and_balanced() -> None:
    tone = spec()
    weights = tone.initial_weights()
    first = [choose_arm(tone, weights, "acme", f"user-{i}") for i in range(10_000)]
    again = [choose_arm(tone, weights, "acme", f"user-{i}") for i in range(10_000)]
    assert first == again
    counts = [first.count("control"), first.count("concise")]
    assert chisquare(counts).pvalue > 0.001, counts
    # Uneven weights hold too, and arms without a share get nobody.
    three = spec(
        arms=[*SPEC["arms"], {"variant": "warm", "provider": "simulated", "model": "sim-fast"}],
        allocation={"weights": {"control": 5, "concise": 3, "warm": 2}},
    )
    split = [choose_arm(three, three.initial_weights(), "acme", f"u{i}") for i in range(10_000)]
    observed = [split.count(a) for a in ("control", "concise", "warm")]
    assert chisquare(observed, [5000, 3000, 2000]).pvalue > 0.001, observed
    stopped = {"control": 0.5, "concise": 0.0, "warm": 0.5}
    assert "concise" not in {choose_arm(three, stopped, "acme", f"u{i}") for i in range(2000)}


def test_another_salt_or_tenant_splits_units_independently() -> None:
    tone, other = spec(), spec(salt="other")
    weights = tone.initial_weights()
    units = [f"user-{i}" for i in range(4000)]
    same = sum(
        choose_arm(tone, weights, "acme", u) == choose_arm(other, weights, "acme", u) for u in units
    )
    assert 1800 < same < 2200  # about half agree: independent splits
    across = sum(
        choose_arm(tone, weights, "acme", u) == choose_arm(tone, weights, "globex", u)
        for u in units
    )
    assert 1800 < across < 2200


def test_a_request_goes_to_its_arm_with_the_route_behind_it(engine) -> None:
    create_experiment(engine, spec(), "alice")
    assigner = ExperimentAssigner(engine, REGISTRY)
    arms = {}
    for i in range(40):
        route, assignment = assigner.assign(ROUTE, "acme", f"req-{i}", f"user-{i}", None)
        assert assignment is not None and assignment.experiment == "tone"
        arms[assignment.arm] = route
        assert route.targets[0].variant == assignment.arm and route.targets[0].weight == 1
        assert route.reason == f"experiment tone: arm {assignment.arm}"
    assert set(arms) == {"control", "concise"}
    # The described arm is served as described; the route's other variants stay as fallbacks.
    concise = arms["concise"].targets
    assert [(t.variant, t.model, t.weight) for t in concise] == [
        ("concise", "sim-smart", 1.0),
        ("control", "sim-fast", 0.0),
        ("backup", "sim-flaky", 0.0),
    ]
    # No unit, an explicit model, or another route: outside the experiment.
    assert assigner.assign(ROUTE, "acme", "req-x", None, None) == (ROUTE, None)
    explicit = ResolvedRoute(route="simulated/sim-fast", targets=ROUTE.targets[:1])
    assert assigner.assign(explicit, "acme", "req-y", "user-1", None)[1] is None


def test_units_from_a_header_or_the_request(engine) -> None:
    create_experiment(engine, spec(unit="header:X-Account-Id"), "alice")
    assigner = ExperimentAssigner(engine, REGISTRY)
    assert assigner.unit_header("support") == "x-account-id"
    assert assigner.assign(ROUTE, "acme", "r1", "user-1", None)[1] is None
    by_header = assigner.assign(ROUTE, "acme", "r1", None, "ann@example.com")[1]
    assert by_header is not None
    assert by_header == assigner.assign(ROUTE, "acme", "r2", None, "ann@example.com")[1]
    # The unit kept on the rows: the same in every process of the installation (another
    # assigner on the same store), and not to be confirmed by hashing a guess with the salt.
    other_process = ExperimentAssigner(engine, REGISTRY)
    assert other_process.assign(ROUTE, "acme", "r3", None, "ann@example.com")[1] == by_header
    assert by_header.unit is not None and len(by_header.unit) == 32
    for guess in ("ann@example.com", "tone\x00acme\x00ann@example.com"):
        for prefix in ("", "unit\x00"):
            unkeyed = hashlib.sha256((prefix + guess).encode()).hexdigest()
            assert by_header.unit not in unkeyed


def test_one_running_experiment_per_route_and_names_are_never_reused(engine) -> None:
    create_experiment(engine, spec(), "alice")
    with pytest.raises(ExperimentBusy, match="already has a running experiment, 'tone'"):
        create_experiment(engine, spec(name="tone-2"), "bob")
    with pytest.raises(ExperimentExists):
        create_experiment(engine, spec(), "bob")
    assert end_experiment(engine, "tone", "stopped", "enough")
    assert not end_experiment(engine, "tone", "stopped", "again")  # once
    create_experiment(engine, spec(name="tone-2"), "bob")


def test_the_demo_experiments_are_valid_specs_on_demo_routes() -> None:
    from devstack.demo_experiments import DEMO_EXPERIMENTS
    from devstack.seed import DEMO_ROUTES_FILE
    from store.route_files import load_route_file

    routes = {config.name for config in load_route_file(DEMO_ROUTES_FILE)}
    assert DEMO_EXPERIMENTS
    for path in DEMO_EXPERIMENTS:
        demo = load_experiment_file(path)
        assert demo.route in routes and demo.judge is not None
