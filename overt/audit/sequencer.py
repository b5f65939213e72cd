"""The sequencer: writers queue authenticated entries; one integrator at a time chains them in batches.

A chain needs one order, so appending to it is serial; when each writer held the chain's lock until its
own transaction committed, commits (an fsync each) were serialised and the log managed a few hundred
records a second. Certificate Transparency logs separate the two steps, and so does Overt:

1. A writer's transaction inserts its entries into `audit_queue`, each with an HMAC over its content,
   its lane and its number in the lane (`lanes.py`). No chain lock, no head to read: writers commit
   concurrently, and the entry commits with the work it describes, authenticated ("no unsigned window").
2. After the commit, the writer integrates: under the chain lock, in one transaction, every queued entry
   (its own and any others') is checked, given the next seq, hashed into the chain, MAC'd as a record,
   added to the Merkle tree, signed at checkpoints, and deleted from the queue. Concurrent committers
   find their entries already taken by whoever held the lock: one commit carries many (group commit).

An operation therefore returns with its records chained. Entries that wait (their writer died between
the two steps) are chained by the next process that integrates; meanwhile the log guard and `audit
verify` read them from the queue, authenticated by their MAC, and the lanes say if any went missing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from ..storage.models import AuditCheckpoint, AuditQueued, AuditRecord
from .canonical import canonical_json, format_time
from .chain import chain_hash, chain_head, lock_chain, record_mac_message
from .events import AuditKeysRotated
from .head import Head
from .keys import SigningKey
from .merkle import Frontier, leaf_hash
from .tree import insert_nodes, stored_nodes

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
_ANY_QUEUED = select(AuditQueued.id).limit(1)


def queued_message(entry: Mapping[str, Any]) -> bytes:
    """What a queued entry's MAC covers: everything a record will hold except its place in the chain."""
    body = {name: entry[name] for name in ("lane", "lane_seq", "actor", "action", "deployment_id",
                                           "object_type", "object_id", "outcome", "details")}
    return f"overt-queued-v1:{canonical_json({**body, 'at': format_time(entry['at'])})}".encode()


def keys_named_by_log(conn: Connection | Session) -> tuple[str | None, str | None]:
    """The MAC and signing keys the chain says are in force: the last rotation's, else the first
    authenticated record's MAC key (and no opinion on the signing key); (None, None) for a new log."""
    details = conn.scalar(
        select(AuditRecord.details)
        .where(AuditRecord.action == AuditKeysRotated.name, AuditRecord.outcome == "ok")
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    )
    if details is not None:
        rotation = json.loads(details)
        return str(rotation["new_mac_key"]), str(rotation["new_signing_key"])
    first = conn.scalar(
        select(AuditRecord.mac_key_id).where(AuditRecord.mac.is_not(None)).order_by(AuditRecord.seq).limit(1)
    )
    return first, None


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
    """Moves queued entries into the chain, in batches, under the chain lock (one integrator at a time)."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._tip: _Tip | None = None  # the chain's end as this process last chained it
        self._next_prune = 0.0

    def integrate(self, sign: bool = False, wait: bool = True) -> int:
        """Chain everything queued (`sign`: then sign the head); returns how many records were added.

        Without `wait` (after a writer's commit) the lock is only tried: if another process holds it, this
        returns at once and leaves the entries to that holder, which looks at the queue again after each
        of its commits, before it lets go. So writers never queue on the lock, one holder chains many
        writers' entries, and every committed entry is chained by someone without delay. (Entries the
        integrator refuses as forged stay queued, and do not keep it looping.)
        """
        total, refused = 0, set[int]()
        while True:
            batch = self._batch(False, wait)
            if not batch.locked:
                return total
            total += batch.added
            refused |= batch.refused
            if not self._queued(refused):
                break
        if sign:
            self._batch(True, True)
        return total

    def _queued(self, refused: set[int]) -> bool:
        """Whether anything but the refused entries waits in the queue (a cheap read, without the lock)."""
        query = _ANY_QUEUED if not refused else _ANY_QUEUED.where(AuditQueued.id.not_in(sorted(refused)))
        with self.audit.db.engine.connect() as conn:
            return conn.scalar(query) is not None

    def _batch(self, sign: bool, wait: bool) -> _Batch:
        """One transaction under the chain lock (None of it without the lock, when not `wait`ing)."""
        audit = self.audit
        witness, began, signed = audit.witness, None, None
        try:
            with audit.db.session() as session:
                if not lock_chain(audit.db, session, wait):
                    return _Batch(locked=False)
                rows = [r._mapping for r in session.execute(_NEXT_BATCH)]
                seq, prev = chain_head(session)
                base = Head(seq, prev) if seq else None
                if not rows and not (sign and seq and not _signed_at(session, seq)):
                    return _Batch()
                chained = self._chain(session, rows, seq, prev)
                if chained.records:
                    session.execute(insert(AuditRecord.__table__), chained.records)
                    insert_nodes(session, chained.nodes)
                    session.execute(delete(AuditQueued.__table__).where(AuditQueued.id.in_(chained.done)))
                for seq_, hash_, root, key in chained.heads:
                    signed = audit.sign_head(session, seq_, hash_, root, key)
                head = chained.head or base
                if sign and head is not None and signed != head.seq and not _signed_at(session, head.seq):
                    signed = audit.sign_head(session, head.seq, head.hash, audit.root_at(session, head.seq),
                                             chained.signing)
                if witness is not None and head is not None and (chained.records or signed is not None):
                    witness.begin(base, head, signed)
                    began = head
        except BaseException:
            self._tip = None
            if began is not None and witness is not None:
                witness.settle(began, False, signed)
            raise
        if began is not None and witness is not None:
            witness.settle(began, True, signed)
        if chained.tip is not None:
            self._tip = chained.tip
        if signed is not None and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_S
            audit.lanes.prune(self._chained_up_to)
        return _Batch(added=len(chained.records), refused={r["id"] for r in rows} - set(chained.done))

    def _chained_up_to(self, lanes: list[str]) -> dict[str, int]:
        with self.audit.db.engine.connect() as conn:
            rows = conn.execute(select(AuditRecord.lane, func.max(AuditRecord.lane_seq))
                                .where(AuditRecord.lane.in_(lanes)).group_by(AuditRecord.lane))
            return {lane: top for lane, top in rows}

    def _chain(self, session: Session, rows: list[Mapping[str, Any]], seq: int, prev: str) -> _Chained:
        """The records, tree nodes, checkpoints and queue ids of the entries that can be chained now."""
        audit, ring = self.audit, self.audit.mac_keys
        tip = self._tip
        if tip is None or (tip.seq, tip.hash) != (seq, prev):  # another process chained meanwhile
            mac_id, signing_id = keys_named_by_log(session)
            signing = audit.signing_keys.get(signing_id, audit.signing_key) if signing_id else audit.signing_key
            tip = _Tip(seq, prev, Frontier.at(seq, stored_nodes(session)) if rows else Frontier(), mac_id, signing)
        out = _Chained(signing=tip.signing)
        if not rows:
            return out
        frontier, mac_id = tip.frontier.copy(), tip.mac_id
        for entry in rows:
            kid = entry["mac_key_id"]
            if (mac_id is not None and kid != mac_id) or not ring.check(kid, queued_message(entry), entry["mac"]):
                log.error("audit queue entry %s (lane %s, %s) is not authenticated with the key in force: "
                          "left in the queue; run `overt audit verify`", entry["id"], entry["lane"],
                          entry["lane_seq"])
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
            out.done.append(entry["id"])
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


def _signed_at(session: Session, seq: int) -> bool:
    return session.scalar(select(func.count()).where(AuditCheckpoint.seq == seq, AuditCheckpoint.root.is_not(None))) > 0


