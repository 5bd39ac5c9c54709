"""Provider failures as types, each saying whether Temporal should retry it."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError


class ProviderError(Exception):
    """A failed provider call. `error_type` names it in Temporal and on the outcome row."""

    error_type = "ProviderError"
    retryable = True

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def to_application_error(self) -> ApplicationError:
        delay = (
            timedelta(seconds=self.retry_after_seconds)
            if self.retry_after_seconds is not None
            else None
        )
        return ApplicationError(
            str(self),
            type=self.error_type,
            non_retryable=not self.retryable,
            next_retry_delay=delay,
        )


class ProviderUnavailable(ProviderError):
    error_type = "ProviderUnavailable"


class ProviderRateLimited(ProviderError):
    error_type = "ProviderRateLimited"


class ProviderBadRequest(ProviderError):
    error_type = "ProviderBadRequest"
    retryable = False


class UnknownModel(ProviderError):
    error_type = "UnknownModel"
    retryable = False
