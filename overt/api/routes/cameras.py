"""The camera registry (with live health when the stream supervisor runs) and its GeoJSON import."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, ConfigDict, Field

from ...services.cameras import MOUNTS, TYPES, CameraInfo
from ..auth import ActorDep, OvertDep
from .common import needs

router = APIRouter(prefix="/api/cameras", tags=["cameras"])

CAMERA_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class CameraFields(BaseModel):
    """A camera's registry entry; `source` (which may hold credentials) is never published."""

    model_config = ConfigDict(populate_by_name=True)
    source: str = Field("", max_length=2000, description="Video file, rtsp:// or http(s):// URL, /dev/videoN.")
    name: str = Field("", max_length=128)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    direction: float | None = Field(None, ge=0, lt=360, description="Degrees clockwise from north.")
    mount: str = Field("", description=", ".join(m for m in MOUNTS if m))
    camera_type: str = Field("", alias="type", description=", ".join(t for t in TYPES if t))
    zone: str = Field("", max_length=32, description="e.g. town, transport, shop")
    operator: str = Field("", max_length=128)
    public_notice: str = Field("", max_length=4000)

    def info(self, camera_id: str) -> CameraInfo:
        return CameraInfo(camera_id, **self.model_dump(by_alias=False, include=set(CameraFields.model_fields)))


class NewCamera(CameraFields):
    id: str = Field(pattern=CAMERA_ID)


@router.get("", openapi_extra=needs("camera.read"))
def list_cameras(actor: ActorDep, overt: OvertDep) -> list[dict[str, Any]]:
    """Every registered camera with its source and, when the stream supervisor runs, its live health
    (`state`, `fps_in`/`fps_out`, `lag_s`, `drops`, `faces_seen`, `last_error`, ...; null otherwise)."""
    health = overt.cameras.health(actor)
    return [{**camera, "health": health.get(camera["id"])} for camera in overt.cameras.list(actor)]


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=needs("camera.manage"))
def add_camera(body: NewCamera, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Register a camera: it appears on the public map with its notice at once."""
    overt.cameras.add(actor, body.info(body.id))
    return overt.cameras.get(actor, body.id)


@router.post("/import", openapi_extra=needs("camera.manage", body="geojson"))
def import_cameras(
    actor: ActorDep,
    overt: OvertDep,
    geojson: Annotated[dict[str, Any], Body(description="A FeatureCollection with OSM surveillance tags.")],
) -> dict[str, int]:
    """Register or update cameras from GeoJSON (`man_made=surveillance`, `ref`, `camera:*` tags)."""
    return {"imported": overt.cameras.import_geojson(actor, geojson)}


@router.get("/{camera_id}", openapi_extra=needs("camera.read"))
def show_camera(camera_id: str, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """One camera with its source and live health (null when not running)."""
    camera = overt.cameras.get(actor, camera_id)
    return {**camera, "health": overt.cameras.health(actor).get(camera_id)}


@router.put("/{camera_id}", openapi_extra=needs("camera.manage"))
def update_camera(camera_id: str, body: CameraFields, actor: ActorDep, overt: OvertDep) -> dict[str, Any]:
    """Replace a camera's entry (registering it if new); the changed fields are audited."""
    overt.cameras.add(actor, body.info(camera_id), replace=True)
    return overt.cameras.get(actor, camera_id)


@router.delete("/{camera_id}", openapi_extra=needs("camera.manage"))
def remove_camera(
    camera_id: str, actor: ActorDep, overt: OvertDep, reason: Annotated[str, Query(max_length=2000)] = ""
) -> dict[str, str]:
    """Take a camera off the registry (and the public map)."""
    overt.cameras.remove(actor, camera_id, reason)
    return {"removed": camera_id}
