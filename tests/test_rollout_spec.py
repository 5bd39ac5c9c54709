"""The rollout spec: the minimal file is a sound canary, and bad files say what is wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.rollout import Candidate, RolloutSpec, RolloutSpecError, load_rollout_spec

MINIMAL = """\
route: support-bot
strategy: canary
candidate: {variant: smart, provider: simulated, model: sim-smart}
analysis: {interval: 30s}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_minimal_file_is_a_sound_canary(tmp_path: Path) -> None:
    spec = load_rollout_spec(write(tmp_path, MINIMAL))
    assert spec.route == "support-bot" and spec.candidate.model == "sim-smart"
    assert spec.baseline is None  # the route's live variant
    assert [s.weight for s in spec.steps or []] == [1, 5, 25, 50]
    assert all(s.min_requests > 0 and s.time_limit > timedelta(0) for s in spec.steps or [])
    assert spec.analysis.interval == timedelta(seconds=30)
    assert {m.name for m in spec.metrics} == {"error_rate", "p95_latency", "guardrail_block_rate"}
    assert all(m.direction == "lower_is_better" for m in spec.metrics)
    assert (spec.alpha, spec.on_inconclusive) == (0.05, "pause")
    assert spec.time_limit == timedelta(hours=24)


def test_a_spec_survives_its_json_round_trip(tmp_path: Path) -> None:
    """Workflow inputs travel as JSON, where durations are ISO 8601."""
    spec = load_rollout_spec(write(tmp_path, MINIMAL))
    assert RolloutSpec.model_validate_json(spec.model_dump_json()) == spec


def test_strategies_get_their_own_steps() -> None:
    candidate = {"variant": "smart", "provider": "simulated", "model": "sim-smart"}
    blue_green = RolloutSpec(route="r", candidate=candidate, strategy="blue-green", bake="15m")
    assert [s.weight for s in blue_green.steps or []] == [100]
    assert blue_green.bake == timedelta(minutes=15)
    long_bake = RolloutSpec(route="r", candidate=candidate, strategy="blue-green", bake="1h")
    assert long_bake.steps is not None and long_bake.steps[0].time_limit == timedelta(hours=2)
    assert RolloutSpec(route="r", candidate=candidate, strategy="shadow").steps is None
    quality = RolloutSpec(
        route="r", candidate=candidate, metrics=[{"name": "quality", "margin": 0.02}]
    )
    assert quality.metrics[0].direction == "higher_is_better"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("route: r\n", "candidate: Field required"),
        (MINIMAL + "analysis: {interval: soon}\n", "expected a duration"),
        (MINIMAL.replace("canary", "yolo"), "strategy"),
        (MINIMAL + "steps: [{weight: 25}, {weight: 5}]\n", "must rise"),
        (MINIMAL + "steps: [{weight: 150}]\n", "steps.0.weight"),
        (MINIMAL + "baseline: smart\n", "variant name of its own"),
        (MINIMAL.replace("canary", "shadow") + "steps: [{weight: 5}]\n", "takes no steps"),
        (MINIMAL.replace("canary", "shadow") + "shadow: null\n", "needs its shadow settings"),
        (
            MINIMAL.replace("canary", "blue-green")
            + "bake: 1h\nsteps: [{weight: 100, time_limit: 30m}]\n",
            "at least the bake",
        ),
        (
            MINIMAL + "metrics: [{name: error_rate, margin: 0}, {name: error_rate, margin: 0}]\n",
            "once",
        ),
        (MINIMAL + "colour: blue\n", "colour: Extra inputs"),
        ("route: [unclosed\n", "not valid YAML"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_a_bad_file_says_what_is_wrong(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(RolloutSpecError, match=r"rollout\.yaml") as raised:
        load_rollout_spec(write(tmp_path, text))
    assert complaint in str(raised.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RolloutSpecError, match="cannot read it"):
        load_rollout_spec(tmp_path / "absent.yaml")


def test_a_rollout_input_from_before_system_prompts_still_decodes() -> None:
    """Running rollouts' histories carry `prompt_template: null` in their candidate."""
    old = {"variant": "smart", "provider": "simulated", "model": "sim-smart"}
    assert Candidate.model_validate({**old, "prompt_template": None}) == Candidate(**old)
    with pytest.raises(ValidationError, match="prompt_template"):
        Candidate.model_validate({**old, "prompt_template": "Be kind."})
