"""Timeouts and retries of RequestWorkflow's steps."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

LOCAL_STEP = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_attempts=3, initial_interval=timedelta(milliseconds=50)),
}
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=3,
)
PROVIDER_CALL_TIMEOUT = timedelta(seconds=60)
# Time kept back from the execution timeout for settling, so that a request that runs out of time
# still records its outcome: an unrecorded failure would bias every later decision about its arm.
SETTLE_TIME = timedelta(seconds=5)
# Not worth starting a provider call with less time than this left.
MIN_CALL_TIME = timedelta(milliseconds=100)
