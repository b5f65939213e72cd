"""Deployments: apply, decide, amend, revoke, urgent start — each a gated, audited operation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..gallery import store
from ..governance import assignments as assignment_rules
from ..governance import daily, snapshot
from ..governance import deployments as rules
from ..governance.gate import effective_threshold
from ..governance.permissions import Refused
from ..governance.spec import DeploymentSpec, parse_spec, template
from ..storage.models import ActivityCount, AssessmentDocument, AuditRecord, Camera, Deployment, Watchlist
from ..streams.sources import redact
from . import assessments
from .alerts import OUTCOME_KINDS
from .core import Actor, Operation, now, operate
from .system import delete_products

if TYPE_CHECKING:
    from . import Overt


def _without_credentials(pinned: dict[str, Any] | None) -> dict[str, Any] | None:
    """The snapshot as shown: camera addresses without their passwords (the hash covers the real ones)."""
    if not pinned:
        return pinned
    cameras = {
        cid: {**c, "source": redact(c["source"])} if c.get("source") else c for cid, c in pinned["cameras"].items()
    }
    return {**pinned, "cameras": cameras}


def describe(deployment: Deployment, documents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
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
        "snapshot": _without_credentials(deployment.snapshot),
        "snapshot_sha256": deployment.snapshot_sha256,
        "changes_since_approval": deployment.drift or [],
        "documents": documents or [],
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
}


def outcome_counts(session: Any, deployment_id: int) -> dict[str, int]:
    """Outcomes of confirmed alerts by kind, from the audit log (which retention does not shorten)."""
    counts = {kind: 0 for kind in OUTCOME_KINDS}
    for details in session.scalars(
        select(AuditRecord.details).where(
            AuditRecord.deployment_id == deployment_id,
            AuditRecord.action == "alert.outcome",
            AuditRecord.outcome == "ok",
        )
    ):
        kind = json.loads(details).get("kind", "other")
        counts[kind if kind in counts else "other"] += 1
    return counts


WITHDRAWN = "withdrawn: an urgent start that was not approved; everything it produced was deleted"


def withdrawn(deployment: Deployment) -> bool:
    """An urgent start that was rejected or lapsed (retention then clears its start): everything it produced
    was deleted."""
    if not any(d.decision == "urgent" for d in deployment.decisions) or deployment.status == "approved":
        return False
    return deployment.status in ("rejected", "lapsed") or deployment.urgent_started_at is None


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
    pinned = deployment.snapshot or {}
    per_day = daily.days(session, deployment.id)
    gone = withdrawn(deployment)
    figures = {name: 0 if gone else counts.get(action, 0) for action, name in PUBLIC_COUNTS.items()}
    outcomes = {kind: 0 for kind in OUTCOME_KINDS} if gone else outcome_counts(session, deployment.id)
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
        # The figures of its time: the largest watchlist size on the last day of use (else at approval, else
        # now for an application never used), never a later size after removals.
        "watchlist_size": per_day[-1]["watchlist_size"]
        if per_day
        else sum(w["size"] for w in pinned["watchlists"])
        if pinned
        else sum(store.subject_count(session, w.id) for w in watchlists),
        "watchlist_size_by_day": per_day,
        "max_watchlist_size": spec["max_watchlist_size"],
        "reviewers_required": pinned.get("reviewers_required", spec.get("reviewers_required", 2)),
        "single_reviewer_exception": pinned.get("single_reviewer_exception") if pinned else None,
        "documents": [
            {k: d[k] for k in ("title", "kind", "sha256")} for d in assessments.listing(session, deployment.id)
        ],
        "withdrawn": gone,
        "use": WITHDRAWN if gone else "",
        "faces_seen": 0 if gone else int(faces or 0),
        **figures,
        "true_alerts": figures["confirmed_matches"],
        "arrests": outcomes["arrest"],
        "outcomes_by_kind": outcomes,
    }


class DeploymentService:
    def template(self) -> str:
        """An application that applies as printed, its threshold comment on the calibrated scale in force."""
        return template(self.overt.calibrated_threshold())

    def notes(self, spec: DeploymentSpec | str) -> list[str]:
        """What an application names that does not exist yet (cameras, watchlists), to create before use."""
        spec = parse_spec(spec) if isinstance(spec, str) else spec
        with self.overt.db.session() as session:
            return rules.missing_things(session, spec)

    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def apply(
        self,
        actor: Actor,
        spec: DeploymentSpec | str,
        documents: Mapping[str, bytes] | None = None,
        base: Path | None = None,
    ) -> int:
        """File an application with its assessment documents: `documents` maps each assessment's `file` to
        its content (uploads); without it they are read from files relative to `base` (the applicant's
        machine: CLI and library callers)."""
        spec = parse_spec(spec) if isinstance(spec, str) else spec
        with operate(self.overt, actor, "deployment.apply") as op:
            filed = assessments.file_documents(
                spec, documents if documents is not None else assessments.read_documents(spec, base)
            )
            deployment = rules.apply(op.session, spec, actor.name, op.at, self.overt.calibrated())
            op.deployment = deployment
            rows = assessments.store_documents(op.session, self.overt.keys, deployment.id, filed)
            op.record(
                "deployment.apply",
                object_type="deployment",
                object_id=deployment.id,
                spec_sha256=deployment.spec_sha256,
                mode=spec.mode,
                authority=spec.authority,
                documents=tuple(r.sha256 for r in rows),
            )
            return deployment.id

    def amend(
        self,
        actor: Actor,
        deployment_id: int,
        spec: DeploymentSpec | str,
        documents: Mapping[str, bytes] | None = None,
        base: Path | None = None,
    ) -> None:
        spec = parse_spec(spec) if isinstance(spec, str) else spec
        with operate(self.overt, actor, "deployment.apply", deployment_id=deployment_id) as op:
            filed = assessments.file_documents(
                spec, documents if documents is not None else assessments.read_documents(spec, base)
            )
            previous = op.deployment.spec_sha256
            rules.amend(op.session, op.deployment, spec, actor.name, op.at, self.overt.calibrated())
            for document in op.session.scalars(
                select(AssessmentDocument).where(AssessmentDocument.deployment_id == deployment_id)
            ):
                op.session.delete(document)
            assessments.store_documents(op.session, self.overt.keys, deployment_id, filed)
            op.record(
                "deployment.amend",
                object_type="deployment",
                object_id=deployment_id,
                previous_sha256=previous,
                spec_sha256=op.deployment.spec_sha256,
            )

    def decide(
        self,
        actor: Actor,
        deployment_id: int,
        decision: str,
        reason: str,
        *,
        accept_exception: bool = False,
        assign: tuple[str, ...] = (),
    ) -> str:
        """The authority's decision; an approval assigns the operators and reviewers it names (`assign`) and
        pins a snapshot of what it approved (see governance.snapshot)."""
        with operate(self.overt, actor, "deployment.decide", deployment_id=deployment_id) as op:
            deployment = op.deployment
            calibrated = self.overt.calibrated()
            rules.decide(op.session, deployment, actor.name, decision, reason, op.at, calibrated, accept_exception)
            fields: dict[str, Any] = {}
            if deployment.status == "approved":
                for name in assign:
                    assignee = assignment_rules.assign(op.session, deployment, name, actor.name, op.at)
                    op.record(
                        "deployment.assign",
                        object_type="deployment",
                        object_id=deployment_id,
                        user=name,
                        role=assignee.role,
                    )
                self._pin(op.session, deployment, calibrated)
                fields = {
                    "snapshot_sha256": deployment.snapshot_sha256,
                    "threshold": deployment.snapshot["threshold"],
                    "single_reviewer_exception": accept_exception,
                }
            op.record(
                f"deployment.{decision}",
                object_type="deployment",
                object_id=deployment_id,
                reason=reason,
                spec_sha256=deployment.spec_sha256,
                **fields,
            )
            if deployment.urgent_first_at is not None and deployment.status == "rejected":  # started urgently once
                removed = delete_products(op.session, deployment_id)
                op.record(
                    "deployment.urgent_lapsed", object_type="deployment", object_id=deployment_id, deleted=removed
                )
            return deployment.status

    def _pin(self, session: Any, deployment: Deployment, calibrated: Any) -> None:
        """Store what is being approved, as it is now, and its hash."""
        spec = deployment.spec
        if spec["mode"] == "live":
            missing = [c for c in spec.get("cameras", []) if session.get(Camera, c) is None]
            if missing:
                raise Refused("camera-unregistered", f"register cameras {', '.join(missing)} before approval")
        deployment.snapshot = None
        threshold = effective_threshold(deployment, calibrated.threshold)
        watchlists = []
        for name in spec["watchlists"]:
            found = session.scalar(select(Watchlist).where(Watchlist.name == name))
            watchlists.append(
                {
                    "name": name,
                    "revision": found.revision if found else None,
                    "size": store.subject_count(session, found.id) if found else 0,
                }
            )
        pinned = snapshot.build(
            session, deployment, calibrated, threshold, watchlists, assignment_rules.assigned(session, deployment.id)
        )
        deployment.snapshot, deployment.snapshot_sha256 = pinned, snapshot.digest(pinned)

    def _suspend(self, session: Any, deployment: Deployment, actor: str, changes: list[str], at: datetime) -> None:
        rules.suspend(session, deployment, actor, changes, at)
        self.overt.record(
            session,
            "deployment.suspend",
            actor=actor,
            deployment_id=deployment.id,
            object_type="deployment",
            object_id=str(deployment.id),
            snapshot_sha256=deployment.snapshot_sha256 or "",
            changes=tuple(changes),
        )

    def suspend(self, actor: Actor, deployment_id: int, changes: list[str]) -> None:
        """The gate found pinned state changed: amended, needs approval (its own transaction: the refused
        operation rolled back). A deployment no longer approved meanwhile is left as it is."""
        with self.overt.db.session() as session:
            deployment = rules.get(session, deployment_id)
            if deployment.status == "approved":
                self._suspend(session, deployment, actor.name, changes, now())

    def suspend_drifted(self, op: Operation) -> list[int]:
        """Inside a camera change: suspend every approved deployment whose pinned cameras it moved."""
        suspended = []
        for deployment in op.session.scalars(select(Deployment).where(Deployment.status == "approved")):
            changes = snapshot.drift(op.session, deployment, None)
            if changes:
                self._suspend(op.session, deployment, op.actor.name, changes, op.at)
                suspended.append(deployment.id)
        return suspended

    def assign(self, actor: Actor, deployment_id: int, user: str) -> None:
        """The DPO assigns an operator or reviewer to a deployment (`overt deployment assign ID USER`)."""
        with operate(self.overt, actor, "deployment.assign", deployment_id=deployment_id) as op:
            assignee = assignment_rules.assign(op.session, op.deployment, user, actor.name, op.at)
            op.record(
                "deployment.assign", object_type="deployment", object_id=deployment_id, user=user, role=assignee.role
            )

    def document(self, actor: Actor, deployment_id: int, document_id: int) -> tuple[dict[str, Any], bytes]:
        """An assessment document, decrypted, for the authority deciding (or the DPO); every read is audited."""
        with operate(self.overt, actor, "deployment.documents", deployment_id=deployment_id) as op:
            row = op.session.get(AssessmentDocument, document_id)
            if row is None or row.deployment_id != deployment_id:
                raise Refused("unknown-document", f"deployment {deployment_id} has no document {document_id}")
            content = self.overt.keys.decrypt(row.data, assessments.DOCUMENT_CONTEXT)
            op.record(
                "deployment.document_read",
                object_type="document",
                object_id=row.id,
                document_id=row.id,
                kind=row.kind,
                sha256=row.sha256,
            )
            return {"title": row.title, "kind": row.kind, "sha256": row.sha256}, content

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
        """One deployment, with what changed since approval and its documents (title, kind, hash)."""
        with operate(self.overt, actor, "deployment.read", deployment_id=deployment_id) as op:
            return describe(op.deployment, assessments.listing(op.session, deployment_id))

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
