"""Users, keys, retention, the audit log and the engine's models: running the installation."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...governance.people import COUNTERSIGNED_ROLES
from ..auth import ActorDep, OvertDep
from .common import AUTHENTICATED, PUBLIC, needs

router = APIRouter(prefix="/api")


class NewUser(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", examples=["reviewer-3"])
    role: str = Field(examples=["reviewer"], description="admin, authority, operator, reviewer, auditor or dpo")
    person: str | None = Field(None, description="The person the account belongs to (default: its name).")


@router.get("/health", tags=["system"], openapi_extra=needs(PUBLIC))
def health() -> dict[str, bool]:
    """Liveness, for load balancers: touches nothing."""
    return {"ok": True}


@router.get("/users", tags=["users"], openapi_extra=needs("user.manage"))
def list_users(actor: ActorDep, overt: OvertDep) -> list[dict[str, Any]]:
    """Every user with its role (never a token or its hash)."""
    return overt.system.users(actor)


@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"], openapi_extra=needs("user.manage"))
def add_user(body: NewUser, actor: ActorDep, overt: OvertDep) -> dict[str, str]:
    """Create a user; the API token is in this response and nowhere else, ever. Operational roles are
    `pending` until a DPO countersigns (`POST /api/users/{name}/approve`)."""
    token = overt.system.add_user(actor, body.name, body.role, body.person)
    status_ = "pending" if body.role in COUNTERSIGNED_ROLES else "active"
    return {"name": body.name, "role": body.role, "token": token, "status": status_}


@router.get("/users/pending", tags=["users"], openapi_extra=needs("user.approve"))
def pending_users(actor: ActorDep, overt: OvertDep) -> list[dict[str, str]]:
    """Accounts waiting for a DPO's countersignature before they may act."""
    return overt.system.pending_users(actor)


@router.post("/users/{name}/approve", tags=["users"], openapi_extra=needs("user.approve"))
def approve_user(name: str, actor: ActorDep, overt: OvertDep) -> dict[str, str]:
    """The DPO's countersignature of a pending account (never of their own person's)."""
    return overt.system.approve_user(actor, name)


@router.post("/keys/rotate", tags=["system"], openapi_extra=needs("key.rotate"))
def rotate_key(actor: ActorDep, overt: OvertDep) -> dict[str, int]:
    """Re-encrypt every template, reference image, evidence item and report photo under a new key."""
    return overt.system.rotate_key(actor)


@router.post("/retention/run", tags=["system"], openapi_extra=needs("retention.run"))
def run_retention(actor: ActorDep, overt: OvertDep) -> dict[str, int]:
    """Delete, now, what has outlived its retention (alerts, evidence, subjects, lapsed urgent starts)."""
    return overt.system.retention(actor)


@router.get("/models", tags=["system"], openapi_extra=needs(AUTHENTICATED))
def models(_: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Detector, embedder, model files with checksums, and the calibration in force."""
    return overt.lab.models()


@router.get("/audit/verify", tags=["audit"], openapi_extra=needs("audit.read"))
def verify_audit(actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Check the hash chain and signed checkpoints (the check is itself recorded)."""
    return asdict(overt.system.verify_audit(actor))


@router.get("/audit/records", tags=["audit"], openapi_extra=needs("audit.read"))
def audit_records(
    actor: ActorDep,
    overt: OvertDep,
    before: Annotated[int | None, Query(ge=1, description="Records before this sequence number.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """The newest records first: ids, counts and hashes, never images or templates."""
    return overt.system.audit_records(actor, before_seq=before, limit=limit, action=action)


@router.get(
    "/audit/export",
    tags=["audit"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines"}},
    openapi_extra=needs("audit.read"),
)
async def export_audit(
    actor: ActorDep,
    overt: OvertDep,
    since_seq: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """The log as JSON lines (each line's hash checks offline); the export is recorded with its sha256."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+", encoding="ascii")  # noqa: SIM115
    try:
        result = await run_in_threadpool(overt.system.export_audit, actor, spool, since_seq)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def lines() -> Iterator[str]:
        with spool:
            yield from spool

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="overt-audit.jsonl"',
            "X-Audit-Records": str(result.records),
            "X-Audit-Last-Seq": str(result.last_seq),
            "X-Audit-SHA256": result.sha256,
        },
    )
