"""Verification of the audit chain against itself and against the signed checkpoints.

The chain alone catches a record changed, removed, inserted or reordered anywhere before the head.
The checkpoints (in the database and in the external file) catch what the chain cannot: a tail cut
off, or a chain rewritten and re-hashed by someone with write access — they cannot sign.
Verification reads the file first, then the database, so checkpoints written meanwhile never point
at records it has not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from ..storage.db import Database
from ..storage.models import AuditCheckpoint, AuditRecord
from .keys import key_id, verify_signature
from .log import (
    CHAIN_COLUMNS,
    STREAM_ROWS,
    ZERO_HASH,
    chain_payload,
    checkpoint_message,
    format_time,
    record_hash,
)


@dataclass(frozen=True)
class VerifyResult:
    """The verdict. `first_bad_seq` is where verification failed: the first record that is changed, missing
    or out of place, the record a bad checkpoint refers to, or the first record cut off the tail.
    `problem` says what, in one line. `records` and `checkpoints` count what was read and checked.
    """

    ok: bool
    records: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None


@dataclass(frozen=True)
class _Checkpoint:
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str


class _Failed(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def verify_chain(
    db: Database,
    public_key: Ed25519PublicKey | Iterable[Ed25519PublicKey],
    checkpoint_file: Path | None = None,
) -> VerifyResult:
    """Check every record's hash and link and every checkpoint's signature and hash, in one pass.

    `public_key` may be several keys (after a rotation of the audit key); checkpoints name theirs by id.
    Stops at the first problem, in chain order.
    """
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    checkpoints = _Checkpoints({key_id(k): k for k in keys})
    records = last = 0
    try:
        if checkpoint_file is not None:
            checkpoints.in_file = _read_file(checkpoint_file)
        with db.engine.connect() as conn:
            checkpoints.in_db = _read_database(conn)
            if checkpoint_file is not None and checkpoints.in_db and not checkpoint_file.exists():
                raise _Failed(None, f"checkpoint file {checkpoint_file} is missing but the database has checkpoints")
            prev = ZERO_HASH
            rows = conn.execution_options(yield_per=STREAM_ROWS).execute(
                select(*CHAIN_COLUMNS).order_by(AuditRecord.seq)
            )
            for row in rows:
                records += 1
                seq = row[0]
                if seq != last + 1:
                    gap = f"record {last + 1} is" if seq == last + 2 else f"records {last + 1}-{seq - 1} are"
                    raise _Failed(last + 1, f"{gap} missing (removed)")
                if row[9] != prev:
                    raise _Failed(
                        seq,
                        f"record {seq} does not link to record {seq - 1} (record inserted, removed or moved)",
                    )
                if record_hash(chain_payload(*row[:10])) != row[10]:
                    raise _Failed(seq, f"record {seq} does not match its hash (modified)")
                prev, last = row[10], seq
                if seq in checkpoints.seqs:
                    checkpoints.check_record(seq, prev)
        checkpoints.check_end(last)
    except _Failed as failure:
        return VerifyResult(False, records, checkpoints.count, failure.seq, failure.problem)
    return VerifyResult(True, records, checkpoints.count, None, None)


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
            )
        except (ValueError, KeyError, TypeError):
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
            AuditCheckpoint.id,
        ).order_by(AuditCheckpoint.id)
    )
    found: dict[_Checkpoint, int] = {}
    for seq, hash_, at, kid, signature, row_id in rows:
        found.setdefault(_Checkpoint(seq, hash_, format_time(at), kid, signature), row_id)
    return found


class _Checkpoints:
    """The checkpoints from both places, checked in a fixed order so the first problem named is stable."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self.keys = keys
        self.in_db: dict[_Checkpoint, int] = {}
        self.in_file: dict[_Checkpoint, int] = {}

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

    def check_record(self, seq: int, record_hash_: str) -> None:
        """Signatures first (a forged checkpoint says nothing), then the hash, then the database's copy."""
        group = self.seqs[seq]
        for checkpoint in group:
            self._check_signature(checkpoint)
        for checkpoint in group:
            if checkpoint.hash != record_hash_:
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

    def check_end(self, last: int) -> None:
        """A genuine checkpoint beyond the last record means the tail was cut off."""
        beyond = sorted(c for c in self.seqs if not 1 <= c <= last)
        if beyond:
            checkpoint = self.seqs[beyond[0]][0]
            self._check_signature(checkpoint)
            raise _Failed(
                last + 1,
                f"the log ends at record {last} but a signed checkpoint covers record {checkpoint.seq} "
                f"({self.source(checkpoint)}): records were cut off the end",
            )

    def _check_signature(self, checkpoint: _Checkpoint) -> None:
        key = self.keys.get(checkpoint.key_id)
        if key is None:
            raise _Failed(
                checkpoint.seq,
                f"checkpoint for record {checkpoint.seq} in {self.source(checkpoint)} is signed by "
                f"unknown key {checkpoint.key_id}",
            )
        message = checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.at)
        if not verify_signature(key, message, checkpoint.signature):
            raise _Failed(
                checkpoint.seq,
                f"checkpoint for record {checkpoint.seq} in {self.source(checkpoint)} has an invalid "
                "signature (forged or altered)",
            )
