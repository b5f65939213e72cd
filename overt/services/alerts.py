"""Candidate alerts and their review: nothing is actionable until the required reviewers agree."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..audit import NotInLog
from ..gallery.search import Candidate
from ..governance import assignments
from ..governance import review as review_rules
from ..governance.deployments import get as get_deployment
from ..governance.people import distinct_persons
from ..governance.permissions import Refused
from ..storage.models import Alert, Evidence, Review
from .core import Actor, Operation, operate

if TYPE_CHECKING:
    from . import Overt

EVIDENCE_CONTEXT = "evidence"
# What may follow a confirmed alert, counted by kind in the public record (like the Met's LFR figures).
OUTCOME_KINDS = ("arrest", "charge", "no-further-action", "released", "other")


class AlertService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def raise_for(
        self,
        op: Operation,
        candidates: list[Candidate],
        threshold: float,
        *,
        case_ref: str = "",
        camera: str | None = None,
        track: int | None = None,
        frame: int | None = None,
        evidence: dict[str, bytes] | None = None,
    ) -> list[int]:
        """Inside a gated operation: one pending alert per candidate, evidence encrypted with its retention."""
        assert op.deployment is not None
        retention = op.deployment.spec["retention_days"]
        ids = []
        for candidate in candidates:
            alert = Alert(
                deployment_id=op.deployment.id,
                camera_id=camera,
                subject_id=candidate.subject_id,
                subject_reference=candidate.subject,
                watchlist=candidate.watchlist,
                score=candidate.score,
                threshold=threshold,
                track=track,
                frame=frame,
                case_ref=case_ref,
                created_at=op.at,
                expires_at=op.at + timedelta(days=retention["alerts"]),
            )
            for kind, jpeg in (evidence or {}).items():
                alert.evidence.append(
                    Evidence(
                        kind=kind,
                        data=self.overt.keys.encrypt(jpeg, EVIDENCE_CONTEXT),
                        expires_at=op.at + timedelta(days=retention["evidence"]),
                    )
                )
            op.session.add(alert)
            op.session.flush()
            op.record(
                "alert.raise",
                object_type="alert",
                object_id=alert.id,
                alert_id=alert.id,
                camera=camera or "",
                subject_id=candidate.subject_id,
                score=round(candidate.score, 4),
                threshold=threshold,
                track=track,
            )
            ids.append(alert.id)
        return ids

    @staticmethod
    def _describe(alert: Alert, actor: Actor, required: int) -> dict[str, Any]:
        """Reviewers see how many have decided, never what, until the alert is final (blind review)."""
        final = alert.status != "pending"
        mine = next((r.decision for r in alert.reviews if r.reviewer == actor.name), None)
        return {
            "id": alert.id,
            "deployment": alert.deployment_id,
            "camera": alert.camera_id,
            "subject": alert.subject_reference,
            "watchlist": alert.watchlist,
            "score": round(alert.score, 4),
            "threshold": alert.threshold,
            "track": alert.track,
            "frame": alert.frame,
            "case": alert.case_ref,
            "status": alert.status,
            "time": alert.created_at.isoformat(),
            "reviews": len(alert.reviews),
            "reviews_required": required,
            "my_decision": mine,
            "outcome": alert.outcome,
            "decisions": [
                {"reviewer": r.reviewer, "decision": r.decision, "note": r.note, "at": r.at.isoformat()}
                for r in alert.reviews
            ]
            if final
            else None,
            "actionable": alert.status == "confirmed",
        }

    def list(
        self, actor: Actor, *, status: str | None = None, deployment_id: int | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        with operate(self.overt, actor, "alert.read") as op:
            query = select(Alert).options(selectinload(Alert.reviews)).order_by(Alert.id.desc()).limit(limit)
            if status:
                query = query.where(Alert.status == status)
            if deployment_id is not None:
                query = query.where(Alert.deployment_id == deployment_id)
            query = assignments.only_assigned(query, actor.name, actor.role)
            alerts = list(op.session.scalars(query))
            return [self._describe(a, actor, self._required(op, a)) for a in alerts]

    def show(self, actor: Actor, alert_id: int) -> dict[str, Any]:
        with operate(self.overt, actor, "alert.read") as op:
            alert = self._get(op, alert_id)
            return self._describe(alert, actor, self._required(op, alert))

    def feed(self, actor: Actor, after_alert: int | None, after_review: int = 0, limit: int = 100) -> dict[str, Any]:
        """What changed since a cursor, for live consoles: new alerts, and alerts with new reviews.

        `after_alert=None` starts from now (only the cursor comes back). A few indexed queries, cheap
        enough to poll every second per open console; reads are not audited (nothing is disclosed that
        `list` would not show), refusals are.
        """
        with operate(self.overt, actor, "alert.read") as op:
            last_review = op.session.scalar(select(func.max(Review.id))) or 0
            if after_alert is None:
                last_alert = op.session.scalar(select(func.max(Alert.id))) or 0
                return {"alerts": [], "updated": [], "cursor": [last_alert, last_review]}
            newer = assignments.only_assigned(
                select(Alert).options(selectinload(Alert.reviews)).where(Alert.id > after_alert),
                actor.name,
                actor.role,
            )
            new = list(op.session.scalars(newer.order_by(Alert.id).limit(limit)))
            reviewed_ids = set(
                op.session.scalars(
                    select(Review.alert_id).where(Review.id > after_review, Review.id <= last_review).distinct()
                )
            ) - {a.id for a in new}
            reviewed = (
                list(
                    op.session.scalars(
                        assignments.only_assigned(select(Alert), actor.name, actor.role)
                        .where(Alert.id.in_(reviewed_ids))
                        .order_by(Alert.id)
                    )
                )
                if reviewed_ids
                else []
            )
            return {
                "alerts": [self._describe(a, actor, self._required(op, a)) for a in new],
                "updated": [self._describe(a, actor, self._required(op, a)) for a in reviewed],
                "cursor": [new[-1].id if new else after_alert, max(after_review, last_review)],
            }

    @staticmethod
    def _required(op: Operation, alert: Alert) -> int:
        return int(get_deployment(op.session, alert.deployment_id).spec.get("reviewers_required", 2))

    def _get(self, op: Operation, alert_id: int) -> Alert:
        alert = op.session.get(Alert, alert_id)
        if alert is None:
            raise Refused("unknown-alert", f"no alert {alert_id}")
        assignments.require(op.session, alert.deployment_id, op.actor.name, op.actor.role)  # reads included
        return alert

    def review(self, actor: Actor, alert_id: int, decision: str, note: str = "") -> dict[str, Any]:
        with operate(self.overt, actor, "alert.review") as op:
            alert = self._get(op, alert_id)
            required = self._required(op, alert)
            distinct_persons(op.session, get_deployment(op.session, alert.deployment_id), actor.name, alert)
            final = review_rules.decide(alert, actor.name, decision, note, required, op.at)
            op.session.flush()
            self._record(op, alert, "review.decide", decision=decision)
            if final:
                self._record(op, alert, f"alert.{final}", reviews=len(alert.reviews))
            return self._describe(alert, actor, required)

    def record_outcome(self, actor: Actor, alert_id: int, outcome: str, kind: str = "other") -> None:
        """What followed a confirmed alert: one of OUTCOME_KINDS (counted publicly), with a note (required
        for `other`)."""
        with operate(self.overt, actor, "alert.outcome") as op:
            alert = self._get(op, alert_id)
            if alert.status != "confirmed":
                raise Refused(
                    "not-confirmed", f"alert {alert_id} is {alert.status}: only confirmed alerts lead to action"
                )
            try:
                self.overt.log_guard.confirmed(op.session, alert_id)
            except NotInLog as exc:
                raise Refused("log-mismatch", str(exc)) from None
            if kind not in OUTCOME_KINDS:
                raise Refused("outcome-kind", f"an outcome is one of {', '.join(OUTCOME_KINDS)}, not {kind!r}")
            if kind == "other" and not outcome.strip():
                raise Refused("outcome-kind", "an outcome of kind other needs a note saying what was done")
            alert.outcome, alert.outcome_kind = outcome, kind
            self._record(op, alert, "alert.outcome", action_taken=outcome, kind=kind)

    def _record(self, op: Operation, alert: Alert, event: str, **fields: Any) -> None:
        """An event about one alert, filed under its deployment (reviews are not gated by a deployment)."""
        self.overt.record(
            op.session,
            event,
            actor=op.actor.name,
            deployment_id=alert.deployment_id,
            object_type="alert",
            object_id=str(alert.id),
            alert_id=alert.id,
            **fields,
        )

    def _viewed(self, op: Operation, alert: Alert, kind: str) -> None:
        """Every look at a face (evidence or the watchlist photo) is an audited event."""
        self._record(op, alert, "evidence.view", kind=kind)

    def evidence(self, actor: Actor, alert_id: int, kind: str) -> bytes:
        with operate(self.overt, actor, "evidence.read") as op:
            alert = self._get(op, alert_id)
            item = next((e for e in alert.evidence if e.kind == kind), None)
            if item is None:
                raise Refused("no-evidence", f"alert {alert_id} has no {kind} (expired or never kept)")
            self._viewed(op, alert, kind)
            return self.overt.keys.decrypt(item.data, EVIDENCE_CONTEXT)

    def reference_image(self, actor: Actor, alert_id: int) -> bytes:
        """The matched subject's enrolment photo, so a reviewer compares faces, not names; audited as evidence."""
        with operate(self.overt, actor, "evidence.read") as op:
            alert = self._get(op, alert_id)
            image = self.overt.gallery.subject_image(op.session, alert.subject_id) if alert.subject_id else None
            if image is None:
                raise Refused("no-evidence", f"alert {alert_id}'s subject has no reference photo (removed or expired)")
            self._viewed(op, alert, "reference")
            return image
