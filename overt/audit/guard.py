"""Decisions read from the log at the moment they are acted on, so a state edit cannot become an action.

The gate reads state tables (a deployment's status, an alert's status); someone with SQL access could set
`status = 'approved'` there. Before a biometric operation runs under a deployment, and before an outcome is
recorded on an alert, the decision behind it is looked up in the audit log itself: its records carry MACs
that nobody without the audit key can produce, so the table must agree with them. The lookup also checks
that no record after the decision was removed (the log after it is gap-free, its newest record
authenticated, and not behind the head witness), which a cut-off revocation would need. Entries that are
committed but not yet chained (`sequencer.py`) count too: they are read from the queue, first, and
authenticated the same way, so a decision is never missed in the instant between commit and chaining.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ..storage.models import AuditQueued, AuditRecord, Deployment
from .chain import record_mac_message
from .events import EVENTS
from .head import HeadFileError, HeadWitness
from .mac import MacKeyRing
from .sequencer import read_queue

STATUS_ACTIONS = tuple(name for name, cls in EVENTS.items() if hasattr(cls, "sets_status"))


class NotInLog(Exception):
    """The state an action depends on disagrees with the audit log (one-line message naming both)."""


class LogGuard:
    def __init__(self, ring: MacKeyRing, witness: HeadWitness | None) -> None:
        self.ring = ring
        self.witness = witness

    def deployment(self, session: Session, deployment: Deployment) -> None:
        """Raise NotInLog unless the deployment's status and specification are those its records say."""
        status, spec_sha256, seq = self._deployment_from_log(session, deployment.id)
        if status != deployment.status:
            raise NotInLog(
                f"deployment {deployment.id} is {deployment.status!r} in its table but {status!r} in the audit "
                f"log (record {seq}): the table was changed outside Overt"
            )
        if spec_sha256 != deployment.spec_sha256:
            raise NotInLog(
                f"deployment {deployment.id}'s specification is not the one its records name (record {seq}): "
                "changed outside Overt"
            )
        self._tail_intact(session, seq)

    def confirmed(self, session: Session, alert_id: int) -> None:
        """Raise NotInLog unless the log holds an authenticated confirmation of alert `alert_id`."""
        records = self._records(session, ["alert.confirmed"], object_type="alert", object_id=str(alert_id))
        if not records:
            raise NotInLog(
                f"alert {alert_id} has no confirmation in the audit log: its status was changed outside Overt"
            )
        self._tail_intact(session, records[-1].seq)

    # --- reading the log -------------------------------------------------------------------------------
    def _deployment_from_log(
        self, session: Session, deployment_id: int
    ) -> tuple[str | None, str | None, int | None]:
        status: str | None = None
        spec: str | None = None
        seq: int | None = 0
        for record in self._records(session, STATUS_ACTIONS, deployment_id=deployment_id):
            new = EVENTS[record.action].sets_status  # type: ignore[attr-defined]
            # a lapse ends an urgent start; an application already rejected or returned keeps that status
            if record.action != "deployment.urgent_lapsed" or status == "urgent":
                status = new
            spec = _details_value(record, "spec_sha256") or spec
            seq = record.seq
        return status, spec, seq

    def _records(
        self,
        session: Session,
        actions: Iterable[str],
        *,
        deployment_id: int | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
    ) -> list[_Decision]:
        """Matching records in chain order, then matching entries still queued (read first: an entry
        chained in between is then seen twice, never missed)."""
        def matching(model: type[AuditRecord] | type[AuditQueued]) -> list[ColumnElement[bool]]:
            where = [model.action.in_(list(actions)), model.outcome == "ok"]
            if deployment_id is not None:
                where.append(model.deployment_id == deployment_id)
            if object_type is not None:
                where += [model.object_type == object_type, model.object_id == object_id]
            return where

        queued, chained = matching(AuditQueued), matching(AuditRecord)
        waiting = read_queue(session, self.ring, *queued)
        records = list(session.scalars(select(AuditRecord).where(*chained).order_by(AuditRecord.seq)))
        for record in records:
            self._authentic(record)
        seen = {(r.lane, r.lane_seq) for r in records}
        out = [_Decision(r.seq, r.action, r.details) for r in records]
        for entry in waiting:
            if (entry.lane, entry.lane_seq) in seen:
                continue
            if not entry.authentic:
                raise NotInLog(f"queued audit entry {entry.lane}/{entry.lane_seq} is not authentic (forged)")
            out.append(_Decision(None, entry.action, entry.details))
        return out

    def _authentic(self, record: AuditRecord) -> None:
        if record.mac is None or not self.ring.check(
            record.mac_key_id or "", record_mac_message(record.hash, record.lane, record.lane_seq), record.mac
        ):
            raise NotInLog(f"audit record {record.seq} is not authentic (forged or altered)")

    def _tail_intact(self, session: Session, since: int | None) -> None:
        """Nothing after record `since` was removed: no gap, an authentic newest record, the witness met.
        `since` None: the decision still waits in the queue, so only the chain's end is checked.

        Other writers commit meanwhile, so the order matters: the witness is read first (it names only
        records already committed), then the end of the log. The caller's snapshot may be older than the
        witness (SQLite keeps a read transaction's snapshot from its first read, before the gate ran), so
        an end short of the witness is looked at again in a transaction begun after the witness was read;
        only an end short of it there too was cut off.
        """
        try:
            state = self.witness.read() if self.witness is not None else None
        except HeadFileError as exc:
            raise NotInLog(str(exc)) from None
        committed = state.committed.seq if state is not None and state.committed is not None else 0
        last = self._end(session, since)
        if committed > last:
            with Session(session.get_bind()) as fresh:
                last = self._end(fresh, since)
        if committed > last:
            raise NotInLog(
                f"the audit log ends at record {last} but record {committed} was committed: records were cut off"
            )

    def _end(self, session: Session, since: int | None) -> int:
        """The newest record, authenticated, after checking that the records after `since` are all there
        (their count and the end in one statement: one snapshot, even under PostgreSQL's read committed)."""
        if since is None:
            last = session.scalar(select(func.max(AuditRecord.seq))) or 0
        else:
            last, count = session.execute(
                select(func.max(AuditRecord.seq), func.count()).where(AuditRecord.seq > since)
            ).one()
            last = since if last is None else last
            if count != last - since:
                raise NotInLog(f"records after {since} are missing from the audit log")
        if last:
            newest = session.get(AuditRecord, last)
            if newest is None:
                raise NotInLog(f"record {last} is missing from the audit log")
            self._authentic(newest)
        return last


@dataclass(frozen=True)
class _Decision:
    """A record the guard relies on: its seq in the chain (None while it waits in the queue)."""

    seq: int | None
    action: str
    details: str


def _details_value(record: _Decision, name: str) -> str | None:
    value = json.loads(record.details).get(name)
    return str(value) if value is not None else None
