"""Verification on two cores gives the same verdict as one pass: the same first bad record, the same
reason, the same root, whichever of the two passes meets the problem, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from overt.audit import AuditLog, MacKeyRing, SigningKey, load_or_create_mac_keys, load_or_create_signing_key
from overt.audit import verify as verify_module
from overt.audit.events import GateRefused
from overt.audit.verify import VerifyResult, verify_chain
from overt.storage.db import Database

ZEROS = "'" + "0" * 64 + "'"
# What the insider does (SQL that both databases take), and the first bad record verification must name.
TAMPERING: dict[str, tuple[list[str], int | None]] = {
    "nothing": ([], None),
    "a detail changed (the hash pass finds it)": (
        ["UPDATE audit_log SET details = replace(details, 'attempt 6', 'attempt 9') WHERE seq = 7"], 7),
    "a MAC forged (the main pass checks it)": ([f"UPDATE audit_log SET mac = {ZEROS} WHERE seq = 30"], 30),
    "a MAC forged (the hash pass checks it)": ([f"UPDATE audit_log SET mac = {ZEROS} WHERE seq = 38"], 38),
    "a MAC forged, an earlier record changed": (
        [f"UPDATE audit_log SET mac = {ZEROS} WHERE seq = 31", "UPDATE audit_log SET actor = 'x' WHERE seq = 29"], 29),
    "a record relinked (its link and its hash both wrong: the link is named)": (
        [f"UPDATE audit_log SET prev_hash = {ZEROS} WHERE seq = 20"], 20),
    "a record removed, a later one changed (the main pass finds the first)": (
        ["DELETE FROM audit_log WHERE seq = 12", "UPDATE audit_log SET actor = 'x' WHERE seq = 40"], 12),
    "a record changed, a later one removed (the hash pass finds the first)": (
        ["UPDATE audit_log SET actor = 'x' WHERE seq = 12", "DELETE FROM audit_log WHERE seq = 40"], 12),
}
SQLITE_TIMES = {  # SQLite keeps times as text: the same time written as other writers write it
    "the same time written another way (still the same record)": (
        ["UPDATE audit_log SET at = replace(at, ' ', 'T') || '+00:00' WHERE seq = 5"], None),
    "the same time with its offset, as sqlite3 writes it (still the same record)": (
        ["UPDATE audit_log SET at = at || '+00:00' WHERE seq = 6"], None),
}


@pytest.fixture
def log(database_url: str, tmp_path: Path) -> Iterator[tuple[Database, SigningKey, MacKeyRing]]:
    db = Database(database_url)
    db.migrate()
    key, macs = load_or_create_signing_key(tmp_path / "keys"), load_or_create_mac_keys(tmp_path / "keys")
    audit = AuditLog(db, key, macs, checkpoint_every=10)
    with db.session() as session:
        for i in range(60):
            audit.append(session, GateRefused(operation="identify", rule="window", reason=f"attempt {i}"),
                         actor="op", outcome="refused")
    try:
        yield db, key, macs
    finally:
        db.dispose()


def verdict(db: Database, key: SigningKey, macs: MacKeyRing, parallel_from: int,
            monkeypatch: pytest.MonkeyPatch) -> VerifyResult:
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", parallel_from)
    return verify_chain(db, key.public_key, mac_keys=macs, check_state=False)


@pytest.mark.parametrize("tampering", [*TAMPERING, *SQLITE_TIMES])
def test_two_passes_agree_with_one(log, tampering: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db, key, macs = log
    if tampering in SQLITE_TIMES and not db.is_sqlite:
        pytest.skip("PostgreSQL keeps times as timestamps")
    statements, first_bad = {**TAMPERING, **SQLITE_TIMES}[tampering]
    with db.engine.begin() as conn:  # as a DBA would: the append-only triggers off first
        if db.is_sqlite:
            for verb in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}"))
        else:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement))
    one = verdict(db, key, macs, 10**12, monkeypatch)
    two = verdict(db, key, macs, 1, monkeypatch)
    assert two == one
    assert (one.ok, one.first_bad_seq) == (first_bad is None, first_bad), one.problem
