"""Candidate alerts and their review: nothing is actionable until the required reviewers agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..audit import NotInLog
from ..gallery.search import Candidate
from ..governance import assignments, grouping
from ..governance import review as review_rules
from ..governance.deployments import get as get_deployment
from ..governance.people import distinct_persons
from ..governance.permissions import Refused
from ..storage import commit_order
from ..storage.commit_order import START, Position
from ..storage.models import Alert, Evidence, Review, Sighting
from .core import Actor, Operation, operate
from .notices import limitation_notice
from .pauses import pause_if_queue_full

if TYPE_CHECKING:
    from . import Overt

EVIDENCE_CONTEXT = "evidence"
# What may follow a confirmed alert, counted by kind in the public record (like the Met's LFR figures).
OUTCOME_KINDS = ("arrest", "charge", "no-further-action", "released", "other")
BEST_SIGHTINGS = 3  # what a reviewer is shown of an alert's sightings: the best few, not all of them


@dataclass(frozen=True)
class Sighted:
    """What raising a live match did: opened alert `alert_id`, or (`joined`) added a sighting to it."""

    alert_id: int
    sighting_id: int
    joined: bool


def identity_visible(alert: Alert, actor: Actor, my_decision: str | None) -> bool:
    """Whether `actor` may learn who an alert is about (blind review in both directions)."""
    if actor.role == "reviewer":
        return my_decision is not None or alert.status != "pending"
    if actor.role == "operator":
        return alert.status == "confirmed"
    return True


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
        watchlist_size: int | None = None,
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
                watchlist_size=watchlist_size,
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

    def sight(
        self,
        op: Operation,
        candidate: Candidate,
        threshold: float,
        *,
        camera: str,
        track: int,
        frame: int,
        evidence: dict[str, bytes],
        watchlist_size: int | None = None,
    ) -> Sighted:
        """Inside a gated live operation: join the subject's open alert at this place, or open one.

        Idempotent on the sighting's key; the database's unique `open_key` refuses a second open alert
        for the same person and place even when two workers race (the caller retries once).
        """
        assert op.deployment is not None
        spec, deployment_id = op.deployment.spec, op.deployment.id
        span = grouping.window(spec)
        key = grouping.sighting_key(deployment_id, camera, track, candidate.subject_id, op.at, span)
        again = op.session.scalar(select(Sighting).where(Sighting.key == key))
        if again is not None:
            return Sighted(again.alert_id, again.id, True)
        okey = grouping.open_key(deployment_id, grouping.place(spec, camera), candidate.subject_id)
        alert = op.session.scalar(select(Alert).where(Alert.open_key == okey))
        if alert is not None and (alert.status != "pending" or alert.window_ends_at is None
                                  or op.at >= alert.window_ends_at):
            alert.open_key = None  # its window has closed: this sighting opens a new alert
            op.session.flush()
            alert = None
        sighting = Sighting(
            camera_id=camera,
            track=track,
            frame=frame,
            score=candidate.score,
            at=op.at,
            key=key,
            crop=self.overt.keys.encrypt(evidence["crop"], EVIDENCE_CONTEXT),
            expires_at=op.at + timedelta(days=op.deployment.spec["retention_days"]["evidence"]),
        )
        if alert is not None:
            sighting.alert_id = alert.id
            op.session.add(sighting)
            op.session.flush()
            op.record("alert.sighting", object_type="alert", object_id=alert.id, alert_id=alert.id,
                      sighting_id=sighting.id, camera=camera, subject_id=candidate.subject_id,
                      score=round(candidate.score, 4), track=track)
            return Sighted(alert.id, sighting.id, True)
        (alert_id,) = self.raise_for(op, [candidate], threshold, camera=camera, track=track, frame=frame,
                                     evidence=evidence, watchlist_size=watchlist_size)
        alert = op.session.get(Alert, alert_id)
        assert alert is not None
        alert.key, alert.open_key, alert.window_ends_at = key, okey, op.at + span
        sighting.alert_id = alert_id
        op.session.add(sighting)
        op.session.flush()
        pause_if_queue_full(op)
        return Sighted(alert_id, sighting.id, False)

    def _describe(self, alert: Alert, actor: Actor, required: int) -> dict[str, Any]:
        """What `actor` may see of an alert: blind in both directions (issue 14).

        Reviewers see how many have decided, never what, until the alert is final, and see the subject's
        identity (reference, watchlist, case) only after their own decision; operators see a candidate as
        waiting for review, with no identity, until it is confirmed. Oversight roles see everything.
        """
        final = alert.status != "pending"
        mine = next((r.decision for r in alert.reviews if r.reviewer == actor.name), None)
        identity = identity_visible(alert, actor, mine)
        best = sorted(alert.sightings, key=lambda s: -s.score)[:BEST_SIGHTINGS]
        return {
            "id": alert.id,
            "deployment": alert.deployment_id,
            "camera": alert.camera_id,
            "subject": alert.subject_reference if identity else None,
            "watchlist": alert.watchlist if identity else None,
            "identity": "shown" if identity else "waiting for review",
            "score": round(alert.score, 4),
            "threshold": alert.threshold,
            "track": alert.track,
            "frame": alert.frame,
            "case": alert.case_ref if identity else None,
            "status": alert.status,
            "time": alert.created_at.isoformat(),
            "sightings": len(alert.sightings),
            "best_sightings": [  # `first`: the sighting that opened the alert (its crop is the alert's evidence)
                {"id": x.id, "camera": x.camera_id, "score": round(x.score, 4), "at": x.at.isoformat(),
                 "crop": x.crop is not None, "first": x is alert.sightings[0]}
                for x in best
            ],
            "window_ends": alert.window_ends_at.isoformat() if alert.window_ends_at else None,
            "open": alert.open_key is not None,
            "notice": limitation_notice(self.overt.lab.engine.calibration(), alert.threshold, alert.watchlist_size),
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
        self,
        actor: Actor,
        *,
        status: str | None = None,
        deployment_id: int | None = None,
        limit: int = 200,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, a page of `limit`; the next page starts `before` the last id of this one."""
        with operate(self.overt, actor, "alert.read") as op:
            query = select(Alert).options(selectinload(Alert.reviews)).order_by(Alert.id.desc()).limit(limit)
            if before is not None:
                query = query.where(Alert.id < before)
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

    def feed(self, actor: Actor, after_alert: Position | None, after_review: Position = START,
             limit: int = 100) -> dict[str, Any]:
        """What changed since a cursor, for live consoles: new alerts, and alerts with new reviews.

        A cursor is a position per table, (writer's transaction id, row id): rows are read in commit
        order, so an alert that commits after a later id was streamed is still delivered, once
        (overt/storage/commit_order.py). `after_alert=None` starts from now (only the cursor comes
        back). A few indexed queries, cheap enough to poll every second per open console; reads are
        not audited (nothing is disclosed that `list` would not show), refusals are.
        """
        with operate(self.overt, actor, "alert.read") as op:
            session = op.session
            if after_alert is None:
                return {"alerts": [], "positions": [], "updated": [],
                        "cursor": [commit_order.now_position(session, "alerts", Alert.id),
                                   commit_order.now_position(session, "reviews", Review.id)]}
            limit_to = commit_order.horizon(session)
            alert_xid = commit_order.writer(session, "alerts")
            newer = assignments.only_assigned(
                commit_order.after(select(Alert, alert_xid).options(selectinload(Alert.reviews)), session,
                                   "alerts", Alert.id, after_alert, limit_to),
                actor.name, actor.role)
            rows = list(session.execute(newer.limit(limit)))
            new = [alert for alert, _ in rows]
            positions = [(int(xid), alert.id) for alert, xid in rows]
            reviews = list(session.execute(commit_order.after(
                select(commit_order.writer(session, "reviews"), Review.id, Review.alert_id), session, "reviews",
                Review.id, after_review, limit_to)))
            reviewed_ids = {alert_id for _, _, alert_id in reviews} - {a.id for a in new}
            reviewed = (
                list(
                    session.scalars(
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
                "positions": positions,
                "updated": [self._describe(a, actor, self._required(op, a)) for a in reviewed],
                "cursor": [positions[-1] if positions else after_alert,
                           (int(reviews[-1][0]), reviews[-1][1]) if reviews else after_review],
            }

    def describe(self, op: Operation, alert: Alert) -> dict[str, Any]:
        """An alert as the operation's actor may see it (for other services' views of alerts)."""
        return self._describe(alert, op.actor, self._required(op, alert))

    def sighting_crop(self, actor: Actor, sighting_id: int) -> bytes:
        """One sighting's face crop, for reviewers comparing the best few; audited like all evidence."""
        with operate(self.overt, actor, "evidence.read") as op:
            sighting = op.session.get(Sighting, sighting_id)
            if sighting is None or sighting.crop is None:
                raise Refused("no-evidence", f"sighting {sighting_id} has no face crop (expired or unknown)")
            self._viewed(op, self._get(op, sighting.alert_id), "sighting")
            return self.overt.keys.decrypt(sighting.crop, EVIDENCE_CONTEXT)

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
                alert.open_key = None  # a decided alert closes its window: a later sighting opens a new one
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
            if actor.role == "operator" and alert.status != "confirmed":
                raise Refused("blind-review", f"alert {alert_id} is {alert.status}: its subject shows once confirmed")
            image = self.overt.gallery.subject_image(op.session, alert.subject_id) if alert.subject_id else None
            if image is None:
                raise Refused("no-evidence", f"alert {alert_id}'s subject has no reference photo (removed or expired)")
            self._viewed(op, alert, "reference")
            return image
