"""What a rate-limited key adds to each request: one draw from its token bucket, timed on each
backend, next to the uncached key lookup every key pays once a second per gateway.

    python -m benchmarks.bucket_draws [--draws 2000] [--postgres URL] [--redis URL]

Prints one JSON object: per backend, the p50 and p95 of a draw in microseconds. SQLite is a new
file in a temporary directory; PostgreSQL (a throwaway schema, dropped afterwards) and Redis are
measured when reachable at the given URLs, and skipped otherwise. The limit is set so high that
every draw is granted: a refusal costs one more read, and only refused requests pay it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from store import create_store_engine, init_schema
from store.rate_limits import DatabaseBuckets, RateLimit, RedisBuckets
from store.tenants import add_api_key, ensure_tenant, grant_for_digest, hash_api_key

NEVER_REFUSED = RateLimit(per_second=1e9, burst=10**9)
WARM_UP = 50


def timed(call: Callable[[], object], draws: int) -> dict[str, float]:
    for _ in range(WARM_UP):
        call()
    micros = []
    for _ in range(draws):
        began = time.perf_counter()
        call()
        micros.append((time.perf_counter() - began) * 1e6)
    quantiles = statistics.quantiles(micros, n=100)
    return {"p50_us": round(quantiles[49]), "p95_us": round(quantiles[94])}


def store_figures(url: str, draws: int) -> dict[str, Any]:
    engine = create_store_engine(url)
    try:
        init_schema(engine)
        ensure_tenant(engine, "bench")
        digest = hash_api_key(add_api_key(engine, "bench", rate_limit=NEVER_REFUSED))
        buckets = DatabaseBuckets(engine)
        return {
            "draw": timed(lambda: buckets.draw(digest, NEVER_REFUSED), draws),
            "key_lookup": timed(lambda: grant_for_digest(engine, digest), draws),
        }
    finally:
        engine.dispose()


def postgres_figures(admin_url: str, draws: int) -> dict[str, Any] | str:
    admin = create_engine(admin_url)
    schema = f"bucket_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        return f"skipped: {type(exc).__name__}"
    try:
        return store_figures(f"{admin_url}?options=-csearch_path%3D{schema}", draws)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def redis_figures(url: str, draws: int) -> dict[str, Any] | str:
    buckets = RedisBuckets(url, f"interlock-bench:{uuid.uuid4().hex[:12]}")
    bucket = f"bench-{uuid.uuid4().hex}"
    try:
        return {"draw": timed(lambda: buckets.draw(bucket, NEVER_REFUSED), draws)}
    except Exception as exc:
        return f"skipped: {type(exc).__name__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sqlite = store_figures(f"sqlite:///{Path(scratch) / 'store.db'}", options.draws)
    figures = {
        "draws": options.draws,
        "sqlite": sqlite,
        "postgres": postgres_figures(options.postgres, options.draws),
        "redis": redis_figures(options.redis, options.draws),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
