"""The pairwise judge: both orders asked, position bias cancelled, through the running stack with
the simulator's judge model; and the tally an evaluation reads."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlmodel import Session, select

from activities.pairwise_judge import combined, judge_request, parse_pick
from operations.experiments import evaluate_now
from store.judgements import Tally, record_judgement, tallies
from store.tables import Judgement
from tests.experiment_helpers import ask_as, new_experiment


@pytest.mark.parametrize(
    ("first", "second", "verdict"),
    [
        ("1", "2", "win"),  # preferred in both orders
        ("2", "1", "loss"),
        ("1", "1", "tie"),  # follows the position: no preference
        ("2", "2", "tie"),
        ("tie", "2", "tie"),
    ],
)
def test_a_win_needs_both_orders(first: str, second: str, verdict: str) -> None:
    assert combined(first, second) == verdict  # type: ignore[arg-type]


def test_picks_are_read_leniently_and_anything_else_is_a_tie() -> None:
    assert parse_pick("1") == "1" and parse_pick(" 2.") == "2" and parse_pick("Tie") == "tie"
    assert parse_pick("Answer 2 is better") == "2"
    assert parse_pick("both are fine") == "tie"
    prompt = judge_request("q?", "first answer", "second answer").messages[-1].content
    assert prompt == "Request:\nq?\n\nAnswer 1:\nfirst answer\n\nAnswer 2:\nsecond answer"


def test_tallies_count_both_sides_of_the_comparison(engine) -> None:
    record_judgement(engine, "r1", "tone", "smart", "control", "win", "1", "2", "sim/judge")
    record_judgement(engine, "r2", "tone", "smart", "control", "tie", "1", "1", "sim/judge")
    # The control served, smart was asked: the control's loss is smart's win.
    record_judgement(engine, "r3", "tone", "control", "smart", "loss", "2", "1", "sim/judge")
    record_judgement(engine, "r3", "tone", "control", "smart", "win", "1", "2", "sim/judge")
    # Askings that picked the answer shown first: one in r1, both in r2, one in r3.
    assert tallies(engine, "tone", "control") == {"smart": Tally(2, 0, 1, 4)}


async def judged(stack, sdk, route: str, users: int) -> list[Judgement]:
    gate = asyncio.Semaphore(8)

    async def one(user: str) -> None:
        async with gate:
            await ask_as(sdk, route, user)

    await asyncio.gather(*(one(f"u{i}") for i in range(users)))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with Session(stack.engine) as session:
            rows = session.exec(select(Judgement).where(Judgement.experiment == route)).all()
        if len(rows) >= users:
            return list(rows)
        await asyncio.sleep(0.3)
    return list(rows)


async def test_the_better_arm_wins_the_judged_comparisons(stack, sdk) -> None:
    route = f"exp-{uuid.uuid4().hex[:6]}"
    judge = {"provider": "simulated", "model": "sim-judge", "sample": 1.0}
    await new_experiment(stack, route, judge=judge)
    # Enough judgements that the checks below fail by chance far less than once in 10,000 runs.
    rows = await judged(stack, sdk, route, 150)
    assert len(rows) == 150
    assert {(r.arm, r.opponent) for r in rows} == {("smart", "control"), ("control", "smart")}
    smart = tallies(stack.engine, route, "control")["smart"]
    # sim-smart's answers show more quality than sim-fast's (short answers, whose words say
    # little, make some comparisons go the other way).
    assert smart.wins > 1.5 * smart.losses, smart
    queue = stack.settings.control_task_queue
    report = await evaluate_now(stack.client, stack.engine, route, queue)
    summary = report.verdicts[0].evidence["judge"]["smart"]
    assert summary["wins"] == smart.wins and summary["win_rate"] > 0.6
    assert summary["ci"][0] > 0.5 and summary["p_value"] < 0.01


async def test_a_judge_that_always_prefers_the_first_answer_decides_nothing(stack, sdk) -> None:
    route = f"exp-{uuid.uuid4().hex[:6]}"
    biased = {
        "provider": "simulated",
        "model": "sim-judge",
        "options": {"first_bias": 1.0},
        "sample": 1.0,
    }
    await new_experiment(stack, route, judge=biased)
    rows = await judged(stack, sdk, route, 30)
    assert len(rows) == 30
    # Asked in both orders, a pure position preference is a tie every time.
    assert {r.verdict for r in rows} == {"tie"}
    assert {(r.first_order, r.second_order) for r in rows} == {("1", "1")}
    smart = tallies(stack.engine, route, "control")["smart"]
    assert smart.first_picked == 2 * smart.judged  # the record shows the bias
