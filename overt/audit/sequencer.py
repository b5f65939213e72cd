"""The sequencer: one chain, many writers; a writer chains in its own transaction when it can, else queues.

A chain needs one order, so appending to it is serial; when each writer waited for the chain's lock and
held it through its commit, commits (an fsync each) were serialised. Certificate Transparency logs
separate ordering from accepting, and so does Overt, without ever waiting for the lock:

1. At its commit, a writer *tries* the chain lock inside its own transaction. Taken (always on SQLite,
   whose one writer already holds it): it chains its entries there and then, together with any that
   others queued: seq, hash, record MAC, Merkle nodes, signed heads, head witness. One transaction,
   one commit; the records commit with the work they describe.
2. Not taken (PostgreSQL, another writer is chaining), or a SQLite writer that had to wait for another
   process's writer (woken with cold caches, others waiting for its commit: the chain's reads and
   writes are cheaper in one batch after): it inserts its entries into `audit_queue`, each
   with an HMAC over its content, its lane and its number in the lane (`lanes.py`), and commits without
   waiting. Still authenticated from the first instant ("no unsigned window"). A SQLite writer that
   did not wait chains everything queued with its own; one that waited does so too if it finds
   `BACKLOG` entries queued, which bounds the queue when every writer waits.
3. After any commit that queued, or that held the lock while others could queue, the writer tries the
   lock again and chains what waits (`integrate`). Whoever lets go of the lock looks at the queue once
   more, so every committed entry is chained without delay, by its writer or by the lock's holder. On
   SQLite a writer tries only if no other writer holds or awaits the lock (`Database.writer_is_idle`):
   those in line commit after it, and the last of them finds the lock idle (or the backlog long).

Uncontended, an operation therefore returns with its records chained; contended, they are chained
within a few transactions, by a writer after it. Entries that wait longer (their writer died between
the two steps, or on SQLite the writers in line wrote nothing to audit, as the hourly counts do) are
chained by the next audited commit or checkpoint of any process (a server signs every minute when it
has appended); meanwhile the log guard and `audit verify` read them from the queue, authenticated by
their MAC, and the lanes say if any went missing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Integer, any_, bindparam, delete, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ..storage.models import AuditCheckpoint, AuditQueued, AuditRecord
from .canonical import canonical_json, format_time
from .chain import chain_hash, chain_head, lock_chain, record_mac_message
from .events import AuditKeysRotated
from .head import Head
from .keys import SigningKey
from .merkle import Frontier, leaf_hash
from .sealed import SealedFileError
from .tree import TreeError, insert_nodes, stored_nodes
from .trylock import TryLock

if TYPE_CHECKING:
    from .log import AuditLog

log = logging.getLogger(__name__)

BATCH = 5_000
PRUNE_EVERY_S = 600.0  # idle lanes' files are removed at most this often, after a signed head
QUEUE_COLUMNS = (
    AuditQueued.id,
    AuditQueued.lane,
    AuditQueued.lane_seq,
    AuditQueued.at,
    AuditQueued.actor,
    AuditQueued.action,
    AuditQueued.deployment_id,
    AuditQueued.object_type,
    AuditQueued.object_id,
    AuditQueued.outcome,
    AuditQueued.details,
    AuditQueued.mac,
    AuditQueued.mac_key_id,
)


_NEXT_BATCH = select(*QUEUE_COLUMNS).order_by(AuditQueued.id).limit(BATCH)
# Records chained by others that a tip is moved over (a row and a leaf hash each); more: rebuilt from the
# tree's right edge and the key history (four short queries). Eight writers of ten records a transaction
# (70 between one writer's turns) appended 1,348-1,541/s with 16, 1,107-1,214/s with 64.
CATCH_UP = 16
_ANY_QUEUED = select(AuditQueued.id).limit(1)
# SQLite: a writer that waited for the writer lock chains the queue in its own transaction if this many
# entries wait (one fsync for them all, no transaction of their own). Writers that did not wait chain it
# anyway, 17-47 times a second under eight processes (runs M); this bounds the queue if none comes.
# Asked by every `BACKLOG_EVERY`th waiting transaction of a process: the query on a page another process
# has just written cost 0.14 ms of CPU, a tenth of an audited append.
BACKLOG = 32
BACKLOG_EVERY = 16
_BACKLOG = select(AuditQueued.id).order_by(AuditQueued.id).offset(BACKLOG - 1).limit(1)
# The queue rows a batch chained. On PostgreSQL one array, not a parameter per row: a statement of 300
# parameters was new text for the driver to parse at every batch (3 ms each, under eight writers).
_TAKEN = {
    "postgresql": delete(AuditQueued.__table__).where(
        AuditQueued.id == any_(bindparam("ids", type_=postgresql.ARRAY(Integer)))),
    "sqlite": delete(AuditQueued.__table__).where(AuditQueued.id.in_(bindparam("ids", expanding=True))),
}
_INSERT_RECORDS = insert(AuditRecord.__table__)
_FROM = (select(AuditRecord.seq, AuditRecord.prev_hash, AuditRecord.hash, AuditRecord.action, AuditRecord.outcome,
                AuditRecord.details, _ANY_QUEUED.exists())
         .where(AuditRecord.seq >= bindparam("seq")).order_by(AuditRecord.seq).limit(CATCH_UP + 1))


def queued_message(entry: Mapping[str, Any]) -> bytes:
    """What a queued entry's MAC covers: everything a record will hold except its place in the chain."""
    body = {name: entry[name] for name in ("lane", "lane_seq", "actor", "action", "deployment_id",
                                           "object_type", "object_id", "outcome", "details")}
    return f"overt-queued-v1:{canonical_json({**body, 'at': format_time(entry['at'])})}".encode()


def keys_named_by_log(conn: Connection | Session) -> tuple[str | None, str | None]:
    """The MAC and signing keys the chain says are in force: the last rotation's, else the first
    authenticated record's MAC key (and no opinion on the signing key); (None, None) for a new log."""
    details = conn.scalar(_LAST_ROTATION)
    if details is not None:
        rotation = json.loads(details)
        return str(rotation["new_mac_key"]), str(rotation["new_signing_key"])
    return conn.scalar(_FIRST_MAC_KEY), None


_LAST_ROTATION = (select(AuditRecord.details)
                  .where(AuditRecord.action == AuditKeysRotated.name, AuditRecord.outcome == "ok")
                  .order_by(AuditRecord.seq.desc()).limit(1))
_FIRST_MAC_KEY = (select(AuditRecord.mac_key_id).where(AuditRecord.mac.is_not(None))
                  .order_by(AuditRecord.seq).limit(1))


@dataclass(frozen=True)
class Queued:
    """An entry read back from the queue (by the log guard and by verification)."""

    id: int
    lane: str
    lane_seq: int
    action: str
    deployment_id: int | None
    object_type: str
    object_id: str
    outcome: str
    details: str
    mac_key_id: str
    authentic: bool


def read_queue(conn: Connection | Session, ring: Any, *conditions: Any) -> list[Queued]:
    """Queued entries in queue order, each with whether its MAC verifies under the key it names."""
    rows = conn.execute(select(*QUEUE_COLUMNS).where(*conditions).order_by(AuditQueued.id))
    out = []
    for row in rows:
        entry = row._mapping
        authentic = ring is not None and ring.check(entry["mac_key_id"], queued_message(entry), entry["mac"])
        out.append(Queued(entry["id"], entry["lane"], entry["lane_seq"], entry["action"], entry["deployment_id"],
                          entry["object_type"], entry["object_id"], entry["outcome"], entry["details"],
                          entry["mac_key_id"], authentic))
    return out


class Integrator:
    """Moves entries into the chain under the chain lock: queued ones in batches, and a committing
    writer's own in its transaction (`chain_here`)."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._tip: _Tip | None = None  # the chain's end as this process last chained it
        self._next_prune = 0.0
        self._trylock = TryLock(audit.db.engine) if not audit.db.is_sqlite else None
        self._contended = False  # PostgreSQL: the lock was taken, or others' entries waited, when last tried
        self._backlog_asked = 0  # SQLite: waiting transactions since the queue's length was last looked at

    def integrate(self, sign: bool = False, wait: bool = True, look_first: bool = False, own: int = 0) -> int:
        """Chain everything queued (`sign`: then sign the head); returns how many records were added.

        Without `wait` (after a writer's commit) the lock is only tried: if another process holds it, this
        returns at once and leaves the entries to that holder, which looks at the queue again after each
        of its commits, before it lets go. So writers never queue on the lock, one holder chains many
        writers' entries, and every committed entry is chained by someone without delay. (Entries the
        integrator refuses as forged stay queued, and do not keep it looping.) `look_first`: only if
        anything is queued (a read without the lock, cheaper than trying it). `own`: how many entries the
        caller's transaction queued; if that is all there was to chain, nobody else is writing, and the
        caller's next transaction tries the lock again itself (`chain_here`).
        """
        total, refused = 0, set[int]()
        if look_first and not self._queued(refused):
            return 0
        while True:
            batch = self._batch(False, wait)
            if not batch.locked:
                return total
            total += batch.added
            refused |= batch.refused
            if not self._queued(refused):
                break
        self._contended = self._trylock is not None and total > own
        if sign:
            self._batch(True, True)
        return total

    def chain_here(self, session: Session, own: list[dict[str, Any]]) -> Step | None:
        """At a writer's commit: if this transaction can take the chain lock without waiting, chain
        `own` (entries with their lanes, not yet MAC'd) in it, after whatever is queued; the returned
        step is settled after the commit or rollback. None: the lock is taken, or something prevents
        chaining `own` now (a full queue ahead of it, a key this process has not yet seen in force);
        the caller queues them instead.

        On PostgreSQL, once this process has found the lock taken, or others' entries queued, it does not
        try here until it takes the lock after a commit and finds only its own entries to chain: under
        contention a try in the transaction mostly fails and costs a round trip, and a holder that chains
        in its transaction makes the others' tries fail; batches after the commit chain them all."""
        if self._contended or not lock_chain(self.audit.db, session, wait=False):
            self._contended = self._trylock is not None
            return None
        try:
            plan = self._plan(session, own, sign=False)
        except (TreeError, SealedFileError, ValueError, KeyError) as exc:  # tampered: queue, let verify say
            log.error("audit entries queued, not chained: %s", exc)
            return None
        return self._apply(session, plan) if plan is not None else None

    def backlog(self, session: Session) -> bool:
        """Whether `BACKLOG` entries or more wait in the queue (read in the caller's transaction, which
        waited for SQLite's writer lock; looked at by every `BACKLOG_EVERY`th, starting with the first)."""
        asked, self._backlog_asked = self._backlog_asked, (self._backlog_asked + 1) % BACKLOG_EVERY
        return asked == 0 and session.connection().execute(_BACKLOG).first() is not None

    def settle(self, step: Step, committed: bool) -> None:
        """After the commit (or rollback) of a transaction that chained: the head witness moves on (or
        back), this process's tip is kept (or forgotten), idle lanes are pruned now and then."""
        witness = self.audit.witness
        if step.began is not None and witness is not None:
            witness.settle(step.began, committed)
        if not committed:
            self._tip = None
            return
        if step.tip is not None:
            self._tip = step.tip
        if step.signed is not None and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_S
            self.audit.lanes.prune(self._chained_up_to)

    def _queued(self, refused: set[int]) -> bool:
        """Whether anything but the refused entries waits in the queue (a cheap read, without the lock)."""
        if self._trylock is not None:
            return bool(self._trylock.anything_queued(refused))
        query = _ANY_QUEUED if not refused else _ANY_QUEUED.where(AuditQueued.id.not_in(sorted(refused)))
        with self.audit.db.engine.connect() as conn:
            return conn.scalar(query) is not None

    def _batch(self, sign: bool, wait: bool) -> _Batch:
        """One transaction under the chain lock (None of it without the lock, when not `wait`ing)."""
        if not wait and self._trylock is None and not self.audit.db.writer_is_idle():
            return _Batch(locked=False)  # the writers holding or awaiting the lock chain after (`backlog`)
        if wait or self._trylock is None:
            return self._locked_batch(sign, wait, held=False)
        if not self._trylock.acquire():
            self._contended = True
            return _Batch(locked=False)
        try:
            return self._locked_batch(sign, wait, held=True)
        finally:
            self._trylock.release()

    def _locked_batch(self, sign: bool, wait: bool, held: bool) -> _Batch:
        """The transaction of `_batch`; `held`: this process holds the chain lock already (`TryLock`)."""
        step = None
        try:
            with self.audit.db.session() as session:
                if not held and not lock_chain(self.audit.db, session, wait):
                    return _Batch(locked=False)
                step = self._step(session, [], sign)
        except BaseException:
            self.settle(step or Step(), committed=False)
            raise
        assert step is not None
        self.settle(step, committed=True)
        return _Batch(added=step.added, refused=step.refused)

    def _step(self, session: Session, own: list[dict[str, Any]], sign: bool) -> Step | None:
        """Under the chain lock: chain what is queued, then `own`; sign; tell the head witness."""
        plan = self._plan(session, own, sign)
        return self._apply(session, plan) if plan is not None else None

    def _plan(self, session: Session, own: list[dict[str, Any]], sign: bool) -> _Plan | None:
        """Everything but the writes: read the queue and the chain's end, chain, tell the head witness
        what this transaction is about to commit. A tampered database or file fails here, before anything
        is written, so a writer can still queue its entries in the same transaction."""
        audit, witness, conn = self.audit, self.audit.witness, session.connection()
        tip, queued = self._caught_up(conn)
        rows = [r._mapping for r in conn.execute(_NEXT_BATCH)] if queued else []
        if own and len(rows) == BATCH:
            return None  # more waits than one batch: `own` must come after it, in its writer's lane order
        seq, prev = (tip.seq, tip.hash) if tip is not None else chain_head(conn)
        base = Head(seq, prev) if seq else None
        if not rows and not own and not (sign and seq and not _signed_at(session, seq)):
            return _Plan(rows, _Chained(signing=audit.signing_key))
        chained = self._chain(rows, own, tip or self._rebuilt(conn, seq, prev))
        if chained is None:
            return None
        head, heads = chained.head or base, list(chained.heads)
        if sign and head is not None and (not heads or heads[-1][0] != head.seq) and not _signed_at(session, head.seq):
            heads.append((head.seq, head.hash, audit.root_at(session, head.seq), chained.signing))
        signed = heads[-1][0] if heads else None
        began = None
        if witness is not None and head is not None and (chained.records or signed is not None):
            witness.begin(base, head, signed)
            began = head
        return _Plan(rows, chained, heads, began, signed)

    def _apply(self, session: Session, plan: _Plan) -> Step:
        """The writes of `plan`: records, tree nodes, queue rows taken, signed heads."""
        chained, conn = plan.chained, session.connection()
        try:
            if chained.records:
                conn.execute(_INSERT_RECORDS, chained.records)
                insert_nodes(conn, chained.nodes)
            if chained.done:
                conn.execute(_TAKEN[conn.dialect.name], {"ids": chained.done})
            for seq, hash_, root, key in plan.heads:
                self.audit.sign_head(session, seq, hash_, root, key)
        except BaseException:
            if plan.began is not None and self.audit.witness is not None:
                self.audit.witness.settle(plan.began, False)
            raise
        return Step(added=len(chained.records), refused={r["id"] for r in plan.rows} - set(chained.done),
                    began=plan.began, signed=plan.signed, tip=chained.tip)

    def _caught_up(self, conn: Connection) -> tuple[_Tip | None, bool]:
        """This process's tip moved over what others chained since, and whether anything is queued, read
        in one query: the chain's end (None when this process has no tip yet, or the log no longer
        continues it, or others chained more than `CATCH_UP` records meanwhile: then the tip is rebuilt)."""
        tip = self._tip
        if tip is None:
            return None, True
        rows = conn.execute(_FROM, {"seq": tip.seq}).all()
        queued = not rows or bool(rows[0][6])
        if not rows or len(rows) > CATCH_UP or (rows[0][0], rows[0][2]) != (tip.seq, tip.hash):
            return None, queued
        return tip.catch_up((row[:6] for row in rows[1:]), self.audit.signing_keys), queued

    def _rebuilt(self, conn: Connection, seq: int, prev: str) -> _Tip:
        """The chain's end at (seq, prev) from the stored tree's right edge and the log's key history."""
        mac_id, signing_id = keys_named_by_log(conn)
        audit = self.audit
        signing = audit.signing_keys.get(signing_id, audit.signing_key) if signing_id else audit.signing_key
        return _Tip(seq, prev, Frontier.at(seq, stored_nodes(conn)), mac_id, signing)

    def _chained_up_to(self, lanes: list[str]) -> dict[str, int]:
        with self.audit.db.engine.connect() as conn:
            rows = conn.execute(select(AuditRecord.lane, func.max(AuditRecord.lane_seq))
                                .where(AuditRecord.lane.in_(lanes)).group_by(AuditRecord.lane))
            return {lane: top for lane, top in rows}

    def _chain(self, rows: list[Mapping[str, Any]], own: list[dict[str, Any]], tip: _Tip) -> _Chained | None:
        """The records, tree nodes, checkpoints and queue ids of the queued entries that can be chained
        after `tip` now, followed by `own`; None if one of `own` cannot be (its key is not the one in force)."""
        audit, ring = self.audit, self.audit.mac_keys
        out = _Chained(signing=tip.signing)
        if not rows and not own:
            return out
        seq, prev, frontier, mac_id = tip.seq, tip.hash, tip.frontier.copy(), tip.mac_id
        for entry in [*rows, *own]:
            kid, queue_id = entry["mac_key_id"], entry.get("id")
            if mac_id is not None and kid != mac_id and queue_id is None:
                return None
            if (mac_id is not None and kid != mac_id) or (
                    queue_id is not None and not ring.check(kid, queued_message(entry), entry["mac"])):
                log.error("audit queue entry %s (lane %s, %s) is not authenticated with the key in force: "
                          "left in the queue; run `overt audit verify`", queue_id, entry["lane"], entry["lane_seq"])
                continue
            mac_id = kid
            seq += 1
            hash_ = chain_hash(seq, entry["at"], entry["actor"], entry["action"], entry["deployment_id"],
                               entry["object_type"], entry["object_id"], entry["outcome"], entry["details"], prev)
            out.nodes += [{"level": lv, "idx": i, "hash": h.hex()}
                          for (lv, i), h in frontier.append(leaf_hash(bytes.fromhex(hash_)))]
            out.records.append({
                "seq": seq, "at": entry["at"], "actor": entry["actor"], "action": entry["action"],
                "deployment_id": entry["deployment_id"], "object_type": entry["object_type"],
                "object_id": entry["object_id"], "outcome": entry["outcome"], "details": entry["details"],
                "prev_hash": prev, "hash": hash_, "lane": entry["lane"], "lane_seq": entry["lane_seq"],
                "mac": ring.mac(record_mac_message(hash_, entry["lane"], entry["lane_seq"]), kid),
                "mac_key_id": kid,
            })
            if queue_id is not None:
                out.done.append(queue_id)
            if seq % audit.checkpoint_every == 0:
                out.heads.append((seq, hash_, frontier.root().hex(), out.signing))
            prev = hash_
            if entry["action"] == AuditKeysRotated.name and entry["outcome"] == "ok":
                rotation = json.loads(entry["details"])
                mac_id = rotation["new_mac_key"]
                out.signing = audit.signing_keys.get(rotation["new_signing_key"], out.signing)
        if out.records:
            out.head = Head(seq, prev)
            out.tip = _Tip(seq, prev, frontier, mac_id, out.signing)
        return out


@dataclass(frozen=True)
class _Plan:
    """What a transaction under the chain lock will write: the queued rows it read, what they and the
    writer's own entries chain to, the heads to sign (seq, hash, root, key), and what the head witness
    was told (the head about to commit, the newest head signed)."""

    rows: list[Mapping[str, Any]]
    chained: _Chained
    heads: list[tuple[int, str, str, SigningKey]] = field(default_factory=list)
    began: Head | None = None
    signed: int | None = None


@dataclass(frozen=True)
class Step:
    """What one transaction under the chain lock did, to settle after its commit or rollback: records
    added, queued entries refused, the head the witness was told about, the head signed, the new tip."""

    added: int = 0
    refused: set[int] = field(default_factory=set)
    began: Head | None = None
    signed: int | None = None
    tip: _Tip | None = None


@dataclass(frozen=True)
class _Batch:
    """What one batch did: whether it had the lock, how many records it chained, which entries it refused."""

    locked: bool = True
    added: int = 0
    refused: set[int] = field(default_factory=set)


@dataclass
class _Chained:
    """What one batch adds: rows for `audit_log` and `audit_tree`, the heads to sign (seq, hash, root, key),
    the queue ids it took, the new head, and the signing key in force after it."""

    signing: SigningKey
    records: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    heads: list[tuple[int, str, str, SigningKey]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    head: Head | None = None
    tip: _Tip | None = None


@dataclass(frozen=True)
class _Tip:
    """The chain's end as of a batch: its head, its Merkle frontier and the keys in force. Reused by the
    next batch of this process while the head is still the same (nobody else chained), which saves
    reading the tree's right edge and the key history each time."""

    seq: int
    hash: str
    frontier: Frontier
    mac_id: str | None
    signing: SigningKey

    def catch_up(self, rows: Iterable[Any], signing_keys: Mapping[str, SigningKey]) -> _Tip | None:
        """This tip moved over the records chained after it (seq, prev_hash, hash, action, outcome,
        details, in seq order); None if they do not continue it (the log was cut or rewritten meanwhile)."""
        frontier, prev, mac_id, signing = self.frontier.copy(), self.hash, self.mac_id, self.signing
        for seq, prev_hash, hash_, action, outcome, details in rows:
            if seq != frontier.size + 1 or prev_hash != prev:
                return None
            frontier.append(leaf_hash(bytes.fromhex(hash_)))
            if action == AuditKeysRotated.name and outcome == "ok":
                rotation = json.loads(details)
                mac_id, signing = rotation["new_mac_key"], signing_keys.get(rotation["new_signing_key"], signing)
            prev = hash_
        return _Tip(frontier.size, prev, frontier, mac_id, signing)


def _signed_at(session: Session, seq: int) -> bool:
    return session.scalar(select(func.count()).where(AuditCheckpoint.seq == seq, AuditCheckpoint.root.is_not(None))) > 0


