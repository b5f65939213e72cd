"""The observatory on the public site: the deployments index (map, table, aggregates) and the camera map,
read-only and rate-limited like the rest of /api/public. Edits go through `overt observatory ...`, where
each change is recorded in the index's history."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from ...observatory import Observatory
from ...observatory import cameras as camera_map
from .common import PUBLIC, needs
from .pages import page

router = APIRouter(prefix="/api/public/observatory", tags=["observatory"])
pages = APIRouter(include_in_schema=False)
_opening = threading.Lock()


def observatory(request: Request) -> Observatory:
    """This installation's observatory database (HOME/observatory.db), opened once per app."""
    state = request.app.state
    with _opening:
        if getattr(state, "observatory", None) is None:
            state.observatory = Observatory(state.overt.settings.home / "observatory.db")
    return state.observatory


@pages.get("/observatory", openapi_extra=needs(PUBLIC))
def observatory_page() -> FileResponse:
    return page("observatory.html")


@router.get("/deployments", openapi_extra=needs(PUBLIC))
def deployments(
    request: Request, reviewed: Annotated[bool, Query(description="Only records a reviewer signed off.")] = False
) -> list[dict[str, Any]]:
    """Uses of facial recognition anywhere, with sources, status, confidence and who signed each version off."""
    return observatory(request).records(reviewed_only=reviewed)


@router.get("/head", openapi_extra=needs(PUBLIC))
def head(request: Request) -> dict[str, Any]:
    """The change history's head: keep it, and `overt observatory index verify --head` later proves the
    history was not rewritten behind your back."""
    return observatory(request).head()


@router.get("/aggregates", openapi_extra=needs(PUBLIC))
def aggregates(request: Request) -> dict[str, list[dict[str, Any]]]:
    """The index counted by country, vendor, year and technology."""
    return observatory(request).aggregates()


@router.get(
    "/cameras.geojson",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
    openapi_extra=needs(PUBLIC),
)
def cameras(request: Request) -> JSONResponse:
    """Cameras from OpenStreetMap and citizens' reports, duplicates judged by a moderator left out."""
    return JSONResponse(camera_map.to_geojson(observatory(request)), media_type="application/geo+json")


@router.get("/coverage", openapi_extra=needs(PUBLIC))
def coverage(request: Request, cell_km: Annotated[float, Query(ge=0.05, le=100)] = 1.0) -> dict[str, Any]:
    """Cameras per grid cell: count, density, public-space share, types."""
    return camera_map.coverage(observatory(request), cell_km)
