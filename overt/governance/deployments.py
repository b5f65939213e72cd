"""The life of a deployment: applied, then approved, rejected or returned by an authority; amended
(back to pending), revoked, or started urgently and lapsing if no approval follows in 24 hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.models import Decision, Deployment, User
from .gate import URGENT_GRACE
from .permissions import Refused, Role
from .spec import DeploymentSpec

MAX_APPROVAL = timedelta(days=90)


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


def apply(session: Session, spec: DeploymentSpec, applicant: str, now: datetime) -> Deployment:
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
    return deployment


def amend(session: Session, deployment: Deployment, spec: DeploymentSpec, actor: str, now: datetime) -> None:
    """Any change needs a new approval: the deployment returns to pending."""
    if deployment.status in ("revoked", "rejected", "lapsed"):
        raise Refused("closed", f"deployment {deployment.id} is {deployment.status}; apply again")
    if actor != deployment.applicant:
        raise Refused("not-applicant", "only the applicant may amend an application")
    deployment.spec, deployment.spec_sha256, deployment.name = spec.canonical(), spec.sha256(), spec.name
    deployment.status = "pending"
    deployment.approval_expires_at = None
    _decide(session, deployment, actor, "amended", "", now)


def decide(session: Session, deployment: Deployment, actor: str, decision: str, reason: str, now: datetime) -> None:
    """approve | reject | return, by the authority named in the application (never the applicant)."""
    if decision not in ("approve", "reject", "return"):
        raise Refused("decision", f"unknown decision {decision!r}")
    if not reason.strip():
        raise Refused("reason", "a decision needs a reason")
    if actor == deployment.applicant:
        raise Refused("own-application", "nobody approves their own application")
    if actor != deployment.spec["authority"]:
        raise Refused("wrong-authority", f"this application asks {deployment.spec['authority']!r}, not {actor!r}")
    if deployment.status not in ("pending", "urgent"):
        raise Refused("not-pending", f"deployment {deployment.id} is {deployment.status}")
    status = {"approve": "approved", "reject": "rejected", "return": "returned"}[decision]
    deployment.status = status
    deployment.decided_by, deployment.decided_at = actor, now
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
    if len(justification.strip()) < 10:
        raise Refused("justification", "an urgent start needs a recorded justification")
    deployment.status = "urgent"
    deployment.urgent_justification = justification
    deployment.urgent_started_at = now
    _decide(session, deployment, actor, "urgent", justification, now)


def urgent_lapsed(deployment: Deployment, now: datetime) -> bool:
    """An urgent start that was rejected, or not approved within 24 hours (still waiting, returned, amended,
    revoked): everything it produced must go."""
    if deployment.urgent_started_at is None:
        return False
    if deployment.status == "rejected":
        return True
    return deployment.status != "approved" and now > deployment.urgent_started_at + URGENT_GRACE
