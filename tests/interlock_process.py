"""An `interlock` command as a process of its own, on the test stack's Temporal and store: what
tests that kill a gateway or a worker run."""

from __future__ import annotations

import os
import subprocess
import sys


def start_interlock(stack, command: str, **settings: str) -> subprocess.Popen:
    """`interlock COMMAND` with the stack's home, database and Temporal address, plus
    `settings` as environment variables."""
    env = {
        **os.environ,
        "INTERLOCK_HOME": str(stack.settings.home),
        "INTERLOCK_DATABASE_URL": stack.settings.resolved_database_url,
        "INTERLOCK_LOG_LEVEL": "WARNING",
        "TEMPORAL_ADDRESS": stack.temporal_address,
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli", command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
