"""Accounts belong to persons: one active account per person, operational roles granted only with a DPO's
countersignature, and the applicant, the approver and each reviewer of a case are distinct persons, so no
one (the administrator included) takes a case from application to action alone."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..storage.models import Alert, Deployment, User
from .permissions import Refused, Role

# Roles whose grant needs a DPO's countersignature before the account may act.
COUNTERSIGNED_ROLES = frozenset({Role.AUTHORITY, Role.REVIEWER, Role.OPERATOR, Role.DPO})


def person_of(session: Session, name: str | None) -> str | None:
    if not name:
        return None
    user = session.scalar(select(User).where(User.name == name))
    return (user.person or user.name) if user is not None else name


def countersign(session: Session, user: User, dpo: str) -> None:
    """The DPO's countersignature: not of an account they created or hold, one active account per person."""
    if user.status != "pending":
        raise Refused("not-pending", f"user {user.name} is {user.status}, not waiting for a countersignature")
    if person_of(session, dpo) == (user.person or user.name):
        raise Refused("same-person", "nobody countersigns their own account")
    active = session.scalar(
        select(User.name).where(
            User.person == user.person, User.status == "active", User.disabled.is_(False), User.id != user.id
        )
    )
    if active is not None:
        raise Refused("one-account", f"person {user.person!r} already holds the active account {active!r}")
    user.status, user.countersigned_by = "active", dpo


def distinct_persons(session: Session, deployment: Deployment, reviewer: str, alert: Alert) -> None:
    """Refuse (rule `same-person`) a reviewer who is the person who applied for or approved the deployment,
    or who already reviewed this alert under another account."""
    me = person_of(session, reviewer)
    roles = {"applied for": deployment.applicant, "approved": deployment.decided_by}
    for did, name in roles.items():
        if person_of(session, name) == me:
            raise Refused("same-person", f"the reviewer {did} deployment {deployment.id}: a case needs other people")
    if any(r.reviewer != reviewer and person_of(session, r.reviewer) == me for r in alert.reviews):
        raise Refused("same-person", f"{reviewer}'s person already reviewed alert {alert.id} under another account")


def role_counts(session: Session) -> dict[str, int]:
    """Active accounts per role: public, so the number of people who can approve, operate or review is known."""
    rows = session.execute(
        select(User.role, func.count()).where(User.status == "active", User.disabled.is_(False)).group_by(User.role)
    )
    return {role: count for role, count in rows}
