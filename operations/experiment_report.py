"""`interlock experiment report`: one HTML file that shows how an experiment went and was decided.

- Where it stands, and every arm's figures at the last look with 95% intervals (a table).
- Each metric of the spec (primary and guardrails) arm by arm across the evaluations, with their
  intervals, the evaluations that acted marked (plots). Display intervals are fixed-horizon, per
  look; the decisions used the anytime-valid tests (docs/experiments.md).
- The traffic shares over time: what a bandit did, or when arms were stopped.
- Breakdowns from the outcome rows, aggregated in SQL and shaped with pandas: per arm and hour,
  and per arm and tenant (requests, error rate, mean quality, refusals).
- Every decision with its reason.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from activities.experiment_evaluation import judge_summary
from operations.rollout_report import METRICS, plot_looks, png, point_and_interval
from store.experiments import ExperimentState, decisions_of, experiment, looks_of
from store.tables import Outcome

STYLE = (
    "<style>body{font-family:sans-serif;max-width:64em;margin:2em auto}"
    "td,th{padding:.2em .6em;text-align:left}table{border-collapse:collapse}"
    "tr:nth-child(even){background:#f4f4f4}</style>"
)


def breakdown(engine: Engine, name: str, by: str) -> pd.DataFrame:
    """Per arm and hour (`by` = "hour") or tenant (`by` = "tenant"), from the experiment's rows."""
    outcomes = Outcome.__table__.c  # type: ignore[attr-defined]
    if by == "hour":
        key = (
            func.strftime("%Y-%m-%d %H:00", outcomes.finished_at)
            if engine.dialect.name == "sqlite"
            else func.to_char(func.date_trunc("hour", outcomes.finished_at), "YYYY-MM-DD HH24:00")
        )
    else:
        key = outcomes.tenant_id
    query = (
        select(
            outcomes.experiment_arm.label("arm"),
            key.label(by),
            func.count().label("requests"),
            func.sum(case((outcomes.status == "error", 1), else_=0)).label("errors"),
            func.avg(outcomes.quality_score).label("quality"),
            func.sum(case((outcomes.refused.is_(True), 1), else_=0)).label("refusals"),
        )
        .where(outcomes.experiment == name, outcomes.arm == "primary")
        .group_by(outcomes.experiment_arm, key)
        .order_by(key, outcomes.experiment_arm)
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    if frame.empty:
        return frame
    frame["error rate"] = frame["errors"] / frame["requests"]
    frame["refusal rate"] = frame["refusals"] / frame["requests"]
    return frame[["arm", by, "requests", "error rate", "quality", "refusal rate"]]


def _shares_plot(state: ExperimentState, looks: list[Any]) -> str | None:
    if not looks:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a.variant for a in state.spec.arms]
    minutes = [(look.recorded_at - state.started_at).total_seconds() / 60 for look in looks]
    figure, axes = plt.subplots(figsize=(6.4, 2.8))
    for index, arm in enumerate(arms):
        axes.step(
            minutes,
            [look.weights.get(arm, 0.0) for look in looks],
            where="post",
            color=f"C{index}",
            label=arm,
        )
    axes.set_ylim(0, 1)
    axes.set_xlabel("minutes since the start")
    axes.set_ylabel("share of traffic")
    axes.legend(loc="best")
    return png(figure)


def _win_rate_plot(state: ExperimentState, looks: list[Any]) -> str | None:
    """Each challenger's judged win rate against the control over time, with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    control = state.spec.control_arm
    figure, axes = plt.subplots(figsize=(6.4, 3.0))
    plotted = False
    for index, arm in enumerate(a.variant for a in state.spec.arms):
        if arm == control:
            continue
        points = [
            ((look.recorded_at - state.started_at).total_seconds() / 60, summary)
            for look in looks
            if "judge" in look.statistics.get(arm, {})
            and "win_rate" in (summary := judge_summary(look.statistics[arm]["judge"]))
        ]
        if not points:
            continue
        plotted = True
        xs = [x for x, _ in points]
        axes.plot(xs, [p["win_rate"] for _, p in points], marker="o", color=f"C{index}", label=arm)
        axes.fill_between(
            xs,
            [p["ci"][0] for _, p in points],
            [p["ci"][1] for _, p in points],
            color=f"C{index}",
            alpha=0.2,
        )
    if not plotted:
        plt.close(figure)
        return None
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("minutes since the start")
    axes.set_ylabel(f"judged win rate against {control}")
    axes.legend(loc="best")
    return png(figure)


def _figures_table(state: ExperimentState, last: dict[str, Any], metrics: list[str]) -> str:
    rows = ["<table><tr><th>arm</th><th>share</th><th>requests</th>"]
    rows += [f"<th>{html.escape(METRICS[m])}</th>" for m in metrics]
    rows.append("</tr>")
    for arm in (a.variant for a in state.spec.arms):
        cells = []
        for metric in metrics:
            shown = point_and_interval(last[arm], metric) if arm in last else None
            cells.append(
                "<td>-</td>"
                if shown is None
                else f"<td>{shown[0]:.4g} <small>[{shown[1]:.3g}, {shown[2]:.3g}]</small></td>"
            )
        requests = last.get(arm, {}).get("requests", 0)
        share = state.weights.get(arm, 0.0)
        rows.append(
            f"<tr><td>{html.escape(arm)}</td><td>{share:.0%}</td><td>{requests}</td>"
            + "".join(cells)
            + "</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def render(engine: Engine, state: ExperimentState) -> str:
    spec = state.spec
    looks = looks_of(engine, spec.name)
    decisions = decisions_of(engine, spec.name)
    metrics = [spec.primary.name, *(m.name for m in spec.guardrails)]
    arms = [a.variant for a in spec.arms]
    title = html.escape(spec.name)
    outcome = state.status + (f", winner {state.winner}" if state.winner else "")
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{title}</title>",
        STYLE,
        f"<h1>{title}: {html.escape(outcome)}</h1>",
        f"<p>Route <b>{html.escape(spec.route)}</b>; control <b>{html.escape(spec.control_arm)}"
        f"</b>; unit {html.escape(spec.unit)}; allocation {spec.allocation.kind}; primary metric "
        f"{html.escape(spec.primary.name)}; alpha {spec.alpha:g}; started "
        f"{state.started_at:%Y-%m-%d %H:%M} UTC"
        + (f", ended {state.ended_at:%Y-%m-%d %H:%M} UTC" if state.ended_at else "")
        + "."
        + (f"<p>{html.escape(state.ended_reason)}" if state.ended_reason else ""),
    ]
    if not looks:
        parts.append("<p>Not evaluated yet.")
        return "\n".join(parts) + "\n"
    parts += [
        f"<h2>At the last of {len(looks)} evaluations</h2>",
        _figures_table(state, looks[-1].statistics, metrics),
    ]
    minutes = [(look.recorded_at - state.started_at).total_seconds() / 60 for look in looks]
    acted = {d.evaluation for d in decisions if d.action != "continue"}
    marks = [m for m, look in zip(minutes, looks, strict=True) if look.evaluation in acted]
    for metric in metrics:
        image = plot_looks(
            [look.statistics for look in looks],
            arms,
            metric,
            marks,
            xs=minutes,
            xlabel="minutes since the start",
        )
        if image is not None:
            parts.append(
                f"<h3>{html.escape(METRICS[metric])}</h3><img alt='{metric}' src='{image}'>"
            )
    wins = _win_rate_plot(state, looks)
    if wins is not None:
        parts.append(
            "<h3>Pairwise judge</h3><p>Each challenger's answers against the control's to the "
            "same requests, asked in both orders; ties left out.</p>"
            f"<img alt='win rate' src='{wins}'>"
        )
    shares = _shares_plot(state, looks)
    if shares is not None:
        parts.append(f"<h3>Traffic shares</h3><img alt='shares' src='{shares}'>")
    for by, heading in (("hour", "By hour"), ("tenant", "By tenant")):
        frame = breakdown(engine, spec.name, by)
        if not frame.empty:
            parts.append(f"<h2>{heading}</h2>")
            parts.append(frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
    parts += [
        "<h2>Decisions</h2><table><tr><th>when</th><th>action</th><th>reason</th></tr>",
        *(
            f"<tr><td>{d.decided_at:%Y-%m-%d %H:%M:%S}</td><td>{html.escape(d.action)}</td>"
            f"<td>{html.escape(d.reason)}</td></tr>"
            for d in decisions
        ),
        "</table>",
    ]
    return "\n".join(parts) + "\n"


def write_report(engine: Engine, name: str, path: Path) -> Path | None:
    """The report of experiment `name` written to `path`; None if there is no such experiment."""
    state = experiment(engine, name)
    if state is None:
        return None
    path.write_text(render(engine, state), encoding="utf-8")
    return path
