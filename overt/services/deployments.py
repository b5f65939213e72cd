"""Deployments: apply, decide, amend, revoke, urgent start — each a gated, audited operation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..gallery import store
from ..governance import deployments as rules
from ..governance.spec import TEMPLATE, DeploymentSpec, parse_spec
from ..storage.models import ActivityCount, Camera, Deployment, Watchlist
from .core import Actor, operate
from .pauses import public_pauses
from .system import delete_products

if TYPE_CHECKING:
    from . import Overt


def describe(deployment: Deployment) -> dict[str, Any]:
    return {
        "id": deployment.id,
        "name": deployment.name,
        "status": deployment.status,
        "applicant": deployment.applicant,
        "spec_sha256": deployment.spec_sha256,
        "created": deployment.created_at.isoformat(),
        "approval_expires": deployment.approval_expires_at.isoformat() if deployment.approval_expires_at else None,
        "urgent_started": deployment.urgent_started_at.isoformat() if deployment.urgent_started_at else None,
        "spec": deployment.spec,
        "history": [
            {"at": d.at.isoformat(), "actor": d.actor, "decision": d.decision, "reason": d.reason}
            for d in deployment.decisions
        ],
    }


# A deployment enters the public record once it was allowed to run; applications still pending do not.
PUBLISHED_DECISIONS = frozenset({"approved", "urgent"})
# Audit actions whose counts the public record shows, under the names it shows them.
PUBLIC_COUNTS = {
    "alert.raise": "alerts",
    "alert.confirmed": "confirmed_matches",
    "alert.rejected": "false_alerts",
    "alert.inconclusive": "inconclusive",
    "alert.outcome": "outcomes",
    "identify": "searches",
    "alert.sighting": "grouped_sightings",  # sightings that joined an open alert rather than raising one
    "deployment.pause": "pauses",
}


def _first(deployment: Deployment, decision: str) -> str | None:
    return next((d.at.isoformat() for d in deployment.decisions if d.decision == decision), None)


def public_record(session: Session, deployment: Deployment, counts: dict[str, int]) -> dict[str, Any]:
    """What the public may know of a deployment: where, when, why, how big, and what it produced, as counts.

    Never who is on a watchlist, never case references, never who applied; counts come from the audit
    log (which retention does not shorten), faces seen from the hourly activity counts.
    """
    spec = deployment.spec
    cameras = {c.id: c for c in session.scalars(select(Camera).where(Camera.id.in_(spec.get("cameras", []))))}
    watchlists = session.scalars(select(Watchlist).where(Watchlist.name.in_(spec["watchlists"])))
    faces = session.scalar(
        select(func.coalesce(func.sum(ActivityCount.faces_seen), 0)).where(ActivityCount.deployment_id == deployment.id)
    )
    return {
        "id": deployment.id,
        "name": deployment.name,
        "status": deployment.status,
        "mode": spec["mode"],
        "purpose": spec["purpose"],
        "legal_basis": spec["legal_basis"],
        "public_notice": spec["public_notice"],
        "windows": spec["windows"],
        "places": [
            {
                "camera": cid,
                "name": cameras[cid].name if cid in cameras else "",
                "zone": cameras[cid].zone if cid in cameras else "",
            }
            for cid in spec.get("cameras", [])
        ],
        "approved": _first(deployment, "approved"),
        "urgent_started": _first(deployment, "urgent"),
        "approval_expires": deployment.approval_expires_at.isoformat() if deployment.approval_expires_at else None,
        "ended": _first(deployment, "revoked") or _first(deployment, "rejected"),
        "watchlist_size": sum(store.subject_count(session, w.id) for w in watchlists),
        "max_watchlist_size": spec["max_watchlist_size"],
        "reviewers_required": spec.get("reviewers_required", 2),
        "faces_seen": int(faces or 0),
        **{name: counts.get(action, 0) for action, name in PUBLIC_COUNTS.items()},
        "pause_log": public_pauses(session, deployment.id),
    }


class DeploymentService:
    template = TEMPLATE

    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def apply(self, actor: Actor, spec: DeploymentSpec | str) -> int:
        spec = parse_spec(spec) if isinstance(spec, str) else spec
        with operate(self.overt, actor, "deployment.apply") as op:
            deployment = rules.apply(op.session, spec, actor.name, op.at)
            op.deployment = deployment
            op.record(
                "deployment.apply",
                object_type="deployment",
                object_id=deployment.id,
                spec_sha256=deployment.spec_sha256,
                mode=spec.mode,
                authority=spec.authority,
            )
            return deployment.id

    def amend(self, actor: Actor, deployment_id: int, spec: DeploymentSpec | str) -> None:
        spec = parse_spec(spec) if isinstance(spec, str) else spec
        with operate(self.overt, actor, "deployment.apply", deployment_id=deployment_id) as op:
            previous = op.deployment.spec_sha256
            rules.amend(op.session, op.deployment, spec, actor.name, op.at)
            op.record(
                "deployment.amend",
                object_type="deployment",
                object_id=deployment_id,
                previous_sha256=previous,
                spec_sha256=op.deployment.spec_sha256,
            )

    def decide(self, actor: Actor, deployment_id: int, decision: str, reason: str) -> str:
        with operate(self.overt, actor, "deployment.decide", deployment_id=deployment_id) as op:
            deployment = op.deployment
            was_urgent = deployment.status == "urgent"
            rules.decide(op.session, deployment, actor.name, decision, reason, op.at)
            op.record(
                f"deployment.{decision}",
                object_type="deployment",
                object_id=deployment_id,
                reason=reason,
                spec_sha256=deployment.spec_sha256,
            )
            if was_urgent and deployment.status == "rejected":
                removed = delete_products(op.session, deployment_id)
                op.record(
                    "deployment.urgent_lapsed", object_type="deployment", object_id=deployment_id, deleted=removed
                )
            return deployment.status

    def revoke(self, actor: Actor, deployment_id: int, reason: str) -> None:
        with operate(self.overt, actor, "deployment.revoke", deployment_id=deployment_id) as op:
            rules.revoke(op.session, op.deployment, actor.name, reason, op.at)
            op.record("deployment.revoke", object_type="deployment", object_id=deployment_id, reason=reason)

    def urgent_start(self, actor: Actor, deployment_id: int, justification: str) -> None:
        with operate(self.overt, actor, "deployment.urgent", deployment_id=deployment_id) as op:
            rules.urgent_start(op.session, op.deployment, actor.name, justification, op.at)
            op.record(
                "deployment.urgent_start",
                object_type="deployment",
                object_id=deployment_id,
                spec_sha256=op.deployment.spec_sha256,
                justification=justification,
            )

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        with operate(self.overt, actor, "deployment.read") as op:
            return [describe(d) for d in op.session.scalars(select(Deployment).order_by(Deployment.id))]

    def show(self, actor: Actor, deployment_id: int) -> dict[str, Any]:
        with operate(self.overt, actor, "deployment.read", deployment_id=deployment_id) as op:
            return describe(op.deployment)

    def public_records(self, deployment_id: int | None = None) -> list[dict[str, Any]]:
        """The transparency site's records (no login): every deployment that was ever allowed to run."""
        with self.overt.db.session() as session:
            query = select(Deployment).order_by(Deployment.id.desc())
            if deployment_id is not None:
                query = query.where(Deployment.id == deployment_id)
            published = [
                d for d in session.scalars(query) if any(x.decision in PUBLISHED_DECISIONS for x in d.decisions)
            ]
            return [public_record(session, d, self.overt.audit.action_counts(deployment_id=d.id)) for d in published]
