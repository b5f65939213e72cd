"""The approval as a snapshot: what the authority saw, pinned, so that the gate can tell when live state
has moved away from it (a camera re-pointed or moved, another calibration, cohort or model in force).

A deployment whose pinned state changed is suspended ("amended") until the authority approves again,
with the differences listed for them; nothing in the snapshot follows later changes by itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ..storage.models import Camera, Deployment
from .calibrated import Calibrated
from .permissions import Refused

CAMERA_FIELDS = ("source", "lat", "lon", "direction", "zone")


def camera_definition(camera: Camera | None) -> dict[str, Any]:
    if camera is None:
        return {"registered": False}
    return {key: getattr(camera, key) for key in CAMERA_FIELDS}


def pinned_state(session: Session, spec: dict[str, Any], calibrated: Calibrated) -> dict[str, Any]:
    """The parts of live state an approval pins: camera definitions and the calibration in force."""
    return {
        "cameras": {cid: camera_definition(session.get(Camera, cid)) for cid in spec.get("cameras", [])},
        "calibration": calibrated.identity(),
    }


def build(
    session: Session,
    deployment: Deployment,
    calibrated: Calibrated,
    threshold: float,
    watchlists: list[dict[str, Any]],
    assigned: list[str],
) -> dict[str, Any]:
    spec = deployment.spec
    return {
        **pinned_state(session, spec, calibrated),
        "spec_sha256": deployment.spec_sha256,
        "threshold": threshold,
        "watchlists": watchlists,
        "max_watchlist_size": spec["max_watchlist_size"],
        "reviewers_required": spec.get("reviewers_required", 2),
        "single_reviewer_exception": spec.get("single_reviewer_exception"),
        "retention_days": spec.get("retention_days"),
        "assigned": sorted(assigned),
    }


def digest(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def drift(session: Session, deployment: Deployment, calibrated: Calibrated | None) -> list[str]:
    """What changed since approval among the pinned parts, one line each (empty: nothing); without
    `calibrated`, the cameras only (what a camera change can have moved)."""
    snapshot = deployment.snapshot
    if not snapshot or deployment.status != "approved":
        return []
    if digest(snapshot) != deployment.snapshot_sha256:  # edited in the database, not approved
        return ["the approved snapshot no longer matches its hash (changed outside Overt)"]
    live = {
        "cameras": {cid: camera_definition(session.get(Camera, cid)) for cid in snapshot["cameras"]},
        "calibration": calibrated.identity() if calibrated else snapshot["calibration"],
    }
    lines = []
    for camera_id, approved in snapshot["cameras"].items():
        current = live["cameras"].get(camera_id, {"registered": False})
        for key in sorted(set(approved) | set(current)):
            if approved.get(key) == current.get(key):
                continue
            if key == "source":  # an address can carry credentials: say that it changed, not what it is
                lines.append(f"camera {camera_id} source: changed since approval")
            else:
                lines.append(f"camera {camera_id} {key}: approved {approved.get(key)!r}, now {current.get(key)!r}")
    for key, approved in snapshot["calibration"].items():
        if live["calibration"].get(key) != approved:
            lines.append(f"calibration {key}: approved {approved!r}, now {live['calibration'].get(key)!r}")
    return lines


def _same_source(a: str, b: str) -> bool:
    if a == b:
        return True
    if "://" in a or "://" in b or not a or not b:
        return False
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def check_source(session: Session, deployment: Deployment, camera_id: str, source: str) -> None:
    """Refuse (rule `camera-source`) a source other than the camera's approved one (its live one before an
    approval): analysing another recording is a retrospective search with a case reference."""
    if deployment.snapshot:
        approved = deployment.snapshot["cameras"].get(camera_id, {}).get("source") or ""
    else:
        camera = session.get(Camera, camera_id)
        approved = camera.source if camera is not None else ""
    if not _same_source(source, approved):
        raise Refused(
            "camera-source",
            f"{source!r} is not camera {camera_id!r}'s approved source; analysing a recording is a "
            "retrospective deployment (identify with --case)",
        )
