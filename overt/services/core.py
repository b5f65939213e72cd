"""The spine's mechanics: who acts, the transaction, the gate, and the audit record, in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..audit import NotInLog
from ..governance import assignments, daily, snapshot
from ..governance import deployments as deployment_rules
from ..governance.deployments import Amended
from ..governance.gate import Scope, check
from ..governance.permissions import PERMISSIONS, Refused, check_permission
from ..storage.clock import database_now
from ..storage.models import Deployment

if TYPE_CHECKING:
    from . import Overt


@dataclass(frozen=True)
class Actor:
    """Who is acting: a named user with one role (the public is `Actor("public", "public")`)."""

    name: str
    role: str


PUBLIC = Actor("public", "public")


def allowed_actions(actor: Actor) -> list[str]:
    """The actions the actor's role may attempt, so a console shows only what would not be refused."""
    return sorted(action for action, roles in PERMISSIONS.items() if actor.role in roles)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Operation:
    """Handed to the body of a gated operation: its transaction, its deployment, and its audit."""

    overt: Overt
    session: Session
    actor: Actor
    action: str
    deployment: Deployment | None
    at: datetime

    def record(self, event: str, *, object_type: str = "", object_id: Any = "", **fields: Any) -> None:
        self.overt.record(
            self.session,
            event,
            actor=self.actor.name,
            deployment_id=self.deployment.id if self.deployment else None,
            object_type=object_type,
            object_id=str(object_id),
            **fields,
        )


# Actions whose operations never write (their refusals are recorded in a transaction of their own).
READ_ONLY_ACTIONS = frozenset({"alert.read", "deployment.read", "watchlist.read", "camera.read"})


# Actions under a deployment that an unassigned operator or reviewer may still take (reading an application).
UNASSIGNED_ACTIONS = frozenset({"deployment.read"})

def gate(overt: Overt, session: Session, deployment: Deployment, scope: Scope, at: datetime) -> None:
    """The log's word first (the deployment's state must be what its authenticated records say), then the
    approval's snapshot (a camera re-pointed or a new calibration suspends it: `Amended`), then the rules."""
    try:
        overt.log_guard.deployment(session, deployment)
    except NotInLog as exc:
        raise Refused("log-mismatch", str(exc)) from None
    calibrated = overt.calibrated()
    changes = snapshot.drift(session, deployment, calibrated)
    if changes:
        raise Amended(deployment.id, changes)
    check(deployment, scope, at, calibrated)


@contextmanager
def operate(
    overt: Overt,
    actor: Actor,
    action: str,
    *,
    deployment_id: int | None = None,
    scope: Scope | Callable[[Session], Scope] | None = None,
) -> Iterator[Operation]:
    """Check the role and (if a deployment is named) the gate, run the body, audit; all or nothing.

    `scope` may be a function of the transaction, for what must be read inside it (watchlist sizes read
    under a lock, so that a cap holds against concurrent enrolments).

    A refusal or a failure rolls the operation back and is itself recorded in its own transaction,
    so the log shows what was attempted as well as what was done.
    """
    try:
        with overt.db.session() as session:
            if action not in READ_ONLY_ACTIONS:
                overt.db.write_lock(session)
            at = database_now(session)  # one clock for every machine's windows (overt/storage/clock.py)
            check_permission(actor.role, action)
            deployment = None
            if deployment_id is not None:
                deployment = deployment_rules.get(session, deployment_id)
                if action not in UNASSIGNED_ACTIONS:
                    assignments.require(session, deployment_id, actor.name, actor.role)
                if scope is not None:
                    scope = scope(session) if callable(scope) else scope
                    gate(overt, session, deployment, scope, at)
            op = Operation(overt, session, actor, action, deployment, at)
            yield op
            if deployment is not None and isinstance(scope, Scope):
                # The public figures of this day as the operation left them: the day's largest watchlist
                # grows only by enrolment, so other operations note a day once per process.
                day = (deployment.id, at.date().isoformat())
                if scope.operation == "enroll" or day not in overt.noted_days:
                    daily.note_day(session, deployment, at)
                    overt.noted_days.add(day)
    except Refused as exc:
        if isinstance(exc, Amended):
            overt.deployments.suspend(actor, exc.deployment_id, exc.changes)
        overt.record_separately(
            "gate.refused",
            actor=actor.name,
            deployment_id=deployment_id,
            outcome="refused",
            operation=action,
            rule=exc.rule,
            reason=exc.message,
        )
        raise
    except overt.domain_errors as exc:
        record_failure(overt, actor, action, deployment_id, exc)
        raise


def record_failure(overt: Overt, actor: Actor, action: str, deployment_id: int | None, exc: Exception) -> None:
    """A failed operation (bad input, duplicate, no face) is audited in a transaction of its own."""
    overt.record_separately(
        "operation.failed",
        actor=actor.name,
        deployment_id=deployment_id,
        outcome="error",
        operation=action,
        error=str(exc)[:500],
    )
