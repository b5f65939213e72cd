"""Review at live rates: the reviewer's queue, sightings' crops, workload figures, and the safe stop."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from ..auth import ActorDep, OvertDep
from .common import JPEG_RESPONSE, jpeg, needs

router = APIRouter(tags=["review"])


class PauseBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why (audited and published).")
    camera: str | None = Field(None, max_length=64, description="One camera; omit to pause the whole deployment.")


class ResumeBody(BaseModel):
    camera: str | None = Field(None, max_length=64, description="One camera's pause; omit to lift every pause.")


@router.get("/api/review/queue", openapi_extra=needs("alert.read"))
def review_queue(
    actor: ActorDep,
    overt: OvertDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 1,
    after: Annotated[int | None, Query(description="Cursor: alerts after this id (the next page).")] = None,
    deployment: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    """Alerts waiting for your decision, oldest first (blind: no identity until you decide), with the queue's
    length and how long its oldest alert has waited."""
    return overt.review_queue.queue(actor, limit=limit, after=after, deployment_id=deployment)


@router.get("/api/review/workload", openapi_extra=needs("review.workload"))
def review_workload(
    actor: ActorDep,
    overt: OvertDep,
    deployment: Annotated[int | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> dict[str, Any]:
    """Decisions per reviewer per hour, time to decision (p50, p95), queue by hour, disagreement and
    inconclusive shares, computed from the audit log."""
    return overt.review_queue.workload(actor, deployment_id=deployment, since=since, until=until)


@router.get(
    "/api/sightings/{sighting_id}/crop",
    response_class=Response,
    responses=JPEG_RESPONSE,
    openapi_extra=needs("evidence.read"),
)
def sighting_crop(sighting_id: int, actor: ActorDep, overt: OvertDep) -> Response:
    """One sighting's face crop (an alert's best few are listed with it); every view is audited."""
    return jpeg(overt.alerts.sighting_crop(actor, sighting_id))


@router.post("/api/deployments/{deployment_id}/pause", openapi_extra=needs("deployment.pause"))
def pause(deployment_id: int, body: PauseBody, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Stop a camera or the whole deployment now (workers stop within seconds); audited and published."""
    return overt.pauses.pause(actor, deployment_id, body.reason, body.camera)


@router.post("/api/deployments/{deployment_id}/resume", openapi_extra=needs("deployment.resume"))
def resume(deployment_id: int, body: ResumeBody, actor: ActorDep, overt: OvertDep) -> list[dict[str, Any]]:
    """Lift a pause: an operator's action, refused unless the deployment's approval is still in force."""
    return overt.pauses.resume(actor, deployment_id, body.camera)


@router.get("/api/deployments/{deployment_id}/pauses", openapi_extra=needs("deployment.read"))
def pauses(
    deployment_id: int,
    actor: ActorDep,
    overt: OvertDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(description="Cursor: pauses older than this id.")] = None,
) -> list[dict[str, Any]]:
    """Pauses of the deployment, newest first, a page at a time."""
    return overt.pauses.list(actor, deployment_id, limit=limit, before=before)
