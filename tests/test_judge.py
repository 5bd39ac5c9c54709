"""`interlock stats judge`: the JSON Lines contract through the real command, error lines,
agreement of the two entry points, independence of batching, and a throughput smoke test."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom

from experiments.judge import LineError, judge, judge_json_lines, parse_line

REPO = Path(__file__).resolve().parents[1]
REQUIRED_KEYS = {"id", "decision", "p_value", "ci", "method"}
DECISIONS = {"pass", "fail", "continue"}

EXAMPLE = (
    '{"id": "r1", "metric": "error_rate", "kind": "proportion", "direction": "lower_is_better", '
    '"alpha": 0.05, "margin": 0.0, "baseline": {"n": 2000, "events": 21}, '
    '"candidate": {"n": 100, "events": 2}}'
)


def proportion_line(
    identifier: str, baseline: tuple[int, int], candidate: tuple[int, int], **extra: Any
) -> str:
    return json.dumps(
        {
            "id": identifier,
            "metric": "error_rate",
            "kind": "proportion",
            "baseline": {"n": baseline[0], "events": baseline[1]},
            "candidate": {"n": candidate[0], "events": candidate[1]},
            **extra,
        }
    )


def mean_arm(mean: float, sd: float, n: int) -> dict[str, float]:
    """n values with this mean and sample sd, as sufficient statistics."""
    return {"n": n, "sum": mean * n, "sum_sq": (n - 1) * sd * sd + n * mean * mean}


def mean_line(
    identifier: str, baseline: dict[str, float], candidate: dict[str, float], **extra: Any
) -> str:
    return json.dumps(
        {
            "id": identifier,
            "metric": "latency_ms",
            "kind": "mean",
            "baseline": baseline,
            "candidate": candidate,
            **extra,
        }
    )


def run_command(lines: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    """The real command in a subprocess; stdin is written and closed."""
    completed = subprocess.run(
        [sys.executable, "-m", "cli", "stats", "judge"],
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    stdout = completed.stdout.decode()
    return (
        completed.returncode,
        [json.loads(line) for line in stdout.splitlines()],
        completed.stderr.decode(),
    )


def assert_decision_contract(output: dict[str, Any]) -> None:
    assert output.keys() >= REQUIRED_KEYS, output
    assert "error" not in output
    assert output["decision"] in DECISIONS
    assert isinstance(output["p_value"], float)
    assert 0.0 <= output["p_value"] <= 1.0
    ci = output["ci"]
    assert ci is None or (isinstance(ci, list) and len(ci) == 2), ci
    if ci is not None:
        assert all(v is None or (isinstance(v, float | int) and math.isfinite(v)) for v in ci)
        if None not in ci:
            assert ci[0] <= ci[1]
    assert isinstance(output["method"], str) and output["method"]


def same_output(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal keys, equal strings, floats equal to 1e-12 relative."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, float) and isinstance(other, float):
            if value != pytest.approx(other, rel=1e-12, abs=1e-300):
                return False
        elif isinstance(value, list) and isinstance(other, list):
            if len(value) != len(other) or not all(
                x == y or (x is not None and y is not None and x == pytest.approx(y, rel=1e-12))
                for x, y in zip(value, other, strict=True)
            ):
                return False
        elif value != other:
            return False
    return True


# --- the contract through the command ------------------------------------------------------------

HAPPY_LINES = [
    EXAMPLE,  # 0: the example
    proportion_line("w", (19_000, 190), (1000, 60)),  # 1: 6% vs 1%: clearly worse
    proportion_line("r1", (4000, 40), (200, 3)),  # 2: r1's second look
    proportion_line("b", (19_000, 950), (1000, 5), margin=0.0),  # 3: 0.5% vs 5%: clearly better
    mean_line("m", mean_arm(300.0, 50.0, 1900), mean_arm(300.0, 50.0, 100)),  # 4: the same
    mean_line("ms", mean_arm(300.0, 50.0, 1900), mean_arm(400.0, 50.0, 100)),  # 5: slower
    proportion_line("w", (1_900_000, 19_000), (100_100, 60)),  # 6: w's reassuring second look
    mean_line(  # 7: a quality score, higher is better, non-inferior within 0.02
        "q",
        mean_arm(0.80, 0.1, 1900),
        mean_arm(0.85, 0.1, 100),
        direction="higher_is_better",
        margin=0.02,
    ),
]


@pytest.fixture(scope="module")
def happy() -> tuple[int, list[dict[str, Any]], str]:
    return run_command(HAPPY_LINES)


def test_command_writes_one_decision_per_line_in_order(
    happy: tuple[int, list[dict[str, Any]], str],
) -> None:
    code, outputs, stderr = happy
    assert code == 0, stderr
    assert len(outputs) == len(HAPPY_LINES)
    for line, output in zip(HAPPY_LINES, outputs, strict=True):
        assert output["id"] == json.loads(line)["id"]
        assert_decision_contract(output)


def test_command_decisions(happy: tuple[int, list[dict[str, Any]], str]) -> None:
    _, outputs, _ = happy
    decisions = [output["decision"] for output in outputs]
    assert decisions == ["continue", "fail", "continue", "pass", "continue", "fail", "fail", "pass"]
    assert outputs[1]["p_value"] <= 0.05  # fail: the p-value of the 'not worse' test
    assert outputs[3]["p_value"] <= 0.05  # pass: the p-value of the 'worse' test
    assert outputs[0]["p_value"] > 0.05
    # The example: a two-sided interval around the estimate 0.0095.
    assert outputs[0]["ci"][0] < 0.0095 < outputs[0]["ci"][1]


def test_command_successive_looks_of_one_id(happy: tuple[int, list[dict[str, Any]], str]) -> None:
    _, outputs, _ = happy
    first, second = outputs[0], outputs[2]
    assert (first["baseline_n"], first["candidate_n"]) == (2000, 100)
    assert (second["baseline_n"], second["candidate_n"]) == (4000, 200)
    assert second["estimate"] == pytest.approx(3 / 200 - 40 / 4000)
    # The second look carries the first one's evidence: its interval is narrower.
    assert second["ci"][1] - second["ci"][0] < first["ci"][1] - first["ci"][0]
    # w failed at its first look and stays failed although its later counts are reassuring.
    assert outputs[6]["decision"] == "fail"
    assert outputs[6]["p_value"] == outputs[1]["p_value"]


def test_command_methods_name_the_test(happy: tuple[int, list[dict[str, Any]], str]) -> None:
    _, outputs, _ = happy
    assert "rate ratio" in outputs[0]["method"]
    assert "mean" in outputs[4]["method"]
    assert outputs[0]["method"] != outputs[4]["method"]
    assert outputs[5]["estimate"] == pytest.approx(100.0)


ERROR_LINES = [
    proportion_line("a", (1900, 19), (100, 2)),  # 0: fine
    "this is not JSON",  # 1
    json.dumps(
        {"id": "mf", "kind": "proportion", "baseline": {"n": 10, "events": 1}, "candidate": {}}
    ),  # 2: missing candidate.n
    proportion_line("en", (1900, 19), (10, 11)),  # 3: events > n
    json.dumps(
        {"id": "uk", "kind": "median", "baseline": {"n": 1}, "candidate": {"n": 1}}
    ),  # 4: unknown kind
    proportion_line("neg", (-5, 0), (100, 2)),  # 5: negative n
    proportion_line("a", (3800, 38), (200, 12)),  # 6: a's second look, fine
    proportion_line("a", (5700, 57), (150, 12)),  # 7: candidate n went backwards
    proportion_line("a", (5700, 57), (300, 14), alpha=0.01),  # 8: alpha changed
    proportion_line("a", (5700, 57), (300, 14)),  # 9: a's third look, fine
    mean_line("m", mean_arm(300.0, 50.0, 1900), mean_arm(330.0, 50.0, 100)),  # 10: fine
]
ERROR_MESSAGES = {
    1: ["not JSON"],
    2: ["candidate", "missing", "n"],
    3: ["events", "exceed"],
    4: ["kind", "median"],
    5: ["baseline.n", "non-negative"],
    7: ["backwards"],
    8: ["alpha"],
}


@pytest.fixture(scope="module")
def with_errors() -> tuple[int, list[dict[str, Any]], str]:
    return run_command(ERROR_LINES)


def test_command_reports_each_bad_line(
    with_errors: tuple[int, list[dict[str, Any]], str],
) -> None:
    code, outputs, _ = with_errors
    assert code == 1
    assert len(outputs) == len(ERROR_LINES)
    for index, words in ERROR_MESSAGES.items():
        output = outputs[index]
        assert set(output) == {"id", "error"}, output
        for word in words:
            assert word in output["error"], (index, output)
    # Error lines keep the id they were given, when there was one.
    assert outputs[1]["id"] is None
    for index in (2, 3, 4, 5, 7, 8):
        assert outputs[index]["id"] == json.loads(ERROR_LINES[index])["id"]


def test_command_still_judges_the_good_lines(
    with_errors: tuple[int, list[dict[str, Any]], str],
) -> None:
    _, outputs, _ = with_errors
    good = [0, 6, 9, 10]
    alone, errors = judge_json_lines([ERROR_LINES[i] for i in good])
    assert errors == 0
    for index, expected in zip(good, alone, strict=True):
        assert_decision_contract(outputs[index])
        assert same_output(outputs[index], json.loads(expected))
    # a's third look continues from its second (the bad looks left no trace): 14 of 300.
    assert outputs[9]["candidate_n"] == 300
    assert outputs[9]["estimate"] == pytest.approx(14 / 300 - 57 / 5700)
    assert outputs[6]["decision"] == outputs[9]["decision"] == "fail"


def test_command_with_empty_input() -> None:
    assert run_command([]) == (0, [], "")
    code, outputs, _ = run_command(["", "   "])
    assert (code, outputs) == (0, [])


# --- the library entry points ------------------------------------------------------------------


def test_parse_line_reads_the_example() -> None:
    parsed = parse_line(json.loads(EXAMPLE))
    assert parsed.id == "r1"
    assert parsed.kind == "proportion"
    assert parsed.values == (2000, 21, 100, 2)
    assert parsed.settings.alpha == 0.05
    assert parsed.settings.direction == "lower_is_better"
    for bad in (
        [],
        {"kind": "proportion"},
        {**json.loads(EXAMPLE), "alpha": 2},
        {**json.loads(EXAMPLE), "direction": "up"},
        {**json.loads(EXAMPLE), "margin": -1},
        {**json.loads(EXAMPLE), "baseline": {"n": 10.5, "events": 1}},
        {**json.loads(EXAMPLE), "candidate": {"n": True, "events": 1}},
    ):
        with pytest.raises(LineError):
            parse_line(bad)


def mixed_lines(seed: int, ids: int = 40, looks: int = 12) -> list[str]:
    """Many comparisons of both kinds, settings and effects, interleaved, with bad lines."""
    rng = np.random.default_rng(seed)
    per_id: list[list[str]] = []
    for number in range(ids):
        identifier = f"c{number}"
        extra: dict[str, Any] = {
            "alpha": [0.05, 0.01, 0.1][number % 3],
            "direction": ["lower_is_better", "higher_is_better"][number % 2],
        }
        if number % 4 == 0:
            extra["min_samples"] = 300
        lines = []
        if number % 2 == 0:
            extra["margin"] = [0.0, 0.005][number % 4 // 2]
            rate = [0.01, 0.01, 0.03, 0.002][number % 8 // 2]
            be = ce = 0
            for look in range(1, looks + 1):
                be += int(rng.binomial(1900, 0.01))
                ce += int(rng.binomial(100, rate))
                lines.append(
                    proportion_line(identifier, (1900 * look, be), (100 * look, ce), **extra)
                )
        else:
            extra["margin"] = [0.0, 10.0][number % 4 // 2]
            shift = [0.0, 40.0, -40.0][number % 3]
            sums = np.zeros(4)
            for look in range(1, looks + 1):
                b = rng.lognormal(math.log(300), 0.5, 190)
                c = rng.lognormal(math.log(300), 0.5, 10) + shift
                sums += [b.sum(), np.square(b).sum(), c.sum(), np.square(c).sum()]
                lines.append(
                    mean_line(
                        identifier,
                        {"n": 190 * look, "sum": sums[0], "sum_sq": sums[1]},
                        {"n": 10 * look, "sum": sums[2], "sum_sq": sums[3]},
                        **extra,
                    )
                )
        per_id.append(lines)
    # Bad lines of their own, and bad looks inside good comparisons.
    per_id.append(
        [
            proportion_line("bad-events", (100, 1), (10, 11)),
            json.dumps({"id": "bad-kind", "kind": "ratio", "baseline": {}, "candidate": {}}),
            json.dumps({"id": "bad-arm", "kind": "mean", "baseline": {"n": 3}, "candidate": 5}),
        ]
    )
    per_id[0].insert(5, proportion_line("c0", (0, 0), (0, 0), alpha=0.05, margin=0.0))
    per_id[1].insert(3, mean_line("c1", mean_arm(1.0, 1.0, 5), mean_arm(1.0, 1.0, 5), alpha=0.2))
    # Interleave, keeping each id's lines in order.
    out: list[str] = []
    cursors = [0] * len(per_id)
    while any(c < len(lines) for c, lines in zip(cursors, per_id, strict=True)):
        open_ids = [i for i, lines in enumerate(per_id) if cursors[i] < len(lines)]
        chosen = int(rng.choice(open_ids))
        out.append(per_id[chosen][cursors[chosen]])
        cursors[chosen] += 1
    return out


def test_judge_and_judge_json_lines_agree() -> None:
    lines = mixed_lines(seed=21)
    texts, errors = judge_json_lines(lines)
    from_text = [json.loads(text) for text in texts]
    from_objects = judge([json.loads(line) for line in lines])
    assert len(from_text) == len(from_objects) == len(lines)
    assert errors == sum("error" in output for output in from_objects) == 5
    for line, a, b in zip(lines, from_text, from_objects, strict=True):
        if "error" in a:
            # The error text and the echoed id agree.
            assert set(a) == set(b) == {"id", "error"}
            assert a["error"] == b["error"]
        else:
            assert a["id"] == json.loads(line)["id"]  # in input order
            assert a == b
            assert_decision_contract(a)
    # The comparisons did reach every kind of decision.
    assert {a["decision"] for a in from_text if "decision" in a} == DECISIONS


def test_judge_error_lines_keep_their_id() -> None:
    lines = [proportion_line("a", (100, 1), (10, 11))]
    assert judge([json.loads(line) for line in lines]) == [
        json.loads(text) for text in judge_json_lines(lines)[0]
    ]


def test_batching_does_not_change_answers() -> None:
    lines = mixed_lines(seed=22)
    together = [json.loads(text) for text in judge_json_lines(lines)[0]]
    by_id: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        by_id.setdefault(json.loads(line)["id"], []).append(index)
    assert len(by_id) > 40
    for indices in by_id.values():
        alone = [json.loads(text) for text in judge_json_lines([lines[i] for i in indices])[0]]
        for index, output in zip(indices, alone, strict=True):
            assert same_output(together[index], output), (index, together[index], output)


def test_throughput_smoke_20000_lines() -> None:
    rng = np.random.default_rng(23)
    ids, looks = 200, 100
    # ids 0-99: equal error rates; 100-149: error rate tripled; 150-174: equal latency;
    # 175-199: latency up 20%.
    events = np.zeros((ids, 2), dtype=np.int64)
    sums = np.zeros((ids, 4))
    lines = []
    for look in range(1, looks + 1):
        events[:, 0] += rng.binomial(1900, 0.01, ids)
        events[:, 1] += rng.binomial(100, np.where(np.arange(ids) < 100, 0.01, 0.03))
        baseline = rng.lognormal(math.log(300), 0.5, (50, 190))
        candidate = rng.lognormal(math.log(300), 0.5, (50, 10))
        candidate[25:] *= 1.2
        sums[150:] += np.column_stack(
            [
                baseline.sum(1),
                np.square(baseline).sum(1),
                candidate.sum(1),
                np.square(candidate).sum(1),
            ]
        )
        for number in range(ids):
            if number < 150:
                lines.append(
                    proportion_line(
                        f"p{number}",
                        (1900 * look, int(events[number, 0])),
                        (100 * look, int(events[number, 1])),
                    )
                )
            else:
                s = sums[number].tolist()
                lines.append(
                    mean_line(
                        f"m{number}",
                        {"n": 190 * look, "sum": s[0], "sum_sq": s[1]},
                        {"n": 10 * look, "sum": s[2], "sum_sq": s[3]},
                        min_samples=100,
                    )
                )
    assert len(lines) == 20_000
    texts, errors = judge_json_lines(lines)
    assert errors == 0
    assert len(texts) == 20_000
    outputs = [json.loads(text) for text in texts]
    assert [o["id"] for o in outputs] == [json.loads(line)["id"] for line in lines]
    final: dict[str, str] = {}
    for output in outputs:
        previous = final.get(output["id"], "continue")
        # Decisions are final, look after look.
        assert previous == "continue" or output["decision"] == previous
        final[output["id"]] = output["decision"]
    tripled = [final[f"p{n}"] for n in range(100, 150)]
    slower = [final[f"m{n}"] for n in range(175, 200)]
    assert tripled.count("fail") == 50
    assert slower.count("fail") == 25
    # Equal arms: at most what alpha allows (with a 99% binomial tolerance).
    equal = [final[f"p{n}"] for n in range(100)] + [final[f"m{n}"] for n in range(150, 175)]
    assert equal.count("fail") <= binom.ppf(0.99, len(equal), 0.05)


# --- bugs found while writing these tests --------------------------------------------------------


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize(
    "bad",
    [
        '{"id": "x", "kind": "proportion", "baseline": {"n": Infinity, "events": 1}, '
        '"candidate": {"n": 100, "events": 2}}',
        '{"id": "x", "kind": "mean", "baseline": {"n": Infinity, "sum": 1, "sum_sq": 1}, '
        '"candidate": {"n": 100, "sum": 2, "sum_sq": 4}}',
        '{"id": "x", "kind": "proportion", "baseline": {"n": 1e300, "events": 1}, '
        '"candidate": {"n": 100, "events": 2}}',
        '{"id": "x", "kind": "proportion", "baseline": {"n": 10000000000000000000, "events": 1}, '
        '"candidate": {"n": 100, "events": 2}}',
    ],
)
def test_huge_counts_get_an_error_line(bad: str) -> None:
    texts, errors = judge_json_lines([EXAMPLE, bad])
    assert errors == 1
    assert json.loads(texts[0])["decision"] == "continue"
    assert "error" in json.loads(texts[1])


def test_lines_that_are_not_json_are_never_judged() -> None:
    lines = [
        '{"id": "a", "kind": "proportion", "baseline": {"n": 2000, "events": 21}',
        '"candidate": {"n": 100, "events": 2}}',
        proportion_line("b", (2000, 21), (100, 2))
        + ", "
        + proportion_line("c", (2000, 21), (100, 2)),
    ]
    texts, errors = judge_json_lines(lines)
    assert errors == 3
    assert all("error" in json.loads(text) for text in texts)
