"""`interlock bench request` runs end to end and prints the figures it promises.

Its numbers are not judged here (speed is for the benchmark to print, not for a test to time);
this only keeps the command working: one JSON object on stdout, every level served without errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KEYS = {
    "floor_rps",
    "pipeline_rps",
    "ratio",
    "overhead_p50_ms",
    "overhead_p95_ms",
    "overhead_p99_ms",
    "overhead_p99_ms_injected_errors",
    "gateway_cpu_ms_per_request",
    "server_cpu_ms_per_request",
    "floor_gateway_cpu_ms_per_request",
    "floor_server_cpu_ms_per_request",
    "cache_hit_p50_ms",
    "cache_miss_p50_ms",
    "cache_hit_gateway_cpu_ms_per_request",
    "cache_miss_gateway_cpu_ms_per_request",
}


def test_bench_request_prints_one_json_object(tmp_path: Path) -> None:
    interlock = Path(sys.executable).with_name("interlock")
    run = subprocess.run(
        [str(interlock), "bench", "request", "--json", "--requests", "12", "--rounds", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    [line] = run.stdout.strip().splitlines()
    figures = json.loads(line)
    assert figures.keys() >= KEYS
    assert set(figures["levels"]) == {
        "floor_c1",
        "floor_c20",
        "pipeline_c1",
        "pipeline_c20",
        "pipeline_injected_errors_c1",
        "cache_hits_c1",
        "cache_misses_c1",
        "direct_c1",
    }
    # Every measured level pools its two rounds; the direct calls need no turns.
    assert figures["rounds"] == 2 and figures["requests_per_level"] == 24
    for name, level in figures["levels"].items():
        assert level["requests"] == (12 if name == "direct_c1" else 24), name
        assert level.get("errors", 0) == 0, name
    assert figures["floor_rps"] > 0 and figures["pipeline_rps"] > 0
    for key in KEYS:
        if key.endswith("_cpu_ms_per_request"):
            assert figures[key] > 0, key
