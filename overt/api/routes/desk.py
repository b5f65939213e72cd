"""What the DPO and the authority do from the console that had no route: reports (generate, download,
verify), retention (preview, then run), and users (disable, new token)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ...reports import ReportFormatError, render, report_sha256
from ..auth import ActorDep, OvertDep
from .common import needs

router = APIRouter(prefix="/api")

MEDIA = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


class Disable(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/reports/{kind}", tags=["reports"], response_class=Response, openapi_extra=needs("report.generate"))
def generate_report(
    kind: Literal["deployment", "annual", "notification", "accountability"],
    actor: ActorDep,
    overt: OvertDep,
    format: Annotated[Literal["html", "pdf", "json", "csv"], Query()] = "html",
    deployment: Annotated[int | None, Query(ge=1, description="For deployment records and notifications.")] = None,
    start: Annotated[date | None, Query(alias="from", description="First day of an annual report.")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day of an annual report.")] = None,
) -> Response:
    """Generate a report (recorded with the sha256 of its JSON) and download it in the chosen form."""
    if kind in ("deployment", "notification"):
        if deployment is None:
            raise RequestValidationError(
                [{"loc": ("query", "deployment"), "msg": f"a {kind} report needs ?deployment=ID"}]
            )
        report = getattr(overt.reports, kind)(actor, deployment)
    elif kind == "annual":
        today = date.today()
        start, end = start or date(today.year, 1, 1), end or today
        if end < start:
            raise RequestValidationError([{"loc": ("query", "to"), "msg": "the period ends before it starts"}])
        report = overt.reports.annual(actor, start, end)
    else:
        report = overt.reports.accountability(actor)
    name = f"overt-{kind}{'-' + str(deployment) if deployment else ''}.{format}"
    return Response(
        render(report, format),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Report-SHA256": report_sha256(report)},
    )


@router.post("/reports/verify", tags=["reports"], openapi_extra=needs("report.generate"))
def verify_report(data: Annotated[dict[str, Any], Body()], actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Recompute a report's JSON over the audit records it names and say whether everything agrees."""
    try:
        return overt.reports.verify(actor, data).to_json()
    except ReportFormatError as exc:
        raise RequestValidationError([{"loc": ("body",), "msg": str(exc)}]) from None


@router.get("/retention/preview", tags=["system"], openapi_extra=needs("retention.run"))
def retention_preview(actor: ActorDep, overt: OvertDep) -> dict[str, int]:
    """What a retention run would delete now (nothing is deleted)."""
    return overt.system.retention_preview(actor)


@router.post("/users/{name}/disable", tags=["users"], openapi_extra=needs("user.manage"))
def disable_user(name: str, body: Disable, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Disable a user at once (the account stays, so the log keeps its name)."""
    overt.system.disable_user(actor, name, body.reason)
    return {"name": name, "disabled": True}


@router.post("/users/{name}/token", tags=["users"], openapi_extra=needs("user.manage"))
def new_token(name: str, actor: ActorDep, overt: OvertDep) -> dict[str, str]:
    """Replace a user's token; the new one is in this response only, the old one stops working."""
    return {"name": name, "token": overt.system.reset_token(actor, name)}
