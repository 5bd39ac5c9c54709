"""The flags every start of the Temporal dev server uses: `interlock dev`, the tests, benchmarks."""

from __future__ import annotations

from workflows import search_attributes

# The dev server has a single history shard, and two per-shard limits sized for clusters with many
# shards throttle it at tens of requests a second (docs/operations.md says what to watch where
# they matter in production):
# - the transfer queue is read at most 20 times a second (burst 20), and a request makes two
#   transfer tasks (its second workflow task, its close), so above about 10 requests a second each
#   task waits 0-50 ms to be read;
# - the timer queue reads 1 s ahead, so a 200 ms retry timer fires about a second late.
THROTTLES_LIFTED = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=10000",
    "--dynamic-config-value",
    'history.timerProcessorMaxTimeShift="100ms"',
)
# Durable file storage at close to in-memory speed: WAL, fsync at checkpoints only.
FILE_STORAGE = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments beyond address, ports and database file."""
    return [*FILE_STORAGE, *THROTTLES_LIFTED, *search_attributes.dev_server_flags()]
