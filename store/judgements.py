"""A judge model's pairwise comparisons, and their tally per arm against its opponent."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from store.engine import insert_for
from store.tables import Judgement


def record_judgement(
    engine: Engine,
    request_id: str,
    experiment: str,
    arm: str,
    opponent: str,
    verdict: str,
    first_order: str,
    second_order: str,
    judge_model: str,
) -> None:
    """Keep one request's judgement (once: a request is judged at most once)."""
    statement = (
        insert_for(engine.dialect.name)(Judgement)
        .values(
            request_id=request_id,
            experiment=experiment,
            arm=arm,
            opponent=opponent,
            verdict=verdict,
            first_order=first_order,
            second_order=second_order,
            judge_model=judge_model,
        )
        .on_conflict_do_nothing(index_elements=["request_id"])
    )
    with engine.begin() as connection:
        connection.execute(statement)


@dataclass(frozen=True)
class Tally:
    """`arm`'s record against `opponent`, from both sides' judgements."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    first_picked: int = 0
    """Askings in which the judge picked the answer it was shown first (of 2 per judgement)."""

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties


def tallies(engine: Engine, experiment: str, opponent: str) -> dict[str, Tally]:
    """Each arm's record against `opponent`: its own judgements (served, opponent asked) and the
    opponent's judgements against it, turned round."""
    table = Judgement.__table__.c  # type: ignore[attr-defined]

    def count(condition) -> object:  # type: ignore[no-untyped-def]
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            table.arm,
            table.opponent,
            count(table.verdict == "win").label("wins"),
            count(table.verdict == "loss").label("losses"),
            count(table.verdict == "tie").label("ties"),
            (count(table.first_order == "1") + count(table.second_order == "1")).label("first"),
        )
        .where(
            table.experiment == experiment,
            (table.opponent == opponent) | (table.arm == opponent),
        )
        .group_by(table.arm, table.opponent)
    )
    result: dict[str, Tally] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            arm, wins, losses = row.arm, int(row.wins or 0), int(row.losses or 0)
            if row.arm == opponent:  # the opponent served: its win is the other arm's loss
                arm, wins, losses = row.opponent, losses, wins
            seen = result.get(arm, Tally())
            result[arm] = Tally(
                seen.wins + wins,
                seen.losses + losses,
                seen.ties + int(row.ties or 0),
                seen.first_picked + int(row.first or 0),
            )
    return result
