"""The public site's readable pages: a deployment's record and how to use one's rights (no login)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ...services import Refused
from ...web.record import deployment_page, rights_page
from ..auth import OvertDep
from .common import PUBLIC, needs

router = APIRouter(include_in_schema=False)


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse, openapi_extra=needs(PUBLIC))
def deployment(deployment_id: int, overt: OvertDep) -> HTMLResponse:
    records = overt.deployments.public_records(deployment_id)
    if not records:
        raise Refused("unknown-deployment", f"no published deployment {deployment_id}")
    return HTMLResponse(deployment_page(records[0], overt.reports.public_deployment(deployment_id)))


@router.get("/rights", response_class=HTMLResponse, openapi_extra=needs(PUBLIC))
def rights(overt: OvertDep) -> HTMLResponse:
    return HTMLResponse(rights_page(overt.rights.contacts()))
