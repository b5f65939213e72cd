"""The reviewer's queue (one alert at a time, oldest first) and the workload figures shown to the DPO.

The queue is what a reviewer works through: pending alerts they have not decided, oldest first, with
how many wait and for how long. Each item is the alert as `AlertService` describes it to this reviewer
(blind: no identity before their own decision). The workload comes from the audit log (reports/workload).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..reports.data import Sources
from ..reports.workload import ACTIONS as WORKLOAD_ACTIONS
from ..reports.workload import workload
from ..storage.models import Alert, Review
from .core import Actor, operate

if TYPE_CHECKING:
    from . import Overt

MAX_PAGE = 100


class ReviewQueueService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def queue(self, actor: Actor, *, limit: int = 1, after: int | None = None,
              deployment_id: int | None = None) -> dict[str, Any]:
        """The next `limit` alerts waiting for this actor's decision, oldest first, after cursor `after`."""
        with operate(self.overt, actor, "alert.read") as op:
            decided = select(Review.alert_id).where(Review.reviewer == actor.name)
            waiting = select(Alert).where(Alert.status == "pending", Alert.id.not_in(decided))
            if deployment_id is not None:
                waiting = waiting.where(Alert.deployment_id == deployment_id)
            length = op.session.scalar(select(func.count()).select_from(waiting.subquery()))
            oldest = op.session.scalar(select(func.min(Alert.created_at)).select_from(waiting.subquery()))
            page = waiting.options(selectinload(Alert.reviews), selectinload(Alert.sightings)).order_by(Alert.id)
            if after is not None:
                page = page.where(Alert.id > after)
            items = list(op.session.scalars(page.limit(max(1, min(limit, MAX_PAGE)))))
            alerts = self.overt.alerts
            return {
                "items": [alerts.describe(op, a) for a in items],
                "length": length,
                "oldest_waiting_s": round((op.at - oldest).total_seconds(), 1) if oldest is not None else None,
                "next": items[-1].id if items else None,
            }

    def workload(self, actor: Actor, *, deployment_id: int | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> dict[str, Any]:
        """Decisions per reviewer per hour, time to decision p50/p95, the queue by hour, disagreement and
        inconclusive shares, from the audit log (one deployment or all)."""
        with operate(self.overt, actor, "review.workload") as op:
            sources = Sources.at_head(op.session)
            selection = sources.audit(WORKLOAD_ACTIONS, deployment_id=deployment_id, since=since, until=until)
            return {**workload(selection.entries, until or op.at), "deployment": deployment_id,
                    "last_seq": sources.last_seq}
