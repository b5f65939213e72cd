"""The camera registry: every camera that may ever run face recognition, published with its notice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..governance.permissions import Refused
from ..storage.models import Camera
from .core import Actor, operate

if TYPE_CHECKING:
    from . import Overt

CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MOUNTS = ("", "pole", "wall", "ceiling", "street_lamp", "vehicle", "bodyworn", "mobile")
TYPES = ("", "fixed", "panning", "dome")


@dataclass(frozen=True)
class CameraInfo:
    id: str
    source: str = ""
    name: str = ""
    lat: float | None = None
    lon: float | None = None
    direction: float | None = None
    mount: str = ""
    camera_type: str = ""
    zone: str = ""
    operator: str = ""
    public_notice: str = ""

    def validate(self) -> None:
        if not CAMERA_ID.match(self.id):
            raise Refused("camera-id", "camera ids are 1-64 letters, digits, '.', '_' or '-'")
        if self.lat is not None and not -90 <= self.lat <= 90:
            raise Refused("camera-location", "latitude must be between -90 and 90")
        if self.lon is not None and not -180 <= self.lon <= 180:
            raise Refused("camera-location", "longitude must be between -180 and 180")
        if self.direction is not None and not 0 <= self.direction < 360:
            raise Refused("camera-direction", "direction is degrees clockwise from north, 0 to 359")
        if self.mount not in MOUNTS:
            raise Refused("camera-mount", f"mount is one of {', '.join(m for m in MOUNTS if m)}")
        if self.camera_type not in TYPES:
            raise Refused("camera-type", f"type is one of {', '.join(t for t in TYPES if t)}")


def public_view(camera: Camera) -> dict[str, Any]:
    """What anyone may see: never the source address (it can carry credentials)."""
    return {
        "id": camera.id,
        "name": camera.name,
        "lat": camera.lat,
        "lon": camera.lon,
        "direction": camera.direction,
        "mount": camera.mount,
        "type": camera.camera_type,
        "zone": camera.zone,
        "operator": camera.operator,
        "public_notice": camera.public_notice,
    }


def to_geojson(cameras: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenStreetMap's surveillance tagging, so registries and community maps can be compared."""
    features = []
    for c in cameras:
        if c["lat"] is None or c["lon"] is None:
            continue
        tags = {
            "man_made": "surveillance",
            "surveillance": "public",
            "surveillance:type": "camera",
            "ref": c["id"],
            "name": c["name"],
            "camera:type": c["type"],
            "camera:mount": c["mount"],
            "camera:direction": None if c["direction"] is None else str(int(c["direction"])),
            "surveillance:zone": c["zone"],
            "operator": c["operator"],
            "description": c["public_notice"],
        }
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                "properties": {k: v for k, v in tags.items() if v not in (None, "")},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def from_geojson(data: dict[str, Any]) -> list[CameraInfo]:
    if data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise Refused("geojson", "expected a GeoJSON FeatureCollection")
    cameras = []
    for number, feature in enumerate(data["features"], start=1):
        props = feature.get("properties") or {}
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "Point" or props.get("man_made") != "surveillance":
            raise Refused("geojson", f"feature {number} is not a surveillance Point")
        lon, lat = geometry["coordinates"][:2]
        direction = props.get("camera:direction")
        cameras.append(
            CameraInfo(
                id=str(props.get("ref") or f"imported-{number}"),
                name=props.get("name", ""),
                lat=float(lat),
                lon=float(lon),
                direction=float(direction) if direction not in (None, "") else None,
                mount=props.get("camera:mount", ""),
                camera_type=props.get("camera:type", ""),
                zone=props.get("surveillance:zone", ""),
                operator=props.get("operator", ""),
                public_notice=props.get("description", ""),
            )
        )
    return cameras


class CameraService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def add(self, actor: Actor, info: CameraInfo, *, replace: bool = False) -> None:
        info.validate()
        with operate(self.overt, actor, "camera.manage") as op:
            camera = op.session.get(Camera, info.id)
            if camera is not None and not replace:
                raise Refused("camera-exists", f"camera {info.id!r} is already registered")
            before = {k: getattr(camera, k) for k in info.__dict__} if camera is not None else {}
            camera = camera or Camera(id=info.id)
            for key, value in info.__dict__.items():
                setattr(camera, key, value)
            op.session.add(camera)
            if replace:
                changed = tuple(k for k, v in info.__dict__.items() if before.get(k) != v)
                op.record("camera.update", object_type="camera", object_id=info.id, camera=info.id, changed=changed)
            else:
                op.record(
                    "camera.add",
                    object_type="camera",
                    object_id=info.id,
                    camera=info.id,
                    camera_type=info.camera_type,
                    zone=info.zone,
                )

    def remove(self, actor: Actor, camera_id: str, reason: str = "") -> None:
        with operate(self.overt, actor, "camera.manage") as op:
            camera = op.session.get(Camera, camera_id)
            if camera is None:
                raise Refused("unknown-camera", f"no camera {camera_id!r}")
            op.session.delete(camera)
            op.record("camera.remove", object_type="camera", object_id=camera_id, camera=camera_id, reason=reason)

    def get(self, actor: Actor, camera_id: str) -> dict[str, Any]:
        with operate(self.overt, actor, "camera.read") as op:
            camera = op.session.get(Camera, camera_id)
            if camera is None:
                raise Refused("unknown-camera", f"no camera {camera_id!r}")
            return {**public_view(camera), "source": camera.source}

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        with operate(self.overt, actor, "camera.read") as op:
            return [
                {**public_view(c), "source": c.source} for c in op.session.scalars(select(Camera).order_by(Camera.id))
            ]

    def public(self) -> list[dict[str, Any]]:
        """The public registry (no login, no sources)."""
        with self.overt.db.session() as session:
            return [public_view(c) for c in session.scalars(select(Camera).order_by(Camera.id))]

    def import_geojson(self, actor: Actor, data: dict[str, Any]) -> int:
        cameras = from_geojson(data)
        for info in cameras:
            self.add(actor, info, replace=True)
        return len(cameras)
