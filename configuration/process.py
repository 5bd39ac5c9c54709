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
from typing import TextIO

from configuration.log_fields import JsonFormatter, TextFormatter

LOG_FORMATS = ("auto", "json", "text")

# Libraries whose INFO and DEBUG lines quote what passes through them: SQL parameters and result
# rows (answers in the response cache), HTTP headers (provider keys), request bodies (prompts).
# They stay at WARNING whatever INTERLOCK_LOG_LEVEL says, so turning on DEBUG to chase a bug
# does not write prompts and keys to the logs.
QUIET_LIBRARIES = (
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "httpx",
    "httpcore",
    "hpack",
    "h2",
    "openai",
    "botocore",
    "boto3",
    "urllib3",
    "google_genai",
    "google.auth",
)


class _InterlockHandler(logging.StreamHandler):
    """The one handler configure_logging installs, so calling it again replaces it."""


def configure_logging(
    level: str | None = None, log_format: str | None = None, stream: TextIO | None = None
) -> None:
    """Set up logging for an Interlock process: the one place that does.

    `level` defaults to INTERLOCK_LOG_LEVEL (INFO). `log_format` defaults to INTERLOCK_LOG_FORMAT:
    `json` writes one JSON object per line (configuration/log_fields.py), `text` a line for
    people, and `auto` (the default) text on a terminal and JSON anywhere else (a container, a
    service manager, a log file), where a log shipper reads it. Lines go to stderr.
    """
    chosen_level = (level or os.environ.get("INTERLOCK_LOG_LEVEL", "INFO")).upper()
    chosen_format = (log_format or os.environ.get("INTERLOCK_LOG_FORMAT", "auto")).lower()
    if chosen_format not in LOG_FORMATS:
        raise ValueError(
            f"INTERLOCK_LOG_FORMAT is one of {', '.join(LOG_FORMATS)}, not {chosen_format!r}"
        )
    stream = stream or sys.stderr
    if chosen_format == "auto":
        chosen_format = "text" if _is_terminal(stream) else "json"
    handler = _InterlockHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen_format == "json" else TextFormatter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _InterlockHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(chosen_level)
    quiet = max(logging.WARNING, root.level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
