"""Who works under which deployment: operators and reviewers act only under deployments they are assigned
to (in the approval, or by the DPO); the applicant is assigned by applying. Oversight roles (authority,
auditor, DPO) and the administrator are not assigned: they read as oversight, and act as their role allows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from ..storage.models import Alert, Assignment, Deployment, User
from .permissions import Refused, Role

ASSIGNED_ROLES = frozenset({Role.OPERATOR, Role.REVIEWER})


def assigned(session: Session, deployment_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Assignment.user_name).where(Assignment.deployment_id == deployment_id).order_by(Assignment.user_name)
        )
    )


def require(session: Session, deployment_id: int, user: str, role: str) -> None:
    """Refuse (rule `not-assigned`) an operator or reviewer not assigned to the deployment, reads included."""
    if role not in ASSIGNED_ROLES:
        return
    found = session.scalar(
        select(Assignment.id).where(Assignment.deployment_id == deployment_id, Assignment.user_name == user)
    )
    if found is None:
        raise Refused("not-assigned", f"{user} is not assigned to deployment {deployment_id}")


def only_assigned(query: Select, user: str, role: str) -> Select:
    """Narrow an alert query to the deployments an operator or reviewer is assigned to."""
    if role not in ASSIGNED_ROLES:
        return query
    return query.where(Alert.deployment_id.in_(select(Assignment.deployment_id).where(Assignment.user_name == user)))


def assign(session: Session, deployment: Deployment, name: str, by: str, now: datetime) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled or user.status != "active":
        raise Refused("unknown-user", f"no active user named {name!r}")
    if user.role not in ASSIGNED_ROLES:
        raise Refused("assign-role", f"{name} is {user.role}: only operators and reviewers are assigned")
    if deployment.status in ("revoked", "rejected", "lapsed"):
        raise Refused("closed", f"deployment {deployment.id} is {deployment.status}")
    exists = session.scalar(
        select(Assignment.id).where(Assignment.deployment_id == deployment.id, Assignment.user_name == name)
    )
    if exists is None:
        session.add(Assignment(deployment_id=deployment.id, user_name=name, assigned_by=by, at=now))
        session.flush()
    return user
