"""The transparency site's API (no login, rate-limited) and the moderation of the public's reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ...services import Refused
from ...services.cameras import to_geojson
from ..auth import ActorDep, OvertDep
from .cameras import CAMERA_ID, CameraFields
from .common import JPEG_RESPONSE, PUBLIC, jpeg, needs

router = APIRouter(prefix="/api/public", tags=["public"])
moderation = APIRouter(prefix="/api/moderation", tags=["moderation"])


@router.get("/info", openapi_extra=needs(PUBLIC))
def info(request: Request) -> dict[str, Any]:
    """What the public pages need to know: the map's tile server, upload limits, whether this is a demo."""
    settings = request.app.state.settings
    return {
        "demo": settings.demo,
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "max_report_bytes": settings.max_report_bytes,
    }


@router.get("/accounts", openapi_extra=needs(PUBLIC))
def accounts(overt: OvertDep) -> dict[str, int]:
    """How many active accounts hold each role: who can approve, operate and review is a public number."""
    return overt.system.role_counts()


@router.get("/cameras", openapi_extra=needs(PUBLIC))
def public_cameras(overt: OvertDep) -> list[dict[str, Any]]:
    """Every registered camera with its location, direction and public notice (never its source)."""
    return overt.cameras.public()


@router.get(
    "/cameras.geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
    openapi_extra=needs(PUBLIC),
)
def public_geojson(overt: OvertDep) -> JSONResponse:
    """The registry as GeoJSON with OpenStreetMap surveillance tags, to compare with community maps."""
    return JSONResponse(to_geojson(overt.cameras.public()), media_type="application/geo+json")


@router.get("/deployments", openapi_extra=needs(PUBLIC))
def public_deployments(overt: OvertDep) -> list[dict[str, Any]]:
    """Each deployment that was allowed to run: when, where, why, the watchlist's size (never who is on
    it), faces seen, alerts, confirmed matches, false alerts and outcomes, as counts."""
    return overt.deployments.public_records()


@router.get("/deployments/{deployment_id}", openapi_extra=needs(PUBLIC))
def public_deployment(deployment_id: int, overt: OvertDep) -> dict[str, Any]:
    """One deployment's public summary (404 for applications never authorised)."""
    records = overt.deployments.public_records(deployment_id)
    if not records:
        raise Refused("unknown-deployment", f"no published deployment {deployment_id}")
    return records[0]


@router.get("/deployments/{deployment_id}/record", openapi_extra=needs(PUBLIC))
def public_deployment_record(deployment_id: int, overt: OvertDep) -> dict[str, Any]:
    """The deployment record as the reports compute it, cut to its public items: every figure with the
    query and audit records it came from, so anyone can check it."""
    return overt.reports.public_deployment(deployment_id)


@router.post("/camera-reports", status_code=status.HTTP_201_CREATED, openapi_extra=needs(PUBLIC, body="report"))
async def report_camera(
    request: Request,
    overt: OvertDep,
    lat: Annotated[float, Form(ge=-90, le=90)],
    lon: Annotated[float, Form(ge=-180, le=180)],
    note: Annotated[str, Form(max_length=2000, description="What you saw, where it points.")] = "",
    photo: Annotated[UploadFile | None, File(description="Optional photo of the camera.")] = None,
) -> dict[str, Any]:
    """Report a camera that is not on the map; it waits for moderation. Photos lose their metadata."""
    data = await photo.read() if photo is not None else b""
    limit = request.app.state.settings.max_report_bytes
    report_id = await run_in_threadpool(overt.cameras.report, lat, lon, note, data or None, max_bytes=limit)
    return {"id": report_id, "status": "pending"}


class Accept(CameraFields):
    """The camera to register from the report; its location defaults to the reported one."""

    id: str = Field(pattern=CAMERA_ID)


@moderation.get("/reports", openapi_extra=needs("public.moderate"))
def reports(
    actor: ActorDep,
    overt: OvertDep,
    status: Annotated[Literal["pending", "accepted", "rejected"] | None, Query()] = "pending",
) -> list[dict[str, Any]]:
    """The public's camera reports waiting for moderation (or those already accepted or rejected)."""
    return overt.cameras.reports(actor, status)


@moderation.get(
    "/reports/{report_id}/photo",
    response_class=Response,
    responses=JPEG_RESPONSE,
    openapi_extra=needs("public.moderate"),
)
def report_photo(report_id: int, actor: ActorDep, overt: OvertDep) -> Response:
    """The report's photo (re-encoded, metadata removed), until the report is moderated."""
    return jpeg(overt.cameras.report_photo(actor, report_id))


@moderation.post("/reports/{report_id}/accept", openapi_extra=needs("public.moderate"))
def accept(report_id: int, body: Accept, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Accept: the camera is registered (and published) in the same transaction; the photo is deleted."""
    status_ = overt.cameras.moderate(actor, report_id, "accept", body.info(body.id))
    return {"id": report_id, "status": status_, "camera": body.id}


@moderation.post("/reports/{report_id}/reject", openapi_extra=needs("public.moderate"))
def reject(report_id: int, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Reject (a duplicate, not a camera, not public space); the photo is deleted."""
    return {"id": report_id, "status": overt.cameras.moderate(actor, report_id, "reject")}
