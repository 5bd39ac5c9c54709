"""Admission's refusals: a request that admission will not send anywhere, with the HTTP answer
that says why. The gateway answers every one the same way, and the legacy admit step returns
every one as the route's error, so a new kind of refusal needs no change in either."""

from __future__ import annotations


class AdmissionRefused(Exception):
    status = 400
    error_type = "invalid_request_error"
    code = "refused"

    def headers(self) -> dict[str, str]:
        return {}
