"""`interlock rollout report`: one HTML file that shows how a rollout was decided.

For every step, a plot per metric of both arms look by look, each with its 95% interval (Wilson
for rates, normal for means, the order-statistic interval for p95), with the looks where a
decision was taken marked; then every decision with its reason. The figures come from the looks'
stored totals (store/rollout_records.py), the same ones the judge saw. Display intervals are
fixed-horizon, per look: the decisions used the anytime-valid tests (docs/rollouts.md).
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from activities.rollout_analysis import statistic_of
from experiments.fixed_horizon import wilson_interval
from experiments.statistics import Mean, Proportion
from store.rollout_records import decisions_of, looks_of_step, steps_with_looks

Z = 1.959964
METRICS = {
    "error_rate": "error rate",
    "guardrail_block_rate": "guardrail block rate",
    "p95_latency": "p95 latency (ms)",
    "cost_per_request": "cost per request (USD)",
    "quality": "quality score",
    "feedback": "feedback (share of thumbs up, or mean score)",
    "json_valid_rate": "valid JSON answers",
    "tool_call_valid_rate": "valid tool calls",
    "refusal_rate": "refusals",
    "answer_length": "answer length (characters)",
}


def point_and_interval(arm: dict[str, Any], metric: str) -> tuple[float, float, float] | None:
    """The arm's value of `metric` at one look with a 95% interval; None without data."""
    statistic = statistic_of(arm, metric)
    if isinstance(statistic, Proportion):
        if statistic.n == 0:
            return None
        return (statistic.rate, *wilson_interval(statistic))
    if isinstance(statistic, Mean):
        if statistic.n < 2:
            return None
        spread = Z * math.sqrt(statistic.variance / statistic.n)
        return statistic.mean, statistic.mean - spread, statistic.mean + spread
    n = statistic.n
    if n < 20:
        return None
    # The order statistics that bracket the p95 with 95% confidence, read as quantiles.
    half = Z * math.sqrt(0.95 * 0.05 / n)
    return (
        statistic.quantile(0.95),
        statistic.quantile(max(0.0, 0.95 - half)),
        statistic.quantile(min(1.0, 0.95 + half)),
    )


def plot_looks(
    looks: list[dict[str, Any]],
    arms: list[str],
    metric: str,
    decided_at: list[float],
    xs: list[float] | None = None,
    xlabel: str = "look",
) -> str | None:
    """A PNG of each arm across the looks (at `xs`, by default the look numbers), as a data URI;
    None when no look has data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = xs or list(range(1, len(looks) + 1))
    figure, axes = plt.subplots(figsize=(6.4, 3.2))
    plotted = False
    for index, arm in enumerate(arms):
        colour = f"C{index}"
        points = [
            (x, value)
            for x, look in zip(positions, looks, strict=True)
            if arm in look and (value := point_and_interval(look[arm], metric)) is not None
        ]
        if not points:
            continue
        plotted = True
        xs = [x for x, _ in points]
        axes.plot(xs, [v[0] for _, v in points], marker="o", color=colour, label=arm)
        axes.fill_between(
            xs, [v[1] for _, v in points], [v[2] for _, v in points], color=colour, alpha=0.2
        )
    if not plotted:
        plt.close(figure)
        return None
    for look in decided_at:
        axes.axvline(look, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(METRICS[metric])
    axes.legend(loc="best")
    return png(figure)


def png(figure: Any) -> str:
    """The figure as a PNG data URI; the figure is closed."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def render(engine: Engine, state: dict[str, Any]) -> str:
    record_id = state.get("record_id") or state["id"]
    decisions = decisions_of(engine, record_id)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(state['id'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{padding:.2em .6em;text-align:left}</style>",
        f"<h1>{html.escape(state['id'])}: {html.escape(state['status'])}</h1>",
        f"<p>Route <b>{html.escape(state['route'])}</b>, stage {html.escape(state['stage'])}; "
        f"weights {html.escape(', '.join(f'{k} {v:g}' for k, v in state['weights'].items()))}.",
        "<h2>Decisions</h2><table><tr><th>step</th><th>look</th><th>stage</th><th>action</th>"
        "<th>reason</th></tr>",
        *(
            f"<tr><td>{d.step + 1}</td><td>{d.look}</td><td>{html.escape(d.stage)}</td>"
            f"<td>{html.escape(d.action)}</td><td>{html.escape(d.reason)}</td></tr>"
            for d in decisions
        ),
        "</table>",
    ]
    for step in steps_with_looks(engine, record_id):
        looks = looks_of_step(engine, record_id, step)
        decided_at: list[float] = [d.look for d in decisions if d.step == step and d.look]
        parts.append(f"<h2>Step {step + 1}: {len(looks)} looks</h2>")
        for metric in METRICS:
            image = plot_looks(looks, ["baseline", "candidate"], metric, decided_at)
            if image is not None:
                parts.append(f"<h3>{METRICS[metric]}</h3><img alt='{metric}' src='{image}'>")
    return "\n".join(parts) + "\n"


def write_report(engine: Engine, state: dict[str, Any], path: Path) -> Path:
    path.write_text(render(engine, state), encoding="utf-8")
    return path
