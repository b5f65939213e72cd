"""Verification on two cores gives the same verdict as one pass: the same first bad record, the same
reason, the same root, whichever of the two passes meets the problem."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overt.audit import AuditLog, MacKeyRing, SigningKey, load_or_create_mac_keys, load_or_create_signing_key
from overt.audit import verify as verify_module
from overt.audit.events import GateRefused
from overt.audit.verify import VerifyResult, verify_chain
from overt.storage.db import Database

TAMPERING: dict[str, tuple[Callable[[sqlite3.Connection], object], int | None]] = {  # and the first bad seq
    "nothing": (lambda c: None, None),
    "a detail changed (the hash pass finds it)": (lambda c: c.execute(
        "UPDATE audit_log SET details = replace(details, 'attempt 6', 'attempt 9') WHERE seq = 7"), 7),
    "a MAC forged (the main pass checks it)": (lambda c: c.execute(
        "UPDATE audit_log SET mac = printf('%064d', 0) WHERE seq = 30"), 30),
    "a MAC forged (the hash pass checks it)": (lambda c: c.execute(
        "UPDATE audit_log SET mac = printf('%064d', 0) WHERE seq = 38"), 38),
    "a MAC forged, an earlier record changed": (lambda c: (
        c.execute("UPDATE audit_log SET mac = printf('%064d', 0) WHERE seq = 31"),
        c.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 29")), 29),
    "a record relinked (its link and its hash both wrong: the link is named)": (lambda c: c.execute(
        "UPDATE audit_log SET prev_hash = printf('%064d', 0) WHERE seq = 20"), 20),
    "a record removed, a later one changed (the main pass finds the first)": (lambda c: (
        c.execute("DELETE FROM audit_log WHERE seq = 12"),
        c.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 40")), 12),
    "a record changed, a later one removed (the hash pass finds the first)": (lambda c: (
        c.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 12"),
        c.execute("DELETE FROM audit_log WHERE seq = 40")), 12),
    "the same time written another way (still the same record)": (lambda c: c.execute(
        "UPDATE audit_log SET at = replace(at, ' ', 'T') || '+00:00' WHERE seq = 5"), None),
    "the same time with its offset, as sqlite3 writes it (still the same record)": (lambda c: c.execute(
        "UPDATE audit_log SET at = at || '+00:00' WHERE seq = 6"), None),
}


@pytest.fixture
def log(tmp_path: Path) -> Iterator[tuple[Database, SigningKey, MacKeyRing, Path]]:
    db = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    db.migrate()
    key, macs = load_or_create_signing_key(tmp_path / "keys"), load_or_create_mac_keys(tmp_path / "keys")
    audit = AuditLog(db, key, macs, checkpoint_every=10)
    with db.session() as session:
        for i in range(60):
            audit.append(session, GateRefused(operation="identify", rule="window", reason=f"attempt {i}"),
                         actor="op", outcome="refused")
    try:
        yield db, key, macs, tmp_path / "audit.db"
    finally:
        db.dispose()


def verdict(db: Database, key: SigningKey, macs: MacKeyRing, parallel_from: int,
            monkeypatch: pytest.MonkeyPatch) -> VerifyResult:
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", parallel_from)
    return verify_chain(db, key.public_key, mac_keys=macs, check_state=False)


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_two_passes_agree_with_one(log, tampering: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db, key, macs, path = log
    conn = sqlite3.connect(path)
    for verb in ("update", "delete"):
        conn.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}")
    tamper, first_bad = TAMPERING[tampering]
    tamper(conn)
    conn.commit()
    conn.close()
    one = verdict(db, key, macs, 10**12, monkeypatch)
    two = verdict(db, key, macs, 1, monkeypatch)
    assert two == one
    assert (one.ok, one.first_bad_seq) == (first_bad is None, first_bad), one.problem
