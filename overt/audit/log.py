"""The audit log: a hash chain of typed events in the database, with signed checkpoints kept twice.

Each record's hash covers its content and the previous record's hash, so changing, removing, inserting
or reordering records breaks the chain. Cutting off the tail does not; that is what checkpoints are for:
every `checkpoint_every` records (and on demand) the head is signed with the audit key and stored both
in `audit_checkpoints` and as a line in an external file, so deleting records together with their
database checkpoints is still caught by the file. `overt.audit.verify` checks all of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Select, event, func, select, text
from sqlalchemy.orm import Session, SessionTransaction

from ..storage.db import Database
from ..storage.models import AuditCheckpoint, AuditRecord
from .events import EVENTS, Event
from .keys import SigningKey

ZERO_HASH = "0" * 64
OUTCOMES = ("ok", "refused", "error")
# Any constant works; all Overt processes must agree. ASCII "overtaud".
_PG_LOCK_KEY = 0x6F76657274617564
_PENDING = "overt.audit.pending_checkpoint_lines"
STREAM_ROWS = 10_000

CHAIN_COLUMNS = (
    AuditRecord.seq,
    AuditRecord.at,
    AuditRecord.actor,
    AuditRecord.action,
    AuditRecord.deployment_id,
    AuditRecord.object_type,
    AuditRecord.object_id,
    AuditRecord.outcome,
    AuditRecord.details,
    AuditRecord.prev_hash,
    AuditRecord.hash,
)

log = logging.getLogger(__name__)


# --- the chain's format: shared by append, export and verify ---------------------------------------


def format_time(at: datetime) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2026-01-02T03:04:05.000006+00:00; naive times are refused."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in an audit record")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    raise TypeError(f"{type(value).__name__} is not allowed in an audit record")


# One encoder, built once: json.dumps with options builds a new one per call (a tenth of verify's time).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_json_default
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only, no NaN; datetimes as `format_time`: one text per value."""
    return _CANONICAL.encode(value)


def chain_payload(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    deployment_id: int | None,
    object_type: str,
    object_id: str,
    outcome: str,
    details: str,
    prev_hash: str,
) -> dict[str, Any]:
    """What a record's hash covers. `details` is the stored canonical-JSON text, hashed as that string."""
    return {
        "seq": seq,
        "at": format_time(at),
        "actor": actor,
        "action": action,
        "deployment_id": deployment_id,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
        "details": details,
        "prev_hash": prev_hash,
    }


def record_hash(payload: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of `chain_payload(...)`."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def checkpoint_message(seq: int, hash_: str, at: str) -> bytes:
    """The bytes a checkpoint signs: f"{seq}:{hash}:{at}", `at` as written by `format_time`."""
    return f"{seq}:{hash_}:{at}".encode()


def checkpoint_line(checkpoint: AuditCheckpoint) -> str:
    """A checkpoint as one line of the external file (canonical JSON, self-contained for verification)."""
    return canonical_json(
        {
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "at": format_time(checkpoint.at),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
        }
    )


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """One record as reports read it: `details` decoded, detached from any session."""

    seq: int
    at: datetime
    actor: str
    action: str
    deployment_id: int | None
    object_type: str
    object_id: str
    outcome: str
    details: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: `records` records up to `last_seq`; `sha256` of the exact text written."""

    records: int
    last_seq: int
    sha256: str


class AuditLog:
    """Appends events to the chain inside the caller's transaction, checkpoints it, exports and queries it."""

    def __init__(
        self,
        db: Database,
        signing_key: SigningKey,
        checkpoint_every: int = 100,
        checkpoint_file: Path | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.db = db
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_file = checkpoint_file

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key

    def append(
        self,
        session: Session,
        event: Event,
        *,
        actor: str,
        outcome: str = "ok",
        deployment_id: int | None = None,
        object_type: str = "",
        object_id: str = "",
    ) -> AuditRecord:
        """Add `event` as the next record in `session`'s transaction: it commits or rolls back with the work.

        The chain head is read under a lock held until that transaction ends (a PostgreSQL advisory
        lock; SQLite's write lock, taken up front), so concurrent writers queue instead of forking.
        """
        if EVENTS.get(event.name) is not type(event):
            raise TypeError(f"{type(event).__name__} is not a registered audit event")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        details = canonical_json(event.details())
        _lock_chain(session)
        head_seq, head_hash = _head(session)
        seq, at = head_seq + 1, datetime.now(UTC)
        payload = chain_payload(
            seq, at, actor, event.name, deployment_id, object_type, object_id, outcome, details, head_hash
        )
        record = AuditRecord(
            seq=seq,
            at=at,
            actor=actor,
            action=event.name,
            deployment_id=deployment_id,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome,
            details=details,
            prev_hash=head_hash,
            hash=record_hash(payload),
        )
        session.add(record)
        session.flush()
        if seq % self.checkpoint_every == 0:
            self._checkpoint(session, seq, record.hash)
        return record

    def checkpoint(self, session: Session) -> AuditCheckpoint | None:
        """Sign the current head now (at shutdown, after an export); None while the log is empty."""
        _lock_chain(session)
        seq, hash_ = _head(session)
        return self._checkpoint(session, seq, hash_) if seq else None

    def _checkpoint(self, session: Session, seq: int, hash_: str) -> AuditCheckpoint:
        at = datetime.now(UTC)
        checkpoint = AuditCheckpoint(
            seq=seq,
            hash=hash_,
            at=at,
            key_id=self.signing_key.key_id,
            signature=self.signing_key.sign(checkpoint_message(seq, hash_, format_time(at))),
        )
        session.add(checkpoint)
        session.flush()
        if self.checkpoint_file is not None:
            _write_after_commit(session, self.checkpoint_file, checkpoint_line(checkpoint))
        return checkpoint

    def export(self, target: Path | TextIO, since_seq: int | None = None) -> ExportResult:
        """Write records after `since_seq` as JSON lines: each line is `chain_payload` plus its `hash`.

        So a copy can be checked offline: every line's hash is sha256 of its canonical JSON without `hash`.
        """
        if isinstance(target, Path):
            with target.open("w", encoding="ascii") as stream:
                return self.export(stream, since_seq)
        digest, count, last = hashlib.sha256(), 0, since_seq or 0
        with self.db.engine.connect() as conn:
            rows = conn.execution_options(yield_per=STREAM_ROWS).execute(
                select(*CHAIN_COLUMNS).where(AuditRecord.seq > last).order_by(AuditRecord.seq)
            )
            for *fields, hash_ in rows:
                line = canonical_json({**chain_payload(*fields), "hash": hash_}) + "\n"
                target.write(line)
                digest.update(line.encode())
                count, last = count + 1, fields[0]
        return ExportResult(count, last, digest.hexdigest())

    def records(
        self,
        *,
        deployment_id: int | None = None,
        actions: str | Iterable[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[AuditEntry]:
        """Records in chain order, filtered by deployment, action(s), actor and time (since <= at < until).

        Streamed, so a year of records does not sit in memory; the generator holds a connection until done.
        """
        query = select(*CHAIN_COLUMNS).where(*_filters(deployment_id, actions, actor, since, until))
        with self.db.engine.connect() as conn:
            rows = conn.execution_options(yield_per=STREAM_ROWS).execute(query.order_by(AuditRecord.seq))
            for seq, at, who, action, dep, otype, oid, outcome, details, _prev, hash_ in rows:
                yield AuditEntry(seq, at, who, action, dep, otype, oid, outcome, json.loads(details), hash_)

    def action_counts(
        self,
        *,
        deployment_id: int | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, int]:
        """How many records of each action match the filters (as `records`), for reports' tables."""
        query: Select[Any] = select(AuditRecord.action, func.count()).group_by(AuditRecord.action)
        with self.db.session() as session:
            rows = session.execute(query.where(*_filters(deployment_id, None, actor, since, until)))
            return {action: count for action, count in rows}


def _filters(
    deployment_id: int | None,
    actions: str | Iterable[str] | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if deployment_id is not None:
        conditions.append(AuditRecord.deployment_id == deployment_id)
    if actions is not None:
        conditions.append(AuditRecord.action.in_([actions] if isinstance(actions, str) else list(actions)))
    if actor is not None:
        conditions.append(AuditRecord.actor == actor)
    if since is not None:
        conditions.append(AuditRecord.at >= since)
    if until is not None:
        conditions.append(AuditRecord.at < until)
    return conditions


# --- writing: the lock, the head, and checkpoint lines that wait for the commit ----------------------------


def _lock_chain(session: Session) -> None:
    """Serialise appenders until the transaction ends; the seq primary key would refuse a fork anyway."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # An insert of no rows: appends nothing, but takes SQLite's single write lock (waiting for it like
        # any write) before the head is read, however the transaction was opened - pysqlite's lazy BEGIN,
        # a SAVEPOINT, or an explicit BEGIN - so no other writer can commit between our read and insert.
        # (A transaction that already read under an explicit deferred BEGIN may get SQLITE_BUSY instead.)
        conn.exec_driver_sql("INSERT INTO audit_log (seq) SELECT 0 WHERE 0")


def _head(session: Session) -> tuple[int, str]:
    row = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)).first()
    return (row[0], row[1]) if row else (0, ZERO_HASH)


def _write_after_commit(session: Session, path: Path, line: str) -> None:
    """Queue a checkpoint line for the file; it is written only if the transaction (and savepoint) commits.

    A line for a rolled-back checkpoint would name a seq that a different record takes later: a false alarm.
    """
    if not event.contains(session, "after_commit", _flush_lines):
        event.listen(session, "after_commit", _flush_lines)
        event.listen(session, "after_soft_rollback", _drop_rolled_back)
        event.listen(session, "after_transaction_end", _forget_uncommitted)
    owner = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((owner, path, line))


def _flush_lines(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released; the outer transaction may still roll back
        return
    for _owner, path, line in session.info.pop(_PENDING, []):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())  # one write with O_APPEND: lines never interleave
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # The database has committed; failing now would report an operation as failed that was done.
            log.error("audit checkpoint not written to %s: %s", path, exc.strerror)


def _drop_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [item for item in pending if not _within(item[0], transaction)]


def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended; what was not written was not committed
        session.info.pop(_PENDING, None)


def _within(owner: SessionTransaction | None, transaction: SessionTransaction) -> bool:
    while owner is not None:
        if owner is transaction:
            return True
        owner = owner.parent
    return False
