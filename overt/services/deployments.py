"""Deployments: apply, decide, amend, revoke, urgent start — each a gated, audited operation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..governance import deployments as rules
from ..governance.spec import TEMPLATE, DeploymentSpec, parse_spec
from ..storage.models import Deployment
from .core import Actor, operate
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
