"""The audit log: typed events in a hash chain, each record authenticated, under a Merkle tree.

Each record's hash covers its content and the previous record's hash, so changing, removing, inserting
or reordering records breaks the chain. Each record also carries an HMAC under a key outside the
database, so nobody holding only the database can append or rewrite a record that verifies. A writer
chains its entries in its own transaction when the chain lock is free, and otherwise queues them,
authenticated, for the lock's holder to chain in a batch (`sequencer.py`): many writers share one chain
without waiting on each other's commits. Cutting off the newest records is caught by the head witness
(`head.py`) and the writers' lanes (`lanes.py`), files beside the keys. The records are the leaves of a Merkle tree
(`merkle.py`, `tree.py`); signed tree heads (Ed25519) are stored in `audit_checkpoints`, as lines of an
external file and on the public site, so outsiders who keep one can later prove that the log was not
rewritten — even by someone holding every key. Rows of the tables that gate action are bound to the log
(`binding.py`). `verify.py` checks it all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Select, event, func, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from ..storage.db import Database
from ..storage.models import AuditCheckpoint, AuditQueued, AuditRecord
from . import merkle
from .binding import Binder
from .canonical import canonical_json, format_time
from .chain import (
    CHAIN_COLUMNS,
    STREAM_ROWS,
    chain_head,
    chain_payload,
    checkpoint_line,
    head_message,
    signed_head,
)
from .events import EVENTS, AuditKeysRotated, Event, StateBound
from .head import HeadWitness
from .keys import (
    AuditKeyError,
    SigningKey,
    load_signing_keys,
    new_signing_key,
    public_key_hex,
    rotation_message,
)
from .lanes import LANES_DIR, Lane, Lanes
from .mac import MacKeyRing, load_or_create_mac_keys
from .sequencer import Integrator, keys_named_by_log, queued_message
from .tree import stored_nodes

OUTCOMES = ("ok", "refused", "error")
_PENDING = "overt.audit.pending_checkpoint_lines"
_QUEUE = "overt.audit.queued_entries"
_ACTOR = "overt.audit.actor"
_LANE = "overt.audit.lane"
_INTEGRATE = "overt.audit.integrate"  # after the commit: (_TRY the chain lock, or _LOOK at the queue first;
# how many entries this transaction queued)
_STEP = "overt.audit.chained_here"
_TRY, _LOOK = "try", "look"
_QUEUE_INSERT = insert(AuditQueued.__table__)
_ROTATED = "overt.audit.rotated_from"

log = logging.getLogger(__name__)


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
    """Appends events inside the caller's transaction (`integrate=False`: only queued, as a writer killed
    before chaining leaves them), checkpoints the chain, exports and queries it."""

    def __init__(
        self,
        db: Database,
        signing_key: SigningKey,
        mac_keys: MacKeyRing,
        checkpoint_every: int = 100,
        checkpoint_file: Path | None = None,
        head_file: Path | None = None,
        signing_keys: dict[str, SigningKey] | None = None,
        integrate: bool = True,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.db = db
        self.signing_keys = {signing_key.key_id: signing_key, **(signing_keys or {})}
        self.signing_key = signing_key
        self.mac_keys = mac_keys
        self._keys_in_force()
        self._ring_seen = _mtime(mac_keys.path)
        self._ring_next_check = 0.0
        self.checkpoint_every = checkpoint_every
        self.checkpoint_file = checkpoint_file
        self.witness = HeadWitness(head_file, mac_keys) if head_file is not None else None
        self.lanes = Lanes(head_file.parent / LANES_DIR if head_file is not None else None, mac_keys)
        self.integrator = Integrator(self)
        self.integrate_after_commit = integrate
        self.binder = Binder()
        db.listen("after_flush", self.binder.after_flush)
        db.listen("do_orm_execute", self.binder.refuse_bulk_changes)
        db.listen("before_commit", self._before_commit)
        db.listen("after_commit", self._after_commit)
        db.listen("after_soft_rollback", self._after_soft_rollback)
        db.listen("after_rollback", self._after_rollback)
        db.listen("after_transaction_end", self._after_transaction_end)

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
    ) -> None:
        """Add `event` to `session`'s transaction: at its commit it is chained there, or queued with its
        MAC and chained right after by whoever holds the chain lock (`sequencer.py`); dropped with a
        rollback."""
        if EVENTS.get(event.name) is not type(event):
            raise TypeError(f"{type(event).__name__} is not a registered audit event")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if _QUEUE not in session.info:
            self._follow_rotation()
        entry = {
            "at": datetime.now(UTC),
            "actor": actor,
            "action": event.name,
            "deployment_id": deployment_id,
            "object_type": object_type,
            "object_id": object_id,
            "outcome": outcome,
            "details": canonical_json(event.details()),
            "mac_key_id": self.mac_keys.current_id,
        }
        self.db.write_lock(session)  # SQLite's one writer, taken before this transaction reads more
        owner = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(_QUEUE, []).append((owner, entry))
        session.info[_ACTOR] = actor

    def integrate(self, sign: bool = False) -> int:
        """Chain every queued entry now (and with `sign`, sign the head); how many records were added."""
        return self.integrator.integrate(sign)

    def checkpoint(self) -> dict[str, Any] | None:
        """Chain what is queued and sign the head now (at shutdown, after an export); None while empty."""
        self.integrate(sign=True)
        return self.latest_head()

    def sign_head(self, session: Session, seq: int, hash_: str, root: str, key: SigningKey) -> int:
        """Store a signed tree head for the first `seq` records (root hex); its file line after the commit."""
        at = datetime.now(UTC)
        checkpoint = AuditCheckpoint(seq=seq, hash=hash_, root=root, at=at, key_id=key.key_id,
                                     signature=key.sign(head_message(seq, root, format_time(at))))
        session.add(checkpoint)
        session.flush()
        if self.checkpoint_file is not None:
            _write_after_commit(session, self.checkpoint_file, checkpoint_line(checkpoint))
        return seq

    def root_at(self, session: Session, size: int) -> str:
        """The Merkle root (hex) of the first `size` records, from the stored tree."""
        return merkle.root(size, stored_nodes(session)).hex()

    def size(self, session: Session) -> int:
        """How many records the chain holds (entries still queued are not counted)."""
        return chain_head(session)[0]

    # --- keys: which are in force is what the log says ----------------------------------------------
    def _keys_in_force(self) -> None:
        """Take the keys the log names as in force: the last rotation's, else the first record's MAC key."""
        if not self.db.is_initialised():
            return
        with self.db.engine.connect() as conn:
            mac_id, signing_id = keys_named_by_log(conn)
        signing_id = signing_id or self.signing_key.key_id
        if mac_id is not None:
            if mac_id not in self.mac_keys.keys:
                raise AuditKeyError(f"the audit MAC key {mac_id}, which the log says is in force, is missing")
            self.mac_keys.current_id = mac_id
        if signing_id not in self.signing_keys:
            raise AuditKeyError(f"the audit signing key {signing_id}, which the log says is in force, is missing")
        self.signing_key = self.signing_keys[signing_id]

    def _follow_rotation(self) -> None:
        """Another process rotated the keys (the MAC key file changed): take the new keys once the log
        says they are in force, so this process's entries are not refused as written with a stale key.
        Only forward, at most once a second while a rotation is on its way, one stat() otherwise."""
        path = self.mac_keys.path
        try:
            changed = path.stat().st_mtime_ns
        except (OSError, AttributeError):
            return
        if changed == self._ring_seen or time.monotonic() < self._ring_next_check:
            return
        self._ring_next_check = time.monotonic() + 1.0
        fresh = load_or_create_mac_keys(path.parent)
        self.mac_keys.keys.update(fresh.keys)
        order = list(self.mac_keys.keys)
        with self.db.engine.connect() as conn:
            mac_id, signing_id = keys_named_by_log(conn)
        if mac_id in order and order.index(mac_id) > order.index(self.mac_keys.current_id) and signing_id:
            self.signing_keys.update(load_signing_keys(path.parent))
            if signing_id in self.signing_keys:
                self.mac_keys.current_id, self.signing_key = mac_id, self.signing_keys[signing_id]
        if self.mac_keys.current_id == order[-1]:
            self._ring_seen = changed

    def rotate_keys(self, session: Session, actor: str, keys_dir: Path) -> AuditKeysRotated:
        """Replace the MAC and signing keys: the record saying so is authenticated with the old MAC key and
        endorsed by the old signing key; every record after it uses the new keys (rolled back with it)."""
        new_mac = self.mac_keys.add_key()
        new_signing = new_signing_key(keys_dir)
        public = public_key_hex(new_signing.public_key)
        event = AuditKeysRotated(
            old_mac_key=self.mac_keys.current_id,
            new_mac_key=new_mac,
            old_signing_key=self.signing_key.key_id,
            new_signing_key=new_signing.key_id,
            new_public_key=public,
            endorsement=self.signing_key.sign(rotation_message(new_signing.key_id, public)),
        )
        self.append(session, event, actor=actor, object_type="key", object_id=new_signing.key_id)
        session.info[_ROTATED] = (self.mac_keys.current_id, self.signing_key)
        self.signing_keys[new_signing.key_id] = new_signing
        self.mac_keys.current_id, self.signing_key = new_mac, new_signing
        return event

    def key_history(self) -> list[dict[str, Any]]:
        """The signing keys oldest first, each later one with the endorsement by the key before it."""
        with self.db.engine.connect() as conn:
            rotations = [
                json.loads(d)
                for d in conn.scalars(
                    select(AuditRecord.details)
                    .where(AuditRecord.action == AuditKeysRotated.name, AuditRecord.outcome == "ok")
                    .order_by(AuditRecord.seq)
                )
            ]
        first = self.signing_keys[rotations[0]["old_signing_key"]] if rotations else self.signing_key
        history: list[dict[str, Any]] = [
            {"key_id": first.key_id, "public_key": public_key_hex(first.public_key), "endorsed_by": None,
             "endorsement": None}
        ]
        history += [
            {"key_id": r["new_signing_key"], "public_key": r["new_public_key"], "endorsed_by": r["old_signing_key"],
             "endorsement": r["endorsement"]}
            for r in rotations
        ]
        return history

    def latest_head(self) -> dict[str, Any] | None:
        """The newest signed tree head, as published; None before the first one."""
        with self.db.session() as session:
            checkpoint = session.scalar(
                select(AuditCheckpoint).where(AuditCheckpoint.root.is_not(None)).order_by(AuditCheckpoint.id.desc())
            )
            return self._published(checkpoint) if checkpoint else None

    def heads(self, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Signed tree heads in the order they were made (with their `id` for paging)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.root.is_not(None), AuditCheckpoint.id > after_id)
                .order_by(AuditCheckpoint.id)
                .limit(limit)
            )
            return [{"id": c.id, **self._published(c)} for c in rows]

    def _published(self, checkpoint: AuditCheckpoint) -> dict[str, Any]:
        """A signed head with its public key (hex), so a witness meeting it first can pin the key."""
        key = self.signing_keys.get(checkpoint.key_id)
        return {**signed_head(checkpoint), "public_key": public_key_hex(key.public_key) if key else None}

    def inclusion_proof(self, seq: int, size: int) -> dict[str, Any]:
        """Proof that record `seq` is in the tree of the first `size` records (both 1-based counts)."""
        with self.db.session() as session:
            _within_log(session, size)
            nodes = stored_nodes(session)
            proof = merkle.inclusion_proof(seq - 1, size, nodes)
            leaf = nodes({(0, seq - 1)})[(0, seq - 1)]
            root = merkle.root(size, nodes)
        return {"seq": seq, "size": size, "leaf": leaf.hex(), "root": root.hex(), "proof": [p.hex() for p in proof]}

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        """Proof that the tree of `second` records extends the tree of `first` (RFC 9162)."""
        with self.db.session() as session:
            _within_log(session, second)
            nodes = stored_nodes(session)
            proof = merkle.consistency_proof(first, second, nodes)
            roots = (merkle.root(first, nodes).hex(), merkle.root(second, nodes).hex())
        return {"first": first, "second": second, "first_root": roots[0], "second_root": roots[1],
                "proof": [p.hex() for p in proof]}

    # --- the transaction's end: bind changed state, queue the entries, chain them after the commit ------
    def _before_commit(self, session: Session) -> None:
        session.flush()
        rows = self.binder.take(session, self.mac_keys)
        if rows:
            self.append(session, StateBound(rows=rows), actor=session.info.get(_ACTOR, "system"))
        entries = [entry for _owner, entry in session.info.pop(_QUEUE, [])]
        if not entries:
            return
        lane = self.lanes.lane()
        first = lane.begin(len(entries))
        session.info[_LANE] = (lane, first + len(entries) - 1)
        for number, entry in enumerate(entries, first):
            entry["lane"], entry["lane_seq"] = lane.id, number
        chain = self.integrate_after_commit and (
            not self.db.waited_for_another_process(session) or self.integrator.backlog(session))
        step = self.integrator.chain_here(session, entries) if chain else None
        if step is not None:
            session.info[_STEP] = step
            # Nothing else could queue while SQLite's one writer held the lock; on PostgreSQL others may
            # have, and whoever lets go of the lock looks at the queue again.
            if not self.db.is_sqlite:
                session.info[_INTEGRATE] = (_LOOK, 0)
            return
        lane.queueing()
        for entry in entries:
            entry["mac"] = self.mac_keys.mac(queued_message(entry), entry["mac_key_id"])
        session.connection().execute(_QUEUE_INSERT, entries)  # Core, without the ORM's execute machinery
        session.info[_INTEGRATE] = (_TRY, len(entries))

    def _after_commit(self, session: Session) -> None:
        session.info.pop(_ROTATED, None)
        step = session.info.pop(_STEP, None)
        if step is not None:
            self.integrator.settle(step, committed=True)
        if not self._settle(session, committed=True):
            session.info.pop(_INTEGRATE, None)

    def _after_soft_rollback(self, session: Session, transaction: SessionTransaction) -> None:
        queued = session.info.get(_QUEUE)
        if queued:  # entries appended inside a savepoint that rolled back never happened
            session.info[_QUEUE] = [item for item in queued if not _within(item[0], transaction)]

    def _after_rollback(self, session: Session) -> None:
        self.binder.forget(session)
        session.info.pop(_QUEUE, None)
        session.info.pop(_INTEGRATE, None)
        step = session.info.pop(_STEP, None)
        if step is not None:
            self.integrator.settle(step, committed=False)
        rotated = session.info.pop(_ROTATED, None)
        if rotated is not None:
            self.mac_keys.current_id, self.signing_key = rotated
        self._settle(session, committed=False)

    def _settle(self, session: Session, committed: bool) -> bool:
        taken: tuple[Lane, int] | None = session.info.pop(_LANE, None)
        if taken is None:
            return False
        lane, end = taken
        try:
            lane.settle(end, committed)
        except OSError as exc:
            # The database has already decided; failing now would misreport the operation.
            log.error("audit lane file not updated: %s", exc)
        return committed

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        """Chain what waits in the queue (this transaction's entries, or others' queued while it held the
        chain lock), once it has released its locks."""
        if transaction.parent is not None:
            return
        how = session.info.pop(_INTEGRATE, None)
        if how is None or not self.integrate_after_commit:
            return
        try:
            self.integrator.integrate(wait=False, look_first=how[0] == _LOOK, own=how[1])
        except Exception as exc:  # the work is committed; its entries wait, authenticated, for the next one
            log.error("audit entries queued but not yet chained: %s", exc)

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


def _mtime(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def _within_log(session: Session, size: int) -> None:
    if size > chain_head(session)[0]:
        raise merkle.ProofError(f"the log has fewer than {size} records")


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
