"""Deployment applications and their life: apply, amend, approve/reject/return, revoke, urgent start."""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status
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


def safe_name(title: str) -> str:
    """A document's file name fit for a header (the applicant chose it)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", title)[:100] or "document"


async def application(request: Request) -> tuple[str, dict[str, bytes]]:
    """The application and its documents: a YAML or JSON application alone, or a JSON object
    `{"spec": <application>, "documents": {<file>: <base64>}}` carrying each assessment's document."""
    text = await spec_text(request)
    try:
        data = json.loads(text)
    except ValueError:
        return text, {}
    if not isinstance(data, dict) or "spec" not in data:
        return text, {}
    try:
        documents = {str(k): base64.b64decode(v, validate=True) for k, v in (data.get("documents") or {}).items()}
    except (ValueError, TypeError, AttributeError):
        raise RequestValidationError([{"loc": ("body", "documents"), "msg": "documents are base64"}]) from None
    spec = data["spec"]
    return (spec if isinstance(spec, str) else json.dumps(spec)), documents


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
    spec, documents = await application(request)
    deployment_id = await run_in_threadpool(overt.deployments.apply, actor, spec, documents)
    return {"id": deployment_id, "status": "pending"}


@router.get("/{deployment_id}", openapi_extra=needs("deployment.read"))
def show(deployment_id: int, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """One deployment: status, application and the history of decisions on it."""
    return overt.deployments.show(actor, deployment_id)


@router.put("/{deployment_id}", openapi_extra={**needs("deployment.apply"), **SPEC_BODY})
async def amend(deployment_id: int, request: Request, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Change an application (applicant only): it returns to pending and needs a new approval."""
    spec, documents = await application(request)
    await run_in_threadpool(overt.deployments.amend, actor, deployment_id, spec, documents)
    return {"id": deployment_id, "status": "pending"}


class DecisionBody(Reason):
    assign: list[str] = Field(default_factory=list, description="approve: operators and reviewers assigned.")
    accept_single_reviewer_exception: bool = Field(
        False, description="approve: accept the application's stated exception to two reviewers (Art. 14(5))."
    )


class AssignBody(BaseModel):
    user: str = Field(min_length=1, max_length=64)


def _decision_route(verb: Literal["approve", "reject", "return"]) -> None:
    def decide(deployment_id: int, body: DecisionBody, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
        status_ = overt.deployments.decide(
            actor,
            deployment_id,
            verb,
            body.reason,
            accept_exception=body.accept_single_reviewer_exception,
            assign=tuple(body.assign),
        )
        return {"id": deployment_id, "status": status_}

    decide.__name__ = f"{verb}_deployment"
    decide.__doc__ = f"{verb.capitalize()} an application: only the authority it names, never the applicant."
    router.post(f"/{{deployment_id}}/{verb}", openapi_extra=needs("deployment.decide"))(decide)


for _verb in ("approve", "reject", "return"):
    _decision_route(_verb)


@router.post("/{deployment_id}/assign", openapi_extra=needs("deployment.assign"))
def assign(deployment_id: int, body: AssignBody, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Assign an operator or reviewer to a deployment (the DPO); others are refused under it (`not-assigned`)."""
    overt.deployments.assign(actor, deployment_id, body.user)
    return {"id": deployment_id, "user": body.user}


@router.get(
    "/{deployment_id}/documents/{document_id}",
    response_class=Response,
    openapi_extra=needs("deployment.documents"),
)
def document(deployment_id: int, document_id: int, actor: ActorDep, overt: OvertDep) -> Response:
    """An assessment document as filed (the authority or the DPO); every read is audited."""
    info, content = overt.deployments.document(actor, deployment_id, document_id)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={
            "X-Document-Sha256": info["sha256"],
            "Content-Disposition": f'attachment; filename="{safe_name(info["title"])}"',
        },
    )


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
