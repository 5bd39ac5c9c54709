"""POST /v1/feedback: a person's rating of one answer, joined to its outcome for rollouts and
experiments to compare (the `feedback` metric). A tenant rates only its own requests; another
tenant's request id is answered as unknown, so ids cannot be probed."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.engine import Engine

from gateway.auth import authenticated_tenant
from gateway.errors import ApiError, error_responses
from store.feedback import rate


class FeedbackRequest(BaseModel):
    """Exactly one of `thumbs` and `score`."""

    request_id: str = Field(min_length=1, max_length=64, description="The completion's id.")
    thumbs: Literal["up", "down"] | None = None
    score: float | None = Field(None, ge=0, le=1, description="A rating in [0, 1].")

    @model_validator(mode="after")
    def _one_rating(self) -> FeedbackRequest:
        if (self.thumbs is None) == (self.score is None):
            raise ValueError("give exactly one of thumbs ('up' or 'down') and score (0 to 1)")
        return self


class FeedbackAccepted(BaseModel):
    object: Literal["feedback"] = "feedback"
    request_id: str
    kind: Literal["thumbs", "score"]
    value: float = Field(description="Thumbs up 1, down 0; a score as given.")


Tenant = Annotated[str, Depends(authenticated_tenant)]


def feedback_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/feedback", responses=error_responses(400, 401, 404, 500, 503))
    async def feedback(request: Request, body: FeedbackRequest, tenant: Tenant) -> FeedbackAccepted:
        """Rate an answer: thumbs up or down, or a score from 0 to 1. Rating again replaces."""
        kind: Literal["thumbs", "score"] = "thumbs" if body.thumbs is not None else "score"
        value = (1.0 if body.thumbs == "up" else 0.0) if body.score is None else body.score
        engine: Engine = request.app.state.gateway.engine
        if not await asyncio.to_thread(rate, engine, tenant, body.request_id, value, kind):
            raise ApiError(
                404,
                f"no request {body.request_id!r} of yours to rate",
                param="request_id",
                code="request_not_found",
            )
        return FeedbackAccepted(request_id=body.request_id, kind=kind, value=value)

    return router
