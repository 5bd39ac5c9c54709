"""Process life: logging set-up, signal-driven stop, and an exit that cannot abort.

The Temporal SDK's Rust runtime keeps native threads that can touch the GIL while the interpreter
finalizes, which intermittently aborts with `Fatal Python error: PyGILState_Release` (exit 134,
sdk-python issue 300). Every Interlock entry point therefore shuts its workers and clients down
itself and then leaves through `exit_process`, which skips interpreter finalization.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("INTERLOCK_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def stop_event_on_signals() -> asyncio.Event:
    """An event set by the first SIGINT or SIGTERM; call from inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def exit_process(code: int) -> None:
    """Flush what was written, then leave without interpreter finalization."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
