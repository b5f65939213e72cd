"""Verification of the audit log against itself, its MACs, its Merkle tree, its signed heads, the head
witness and the state tables.

In one pass over the records: each record's hash and link (changed, removed, inserted, reordered), its MAC
under the key in force at that point of the log (forged or re-hashed records, by someone without the
key), the Merkle root at every signed tree head (a chain rewritten by someone who could re-sign), and the
bindings of state rows. Then: the signed heads in the database and in the external file agree with each
other and with the log (the file emptied, a database checkpoint deleted, heads beyond the end: the tail
cut off), the head witness's committed head is present (the tail cut off with every checkpoint), and every
bound row equals its last binding (a state table edited with SQL). Verification reads the file first,
then the database, so checkpoints written meanwhile never point at records it has not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, select

from ..storage.db import Database
from ..storage.models import AuditCheckpoint, AuditRecord
from .binding import Binder, compare
from .canonical import format_time
from .chain import (
    ZERO_HASH,
    chain_hash,
    checkpoint_message,
    head_message,
    record_mac_message,
    stored_records,
    stored_time,
)
from .head import HeadFileError, HeadWitness
from .keys import key_id, public_key_from_hex, rotation_message, verify_signature
from .lanes import LANES_DIR, LaneState, read_lanes
from .mac import MacKeyRing
from .merkle import Frontier, leaf_hash
from .parallel import MAIN_SHARE, PARALLEL_FROM, HashChecker, Problem
from .sealed import SealedFileError
from .sequencer import Queued, read_queue
from .tree import TreeError, stored_nodes


@dataclass(frozen=True)
class VerifyResult:
    """The verdict. `first_bad_seq` is where verification failed: the first record that is changed, missing
    or out of place, the record a bad checkpoint refers to, or the first record cut off the tail.
    `problem` says what, in one line. `records` and `checkpoints` count what was read and checked.
    `state` lists rows of the gating tables that disagree with the log; `warnings` what is not a failure
    but deserves a look (an interrupted commit).
    """

    ok: bool
    records: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None
    state: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    root: str | None = None


@dataclass(frozen=True)
class _Checkpoint:
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str
    root: str | None = None


class _Failed(Exception):
    """The first problem; `before_hash`: found by a check that one pass makes before the record's hash
    (its place in the chain), so it comes before the hash pass's problem with the same record."""

    def __init__(self, seq: int | None, problem: str, before_hash: bool = False) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem
        self.before_hash = before_hash

    def hash_pass_stop(self, last: int) -> int:
        """The last record whose problem found by the hash pass would come before this one: the same
        record, unless this is a gap or a link, which one pass checks before the record's hash."""
        if self.seq is None:
            return last
        return self.seq - 1 if self.before_hash else self.seq


def verify_chain(
    db: Database,
    public_key: Ed25519PublicKey | Iterable[Ed25519PublicKey],
    checkpoint_file: Path | None = None,
    *,
    mac_keys: MacKeyRing | None = None,
    witness: HeadWitness | None = None,
    check_state: bool = True,
) -> VerifyResult:
    """Check every record, checkpoint, MAC, Merkle root, the head witness and the bound state, in one pass.

    `public_key` may be several keys; keys introduced by a rotation record (endorsed by the previous key)
    are learnt from the log itself. Without `mac_keys` (an auditor holding only the public key and an
    export) MACs and state bindings are not checked. Stops at the first problem, in chain order.
    """
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    checkpoints = _Checkpoints({key_id(k): k for k in keys})
    checker = None
    if mac_keys is not None and _size(db) >= PARALLEL_FROM:
        checker = HashChecker(db, dict(mac_keys.keys))  # hashes and MACs on the other core
    macs = _Macs(mac_keys, MAIN_SHARE if checker else None)
    frontier = Frontier()
    bindings: dict[str, tuple[str, str, int]] = {}
    records = last = 0
    warnings: list[str] = []
    lanes = _Lanes()
    try:
        if checkpoint_file is not None:
            checkpoints.in_file = _read_file(checkpoint_file)
        # Files first, then the queue, then the chain: whatever a file names as committed was committed
        # before it was read, so it is in the queue or (chained meanwhile) in the chain read after.
        lanes.files = _read_lane_files(witness, mac_keys)
        witnessed = _read_witness(witness)
        watched = {h.seq: h.hash for h in (witnessed.committed, witnessed.pending) if h} if witnessed else {}
        seen: dict[int, str] = {}
        with db.engine.connect() as conn:
            queued = read_queue(conn, mac_keys)
            checkpoints.in_db = _read_database(conn)
            checkpoints.check_file(checkpoint_file)
            prev = ZERO_HASH
            for row in stored_records(conn):
                records += 1
                seq, action, hash_ = row[0], row[3], row[10]
                if seq != last + 1:
                    gap = f"record {last + 1} is" if seq == last + 2 else f"records {last + 1}-{seq - 1} are"
                    raise _Failed(last + 1, f"{gap} missing (removed)", before_hash=True)
                if row[9] != prev:
                    raise _Failed(
                        seq,
                        f"record {seq} does not link to record {seq - 1} (record inserted, removed or moved)",
                        before_hash=True,
                    )
                if checker is None and chain_hash(seq, stored_time(row[1]), *row[2:10]) != hash_:
                    raise _Failed(seq, f"record {seq} does not match its hash (modified)")
                macs.check(seq, hash_, row[11], row[12], row[13], row[14])
                if row[13] is not None:
                    lanes.follow(row[13], row[14], f"record {seq}", seq)
                frontier.append(leaf_hash(bytes.fromhex(hash_)))
                prev, last = hash_, seq
                if seq in watched:
                    seen[seq] = hash_
                if action == "state.bind":
                    for key, value in json.loads(row[8])["rows"].items():
                        bindings[key] = (value, row[12] or "", seq)
                elif action == "audit.keys_rotate":
                    new_key = checkpoints.learn_rotation(seq, json.loads(row[8]))
                    macs.rotate_to(new_key)
                if seq in checkpoints.seqs:
                    checkpoints.check_record(seq, prev, frontier.root().hex())
            checkpoints.check_beyond(last)
            _check_tree_edge(conn, frontier)
            if witnessed is not None:
                warnings += _check_witness(witnessed, seen, last)
            checkpoints.check_coverage(last, macs.legacy_end, witnessed, _signed_seen(witnessed, seen))
            warnings += _check_queue(queued, lanes, macs, bindings, mac_keys is not None, last)
            warnings += lanes.check_files()
            state: list[str] = []
            if check_state and mac_keys is not None:
                with db.session() as session:
                    state = compare(bindings, Binder().current_rows(session), mac_keys)
        if state:
            raise _Failed(None, f"{len(state)} state row(s) disagree with the log; first: {state[0]}")
        if checker is not None:
            _raise_first(checker.result(last))
    except _Failed as failure:
        if checker is not None:  # a record changed before this point is the first problem, if there is one
            earlier = checker.result(failure.hash_pass_stop(last))
            if earlier is not None:  # as one pass would have stopped there: what came after is unread
                failure, records, warnings = _Failed(earlier.seq, earlier.problem), earlier.seq, []
        problems = state if failure.seq is None and "state row" in failure.problem else []
        return VerifyResult(False, records, checkpoints.count, failure.seq, failure.problem, problems, warnings)
    finally:
        if checker is not None:
            checker.close()
    return VerifyResult(True, records, checkpoints.count, None, None, [], warnings, frontier.root().hex())


def _check_tree_edge(conn: Connection, frontier: Frontier) -> None:
    """The stored tree's right edge must be what the records make: new records are added to it (a
    writer cannot extend a damaged one), and every proof of the current tree reads it."""
    edge = [(key, value) for key, (_level, value) in zip(frontier.edge(), frontier.stack, strict=True) if key[0] > 0]
    nodes = stored_nodes(conn)
    try:
        stored = nodes({key for key, _value in edge})
    except TreeError:  # which ones: one by one (a damaged tree only)
        stored = {}
        for key, _value in edge:
            try:
                stored.update(nodes({key}))
            except TreeError:
                continue
    for (level, idx), value in edge:
        if stored.get((level, idx)) != value:
            what = "is missing (deleted)" if (level, idx) not in stored else "does not match the records (edited)"
            raise _Failed(None, f"the audit tree's node at level {level}, index {idx} {what}: records cannot be "
                                "added to the tree and its proofs fail")


def _size(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.max(AuditRecord.seq))) or 0


def _raise_first(problem: Problem | None) -> None:
    if problem is not None:
        raise _Failed(problem.seq, problem.problem)


def _read_witness(witness: HeadWitness | None) -> Any:
    if witness is None:
        return None
    try:
        return witness.read()
    except HeadFileError as exc:
        raise _Failed(None, str(exc)) from None


def _check_witness(witnessed: Any, seen: dict[int, str], last: int) -> list[str]:
    """The committed head must be in the log; a pending one that is not is an interrupted commit."""
    committed, pending = witnessed.committed, witnessed.pending
    if committed is not None and seen.get(committed.seq) != committed.hash:
        what = "is missing" if committed.seq > last else "differs"
        raise _Failed(
            min(committed.seq, last + 1),
            f"record {committed.seq}, which the head witness saw committed, {what}: records were cut off "
            "or rewritten",
        )
    if pending is not None and seen.get(pending.seq) != pending.hash:
        return [
            f"a transaction ending at record {pending.seq} was interrupted before it committed (a crash), "
            "or its records were removed in the instant after their commit"
        ]
    return []


def _signed_seen(witnessed: Any, seen: dict[int, str]) -> int | None:
    """The newest head the witness saw signed and committed: the one a pending transaction signs counts
    when that transaction's head is in the log (it committed; its writer stopped before saying so)."""
    if witnessed is None:
        return None
    signed = [witnessed.signed]
    if witnessed.pending is not None and seen.get(witnessed.pending.seq) == witnessed.pending.hash:
        signed.append(witnessed.pending_signed)
    return max((seq for seq in signed if seq is not None), default=None)


def _read_lane_files(witness: HeadWitness | None, ring: MacKeyRing | None) -> list[LaneState]:
    if witness is None or ring is None:
        return []
    try:
        return [state for state, _path in read_lanes(witness.path.parent / LANES_DIR, ring)]
    except SealedFileError as exc:
        raise _Failed(None, str(exc)) from None


class _Lanes:
    """Each writer's entries must appear 1, 2, 3... in its lane (chain, then queue), up to what its lane
    file says was committed: an entry removed before or after it was chained leaves a hole."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.files: list[LaneState] = []

    def follow(self, lane: str, number: int, what: str, seq: int | None) -> None:
        expected = self.last.get(lane, 0) + 1
        if number != expected:
            missing = "is missing" if number > expected else "comes again or out of order"
            raise _Failed(seq, f"{what} is entry {number} of writer lane {lane}, but entry {expected} {missing} "
                               "(an entry removed, or moved)")
        self.last[lane] = number

    def check_files(self) -> list[str]:
        warnings = []
        for state in self.files:
            have = self.last.get(state.lane, 0)
            if state.committed > have:
                raise _Failed(None, f"entry {state.committed} of writer lane {state.lane}, which its writer saw "
                                    f"committed, is missing (the log has {have}): entries were removed")
            if state.pending is not None and state.pending > have:
                warnings.append(f"a transaction of writer lane {state.lane} was interrupted before it committed "
                                "(a crash), or its entries were removed in the instant after their commit")
        return warnings


def _check_queue(
    queued: list[Queued],
    lanes: _Lanes,
    macs: _Macs,
    bindings: dict[str, tuple[str, str, int]],
    keyed: bool,
    last: int,
) -> list[str]:
    """Entries committed but not yet chained: authentic under the key in force, in lane order; their
    bindings count. An auditor without the MAC key can only be told that they wait."""
    waiting = [entry for entry in queued if lanes.last.get(entry.lane, 0) < entry.lane_seq]
    if not keyed:
        return [f"{len(waiting)} audit entries wait to be chained (not checked without the MAC key)"] if waiting else []
    for entry in waiting:
        where = f"queued entry {entry.id}"
        if not entry.authentic or (macs.expected is not None and entry.mac_key_id != macs.expected):
            raise _Failed(None, f"{where} (writer lane {entry.lane}, {entry.lane_seq}) is not authenticated with "
                                "the key in force (forged)")
        lanes.follow(entry.lane, entry.lane_seq, where, None)
        if entry.action == "state.bind":
            for key, value in json.loads(entry.details)["rows"].items():
                bindings[key] = (value, entry.mac_key_id, last)
    return [f"{len(waiting)} audit entries wait to be chained (their writer stopped before chaining them)"] if \
        waiting else []


class _Macs:
    """Which MAC key each record must carry: the first authenticated record's, then each rotation's."""

    def __init__(self, ring: MacKeyRing | None, share: range | None = None) -> None:
        self.ring = ring
        # Verification on two cores: each pass checks the HMACs of the records whose seq % 10 is in its share.
        self.share = share if share is not None else range(10)
        self.expected: str | None = None
        self.legacy_end = 0  # records before version 0003 carry no MAC; they must be a prefix

    def check(
        self, seq: int, hash_: str, mac: str | None, kid: str | None, lane: str | None, lane_seq: int | None
    ) -> None:
        if mac is None:
            if self.expected is not None or seq != self.legacy_end + 1:
                raise _Failed(seq, f"record {seq} has no MAC (inserted without the audit key)")
            self.legacy_end = seq
            return
        if self.expected is None:
            self.expected = kid
        if kid != self.expected:
            raise _Failed(seq, f"record {seq} is authenticated with key {kid}, not the key in force "
                               f"({self.expected}): forged with an old or foreign key")
        if self.ring is not None and seq % 10 in self.share and not self.ring.check(
            kid or "", record_mac_message(hash_, lane, lane_seq), mac
        ):
            raise _Failed(seq, f"record {seq} has an invalid MAC (forged, or re-hashed without the key)")

    def rotate_to(self, new_key: str) -> None:
        self.expected = new_key


def _read_file(path: Path) -> dict[_Checkpoint, int]:
    """The external checkpoints, each with its line number (for messages)."""
    found: dict[_Checkpoint, int] = {}
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return found
    except (OSError, UnicodeDecodeError) as exc:
        raise _Failed(None, f"cannot read checkpoint file {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
            checkpoint = _Checkpoint(
                int(item["seq"]),
                str(item["hash"]),
                str(item["at"]),
                str(item["key_id"]),
                str(item["signature"]),
                str(item["root"]) if item.get("root") is not None else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _Failed(None, f"checkpoint file {path} line {number} is not a checkpoint") from None
        found.setdefault(checkpoint, number)
    return found


def _read_database(conn: Connection) -> dict[_Checkpoint, int]:
    """The checkpoints in the database, each with its row id (for messages)."""
    rows = conn.execute(
        select(
            AuditCheckpoint.seq,
            AuditCheckpoint.hash,
            AuditCheckpoint.at,
            AuditCheckpoint.key_id,
            AuditCheckpoint.signature,
            AuditCheckpoint.root,
            AuditCheckpoint.id,
        ).order_by(AuditCheckpoint.id)
    )
    found: dict[_Checkpoint, int] = {}
    for seq, hash_, at, kid, signature, root, row_id in rows:
        found.setdefault(_Checkpoint(seq, hash_, format_time(at), kid, signature, root), row_id)
    return found


class _Checkpoints:
    """The checkpoints from both places, checked in a fixed order so the first problem named is stable."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self.keys = keys
        self.in_db: dict[_Checkpoint, int] = {}
        self.in_file: dict[_Checkpoint, int] = {}
        self.file: Path | None = None

    @property
    def count(self) -> int:
        return len(self.in_db.keys() | self.in_file.keys())

    @cached_property
    def seqs(self) -> dict[int, list[_Checkpoint]]:
        """Checkpoints by the record they cover, those in the database first (built once both are read)."""
        grouped: dict[int, list[_Checkpoint]] = {}
        for checkpoint in [*self.in_db, *(c for c in self.in_file if c not in self.in_db)]:
            grouped.setdefault(checkpoint.seq, []).append(checkpoint)
        return grouped

    def source(self, checkpoint: _Checkpoint) -> str:
        if checkpoint in self.in_db:
            return f"the database (checkpoint id {self.in_db[checkpoint]})"
        return f"the checkpoint file (line {self.in_file[checkpoint]})"

    def check_file(self, path: Path | None) -> None:
        """The file must exist once the database has checkpoints; `check_record` then requires every
        database checkpoint in it too, except the newest (a crash before its line was written). So
        emptying the file, removing it, or replacing it with another installation's is caught."""
        if path is None or not self.in_db:
            return
        if not path.exists():
            raise _Failed(None, f"checkpoint file {path} is missing but the database has checkpoints")
        self.file = path

    def check_record(self, seq: int, record_hash_: str, root: str) -> None:
        """Signatures first (a forged checkpoint says nothing), then the hash and root, then the copies."""
        group = self.seqs[seq]
        for checkpoint in group:
            self._check_signature(checkpoint)
        for checkpoint in group:
            if checkpoint.hash != record_hash_ or checkpoint.root not in (None, root):
                raise _Failed(
                    seq,
                    f"record {seq} differs from the signed checkpoint in {self.source(checkpoint)} "
                    "(the chain was rewritten up to here)",
                )
        for checkpoint in group:
            if checkpoint not in self.in_db:
                raise _Failed(
                    seq,
                    f"the signed checkpoint for record {seq} in {self.source(checkpoint)} "
                    "was deleted from the database",
                )
            if (
                self.file is not None
                and checkpoint not in self.in_file
                and self.in_db[checkpoint] != max(self.in_db.values())
            ):
                raise _Failed(
                    seq,
                    f"the signed checkpoint for record {seq} ({self.source(checkpoint)}) is not in the "
                    f"checkpoint file {self.file}: the file was emptied, cut or replaced",
                )

    def check_beyond(self, last: int) -> None:
        """No genuine checkpoint beyond the last record: else the tail was cut off."""
        beyond = sorted(c for c in self.seqs if not 1 <= c <= last)
        if beyond:
            checkpoint = self.seqs[beyond[0]][0]
            self._check_signature(checkpoint)
            raise _Failed(
                last + 1,
                f"the log ends at record {last} but a signed checkpoint covers record {checkpoint.seq} "
                f"({self.source(checkpoint)}): records were cut off the end",
            )

    def check_coverage(self, last: int, legacy_end: int, witnessed: Any, signed: int | None) -> None:
        """The newest checkpoint the head witness saw made (`signed`) is still there (without a witness: at
        least one checkpoint when the log has records); records from before authentication are signed."""
        if signed is not None and signed not in self.seqs:
            raise _Failed(signed, f"the signed checkpoint for record {signed}, which the head witness saw made, "
                                  "is gone from the database and the file: checkpoints were deleted")
        if last and not self.seqs and witnessed is None:
            raise _Failed(1, f"no signed checkpoint covers any of the {last} records: checkpoints were deleted")
        if legacy_end and not any(seq >= legacy_end for seq in self.seqs):
            raise _Failed(legacy_end, f"records 1-{legacy_end} (before authentication) have no signed checkpoint")

    def learn_rotation(self, seq: int, details: dict[str, Any]) -> str:
        """Trust the new signing key when the old one endorsed it; return the new MAC key id."""
        old = self.keys.get(details["old_signing_key"])
        try:
            new = public_key_from_hex(details["new_public_key"])
        except ValueError:
            raise _Failed(seq, f"record {seq} rotates the audit key to a malformed public key") from None
        message = rotation_message(details["new_signing_key"], details["new_public_key"])
        if old is None or key_id(new) != details["new_signing_key"] or not verify_signature(
            old, message, details["endorsement"]
        ):
            raise _Failed(seq, f"record {seq} rotates the audit key without a valid endorsement by the old key")
        self.keys[key_id(new)] = new
        return str(details["new_mac_key"])

    def _check_signature(self, checkpoint: _Checkpoint) -> None:
        key = self.keys.get(checkpoint.key_id)
        if key is None:
            raise _Failed(
                checkpoint.seq,
                f"checkpoint for record {checkpoint.seq} in {self.source(checkpoint)} is signed by "
                f"unknown key {checkpoint.key_id}",
            )
        if checkpoint.root is None:
            message = checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.at)
        else:
            message = head_message(checkpoint.seq, checkpoint.root, checkpoint.at)
        if not verify_signature(key, message, checkpoint.signature):
            raise _Failed(
                checkpoint.seq,
                f"checkpoint for record {checkpoint.seq} in {self.source(checkpoint)} has an invalid "
                "signature (forged or altered)",
            )
