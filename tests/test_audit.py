"""The audit trail: typed events, the hash chain, signed checkpoints, and an attacker with the SQLite file."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import stat
import threading
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from overt.audit import (
    EVENTS,
    AuditKeyError,
    AuditLog,
    Event,
    MacKeyRing,
    SigningKey,
    describe_events,
    load_or_create_mac_keys,
    load_or_create_signing_key,
    load_public_key,
    verify_chain,
)
from overt.audit.canonical import canonical_json
from overt.audit.chain import ZERO_HASH, chain_hash, chain_payload, checkpoint_message, record_hash
from overt.audit.events import AlertRaised, GateRefused, SubjectEnrolled, _register, is_simple_type
from overt.audit.keys import KEY_FILE, PUBLIC_FILE, key_id
from overt.storage.db import Database
from overt.storage.models import AuditCheckpoint, AuditRecord

TRIGGERS = (
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_checkpoints_no_update",
    "audit_checkpoints_no_delete",
)
SAMPLE = {str: "x", int: 3, float: 0.5, bool: True, datetime: datetime(2026, 1, 2, tzinfo=UTC)}


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return load_or_create_signing_key(tmp_path / "keys")


@pytest.fixture
def macs(tmp_path: Path) -> MacKeyRing:
    return load_or_create_mac_keys(tmp_path / "keys")


@pytest.fixture
def checkpoints(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "checkpoints.jsonl"


def refusal(i: int) -> GateRefused:
    return GateRefused(operation="identify", rule="window", reason=f"attempt {i}")


def fill(audit: AuditLog, n: int, deployment_id: int | None = None) -> None:
    with audit.db.session() as session:
        for i in range(n):
            audit.append(session, refusal(i), actor="op", outcome="refused", deployment_id=deployment_id)


# --- events ---------------------------------------------------------------------------------------------


def test_every_event_is_documented_and_carries_only_simple_fields() -> None:
    allowed = {str, int, float, bool, type(None), datetime}
    for name, cls in EVENTS.items():
        assert cls.name == name and cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}(")
        hints = typing.get_type_hints(cls)
        for f, hint in ((f.name, hints[f.name]) for f in fields(cls)):
            args = typing.get_args(hint)
            if typing.get_origin(hint) is dict:
                assert args in ((str, int), (str, float), (str, str)), (name, f)
            elif typing.get_origin(hint) is tuple:
                assert args[1] is Ellipsis and args[0] in allowed, (name, f)
            else:
                assert set(args or (hint,)) <= allowed, (name, f, hint)
            assert "image" not in f or f.endswith("_sha256"), (name, f)  # hashes of images, never images
            assert not any(word in f for word in ("vector", "embedding", "pixel")), (name, f)
        assert f"## `{name}`" in describe_events()


def test_every_event_serialises_to_canonical_json() -> None:
    for cls in EVENTS.values():
        hints = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):
            hint, args = hints[f.name], typing.get_args(hints[f.name])
            if typing.get_origin(hint) is dict:
                values[f.name] = {"a": args[1](1)}
            elif typing.get_origin(hint) is tuple:
                values[f.name] = (SAMPLE[args[0]],)
            else:
                values[f.name] = SAMPLE[args[0] if args else hint]
        assert json.loads(canonical_json(cls(**values).details())).keys() == values.keys()


def test_events_cannot_shadow_the_records_columns() -> None:
    with pytest.raises(TypeError, match="column of the audit record"):

        @_register
        @dataclass(frozen=True, kw_only=True)
        class Shadowing(Event):
            """Would put a second `outcome` in the record."""

            name = "test.shadowing"
            outcome: str

    assert "test.shadowing" not in EVENTS


def test_payloads_refuse_arrays_and_bytes() -> None:
    assert not is_simple_type(bytes) and not is_simple_type(np.ndarray) and not is_simple_type(list[float])
    with pytest.raises(TypeError):
        canonical_json({"vector": np.zeros(3, dtype=np.float32)})
    with pytest.raises(TypeError):
        canonical_json({"image": b"\xff\xd8"})


# --- keys -------------------------------------------------------------------------------------------------


def test_signing_key_is_created_private_and_reloaded(tmp_path: Path) -> None:
    keys = tmp_path / "home" / "keys"
    key = load_or_create_signing_key(keys)
    assert stat.S_IMODE((keys / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    raw = load_public_key(keys / PUBLIC_FILE).public_bytes_raw()
    assert key.key_id == hashlib.sha256(raw).hexdigest()[:16] == key_id(key.public_key)
    assert load_or_create_signing_key(keys).key_id == key.key_id
    assert "PRIVATE" not in repr(key)


def test_signing_key_with_loose_permissions_or_garbage_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    load_or_create_signing_key(keys)
    (keys / KEY_FILE).chmod(0o644)
    with pytest.raises(AuditKeyError, match="loose permissions 0644") as info:
        load_or_create_signing_key(keys)
    assert "\n" not in str(info.value)
    (keys / KEY_FILE).write_text("not a key")
    (keys / KEY_FILE).chmod(0o600)
    with pytest.raises(AuditKeyError, match="not an unencrypted PEM private key"):
        load_or_create_signing_key(keys)


def test_public_key_of_another_key_is_refused(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path / "a")
    load_or_create_signing_key(tmp_path / "b")
    (tmp_path / "b" / PUBLIC_FILE).replace(tmp_path / "a" / PUBLIC_FILE)
    with pytest.raises(AuditKeyError, match="does not match"):
        load_or_create_signing_key(tmp_path / "a")


# --- the chain on both databases ---------------------------------------------------------------------------


def test_chain_grows_links_and_verifies(
    database: Database, key: SigningKey, macs: MacKeyRing, checkpoints: Path
) -> None:
    audit = AuditLog(database, key, macs, checkpoint_every=10, checkpoint_file=checkpoints)
    fill(audit, 25, deployment_id=4)
    with database.session() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.seq for r in rows] == list(range(1, 26))
        assert rows[0].prev_hash == ZERO_HASH
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
        assert [c.seq for c in session.scalars(select(AuditCheckpoint))] == [10, 20]
    assert [json.loads(line)["seq"] for line in checkpoints.read_text().splitlines()] == [10, 20]
    assert verify_chain(database, key.public_key, checkpoints) == (
        verify_chain(database, [key.public_key], checkpoints)
    )
    result = verify_chain(database, key.public_key, checkpoints)
    assert (result.ok, result.records, result.checkpoints, result.first_bad_seq) == (True, 25, 2, None)
    assert audit.checkpoint()["size"] == 25
    assert verify_chain(database, key.public_key, checkpoints).checkpoints == 3


def test_record_hash_is_sha256_of_canonical_json(database: Database, key: SigningKey, macs: MacKeyRing) -> None:
    """What an independent verifier needs to know, pinned down."""
    audit = AuditLog(database, key, macs)
    with database.session() as session:
        audit.append(
            session,
            SubjectEnrolled(
                watchlist="w",
                subject_id=7,
                template_ids=(1, 2),
                image_sha256=("a" * 64, "b" * 64),
                forced_reason="",
            ),
            actor="op",
            deployment_id=3,
            object_type="subject",
            object_id="7",
        )
    with database.session() as session:
        stored = session.get(AuditRecord, 1)
    at = stored.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    payload = {
        "action": "subject.enroll",
        "actor": "op",
        "at": at,
        "deployment_id": 3,
        "details": stored.details,
        "object_id": "7",
        "object_type": "subject",
        "outcome": "ok",
        "prev_hash": "0" * 64,
        "seq": 1,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert stored.hash == hashlib.sha256(text.encode()).hexdigest()
    assert json.loads(stored.details)["template_ids"] == [1, 2]


@pytest.mark.parametrize(
    "fields",
    [
        (1, "op", "gate.refused", None, "", "", "refused", '{"reason":"x"}'),
        (10**12, "Zo\u00eb \"q\" \\ \n", "alert.raise", 42, "alert", "7", "ok", '{"note":"\u00e9\ud83d\ude00"}'),
    ],
)
def test_fast_chain_hash_equals_the_canonical_definition(fields: tuple) -> None:
    seq, *rest = fields
    at = datetime(2026, 12, 2, 3, 4, 5, 6, tzinfo=UTC)
    args = (seq, at, *rest, "ab" * 32)
    assert chain_hash(*args) == record_hash(chain_payload(*args))


def test_triggers_forbid_update_and_delete(database: Database, key: SigningKey, macs: MacKeyRing) -> None:
    audit = AuditLog(database, key, macs, checkpoint_every=1)
    fill(audit, 2)
    for statement in (
        update(AuditRecord).where(AuditRecord.seq == 1).values(actor="someone else"),
        delete(AuditRecord).where(AuditRecord.seq == 2),
        update(AuditCheckpoint).values(seq=1),
        delete(AuditCheckpoint),
    ):
        with pytest.raises(DBAPIError, match="append-only"), database.session() as session:
            session.execute(statement)
    assert verify_chain(database, key.public_key).ok


def test_rolled_back_operation_leaves_no_record_and_no_checkpoint_line(
    database: Database, key: SigningKey, macs: MacKeyRing, checkpoints: Path
) -> None:
    audit = AuditLog(database, key, macs, checkpoint_every=1, checkpoint_file=checkpoints)
    with pytest.raises(RuntimeError), database.session() as session:
        audit.append(session, refusal(0), actor="op")
        raise RuntimeError("the operation failed after auditing")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0
    assert not checkpoints.exists()
    with database.session() as session:  # a savepoint rolled back inside a transaction that commits
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.append(session, refusal(1), actor="op")
            raise RuntimeError
        with session.begin_nested():
            audit.append(session, refusal(2), actor="op")
    assert len(checkpoints.read_text().splitlines()) == 1
    result = verify_chain(database, key.public_key, checkpoints)
    assert (result.ok, result.records) == (True, 1)


def test_released_savepoint_of_a_rolled_back_transaction_leaves_nothing(
    database: Database, key: SigningKey, macs: MacKeyRing, checkpoints: Path
) -> None:
    # pysqlite alone does not BEGIN before a SAVEPOINT, so SQLite would treat the savepoint as the
    # transaction and its RELEASE as COMMIT; storage/db.py applies SQLAlchemy's pysqlite recipe.
    audit = AuditLog(database, key, macs, checkpoint_every=1, checkpoint_file=checkpoints)
    with pytest.raises(RuntimeError), database.session() as session:
        with session.begin_nested():
            audit.append(session, refusal(0), actor="op")
        raise RuntimeError
    assert not checkpoints.exists()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_append_refuses_unknown_outcomes_and_unregistered_events(
    database: Database, key: SigningKey, macs: MacKeyRing
) -> None:
    @dataclass(frozen=True, kw_only=True)
    class Sneaky(Event):
        """Not registered."""

        name = "sneaky"

    audit = AuditLog(database, key, macs)
    with database.session() as session:
        with pytest.raises(ValueError, match="outcome"):
            audit.append(session, refusal(0), actor="op", outcome="maybe")
        with pytest.raises(TypeError, match="not a registered"):
            audit.append(session, Sneaky(), actor="op")


def test_concurrent_writers_keep_one_contiguous_chain(database: Database, key: SigningKey, macs: MacKeyRing) -> None:
    audit = AuditLog(database, key, macs, checkpoint_every=7)
    start, errors = threading.Barrier(3), []

    def writer(name: str) -> None:
        start.wait()
        try:
            for i in range(25):
                with database.session() as session:
                    audit.append(session, refusal(i), actor=name)
        except Exception as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verify_chain(database, key.public_key)
    assert (result.ok, result.records, result.checkpoints) == (True, 75, 10)


def test_export_and_queries(database: Database, key: SigningKey, macs: MacKeyRing) -> None:
    audit = AuditLog(database, key, macs)
    fill(audit, 3, deployment_id=1)
    with database.session() as session:
        audit.append(
            session,
            AlertRaised(alert_id=9, camera="c1", subject_id=5, score=0.71, threshold=0.6, track=None),
            actor="worker",
            deployment_id=2,
        )
    stream = io.StringIO()
    result = audit.export(stream)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (result.records, result.last_seq) == (4, 4)
    assert result.sha256 == hashlib.sha256(stream.getvalue().encode()).hexdigest()
    for line in lines:  # verifiable offline: each hash covers its line without the hash
        assert line.pop("hash") == hashlib.sha256(canonical_json(line).encode()).hexdigest()
    assert audit.export(io.StringIO(), since_seq=2).records == 2

    assert [e.seq for e in audit.records(deployment_id=1)] == [1, 2, 3]
    (alert,) = audit.records(actions="alert.raise")
    assert alert.details["score"] == 0.71 and alert.actor == "worker"
    assert list(audit.records(until=alert.at)) == list(audit.records(deployment_id=1))
    assert [e.seq for e in audit.records(since=alert.at)] == [4]
    assert audit.action_counts() == {"gate.refused": 3, "alert.raise": 1}
    assert audit.action_counts(deployment_id=2) == {"alert.raise": 1}


# --- an attacker with the SQLite file ----------------------------------------------------------------------


@pytest.fixture
def sqlite_log(
    sqlite_url: str, key: SigningKey, macs: MacKeyRing, checkpoints: Path
) -> Iterator[tuple[Database, Path]]:
    """35 records on a SQLite file, checkpoints at 10, 20, 30 in the database and the external file."""
    db = Database(sqlite_url)
    db.migrate()
    fill(AuditLog(db, key, macs, checkpoint_every=10, checkpoint_file=checkpoints), 35)
    assert verify_chain(db, key.public_key, checkpoints).ok
    try:
        yield db, Path(sqlite_url.removeprefix("sqlite:///"))
    finally:
        db.dispose()


@contextmanager
def attacker(path: Path) -> Iterator[sqlite3.Connection]:
    """Someone with the database file: drops the append-only triggers, then edits at will."""
    conn = sqlite3.connect(path)
    for trigger in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def rehash_from(conn: sqlite3.Connection, seq: int) -> None:
    """Recompute every hash from `seq` on, as an attacker who knows the format would."""
    rows = conn.execute(
        "SELECT seq, at, actor, action, deployment_id, object_type, object_id, outcome, details "
        "FROM audit_log WHERE seq >= ? ORDER BY seq",
        (seq,),
    ).fetchall()
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq - 1,)).fetchone()[0]
    for row in rows:
        at = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
        new = record_hash(chain_payload(row[0], at, *row[2:], prev))
        conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, new, row[0]))
        prev = new


def failure(db: Database, key: SigningKey, checkpoints: Path | None) -> tuple[int | None, str]:
    result = verify_chain(db, key.public_key, checkpoints)
    assert not result.ok
    return result.first_bad_seq, result.problem or ""


def test_modified_detail_is_named(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("UPDATE audit_log SET details = replace(details, 'attempt 6', 'attempt 9') WHERE seq = 7")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 7 and "modified" in problem


def test_deleted_middle_record_is_named(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 12")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 12 and "record 12 is missing" in problem


def test_inserted_record_is_caught(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    """A forged record slipped in at 15, later records renumbered: the next one no longer links."""
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("UPDATE audit_log SET seq = -seq - 1 WHERE seq >= 15")
        conn.execute("UPDATE audit_log SET seq = -seq WHERE seq < 0")
        prev = conn.execute("SELECT hash FROM audit_log WHERE seq = 14").fetchone()[0]
        at = datetime.now(UTC)
        forged = chain_payload(15, at, "op", "gate.refused", None, "", "", "refused", '{"x":1}', prev)
        conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, deployment_id, object_type, object_id, outcome, "
            "details, prev_hash, hash) VALUES (?, ?, 'op', 'gate.refused', NULL, '', '', 'refused', ?, ?, ?)",
            (15, at.strftime("%Y-%m-%d %H:%M:%S.%f"), '{"x":1}', prev, record_hash(forged)),
        )
    seq, problem = failure(db, key, checkpoints)
    assert seq == 15 and "no MAC" in problem  # written without the audit key
    with attacker(path) as conn:  # ...and with every later hash recomputed, still the forged record is named
        rehash_from(conn, 16)
    seq, problem = failure(db, key, checkpoints)
    assert seq == 15 and "no MAC" in problem


def test_reordered_records_are_named(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = 8")
        conn.execute("UPDATE audit_log SET seq = 8 WHERE seq = 9")
        conn.execute("UPDATE audit_log SET seq = 9 WHERE seq = -1")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 8 and "does not link" in problem


def test_truncated_tail_is_caught_by_checkpoints_even_without_database_ones(
    sqlite_log, key: SigningKey, checkpoints: Path
) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > 25")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 26 and "cut off the end" in problem and "database" in problem
    with attacker(path) as conn:
        conn.execute("DELETE FROM audit_checkpoints WHERE seq > 25")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 26 and "cut off the end" in problem and "checkpoint file (line 3)" in problem
    assert verify_chain(db, key.public_key).ok  # the database alone cannot tell: why the file exists


def test_rewritten_chain_with_database_checkpoints_deleted_is_caught_by_the_file(
    sqlite_log, key: SigningKey, checkpoints: Path
) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 5")
        rehash_from(conn, 5)
        conn.execute("DELETE FROM audit_checkpoints")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 10 and "differs from the signed checkpoint in the checkpoint file" in problem


def test_deleted_database_checkpoint_is_caught(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        conn.execute("DELETE FROM audit_checkpoints WHERE seq = 20")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 20 and "deleted from the database" in problem


def test_forged_checkpoints_are_caught(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    db, path = sqlite_log
    with attacker(path) as conn:
        (signature,) = conn.execute("SELECT signature FROM audit_checkpoints WHERE seq = 10").fetchone()
        altered = ("1" if signature[0] == "0" else "0") + signature[1:]
        conn.execute("UPDATE audit_checkpoints SET signature = ? WHERE seq = 10", (altered,))
    seq, problem = failure(db, key, checkpoints)
    assert seq == 10 and "invalid signature" in problem

    other = SigningKey(Ed25519PrivateKey.generate())
    with attacker(path) as conn:
        conn.execute("DELETE FROM audit_checkpoints")
        head = conn.execute("SELECT hash FROM audit_log WHERE seq = 35").fetchone()[0]
        at = "2026-01-01T00:00:00.000000+00:00"
        conn.execute(
            "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (35, ?, ?, ?, ?)",
            (head, "2026-01-01 00:00:00.000000", other.key_id, other.sign(checkpoint_message(35, head, at))),
        )
    seq, problem = failure(db, key, None)
    assert seq == 35 and f"unknown key {other.key_id}" in problem


def test_tampered_checkpoint_file_is_caught(sqlite_log, key: SigningKey, checkpoints: Path) -> None:
    db, _ = sqlite_log
    lines = checkpoints.read_text().splitlines()
    first = json.loads(lines[0])
    checkpoints.write_text("\n".join([json.dumps({**first, "seq": 11}), *lines[1:]]) + "\n")
    seq, problem = failure(db, key, checkpoints)
    assert seq == 10 and "not in the checkpoint file" in problem  # the genuine line is gone from the file
    checkpoints.write_text("not json\n")
    seq, problem = failure(db, key, checkpoints)
    assert seq is None and "line 1 is not a checkpoint" in problem
    checkpoints.unlink()
    seq, problem = failure(db, key, checkpoints)
    assert "missing" in problem
