"""The audit log for the console: filters, a cursor over the whole log, and export of what was filtered."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from ...services.audit_view import AuditFilter
from ..auth import ActorDep, OvertDep
from .common import needs

router = APIRouter(prefix="/api/audit", tags=["audit"])


def audit_filter(
    actor: Annotated[str | None, Query(alias="actor", max_length=64, description="Who acted.")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description='An action, or a prefix ending in "." (e.g. "request.").')
    ] = None,
    deployment: Annotated[int | None, Query(ge=1)] = None,
    outcome: Annotated[Literal["ok", "refused", "error"] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601, inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601).")] = None,
) -> AuditFilter:
    return AuditFilter(actor or None, action or None, deployment, outcome, since, until)


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/search", openapi_extra=needs("audit.read"))
def search(
    where: FilterDep,
    user: ActorDep,
    overt: OvertDep,
    cursor: Annotated[int | None, Query(ge=1, description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """One page of the filtered log, newest first, with the total and the cursor of the next page."""
    return overt.audit_view.page(user, where, cursor=cursor, limit=limit)


@router.get(
    "/search/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines"}},
    openapi_extra=needs("audit.read"),
)
def export(where: FilterDep, user: ActorDep, overt: OvertDep) -> StreamingResponse:
    """The filtered records as JSON lines in the chain's own form (each line's hash checks offline)."""
    lines, digest = overt.audit_view.export(user, where)
    return StreamingResponse(
        iter(lines),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="overt-audit-filtered.jsonl"',
            "X-Audit-Records": str(len(lines)),
            "X-Audit-SHA256": digest,
        },
    )
