"""The `stats judge` contract: JSON-like lines in, one decision per line out.

Each input line is one look at one comparison with cumulative counts; lines with the same id are
successive looks, in order. Comparisons are independent, so the k-th looks of all of them are
judged together as one batch: a file of many comparisons costs about as much per line as a file
of one. Bad lines get an error line of their own and leave their comparison's state untouched.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.sequential import (
    DECISIONS,
    LookBatch,
    MeanBatch,
    ProportionBatch,
    TestSettings,
)

KINDS = ("proportion", "mean")
# Counts are held as 64-bit integers and sums as doubles; 2**53 keeps both exact.
MAX_MAGNITUDE = float(2**53)


class LineError(ValueError):
    pass


@dataclass(frozen=True)
class ParsedLine:
    id: str
    kind: str
    settings: TestSettings
    values: tuple[float, ...]
    """Proportion: (bn, be, cn, ce); mean: (bn, bsum, bsumsq, cn, csum, csumsq)."""


def _number(arm: Mapping[str, Any], key: str, side: str, integer: bool) -> float:
    if key not in arm:
        raise LineError(f"{side} is missing '{key}'")
    value = arm[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LineError(f"{side}.{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise LineError(f"{side}.{key} must be finite")
    if abs(value) > MAX_MAGNITUDE:
        raise LineError(f"{side}.{key} is too large ({value:g}); the limit is {MAX_MAGNITUDE:g}")
    if integer and (value < 0 or value != int(value)):
        raise LineError(f"{side}.{key} must be a non-negative integer, got {value!r}")
    return float(value)


@functools.lru_cache(maxsize=1024)
def _cached_settings(alpha: Any, direction: Any, margin: Any, min_samples: Any) -> TestSettings:
    return TestSettings(
        alpha=float(alpha),
        direction=direction,
        margin=float(margin or 0.0),
        min_samples=int(min_samples),
    )


def _settings(alpha: Any, direction: Any, margin: Any, min_samples: Any) -> TestSettings:
    """Settings are shared objects: a file has few distinct ones and many lines."""
    try:
        return _cached_settings(alpha, direction, margin, min_samples)
    except (TypeError, ValueError) as exc:  # TypeError also covers unhashable values
        raise LineError(str(exc)) from None


def parse_line(line: Any) -> ParsedLine:
    if not isinstance(line, Mapping):
        raise LineError("each line must be a JSON object")
    identifier = line.get("id")
    if not isinstance(identifier, str | int) or isinstance(identifier, bool) or identifier == "":
        raise LineError("'id' must be a non-empty string")
    kind = line.get("kind")
    if kind not in KINDS:
        raise LineError(f"'kind' must be one of {list(KINDS)}, got {kind!r}")
    settings = _settings(
        line.get("alpha", 0.05),
        line.get("direction", "lower_is_better"),
        line.get("margin", 0.0),
        line.get("min_samples", 0),
    )
    values: list[float] = []
    for side in ("baseline", "candidate"):
        arm = line.get(side)
        if not isinstance(arm, Mapping):
            raise LineError(f"'{side}' must be an object")
        if kind == "proportion":
            n = _number(arm, "n", side, integer=True)
            events = _number(arm, "events", side, integer=True)
            if events > n:
                raise LineError(f"{side}.events ({events:g}) cannot exceed {side}.n ({n:g})")
            values += [n, events]
        else:
            n = _number(arm, "n", side, integer=True)
            values += [n, _number(arm, "sum", side, False), _number(arm, "sum_sq", side, False)]
            if values[-1] < 0:
                raise LineError(f"{side}.sum_sq cannot be negative")
    return ParsedLine(str(identifier), kind, settings, tuple(values))


_NUMBER_TYPES = (int, float)


def _parse_fast(line: Any) -> ParsedLine | None:
    """The common, well-formed line without per-field checks; None sends it to `parse_line`."""
    try:
        kind = line["kind"]
        identifier = line["id"]
        baseline = line["baseline"]
        candidate = line["candidate"]
        if kind == "proportion":
            values = (baseline["n"], baseline["events"], candidate["n"], candidate["events"])
        elif kind == "mean":
            values = (
                baseline["n"],
                baseline["sum"],
                baseline["sum_sq"],
                candidate["n"],
                candidate["sum"],
                candidate["sum_sq"],
            )
        else:
            return None
        settings = _cached_settings(
            line.get("alpha", 0.05),
            line.get("direction", "lower_is_better"),
            line.get("margin", 0.0),
            line.get("min_samples", 0),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if type(identifier) is not str or not identifier:
        return None
    for value in values:
        if type(value) not in _NUMBER_TYPES or not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return None  # also NaN and infinities, which fail the comparison
    if kind == "proportion":
        bn, be, cn, ce = values
        if (
            not (0 <= be <= bn and 0 <= ce <= cn)
            or bn != int(bn)
            or be != int(be)
            or (cn != int(cn) or ce != int(ce))
        ):
            return None
    elif not (values[0] >= 0 and values[3] >= 0 and values[2] >= 0 and values[5] >= 0) or (
        values[0] != int(values[0])
        or values[3] != int(values[3])
        or not all(math.isfinite(v) for v in values)
    ):
        return None
    return ParsedLine(identifier, kind, settings, values)  # type: ignore[arg-type]


def _parse(line: Any) -> ParsedLine | LineError:
    fast = _parse_fast(line)
    if fast is not None:
        return fast
    try:
        return parse_line(line)
    except LineError as exc:
        return exc


@dataclass
class _Judged:
    parsed: list[ParsedLine | LineError]
    looks: list[tuple[list[int], LookBatch]]
    """Batches of (input indices, their results)."""


def _judge(lines: Iterable[Any]) -> _Judged:
    parsed = [_parse(line) for line in lines]

    # Check each comparison's lines agree and never go backwards; number its looks.
    first_of: dict[str, ParsedLine] = {}
    last_counts: dict[str, tuple[float, ...]] = {}
    round_of = [-1] * len(parsed)
    looks_so_far: dict[str, int] = {}
    for index, item in enumerate(parsed):
        if isinstance(item, LineError):
            continue
        first = first_of.setdefault(item.id, item)
        if first.kind != item.kind or (
            first.settings is not item.settings and (first.settings != item.settings)
        ):
            parsed[index] = LineError(
                f"id {item.id!r} changed its kind, alpha, direction, margin or min_samples"
            )
            continue
        counts = _cumulative_fields_of(item.kind, item.values)
        previous = last_counts.get(item.id)
        if previous is not None and any(a < b for a, b in zip(counts, previous, strict=True)):
            parsed[index] = LineError(f"id {item.id!r}: cumulative counts went backwards")
            continue
        last_counts[item.id] = counts
        round_of[index] = looks_so_far.get(item.id, 0)
        looks_so_far[item.id] = round_of[index] + 1

    looks: list[tuple[list[int], LookBatch]] = []
    for kind, batch_type in (("proportion", ProportionBatch), ("mean", MeanBatch)):
        ids = [i for i, c in first_of.items() if c.kind == kind and i in looks_so_far]
        if not ids:
            continue
        row_of = {identifier: row for row, identifier in enumerate(ids)}
        batch = batch_type([first_of[i].settings for i in ids])
        by_round: dict[int, list[int]] = {}
        for index, item in enumerate(parsed):
            if round_of[index] >= 0 and item.kind == kind:  # type: ignore[union-attr]
                by_round.setdefault(round_of[index], []).append(index)
        for _, indices in sorted(by_round.items()):
            items: list[ParsedLine] = [parsed[i] for i in indices]  # type: ignore[misc]
            looked = batch.look(
                np.fromiter((row_of[item.id] for item in items), dtype=np.int64, count=len(items)),
                np.asarray([item.values for item in items], dtype=float),
            )
            looks.append((indices, looked))
    return _Judged(parsed, looks)


def judge(lines: Iterable[Any]) -> list[dict[str, Any]]:
    """One output dict per input line, in input order."""
    lines = list(lines)
    judged = _judge(lines)
    outputs: list[dict[str, Any]] = [{} for _ in judged.parsed]
    for indices, looked in judged.looks:
        for index, output in zip(indices, _outputs(judged.parsed, indices, looked), strict=True):
            outputs[index] = output
    for index, item in enumerate(judged.parsed):
        if isinstance(item, LineError):
            outputs[index] = {"id": _line_id(lines[index]), "error": str(item)}
    return outputs


def _line_id(line: Any) -> Any:
    """The id an error line echoes: the input's own, when it has a usable one."""
    identifier = line.get("id") if isinstance(line, Mapping) else None
    return (
        identifier
        if isinstance(identifier, str | int) and not isinstance(identifier, bool)
        else None
    )


def judge_json_lines(lines: Iterable[str]) -> tuple[list[str], int]:
    """The CLI's path: JSON text lines in, JSON text lines out, and how many were errors.

    Output lines are formatted directly rather than through json.dumps: at hundreds of thousands
    of lines, building and serializing a dict per line would cost more than the statistics.
    """
    raw: list[Any] = []
    for number, text in enumerate(lines, start=1):
        try:
            raw.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raw.append(LineError(f"line {number} is not JSON: {exc.msg}"))
    to_judge = [None if isinstance(item, LineError) else item for item in raw]
    judged = _judge(to_judge)
    out = [""] * len(raw)
    for indices, looked in judged.looks:
        method = json.dumps(looked.method)
        columns = _columns(indices, looked)
        for (
            index,
            decision,
            p_value,
            low,
            high,
            estimate,
            p_worse,
            p_noninferior,
            bn,
            cn,
        ) in columns:
            out[index] = (
                f'{{"id": {json.dumps(judged.parsed[index].id)}, '  # type: ignore[union-attr]
                f'"decision": "{DECISIONS[decision]}", "p_value": {p_value!r}, '
                f'"ci": [{_json_number(low)}, {_json_number(high)}], "method": {method}, '
                f'"estimate": {_json_number(estimate)}, "p_worse": {p_worse!r}, '
                f'"p_noninferior": {p_noninferior!r}, "baseline_n": {int(bn)}, '
                f'"candidate_n": {int(cn)}}}'
            )
    errors = 0
    for index, item in enumerate(judged.parsed):
        if isinstance(item, LineError):
            errors += 1
            source = raw[index]
            message = str(source) if isinstance(source, LineError) else str(item)
            out[index] = json.dumps({"id": _line_id(source), "error": message})
    return out, errors


def _columns(indices: list[int], looked: LookBatch) -> Iterator[tuple[Any, ...]]:
    """Per line: input index, decision code, p_value, ci_low, ci_high, estimate, p_worse,
    p_noninferior, baseline n, candidate n (plain Python numbers, read once per batch)."""
    return zip(
        indices,
        looked.decision.tolist(),
        looked.p_value.tolist(),
        looked.ci_low.tolist(),
        looked.ci_high.tolist(),
        looked.estimate.tolist(),
        looked.p_worse.tolist(),
        looked.p_noninferior.tolist(),
        looked.baseline_n.tolist(),
        looked.candidate_n.tolist(),
        strict=True,
    )


def _json_number(value: float) -> str:
    return repr(value) if math.isfinite(value) else "null"


def _cumulative_fields_of(kind: str, values: tuple[float, ...]) -> tuple[float, ...]:
    # Sums of a mean may fall (negative values); only counts must never go backwards.
    return values if kind == "proportion" else (values[0], values[3])


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _outputs(
    parsed: list[ParsedLine | LineError], indices: list[int], looked: LookBatch
) -> list[dict[str, Any]]:
    columns = _columns(indices, looked)
    return [
        {
            "id": parsed[index].id,  # type: ignore[union-attr]
            "decision": DECISIONS[decision],
            "p_value": p_value,
            "ci": [_finite_or_none(low), _finite_or_none(high)],
            "method": looked.method,
            "estimate": _finite_or_none(estimate),
            "p_worse": p_worse,
            "p_noninferior": p_noninferior,
            "baseline_n": int(bn),
            "candidate_n": int(cn),
        }
        for index, decision, p_value, low, high, estimate, p_worse, p_noninferior, bn, cn in columns
    ]
