"""The audit log: typed events in a hash chain, each record authenticated, under a Merkle tree.

Each record's hash covers its content and the previous record's hash, so changing, removing, inserting
or reordering records breaks the chain. Each record also carries an HMAC under a key outside the
database, written in the same transaction, so nobody holding only the database can append or rewrite
a record that verifies. Cutting off the newest records is caught by the head witness (`head.py`), a file
beside the keys. The records are the leaves of a Merkle tree (`merkle.py`, `tree.py`); signed tree heads
(Ed25519) are stored in `audit_checkpoints`, as lines of an external file and on the public site, so
outsiders who keep one can later prove that the log was not rewritten — even by someone holding every
key. Rows of the tables that gate action are bound to the log (`binding.py`). `verify.py` checks it all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _str  # the C encoder canonical_json uses for strings
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Select, event, func, select, text
from sqlalchemy.orm import Session, SessionTransaction

from ..storage.db import Database
from ..storage.models import AuditCheckpoint, AuditRecord
from . import merkle
from .binding import Binder
from .canonical import canonical_json, format_time
from .events import EVENTS, AuditKeysRotated, Event, StateBound
from .head import Head, HeadFileError, HeadWitness
from .keys import AuditKeyError, SigningKey, new_signing_key, public_key_hex, rotation_message
from .mac import MacKeyRing
from .tree import add_leaf, stored_nodes

ZERO_HASH = "0" * 64
OUTCOMES = ("ok", "refused", "error")
# Any constant works; all Overt processes must agree. ASCII "overtaud".
_PG_LOCK_KEY = 0x6F76657274617564
_PENDING = "overt.audit.pending_checkpoint_lines"
_TX = "overt.audit.transaction"
_ROTATED = "overt.audit.rotated_from"
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


def chain_hash(
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
) -> str:
    """`record_hash(chain_payload(...))`, written out: the same canonical JSON (keys in sorted order, no
    spaces, ASCII escapes), built without a dict and an encoder per record - a third of verification's
    time at a million records. A test holds the two equal."""
    text = (
        f'{{"action":{_str(action)},"actor":{_str(actor)},"at":"{format_time(at)}",'
        f'"deployment_id":{"null" if deployment_id is None else int(deployment_id)},"details":{_str(details)},'
        f'"object_id":{_str(object_id)},"object_type":{_str(object_type)},"outcome":{_str(outcome)},'
        f'"prev_hash":{_str(prev_hash)},"seq":{int(seq)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


def record_mac_message(hash_: str) -> bytes:
    """What a record's MAC covers: its chain hash, which covers everything else."""
    return f"overt-record-v1:{hash_}".encode()


def checkpoint_message(seq: int, hash_: str, at: str) -> bytes:
    """What checkpoints written before version 0003 signed: f"{seq}:{hash}:{at}"."""
    return f"{seq}:{hash_}:{at}".encode()


def head_message(size: int, root: str, at: str) -> bytes:
    """What a signed tree head signs: the tree's size and root (hex) and when, `at` as `format_time`."""
    return f"overt-sth-v1:{size}:{root}:{at}".encode()


def signed_head(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """A checkpoint as the published head: {"size", "root", "at", "key_id", "signature"} (and the record
    hash at that size, for `audit verify --against`)."""
    return {
        "size": checkpoint.seq,
        "root": checkpoint.root,
        "at": format_time(checkpoint.at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
        "hash": checkpoint.hash,
    }


def checkpoint_line(checkpoint: AuditCheckpoint) -> str:
    """A checkpoint as one line of the external file (canonical JSON, self-contained for verification)."""
    line = {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "at": format_time(checkpoint.at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }
    if checkpoint.root is not None:
        line["root"] = checkpoint.root
    return canonical_json(line)


@dataclass
class _Transaction:
    """What this transaction did to the chain: the head it found, and who acted last."""

    base: Head | None
    actor: str
    pending: Head | None = None
    signed: int | None = None  # the newest checkpoint this transaction signed


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
        mac_keys: MacKeyRing,
        checkpoint_every: int = 100,
        checkpoint_file: Path | None = None,
        head_file: Path | None = None,
        signing_keys: dict[str, SigningKey] | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.db = db
        self.signing_keys = {signing_key.key_id: signing_key, **(signing_keys or {})}
        self.signing_key = signing_key
        self.mac_keys = mac_keys
        self._keys_in_force()
        self.checkpoint_every = checkpoint_every
        self.checkpoint_file = checkpoint_file
        self.witness = HeadWitness(head_file, mac_keys) if head_file is not None else None
        self.binder = Binder()
        db.listen("after_flush", self.binder.after_flush)
        db.listen("do_orm_execute", self.binder.refuse_bulk_changes)
        db.listen("before_commit", self._before_commit)
        db.listen("after_commit", self._after_commit)
        db.listen("after_rollback", self._after_rollback)

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
        The record's MAC and its Merkle nodes are written in the same transaction.
        """
        if EVENTS.get(event.name) is not type(event):
            raise TypeError(f"{type(event).__name__} is not a registered audit event")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        details = canonical_json(event.details())
        _lock_chain(self.db, session)
        head_seq, head_hash = _head(session)
        tx = session.info.get(_TX)
        if tx is None:
            tx = session.info[_TX] = _Transaction(Head(head_seq, head_hash) if head_seq else None, actor)
        tx.actor = actor
        seq, at = head_seq + 1, datetime.now(UTC)
        hash_ = chain_hash(
            seq, at, actor, event.name, deployment_id, object_type, object_id, outcome, details, head_hash
        )
        key_id = self.mac_keys.current_id
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
            hash=hash_,
            mac=self.mac_keys.mac(record_mac_message(hash_), key_id),
            mac_key_id=key_id,
        )
        session.add(record)
        session.flush()
        add_leaf(session, seq, hash_, head_hash)
        if seq % self.checkpoint_every == 0:
            self._checkpoint(session, seq, hash_)
        return record

    def checkpoint(self, session: Session) -> AuditCheckpoint | None:
        """Sign the current tree head now (at shutdown, after an export); None while the log is empty."""
        _lock_chain(self.db, session)
        seq, hash_ = _head(session)
        if not seq:
            return None
        session.info.setdefault(_TX, _Transaction(Head(seq, hash_), "system"))
        return self._checkpoint(session, seq, hash_)

    def _checkpoint(self, session: Session, seq: int, hash_: str) -> AuditCheckpoint:
        at = datetime.now(UTC)
        root = merkle.root(seq, stored_nodes(session)).hex()
        checkpoint = AuditCheckpoint(
            seq=seq,
            hash=hash_,
            root=root,
            at=at,
            key_id=self.signing_key.key_id,
            signature=self.signing_key.sign(head_message(seq, root, format_time(at))),
        )
        session.add(checkpoint)
        session.flush()
        tx = session.info.get(_TX)
        if tx is not None:
            tx.signed = seq
        if self.checkpoint_file is not None:
            _write_after_commit(session, self.checkpoint_file, checkpoint_line(checkpoint))
        return checkpoint

    def size(self, session: Session) -> int:
        """How many records the log holds."""
        return _head(session)[0]

    # --- keys: which are in force is what the log says ----------------------------------------------
    def _keys_in_force(self) -> None:
        """Take the keys the log names as in force: the last rotation's, else the first record's MAC key."""
        if not self.db.is_initialised():
            return
        with self.db.engine.connect() as conn:
            details = conn.scalar(
                select(AuditRecord.details)
                .where(AuditRecord.action == AuditKeysRotated.name, AuditRecord.outcome == "ok")
                .order_by(AuditRecord.seq.desc())
                .limit(1)
            )
            if details is not None:
                rotation = json.loads(details)
                mac_id, signing_id = rotation["new_mac_key"], rotation["new_signing_key"]
            else:
                mac_id = conn.scalar(
                    select(AuditRecord.mac_key_id).where(AuditRecord.mac.is_not(None)).order_by(AuditRecord.seq).limit(1)
                )
                signing_id = self.signing_key.key_id
        if mac_id is not None:
            if mac_id not in self.mac_keys.keys:
                raise AuditKeyError(f"the audit MAC key {mac_id}, which the log says is in force, is missing")
            self.mac_keys.current_id = mac_id
        if signing_id not in self.signing_keys:
            raise AuditKeyError(f"the audit signing key {signing_id}, which the log says is in force, is missing")
        self.signing_key = self.signing_keys[signing_id]

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

    # --- the transaction's end: bind changed state, then witness the head ----------------------------
    def _before_commit(self, session: Session) -> None:
        session.flush()
        rows = self.binder.take(session, self.mac_keys)
        if rows:
            tx = session.info.get(_TX)
            self.append(session, StateBound(rows=rows), actor=tx.actor if tx else "system")
        tx = session.info.get(_TX)
        if tx is not None and self.witness is not None:
            last = Head(*_head(session))
            if tx.base is None or last.seq > tx.base.seq or tx.signed is not None:
                self.witness.begin(tx.base, last, tx.signed)
                tx.pending = last

    def _after_commit(self, session: Session) -> None:
        session.info.pop(_ROTATED, None)
        self._settle(session, committed=True)

    def _after_rollback(self, session: Session) -> None:
        self.binder.forget(session)
        rotated = session.info.pop(_ROTATED, None)
        if rotated is not None:
            self.mac_keys.current_id, self.signing_key = rotated
        self._settle(session, committed=False)

    def _settle(self, session: Session, committed: bool) -> None:
        tx = session.info.pop(_TX, None)
        pending = getattr(tx, "pending", None)
        if pending is None or self.witness is None:
            return
        try:
            self.witness.settle(pending, committed, tx.signed)
        except (OSError, HeadFileError) as exc:
            # The database has already decided; failing now would misreport the operation.
            log.error("audit head file not updated: %s", exc)

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


def _lock_chain(db: Database, session: Session) -> None:
    """Serialise appenders until the transaction ends; the seq primary key would refuse a fork anyway."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        db.write_lock(session)


def _within_log(session: Session, size: int) -> None:
    if size > _head(session)[0]:
        raise merkle.ProofError(f"the log has fewer than {size} records")


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
