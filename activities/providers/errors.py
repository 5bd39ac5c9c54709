"""Provider failures as types, each saying whether Temporal should retry it."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime, timedelta

from temporalio.exceptions import ApplicationError

MAX_RETRY_DELAY_SECONDS = 30.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from an HTTP Retry-After value (delta-seconds or an HTTP date), or None.

    Non-finite and unparseable values count as absent; dates in the past as 0.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class ProviderError(Exception):
    """A failed provider call. `error_type` names it in Temporal and on the outcome row."""

    error_type = "ProviderError"
    retryable = True

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def to_application_error(self) -> ApplicationError:
        # A provider may ask for minutes; a request waits at most MAX_RETRY_DELAY between
        # attempts (its own timeout bounds the whole), and routing can fall back meanwhile.
        delay = (
            timedelta(seconds=min(self.retry_after_seconds, MAX_RETRY_DELAY_SECONDS))
            if self.retry_after_seconds is not None
            else None
        )
        return ApplicationError(
            str(self),
            type=self.error_type,
            non_retryable=not self.retryable,
            next_retry_delay=delay,
        )


# Retryable: the same call may well succeed later. Temporal retries with backoff, honouring
# retry_after_seconds (Retry-After) through next_retry_delay.


class ProviderUnavailable(ProviderError):
    """5xx, connection failures, timeouts."""

    error_type = "ProviderUnavailable"


class ProviderRateLimited(ProviderError):
    """429 and throttling."""

    error_type = "ProviderRateLimited"


class ProviderMalformedResponse(ProviderError):
    """The provider answered with something that is not its own wire format."""

    error_type = "ProviderMalformedResponse"


class ProviderStreamInterrupted(ProviderError):
    """A stream ended before its final event: never a silent, truncated success."""

    error_type = "ProviderStreamInterrupted"


# Not retryable: the same call would fail the same way. Each is its own type so that routing can
# act on it (context window -> a larger-context model; content policy -> another provider).


class ProviderAuthError(ProviderError):
    """401 and 403: missing, wrong or unauthorised credentials."""

    error_type = "ProviderAuthError"
    retryable = False


class ProviderBadRequest(ProviderError):
    """The provider rejected the request as invalid."""

    error_type = "ProviderBadRequest"
    retryable = False


class ContextWindowExceeded(ProviderBadRequest):
    error_type = "ContextWindowExceeded"


class ContentPolicyRefusal(ProviderError):
    """The provider refused on content grounds (safety filters, guardrails)."""

    error_type = "ContentPolicyRefusal"
    retryable = False


class UnknownModel(ProviderError):
    error_type = "UnknownModel"
    retryable = False
