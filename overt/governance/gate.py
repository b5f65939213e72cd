"""The gate: is this biometric operation allowed now, under this deployment? One place, every caller.

Each rule has a stable name so refusals can be counted in reports and asserted in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import object_session

from ..storage.models import Deployment
from . import pauses
from .permissions import Refused

URGENT_GRACE = timedelta(hours=24)

# operation -> deployment mode it needs (None: either)
OPERATION_MODE = {"watch": "live", "identify": "retrospective", "enroll": None}


@dataclass(frozen=True)
class Scope:
    """What the caller wants to touch; None means the operation does not involve it."""

    operation: str
    camera: str | None = None
    watchlists: tuple[str, ...] = ()
    watchlist_sizes: tuple[int, ...] = ()
    adding: int = 0
    threshold: float | None = None
    category: str | None = None
    case: str | None = None


def effective_threshold(deployment: Deployment, calibrated: float) -> float:
    """The approved threshold, never below the calibrated default."""
    approved = deployment.spec.get("threshold")
    return max(calibrated, approved) if approved is not None else calibrated


def in_force(deployment: Deployment, now: datetime) -> None:
    """Approved (or a live urgent start) and not expired, revoked or changed since approval."""
    status = deployment.status
    if status == "urgent":
        assert deployment.urgent_started_at is not None
        if now > deployment.urgent_started_at + URGENT_GRACE:
            raise Refused("urgent-lapsed", f"deployment {deployment.id}: urgent start not approved within 24 hours")
        return
    if status != "approved":
        raise Refused("not-approved", f"deployment {deployment.id} is {status}, not approved")
    if deployment.approval_expires_at is not None and now >= deployment.approval_expires_at:
        raise Refused(
            "approval-expired",
            f"deployment {deployment.id}'s approval expired at {deployment.approval_expires_at:%Y-%m-%d %H:%M}Z",
        )


def not_paused(deployment: Deployment, camera: str | None) -> None:
    """A safe stop in force over the deployment, or over this camera, refuses everything it covers."""
    session = object_session(deployment)
    pause = pauses.active(session, deployment.id, camera) if session is not None else None
    if pause is not None:
        raise Refused("paused", f"deployment {deployment.id}: {pauses.describe(pause)}")


def check(deployment: Deployment, scope: Scope, now: datetime, calibrated_threshold: float) -> None:
    """Raise Refused naming the first rule the operation breaks."""
    in_force(deployment, now)
    not_paused(deployment, scope.camera)
    spec = deployment.spec
    wanted_mode = OPERATION_MODE.get(scope.operation)
    if wanted_mode and spec["mode"] != wanted_mode:
        raise Refused("mode", f"{scope.operation} needs a {wanted_mode} deployment; {deployment.id} is {spec['mode']}")
    if scope.operation != "enroll" and not any(
        datetime.fromisoformat(w["start"]) <= now < datetime.fromisoformat(w["end"]) for w in spec["windows"]
    ):
        raise Refused("window", f"now ({now:%Y-%m-%d %H:%M}Z) is outside deployment {deployment.id}'s time windows")
    if scope.camera is not None and scope.camera not in spec["cameras"]:
        raise Refused("camera", f"camera {scope.camera!r} is not in deployment {deployment.id}")
    for name in scope.watchlists:
        if name not in spec["watchlists"]:
            raise Refused("watchlist", f"watchlist {name!r} is not in deployment {deployment.id}")
    for name, size in zip(scope.watchlists, scope.watchlist_sizes, strict=False):
        if size + scope.adding > spec["max_watchlist_size"]:
            raise Refused(
                "watchlist-size",
                f"watchlist {name!r} would hold {size + scope.adding} subjects; "
                f"the deployment allows {spec['max_watchlist_size']}",
            )
    if scope.category is not None and scope.category not in spec["categories"]:
        raise Refused("category", f"subject category {scope.category!r} is not allowed by deployment {deployment.id}")
    if scope.threshold is not None and scope.threshold < effective_threshold(deployment, calibrated_threshold):
        raise Refused(
            "threshold",
            f"threshold {scope.threshold} is below the approved "
            f"{effective_threshold(deployment, calibrated_threshold):.4f}",
        )
    if spec["mode"] == "retrospective" and scope.operation == "identify" and not scope.case:
        raise Refused("case", "a retrospective search needs a case reference (--case REF)")
