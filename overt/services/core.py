"""The spine's mechanics: who acts, the transaction, the gate, and the audit record, in one place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy.orm import Session

from ..audit import NotInLog
from ..governance import deployments as deployment_rules
from ..governance.gate import Scope, check
from ..governance.permissions import PERMISSIONS, Refused, check_permission
from ..storage.db import Database
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


_WRITERS: WeakKeyDictionary[Database, threading.RLock] = WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def _writers(db: Database) -> threading.RLock:
    """One writer at a time per SQLite database in this process, queued by the OS rather than by
    SQLite's sleep-and-retry busy handler, which under load leaves some writers waiting for seconds."""
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(db, threading.RLock())


def _sqlite_write_lock(session: Session) -> None:
    """Take SQLite's write lock before the operation's first read, waiting for it (busy_timeout).

    Under an explicit deferred BEGIN, a transaction that has read and then writes after another writer
    committed fails at once with "database is locked" (its snapshot is stale); concurrent callers (API
    requests, stream workers) would see spurious failures. Locking first makes them queue instead.
    An insert of no rows takes the lock and changes nothing.
    """
    session.connection().exec_driver_sql("INSERT INTO audit_log (seq) SELECT 0 WHERE 0")


def gate(overt: Overt, session: Session, deployment: Deployment, scope: Scope, at: datetime) -> None:
    """The gate's rules, then the log's word: the deployment's state must be what its records say."""
    check(deployment, scope, at, overt.calibrated_threshold())
    try:
        overt.log_guard.deployment(session, deployment)
    except NotInLog as exc:
        raise Refused("log-mismatch", str(exc)) from None


@contextmanager
def operate(
    overt: Overt, actor: Actor, action: str, *, deployment_id: int | None = None, scope: Scope | None = None
) -> Iterator[Operation]:
    """Check the role and (if a deployment is named) the gate, run the body, audit; all or nothing.

    A refusal or a failure rolls the operation back and is itself recorded in its own transaction,
    so the log shows what was attempted as well as what was done.
    """
    at = now()
    writer = _writers(overt.db) if overt.db.is_sqlite and action not in READ_ONLY_ACTIONS else nullcontext()
    try:
        with writer, overt.db.session() as session:
            if overt.db.is_sqlite and action not in READ_ONLY_ACTIONS:
                _sqlite_write_lock(session)
            check_permission(actor.role, action)
            deployment = None
            if deployment_id is not None:
                deployment = deployment_rules.get(session, deployment_id)
                if scope is not None:
                    gate(overt, session, deployment, scope, at)
            op = Operation(overt, session, actor, action, deployment, at)
            yield op
    except Refused as exc:
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
