"""The life of a deployment: applied, then approved, rejected or returned by an authority; amended
(back to pending), revoked, or started urgently and lapsing if no approval follows in 24 hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.models import Assignment, Camera, Decision, Deployment, User, Watchlist
from .calibrated import Calibrated
from .gate import URGENT_GRACE
from .permissions import Refused, Role
from .spec import DeploymentSpec, SpecError

MAX_APPROVAL = timedelta(days=90)


class Amended(Refused):
    """Something the approval pinned changed: the deployment is suspended until approved again."""

    def __init__(self, deployment_id: int, changes: list[str]) -> None:
        super().__init__(
            "amended", f"deployment {deployment_id} changed since approval ({'; '.join(changes)}): needs approval"
        )
        self.deployment_id = deployment_id
        self.changes = changes


def get(session: Session, deployment_id: int) -> Deployment:
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise Refused("unknown-deployment", f"no deployment {deployment_id}")
    return deployment


def _decide(session: Session, deployment: Deployment, actor: str, decision: str, reason: str, now: datetime) -> None:
    session.add(
        Decision(
            deployment_id=deployment.id,
            actor=actor,
            decision=decision,
            reason=reason,
            spec_sha256=deployment.spec_sha256,
            at=now,
        )
    )


def plan_problems(spec: DeploymentSpec, now: datetime) -> list[str]:
    """What is wrong with an application's plan now, one line per field: windows already over, or out of order."""
    problems = []
    for number, window in enumerate(spec.windows):
        if window.end <= now:
            problems.append(f"windows[{number}]: ended at {window.end.isoformat()}, before now; windows lie ahead")
        if number and window.start < spec.windows[number - 1].end:
            problems.append(f"windows[{number}]: starts before windows[{number - 1}] ends; list windows in order")
    return problems


def missing_things(session: Session, spec: DeploymentSpec) -> list[str]:
    """Cameras and watchlists an application names that do not exist yet (not errors: created before use)."""
    notes = []
    for camera in spec.cameras:
        if session.get(Camera, camera) is None:
            notes.append(f"camera {camera!r} is not registered yet: register it (overt camera add) before approval")
    for name in spec.watchlists:
        if session.scalar(select(Watchlist.id).where(Watchlist.name == name)) is None:
            notes.append(f"watchlist {name!r} does not exist yet: create it (overt watchlist create) before enrolling")
    return notes


def apply(session: Session, spec: DeploymentSpec, applicant: str, now: datetime, calibrated: Calibrated) -> Deployment:
    problems = plan_problems(spec, now)
    if problems:
        raise SpecError("\n".join(problems))
    if spec.threshold is not None:
        calibrated.check(spec.threshold)
    if spec.authority == applicant:
        raise Refused("own-application", "an applicant cannot be the authority asked")
    authority = session.scalar(select(User).where(User.name == spec.authority))
    if authority is None or authority.role != Role.AUTHORITY:
        raise Refused("authority", f"{spec.authority!r} is not an authority user")
    deployment = Deployment(
        name=spec.name,
        spec=spec.canonical(),
        spec_sha256=spec.sha256(),
        status="pending",
        applicant=applicant,
        created_at=now,
    )
    session.add(deployment)
    session.flush()
    _decide(session, deployment, applicant, "applied", "", now)
    session.add(Assignment(deployment_id=deployment.id, user_name=applicant, assigned_by=applicant, at=now))
    return deployment


def amend(
    session: Session,
    deployment: Deployment,
    spec: DeploymentSpec,
    actor: str,
    now: datetime,
    calibrated: Calibrated | None = None,
) -> None:
    """Any change needs a new approval: the deployment returns to pending."""
    if deployment.status in ("revoked", "rejected", "lapsed"):
        raise Refused("closed", f"deployment {deployment.id} is {deployment.status}; apply again")
    if spec.threshold is not None and calibrated is not None:
        calibrated.check(spec.threshold)
    if actor != deployment.applicant:
        raise Refused("not-applicant", "only the applicant may amend an application")
    deployment.spec, deployment.spec_sha256, deployment.name = spec.canonical(), spec.sha256(), spec.name
    deployment.status = "pending"
    deployment.approval_expires_at = None
    _decide(session, deployment, actor, "amended", "", now)


def decide(
    session: Session,
    deployment: Deployment,
    actor: str,
    decision: str,
    reason: str,
    now: datetime,
    calibrated: Calibrated | None = None,
    accept_exception: bool = False,
) -> None:
    """approve | reject | return, by the authority named in the application (never the applicant).

    An approval checks the applied-for threshold against the calibration in force now, and a single
    reviewer only with the authority's explicit acceptance of the stated legal exception."""
    if decision not in ("approve", "reject", "return"):
        raise Refused("decision", f"unknown decision {decision!r}")
    if not reason.strip():
        raise Refused("reason", "a decision needs a reason")
    if actor == deployment.applicant:
        raise Refused("own-application", "nobody approves their own application")
    if actor != deployment.spec["authority"]:
        raise Refused("wrong-authority", f"this application asks {deployment.spec['authority']!r}, not {actor!r}")
    if deployment.status not in ("pending", "urgent", "amended"):
        raise Refused("not-pending", f"deployment {deployment.id} is {deployment.status}")
    if decision == "approve":
        spec = deployment.spec
        if spec.get("threshold") is not None and calibrated is not None:
            calibrated.check(float(spec["threshold"]))
        if int(spec.get("reviewers_required", 2)) < 2 and not accept_exception:
            raise Refused(
                "reviewers",
                "one reviewer only under the stated legal exception (AI Act Art. 14(5)), accepted explicitly "
                "(--accept-single-reviewer-exception)",
            )
    status = {"approve": "approved", "reject": "rejected", "return": "returned"}[decision]
    deployment.status = status
    deployment.decided_by, deployment.decided_at = actor, now
    deployment.drift = None
    if status == "approved":
        last_end = max(datetime.fromisoformat(w["end"]) for w in deployment.spec["windows"])
        deployment.approval_expires_at = min(last_end, now + MAX_APPROVAL)
    _decide(session, deployment, actor, status, reason, now)


def revoke(session: Session, deployment: Deployment, actor: str, reason: str, now: datetime) -> None:
    if deployment.status in ("revoked", "rejected", "lapsed"):
        raise Refused("closed", f"deployment {deployment.id} is already {deployment.status}")
    if not reason.strip():
        raise Refused("reason", "a revocation needs a reason")
    deployment.status = "revoked"
    _decide(session, deployment, actor, "revoked", reason, now)


def urgent_start(session: Session, deployment: Deployment, actor: str, justification: str, now: datetime) -> None:
    if actor != deployment.applicant:
        raise Refused("not-applicant", "only the applicant may start urgently")
    if deployment.status != "pending":
        raise Refused("not-pending", f"deployment {deployment.id} is {deployment.status}")
    if deployment.urgent_first_at is not None:
        raise Refused(
            "urgent-once",
            f"deployment {deployment.id} already started urgently at {deployment.urgent_first_at:%Y-%m-%d %H:%M}Z; "
            "an application starts urgently once, and amendments do not reset its 24 hours",
        )
    if len(justification.strip()) < 10:
        raise Refused("justification", "an urgent start needs a recorded justification")
    deployment.status = "urgent"
    deployment.urgent_justification = justification
    deployment.urgent_started_at = deployment.urgent_first_at = now
    _decide(session, deployment, actor, "urgent", justification, now)


def urgent_lapsed(deployment: Deployment, now: datetime) -> bool:
    """An urgent start that was rejected, or not approved within 24 hours (still waiting, returned, amended,
    revoked): everything it produced must go."""
    if deployment.urgent_started_at is None:
        return False
    if deployment.status == "rejected":
        return True
    return deployment.status != "approved" and now > deployment.urgent_started_at + URGENT_GRACE


def suspend(session: Session, deployment: Deployment, actor: str, changes: list[str], now: datetime) -> None:
    """Something pinned by the approval changed: amended, needs approval; the authority sees `changes`."""
    deployment.status = "amended"
    deployment.drift = changes
    _decide(session, deployment, actor, "suspended", "; ".join(changes), now)
