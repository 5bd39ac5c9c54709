"""`interlock bench rollouts` runs end to end and prints what it promises (its figures are for
docs/rollouts.md, from a full run; this keeps the command working on a few rollouts)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_rollouts_prints_the_shares_of_each_kind() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cli", "bench", "rollouts", "--rollouts", "3", "--looks", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    for kind in ("aa", "degraded"):
        shares = figures[kind]
        total = shares["rolled_back"] + shares["promoted"] + shares["inconclusive"]
        assert abs(total - 1.0) < 1e-9, kind
    assert figures["degraded"]["candidate_error_rate"] == 2 * figures["aa"]["candidate_error_rate"]
