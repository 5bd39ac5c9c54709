"""`python -m benchmarks.reliability [--long] [--only NAME ...] [--json FILE]`: run the scenarios,
print each one's figures and properties, exit 1 if any property failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from benchmarks.reliability import load_with_kills, multi_process, provider_faults, server_restart
from benchmarks.reliability.report import ScenarioReport
from configuration.process import exit_process

# (short mode, long mode) sizes.
LOAD_REQUESTS = (1_500, 10_000)
LOAD_CONCURRENCY = 50
FAULT_REQUESTS = (300, 3_000)


async def run_all(long: bool, only: set[str], database_url: str | None) -> list[ScenarioReport]:
    size = 1 if long else 0
    scenarios = {
        "load": lambda workdir: load_with_kills.run(
            workdir, LOAD_REQUESTS[size], LOAD_CONCURRENCY, database_url
        ),
        "faults": lambda workdir: provider_faults.run(workdir, FAULT_REQUESTS[size], database_url),
        "server-restart": lambda workdir: server_restart.run(workdir, database_url),
        # Always on PostgreSQL: --database-url, or the machine's `test` database.
        "two-of-each": lambda workdir: multi_process.run(workdir, database_url),
    }
    unknown = only - scenarios.keys()
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; known: {sorted(scenarios)}")
    reports = []
    with tempfile.TemporaryDirectory(prefix="interlock-reliability-") as scratch:
        for name, scenario in scenarios.items():
            if only and name not in only:
                continue
            began = time.monotonic()
            report = await scenario(Path(scratch) / name)
            report.figures["scenario_seconds"] = round(time.monotonic() - began, 1)
            print(report.render(), flush=True)
            reports.append(report)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__)
    parser.add_argument("--long", action="store_true", help="the full sizes (10,000 requests)")
    parser.add_argument("--only", action="append", default=[], help="run only this scenario")
    parser.add_argument("--database-url", help="run the stacks on this database (PostgreSQL)")
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args()
    reports = asyncio.run(run_all(args.long, set(args.only), args.database_url))
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2) + "\n")
    failed = [r.scenario for r in reports if not r.held]
    print(f"reliability: {len(reports) - len(failed)} of {len(reports)} scenarios held", flush=True)
    # Leave without interpreter finalization: the Temporal runtime's threads can abort it.
    exit_process(1 if failed or not reports else 0)


if __name__ == "__main__":
    main()
