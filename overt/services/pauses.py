"""The safe stop: pause a camera or a whole deployment at once, resume under a still-valid approval.

Pausing is never refused for lack of a valid approval (stopping is always allowed); resuming is an
operator's action and runs the approval check first. Every pause and resume is audited and listed in
the deployment's public record. A deployment whose review queue outgrows its spec's `review.queue_limit`
pauses itself the same way and says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..governance import pauses as pause_rules
from ..governance.gate import in_force
from ..governance.permissions import Refused
from ..storage.models import Alert, Pause
from .core import Actor, Operation, operate

if TYPE_CHECKING:
    from . import Overt


def pause_view(pause: Pause) -> dict[str, Any]:
    return {
        "id": pause.id,
        "deployment": pause.deployment_id,
        "camera": pause.camera_id,
        "reason": pause.reason,
        "by": pause.by,
        "at": pause.at.isoformat(),
        "resumed_by": pause.resumed_by,
        "resumed_at": pause.resumed_at.isoformat() if pause.resumed_at else None,
    }


def _start(op: Operation, camera: str | None, reason: str, automatic: bool) -> Pause:
    assert op.deployment is not None
    pause = Pause(deployment_id=op.deployment.id, camera_id=camera, reason=reason, by=op.actor.name, at=op.at)
    op.session.add(pause)
    op.session.flush()
    op.record("deployment.pause", object_type="deployment", object_id=op.deployment.id, pause_id=pause.id,
              camera=camera or "", reason=reason, automatic=automatic)
    return pause


def pause_if_queue_full(op: Operation) -> Pause | None:
    """Inside a live operation that just raised an alert: past the spec's queue limit, pause the deployment."""
    assert op.deployment is not None
    limit = (op.deployment.spec.get("review") or {}).get("queue_limit")
    if not limit or pause_rules.active(op.session, op.deployment.id) is not None:
        return None
    pending = op.session.scalar(select(func.count(Alert.id)).where(
        Alert.deployment_id == op.deployment.id, Alert.status == "pending"))
    if pending <= limit:
        return None
    return _start(op, None, f"review queue of {pending} pending alerts is past the spec's limit of {limit}: "
                  "cameras paused until reviewers catch up", automatic=True)


class PauseService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def pause(self, actor: Actor, deployment_id: int, reason: str, camera: str | None = None) -> dict[str, Any]:
        """Stop now; a pause already in force over the same thing is returned as it is."""
        if not reason.strip():
            raise Refused("reason", "say why you pause (--reason): it is audited and published")
        with operate(self.overt, actor, "deployment.pause", deployment_id=deployment_id) as op:
            assert op.deployment is not None
            if camera is not None and camera not in op.deployment.spec.get("cameras", []):
                raise Refused("camera", f"camera {camera!r} is not in deployment {deployment_id}")
            current = pause_rules.active(op.session, deployment_id, camera)
            if current is not None and (current.camera_id is None or current.camera_id == camera):
                return pause_view(current)
            return pause_view(_start(op, camera, reason.strip(), automatic=False))

    def resume(self, actor: Actor, deployment_id: int, camera: str | None = None) -> list[dict[str, Any]]:
        """Lift the pause of `camera` (or, with None, every pause of the deployment) under a valid approval."""
        with operate(self.overt, actor, "deployment.resume", deployment_id=deployment_id) as op:
            assert op.deployment is not None
            in_force(op.deployment, op.at)
            query = select(Pause).where(Pause.deployment_id == deployment_id, Pause.resumed_at.is_(None))
            if camera is not None:
                query = query.where(Pause.camera_id == camera)
            lifted = list(op.session.scalars(query.order_by(Pause.id)))
            if not lifted:
                raise Refused("not-paused", f"deployment {deployment_id} has no pause in force"
                              + (f" on camera {camera!r}" if camera else ""))
            for pause in lifted:
                pause.resumed_by, pause.resumed_at = actor.name, op.at
                op.record("deployment.resume", object_type="deployment", object_id=deployment_id, pause_id=pause.id,
                          camera=pause.camera_id or "", spec_sha256=op.deployment.spec_sha256)
            return [pause_view(p) for p in lifted]

    def list(self, actor: Actor, deployment_id: int | None = None, *, limit: int = 100,
             before: int | None = None) -> list[dict[str, Any]]:
        """Newest first, a page at a time (`before`: the last id of the previous page)."""
        with operate(self.overt, actor, "deployment.read") as op:
            return [pause_view(p) for p in pauses_page(op.session, deployment_id, limit, before)]


def pauses_page(session: Session, deployment_id: int | None, limit: int, before: int | None) -> list[Pause]:
    query = select(Pause).order_by(Pause.id.desc()).limit(max(1, min(limit, 1000)))
    if deployment_id is not None:
        query = query.where(Pause.deployment_id == deployment_id)
    if before is not None:
        query = query.where(Pause.id < before)
    return list(session.scalars(query))


def public_pauses(session: Session, deployment_id: int) -> list[dict[str, Any]]:
    """Pauses as the public record lists them (the latest 1,000): when, what, why; not who."""
    return [{k: v for k, v in pause_view(p).items() if k not in ("by", "resumed_by")}
            for p in pauses_page(session, deployment_id, 1000, None)]
