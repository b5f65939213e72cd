"""Deployment applications and their life: apply, amend, approve/reject/return, revoke, urgent start."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...governance.spec import LAWFUL_PURPOSES
from ..auth import ActorDep, OvertDep
from .common import AUTHENTICATED, needs

router = APIRouter(prefix="/api/deployments", tags=["deployments"])

SPEC_BODY = {
    "requestBody": {
        "required": True,
        "description": "The application, as YAML or JSON (GET /api/deployments/template shows every key).",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Recorded with the decision.")


class Justification(BaseModel):
    justification: str = Field(min_length=1, max_length=2000, description="Why this cannot wait for approval.")


async def spec_text(request: Request) -> str:
    """The raw application: YAML is a superset of JSON, so the service's one parser reads both."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if not text.strip():
        raise RequestValidationError([{"loc": ("body",), "msg": "a UTF-8 YAML or JSON application is required"}])
    return text


@router.get("/template", response_class=PlainTextResponse, openapi_extra=needs(AUTHENTICATED))
def template(_: ActorDep, overt: OvertDep) -> str:
    """A complete example application (YAML), every key commented, that applies as printed."""
    return overt.deployments.template()


@router.get("/purposes", openapi_extra=needs(AUTHENTICATED))
def purposes(_: ActorDep) -> list[str]:
    """The lawful objectives an application may name."""
    return list(LAWFUL_PURPOSES)


@router.get("", openapi_extra=needs("deployment.read"))
def list_deployments(actor: ActorDep, overt: OvertDep) -> list[dict[str, Any]]:
    """Every deployment with its application and approval history."""
    return overt.deployments.list(actor)


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra={**needs("deployment.apply"), **SPEC_BODY})
async def apply(request: Request, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Apply for a deployment; it is pending until the authority it names decides."""
    deployment_id = await run_in_threadpool(overt.deployments.apply, actor, await spec_text(request))
    return {"id": deployment_id, "status": "pending"}


@router.get("/{deployment_id}", openapi_extra=needs("deployment.read"))
def show(deployment_id: int, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """One deployment: status, application and the history of decisions on it."""
    return overt.deployments.show(actor, deployment_id)


@router.put("/{deployment_id}", openapi_extra={**needs("deployment.apply"), **SPEC_BODY})
async def amend(deployment_id: int, request: Request, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Change an application (applicant only): it returns to pending and needs a new approval."""
    await run_in_threadpool(overt.deployments.amend, actor, deployment_id, await spec_text(request))
    return {"id": deployment_id, "status": "pending"}


def _decision_route(verb: Literal["approve", "reject", "return"]) -> None:
    def decide(deployment_id: int, body: Reason, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
        return {"id": deployment_id, "status": overt.deployments.decide(actor, deployment_id, verb, body.reason)}

    decide.__name__ = f"{verb}_deployment"
    decide.__doc__ = f"{verb.capitalize()} an application: only the authority it names, never the applicant."
    router.post(f"/{{deployment_id}}/{verb}", openapi_extra=needs("deployment.decide"))(decide)


for _verb in ("approve", "reject", "return"):
    _decision_route(_verb)


@router.post("/{deployment_id}/revoke", openapi_extra=needs("deployment.revoke"))
def revoke(deployment_id: int, body: Reason, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Stop a deployment at once (an authority or the DPO)."""
    overt.deployments.revoke(actor, deployment_id, body.reason)
    return {"id": deployment_id, "status": "revoked"}


@router.post("/{deployment_id}/urgent", openapi_extra=needs("deployment.urgent"))
def urgent(deployment_id: int, body: Justification, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Start before approval; unless approved within 24 hours, everything it produced is deleted."""
    overt.deployments.urgent_start(actor, deployment_id, body.justification)
    return {"id": deployment_id, "status": "urgent"}
