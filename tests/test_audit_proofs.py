"""Inclusion and consistency proofs from the stored tree (RFC 9162), on SQLite and PostgreSQL: every
proof verifies against the root of the size asked for, and a tree node edited in the database makes
the proofs that use it fail, as an outsider checking them against a published head would see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from overt.audit import AuditLog, load_or_create_mac_keys, load_or_create_signing_key
from overt.audit.events import GateRefused
from overt.audit.merkle import ProofError, check_consistency, root_from_inclusion
from overt.storage.db import Database

RECORDS = 37
SIZES = (1, 2, 3, 8, 16, 17, 31, 36, 37)


@pytest.fixture
def audit(database_url: str, tmp_path: Path) -> Iterator[AuditLog]:
    db = Database(database_url)
    db.migrate()
    keys = tmp_path / "keys"
    log = AuditLog(db, load_or_create_signing_key(keys), load_or_create_mac_keys(keys), checkpoint_every=10)
    for batch in range(0, RECORDS, 5):  # several transactions, as writers make them
        with db.session() as session:
            for i in range(batch, min(batch + 5, RECORDS)):
                log.append(session, GateRefused(operation="identify", rule="window", reason=f"try {i}"),
                           actor="op", outcome="refused")
    try:
        yield log
    finally:
        db.dispose()


def root(audit: AuditLog, size: int) -> bytes:
    with audit.db.session() as session:
        return bytes.fromhex(audit.root_at(session, size))


def included(audit: AuditLog, seq: int, size: int) -> bool:
    proof = audit.inclusion_proof(seq, size)
    steps = [bytes.fromhex(p) for p in proof["proof"]]
    return root_from_inclusion(seq - 1, size, bytes.fromhex(proof["leaf"]), steps) == root(audit, size)


def consistent(audit: AuditLog, first: int, second: int) -> bool:
    proof = audit.consistency_proof(first, second)
    try:
        check_consistency(first, second, root(audit, first), root(audit, second),
                          [bytes.fromhex(p) for p in proof["proof"]])
    except ProofError:
        return False
    return True


def test_every_proof_verifies_against_the_root_of_its_size(audit: AuditLog) -> None:
    head = audit.latest_head()  # the newest signed head (every ten records): the stored tree agrees
    assert head is not None and root(audit, head["size"]).hex() == head["root"]
    for size in SIZES:
        assert all(included(audit, seq, size) for seq in range(1, size + 1)), size
        assert all(consistent(audit, first, size) for first in range(1, size + 1)), size
    with pytest.raises(ProofError):
        audit.inclusion_proof(1, RECORDS + 1)


def test_a_tree_node_edited_in_the_database_breaks_the_proofs_through_it(audit: AuditLog) -> None:
    published = {size: root(audit, size) for size in SIZES}  # heads an outsider kept
    with audit.db.engine.begin() as conn:  # the insider: append-only triggers off, one node rewritten
        if audit.db.is_sqlite:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_tree_no_update"))
        else:
            conn.execute(text("ALTER TABLE audit_tree DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE audit_tree SET hash = :h WHERE level = 3 AND idx = 0"), {"h": "00" * 32})
    proof = audit.inclusion_proof(5, 16)
    steps = [bytes.fromhex(p) for p in proof["proof"]]
    assert root_from_inclusion(4, 16, bytes.fromhex(proof["leaf"]), steps) == published[16]  # not through it
    proof = audit.inclusion_proof(12, 16)
    steps = [bytes.fromhex(p) for p in proof["proof"]]
    assert root_from_inclusion(11, 16, bytes.fromhex(proof["leaf"]), steps) != published[16]
