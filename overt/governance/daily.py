"""The public figures of each day of use, kept as they were that day: a watchlist emptied later does not
rewrite what a deployment searched against while it ran."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..storage.models import Deployment, DeploymentDay, Subject, Watchlist


def note_day(session: Session, deployment: Deployment, at: datetime) -> None:
    """Record today's watchlist size (the largest seen today) and reviewers for a deployment in use."""
    size = (
        session.scalar(
            select(func.count(Subject.id))
            .join(Watchlist, Subject.watchlist_id == Watchlist.id)
            .where(Watchlist.name.in_(deployment.spec["watchlists"]))
        )
        or 0
    )
    reviewers = int((deployment.snapshot or deployment.spec).get("reviewers_required", 2))
    day = at.date().isoformat()
    noted = session.execute(
        select(DeploymentDay.watchlist_size, DeploymentDay.reviewers_required).where(
            DeploymentDay.deployment_id == deployment.id, DeploymentDay.day == day
        )
    ).first()
    if noted is not None and noted[0] >= size and noted[1] == reviewers:
        return  # nothing new today: no write, so a gated read stays a read
    row = session.scalar(
        select(DeploymentDay)
        .where(DeploymentDay.deployment_id == deployment.id, DeploymentDay.day == day)
        .with_for_update()
    )
    if row is None:
        try:
            with session.begin_nested():  # through the session, so the row is bound to the audit log
                session.add(DeploymentDay(deployment_id=deployment.id, day=day, watchlist_size=size,
                                          reviewers_required=reviewers))
            return
        except IntegrityError:  # another operation noted this day first
            row = session.scalars(
                select(DeploymentDay)
                .where(DeploymentDay.deployment_id == deployment.id, DeploymentDay.day == day)
                .with_for_update()
            ).one()
    row.watchlist_size = max(row.watchlist_size, size)
    row.reviewers_required = reviewers


def days(session: Session, deployment_id: int) -> list[dict[str, object]]:
    rows = session.scalars(
        select(DeploymentDay).where(DeploymentDay.deployment_id == deployment_id).order_by(DeploymentDay.day)
    )
    return [
        {"day": r.day, "watchlist_size": r.watchlist_size, "reviewers_required": r.reviewers_required} for r in rows
    ]
