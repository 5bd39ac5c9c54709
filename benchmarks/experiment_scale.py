"""How long one experiment look takes over many outcome rows, and what memory it needs.

Fills a fresh store with `rows` outcome rows of one experiment (three arms, with latency
buckets, quality scores, automatic scores and some errors, four requests per user), plus a tenth
as many rows of other routes, then times the per-arm aggregation an evaluation runs
(store/rollout_stats.py: experiment_totals, one GROUP BY over the experiment's index, and
experiment_units, each arm's distinct users over theirs). It checks the totals and the users
against the rows it wrote, and prints one JSON line: the seconds of the first and best of three
looks, the Python heap's peak during a look (tracemalloc), and the process's peak RSS.

    interlock bench experiments --rows 10000000 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import io
import json
import random
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from experiments.statistics import bucket_index
from store import create_store_engine, init_schema
from store.rollout_stats import experiment_totals, experiment_units
from store.tables import Outcome

ARMS = ("control", "concise", "careful")
EXPERIMENT = "scale"
REQUESTS_PER_USER = 4
CHUNK = 50_000
COLUMNS = (
    "request_id",
    "arm",
    "tenant_id",
    "route",
    "variant",
    "status",
    "latency_ms",
    "latency_bucket",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "cache_hit",
    "quality_score",
    "refused",
    "answer_chars",
    "experiment",
    "experiment_arm",
    "experiment_unit",
    "started_at",
    "finished_at",
    "created_at",
)


def _rows(start: int, count: int, rng: random.Random, in_experiment: bool):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(start, start + count):
        arm = ARMS[i % len(ARMS)]
        latency = rng.lognormvariate(5.5, 0.4)
        failed = rng.random() < 0.01
        at = base + timedelta(seconds=i % 2_592_000)
        yield (
            f"r{'x' if in_experiment else 'o'}{i}",
            "primary",
            "acme",
            "support" if in_experiment else "other",
            arm,
            "error" if failed else "ok",
            latency,
            bucket_index(latency),
            120,
            80,
            0.0004,
            False,
            None if failed else rng.random(),
            None if failed else rng.random() < 0.02,
            None if failed else 300 + i % 400,
            EXPERIMENT if in_experiment else None,
            arm if in_experiment else None,
            # Four requests per user, each user on one arm.
            f"{arm}-{i // len(ARMS) // REQUESTS_PER_USER}" if in_experiment else None,
            at - timedelta(milliseconds=latency),
            at,
            at,
        )


def fill(engine: Engine, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for in_experiment, count in ((True, rows), (False, rows // 10)):
        for start in range(0, count, CHUNK):
            chunk = list(_rows(start, min(CHUNK, count - start), rng, in_experiment))
            if engine.dialect.name == "postgresql":
                _copy(engine, chunk)
            else:
                with engine.begin() as connection:
                    connection.execute(
                        insert(Outcome.__table__),  # type: ignore[attr-defined]
                        [dict(zip(COLUMNS, row, strict=True)) for row in chunk],
                    )


def _copy(engine: Engine, chunk: list[tuple]) -> None:
    """PostgreSQL's COPY: the way a warehouse-sized table is loaded."""
    buffer = io.StringIO()
    for row in chunk:
        buffer.write("\t".join(r"\N" if v is None else str(v) for v in row) + "\n")
    raw = engine.raw_connection()
    try:
        statement = f"COPY outcomes ({', '.join(COLUMNS)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()


def measure(engine: Engine, rows: int) -> dict[str, float | int | str]:
    seconds = []
    peak = 0
    for _ in range(3):
        tracemalloc.start()
        started = time.perf_counter()
        totals = experiment_totals(engine, EXPERIMENT, list(ARMS))
        units = experiment_units(engine, EXPERIMENT, list(ARMS))
        seconds.append(time.perf_counter() - started)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    counted = sum(t.requests for t in totals.values())
    if counted != rows:
        raise AssertionError(f"the look counted {counted} rows, {rows} were written")
    written = {
        arm: -(-len(range(k, rows, len(ARMS))) // REQUESTS_PER_USER) for k, arm in enumerate(ARMS)
    }
    if units != written:
        raise AssertionError(f"the look counted users {units}, {written} were written")
    return {
        "database": engine.dialect.name,
        "rows": rows,
        "other_rows": rows // 10,
        "first_look_seconds": round(seconds[0], 3),
        "best_look_seconds": round(min(seconds), 3),
        "look_python_peak_mb": round(peak / 2**20, 2),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(rows: int, database_url: str | None = None) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory() as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'scale.db'}"
        engine = create_store_engine(url)
        try:
            init_schema(engine)
            with engine.connect() as connection:
                if connection.execute(text("SELECT 1 FROM outcomes LIMIT 1")).first():
                    # Never a store in use: its rows would be mixed with the benchmark's.
                    raise SystemExit("the benchmark needs a store with no outcome rows")
            started = time.perf_counter()
            fill(engine, rows)
            if engine.dialect.name == "postgresql":
                # What autovacuum does in a running store: statistics, and the visibility map
                # that lets a look read the covering index alone.
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("VACUUM ANALYZE outcomes"))
            filled = time.perf_counter() - started
            figures = measure(engine, rows) | {"fill_seconds": round(filled, 1)}
        finally:
            engine.dispose()
    print(json.dumps(figures), flush=True)
    return figures
