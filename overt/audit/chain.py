"""The chain's format, shared by the writers, the integrator, export, proofs and verification.

A record's hash covers its content and the previous record's hash (`chain_hash`); its MAC covers that
hash and the writer's lane (`record_mac_message`); a signed tree head covers the tree's size and root
(`head_message`). Also here: the chain's lock and reading its head, which the integrator needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _str  # the C encoder canonical_json uses for strings
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from ..storage.db import Database
from ..storage.models import AuditCheckpoint, AuditRecord
from .canonical import canonical_json, format_time

ZERO_HASH = "0" * 64
# Any constant works; all Overt processes must agree. ASCII "overtaud".
PG_LOCK_KEY = 0x6F76657274617564
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
    at: datetime | str,
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
    time at a million records. A test holds the two equal. `at` may be given already as `stored_time`."""
    text = (
        f'{{"action":{_str(action)},"actor":{_str(actor)},"at":"{at if isinstance(at, str) else format_time(at)}",'
        f'"deployment_id":{"null" if deployment_id is None else int(deployment_id)},"details":{_str(details)},'
        f'"object_id":{_str(object_id)},"object_type":{_str(object_type)},"outcome":{_str(outcome)},'
        f'"prev_hash":{_str(prev_hash)},"seq":{int(seq)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


def stored_time(value: datetime | str) -> str:
    """A record's time as the database hands it over without conversion, as `format_time` writes it.

    SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) text; turning that into the canonical form by slicing,
    instead of parsing it into a datetime and formatting it again, is a fifth of verification's time.
    PostgreSQL hands it over already in the canonical form (`stored_records`). Any other text is parsed,
    so a time written differently but meaning the same still verifies.
    """
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}+00:00"
        if len(value) == 32 and value[10] in " T" and value.endswith("+00:00"):  # as PostgreSQL's, or
            return value if value[10] == "T" else f"{value[:10]}T{value[11:]}"  # sqlite3's own adapter
        parsed = datetime.fromisoformat(value)
        value = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return format_time(value)


def record_mac_message(hash_: str, lane: str | None = None, lane_seq: int | None = None) -> bytes:
    """What a record's MAC covers: its chain hash (which covers its content) and, for records written
    through the sequencer (version 0009 on), its writer's lane and number in it."""
    if lane is None:
        return f"overt-record-v1:{hash_}".encode()
    return f"overt-record-v2:{hash_}:{lane}:{lane_seq}".encode()


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


def lock_chain(db: Database, session: Session, wait: bool = True) -> bool:
    """Serialise integrators until the transaction ends (the seq primary key would refuse a fork anyway).
    Without `wait`, take the lock only if it is free; returns whether this transaction holds it."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        if wait:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            return True
        return bool(conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY}))
    return db.write_lock(session, wait)


_STORED = ("SELECT seq, {at}, actor, action, deployment_id, object_type, object_id, outcome, details, prev_hash, "
           "hash, mac, mac_key_id, lane, lane_seq FROM audit_log ORDER BY seq")
# PostgreSQL formats the time as `format_time` does, in C: a datetime per record, converted to UTC and
# formatted again in Python, was a seventh of verification's time at a million records.
_PG_TIME = """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def stored_records(conn: Connection) -> Iterator[tuple[Any, ...]]:
    """What verification reads, in both of its passes: every record in seq order, as the driver's own
    tuples, `STREAM_ROWS` at a time (on PostgreSQL through a server-side cursor), times as text (see
    `stored_time`). SQLAlchemy's rows cost a fifth of a pass at a million records; nothing here needs
    them. Runs in `conn`'s transaction when one has begun, so it sees what the caller read before."""
    raw = conn.connection.driver_connection
    postgresql = conn.dialect.name == "postgresql"
    cursor = raw.cursor(name="overt_stored_records") if postgresql else raw.cursor()
    try:
        cursor.execute(_STORED.format(at=_PG_TIME if postgresql else "at"))
        while batch := cursor.fetchmany(STREAM_ROWS):
            yield from batch
    finally:
        cursor.close()


_HEAD = select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)


def chain_head(conn: Connection | Session) -> tuple[int, str]:
    """The newest record's seq and hash; (0, ZERO_HASH) for an empty log."""
    row = conn.execute(_HEAD).first()
    return (row[0], row[1]) if row else (0, ZERO_HASH)
