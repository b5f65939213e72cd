"""The camera registry: every camera that may ever run face recognition, published with its notice."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image
from sqlalchemy import select

from ..engine import ImageLimits, load_image
from ..governance.permissions import PERMISSIONS, Refused
from ..storage.models import Camera, CameraReport
from ..streams.sources import redact
from .core import PUBLIC, Actor, Operation, operate

if TYPE_CHECKING:
    from . import Overt

CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REPORT_CONTEXT = "camera-report"
REPORT_PHOTO_SIDE = 1600  # re-encoded no larger: enough to judge a camera, and it sheds EXIF (GPS, device)
REPORT_NOTE_MAX = 2000
REPORT_MAX_BYTES = 5 * 1024 * 1024
# A camera's live status as the stream supervisor reports it: {camera id: health as JSON}.
HealthSource = Callable[[], dict[str, dict[str, Any]]]
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


def report_view(report: CameraReport) -> dict[str, Any]:
    """A public report as moderators see it (the photo is fetched separately)."""
    return {
        "id": report.id,
        "lat": report.lat,
        "lon": report.lon,
        "note": report.note,
        "has_photo": report.photo is not None,
        "status": report.status,
        "created": report.created_at.isoformat(),
    }


def clean_photo(data: bytes, max_bytes: int = REPORT_MAX_BYTES) -> bytes:
    """Decode safely (size limits before pixels; ImageError if hostile), shrink, and re-encode as JPEG:
    no metadata (GPS, device) survives."""
    image = Image.fromarray(load_image(data, ImageLimits(max_pixels=40_000_000, max_bytes=max_bytes)))
    image.thumbnail((REPORT_PHOTO_SIDE, REPORT_PHOTO_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


class CameraService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt
        self.health_source: HealthSource | None = None  # set by the stream supervisor when it runs

    def add(self, actor: Actor, info: CameraInfo, *, replace: bool = False) -> None:
        info.validate()
        with operate(self.overt, actor, "camera.manage") as op:
            self._register(op, info, replace)

    @staticmethod
    def _register(op: Operation, info: CameraInfo, replace: bool) -> None:
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
            op.session.flush()
            op.overt.deployments.suspend_drifted(op)  # a re-pointed or moved camera needs a new approval
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
            op.session.flush()
            op.overt.deployments.suspend_drifted(op)

    def get(self, actor: Actor, camera_id: str) -> dict[str, Any]:
        with operate(self.overt, actor, "camera.read") as op:
            camera = op.session.get(Camera, camera_id)
            if camera is None:
                raise Refused("unknown-camera", f"no camera {camera_id!r}")
            return self._view(actor, camera)

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        with operate(self.overt, actor, "camera.read") as op:
            return [self._view(actor, c) for c in op.session.scalars(select(Camera).order_by(Camera.id))]

    @staticmethod
    def _view(actor: Actor, camera: Camera) -> dict[str, Any]:
        """The source address can carry the camera's credentials: only those who manage cameras see it."""
        if actor.role in PERMISSIONS["camera.manage"]:
            return {**public_view(camera), "source": camera.source}
        return {**public_view(camera), "source": redact(camera.source)}

    def public(self) -> list[dict[str, Any]]:
        """The public registry (no login, no sources)."""
        with self.overt.db.session() as session:
            return [public_view(c) for c in session.scalars(select(Camera).order_by(Camera.id))]

    def import_geojson(self, actor: Actor, data: dict[str, Any]) -> int:
        """All or nothing, in one gated operation (so even an empty import checks the role)."""
        with operate(self.overt, actor, "camera.manage") as op:
            cameras = from_geojson(data)
            for info in cameras:
                info.validate()
                self._register(op, info, replace=True)
            return len(cameras)

    def health(self, actor: Actor) -> dict[str, dict[str, Any]]:
        """Live status per camera from the stream supervisor ({} when none runs in this process)."""
        with operate(self.overt, actor, "camera.read"):
            return dict(self.health_source()) if self.health_source is not None else {}

    # --- the public's reports of unregistered cameras ---------------------------------------------
    def report(
        self, lat: float, lon: float, note: str = "", photo: bytes | None = None, *, max_bytes: int = REPORT_MAX_BYTES
    ) -> int:
        """Anyone may report a camera; it waits for moderation. The photo is cleaned, then encrypted."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Refused("camera-location", "latitude must be within -90..90 and longitude within -180..180")
        if len(note) > REPORT_NOTE_MAX:
            raise Refused("note", f"a note is at most {REPORT_NOTE_MAX} characters")
        cleaned = clean_photo(photo, max_bytes) if photo else None
        with self.overt.db.session() as session:
            report = CameraReport(
                lat=lat,
                lon=lon,
                note=note.strip(),
                photo=self.overt.keys.encrypt(cleaned, REPORT_CONTEXT) if cleaned else None,
                status="pending",
            )
            session.add(report)
            session.flush()
            self.overt.record(
                session,
                "public.camera_report",
                actor=PUBLIC.name,
                object_type="camera_report",
                object_id=str(report.id),
                report_id=report.id,
                with_photo=cleaned is not None,
            )
            return report.id

    def reports(self, actor: Actor, status: str | None = "pending") -> list[dict[str, Any]]:
        with operate(self.overt, actor, "public.moderate") as op:
            query = select(CameraReport).order_by(CameraReport.id.desc())
            if status:
                query = query.where(CameraReport.status == status)
            return [report_view(r) for r in op.session.scalars(query)]

    def report_photo(self, actor: Actor, report_id: int) -> bytes:
        with operate(self.overt, actor, "public.moderate") as op:
            report = self._report(op, report_id)
            if report.photo is None:
                raise Refused("no-photo", f"report {report_id} has no photo (none sent, or already moderated)")
            return self.overt.keys.decrypt(report.photo, REPORT_CONTEXT)

    def moderate(self, actor: Actor, report_id: int, decision: str, camera: CameraInfo | None = None) -> str:
        """accept (registering `camera` in the same transaction) or reject; the photo is deleted either way."""
        if decision not in ("accept", "reject"):
            raise Refused("decision", "moderate with accept or reject")
        if decision == "accept":
            if camera is None:
                raise Refused("camera", "accepting a report registers a camera: give its details")
            camera.validate()
        with operate(self.overt, actor, "public.moderate") as op:
            report = self._report(op, report_id)
            if report.status != "pending":
                raise Refused("moderated", f"report {report_id} is already {report.status}")
            if decision == "accept":
                assert camera is not None
                if camera.lat is None or camera.lon is None:
                    camera = dataclasses.replace(camera, lat=report.lat, lon=report.lon)
                self._register(op, camera, replace=False)
            report.status = "accepted" if decision == "accept" else "rejected"
            report.photo = None
            op.record(
                "public.moderate",
                object_type="camera_report",
                object_id=report_id,
                report_id=report_id,
                decision=decision,
                camera=camera.id if camera is not None and decision == "accept" else "",
            )
            return report.status

    @staticmethod
    def _report(op: Operation, report_id: int) -> CameraReport:
        report = op.session.get(CameraReport, report_id)
        if report is None:
            raise Refused("unknown-report", f"no report {report_id}")
        return report
