"""Safe stops (AI Act Art. 14(4)(e)): who on duty may pause a camera or a deployment, and what a pause covers.

A pause is a row, not a status: it covers one camera or (camera None) the whole deployment until an
operator resumes it, and the gate refuses everything it covers (rule `paused`). Camera workers re-run
the gate every few seconds, so a pause stops frames within seconds without any message to the worker.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..storage.models import Pause


def active(session: Session, deployment_id: int, camera: str | None = None) -> Pause | None:
    """The pause in force over this deployment (or this camera of it), if any; whole-deployment first."""
    covers = Pause.camera_id.is_(None) if camera is None else or_(Pause.camera_id.is_(None), Pause.camera_id == camera)
    query = select(Pause).where(Pause.deployment_id == deployment_id, Pause.resumed_at.is_(None), covers)
    return session.scalars(query.order_by(Pause.camera_id.is_not(None), Pause.id)).first()


def describe(pause: Pause) -> str:
    what = f"camera {pause.camera_id}" if pause.camera_id else "the whole deployment"
    return f"{what} paused by {pause.by} at {pause.at:%Y-%m-%d %H:%M:%S}Z: {pause.reason}"
